"""Real manifests, indexes and configs, byte for byte (tests/vectors/real_manifests/INDEX.json).

Every file must hash to the digest it is known by (the signed schema1 one through its JWS payload),
be recognised as the media type INDEX.json records, and give the recorded diff IDs, platforms,
artifact types and subjects. Mutated copies must fail only with RegImageError.
"""

from __future__ import annotations

import contextlib
import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from regimage.errors import DigestMismatch, RegImageError, UnsupportedMediaType
from regimage.model import mediatypes as mt
from regimage.model.descriptor import Descriptor
from regimage.model.digest import Digest
from regimage.model.image_config import ImageConfig, chain_ids
from regimage.model.manifest import Index, Manifest, Schema1Manifest, parse_document
from regimage.model.platform import Platform

HERE = Path(__file__).parent.parent / "vectors" / "real_manifests"
INDEX: dict[str, Any] = json.loads((HERE / "INDEX.json").read_text(encoding="utf-8"))
ENTRIES: list[dict[str, Any]] = INDEX["entries"]
IDS = [entry["file"].removeprefix("sha256_")[:12] + "-" + entry["role"][:30] for entry in ENTRIES]


@cache
def read(file: str) -> bytes:
    return (HERE / file).read_bytes()


def by_digest(digest: str) -> dict[str, Any] | None:
    """The corpus entry a digest names (the signed schema1 file, not its payload twin)."""
    for entry in ENTRIES:
        if entry["claimed_digest"] == digest and "unsigned_payload" not in entry["file"]:
            return entry
    return None


def platform_fields(platform: Platform) -> dict[str, str]:
    out = {"os": platform.os, "architecture": platform.architecture}
    if platform.variant:
        out["variant"] = platform.variant
    if platform.os_version:
        out["os.version"] = platform.os_version
    return out


def test_corpus_is_complete() -> None:
    assert len(ENTRIES) == 22
    files = {p.name for p in HERE.iterdir()} - {"INDEX.json"}
    assert files == {entry["file"] for entry in ENTRIES}
    assert sum(entry["sha256_matches_claimed"] for entry in ENTRIES) == 21


@pytest.mark.parametrize("entry", ENTRIES, ids=IDS)
def test_bytes_hash_to_their_digest(entry: dict[str, Any]) -> None:
    data = read(entry["file"])
    claimed = Digest.parse(entry["claimed_digest"])
    assert len(data) == entry["size"]
    assert str(Digest.of(data)) == entry["sha256_of_bytes"]
    if entry["sha256_matches_claimed"]:
        claimed.verify(data)
        return
    # Signed schema1: the digest covers the JWS payload, not the served bytes.
    assert mt.is_schema1(entry["media_type"])
    with pytest.raises(DigestMismatch) as info:
        claimed.verify(data)
    assert info.value.expected == str(claimed)
    assert info.value.actual == entry["sha256_of_bytes"]
    payload = Schema1Manifest.payload(data)
    claimed.verify(payload)
    assert str(Digest.of(payload)) == entry["schema1_canonical_payload_sha256"]


@pytest.mark.parametrize("entry", ENTRIES, ids=IDS)
def test_recognised_by_media_type(entry: dict[str, Any]) -> None:
    data, media_type = read(entry["file"]), entry["media_type"]
    expected: type | None = None
    if mt.is_index(media_type):
        expected = Index
    elif mt.is_manifest(media_type):
        expected = Manifest
    elif mt.is_schema1(media_type):
        expected = Schema1Manifest
    if expected is None:
        # Configs and the empty blob are not manifests: refused by name, before decoding.
        with pytest.raises(UnsupportedMediaType) as info:
            parse_document(data, media_type)
        assert media_type in str(info.value)
        return
    for declared in (media_type, None, "application/json", "text/plain; charset=utf-8"):
        document = parse_document(data, declared)
        assert type(document) is expected
        assert document.media_type == media_type
    typed = expected.parse(data, media_type)  # type: ignore[attr-defined]
    assert typed == parse_document(data, media_type)


@pytest.mark.parametrize(
    "entry", [e for e in ENTRIES if mt.is_index(e["media_type"])], ids=lambda e: e["file"][7:19]
)
def test_indexes(entry: dict[str, Any]) -> None:
    index = Index.parse(read(entry["file"]), entry["media_type"])
    raw = json.loads(read(entry["file"]))
    assert len(index.manifests) == len(raw["manifests"])
    for descriptor, obj in zip(index.manifests, raw["manifests"], strict=True):
        assert str(descriptor.digest) == obj["digest"]
        assert descriptor.size == obj["size"]
        assert descriptor.media_type == obj["mediaType"]
        assert descriptor.artifact_type == obj.get("artifactType")
        assert Descriptor.from_dict(descriptor.to_dict()) == descriptor
    if "platforms" in entry:
        got = [d.platform for d in index.manifests]
        assert got == [Platform.from_dict(p) for p in entry["platforms"]]
        assert [platform_fields(p) for p in got if p is not None] == entry["platforms"]
    # Whatever the corpus holds of the children must match their entries exactly.
    for descriptor in index.manifests:
        child = by_digest(str(descriptor.digest))
        if child is not None:
            assert len(read(child["file"])) == descriptor.size
            assert child["media_type"] == descriptor.media_type
            if "platform" in child:
                assert descriptor.platform is not None
                assert platform_fields(descriptor.platform) == child["platform"]
            if "artifact_type" in child:
                assert descriptor.artifact_type == child["artifact_type"]


def test_hello_world_list_has_windows_versions() -> None:
    index = Index.parse(read(ENTRIES[0]["file"]), mt.DOCKER_MANIFEST_LIST)
    windows = [d.platform for d in index.manifests if d.platform and d.platform.os == "windows"]
    assert [p.os_version for p in windows if p] == ["10.0.20348.1249", "10.0.17763.3650"]


def test_referrers_index_lists_the_artifacts() -> None:
    referrers = by_digest("sha256:955b8a891713a806107edb6dd09410233a9e7926584b1d6fd8b7b5342296188b")
    assert referrers is not None
    index = Index.parse(read(referrers["file"]))
    assert [d.artifact_type for d in index.manifests] == [
        "application/example.sbom",
        "application/example.signature",
    ]
    assert all(by_digest(str(d.digest)) is not None for d in index.manifests)


MANIFESTS = [e for e in ENTRIES if mt.is_manifest(e["media_type"])]


@pytest.mark.parametrize("entry", MANIFESTS, ids=lambda e: e["file"][7:19])
def test_manifests(entry: dict[str, Any]) -> None:
    data = read(entry["file"])
    manifest = Manifest.parse(data, entry["media_type"])
    raw = json.loads(data)
    assert str(manifest.config.digest) == raw["config"]["digest"]
    assert manifest.config.size == raw["config"]["size"]
    assert [str(layer.digest) for layer in manifest.layers] == [o["digest"] for o in raw["layers"]]
    assert [layer.size for layer in manifest.layers] == [o["size"] for o in raw["layers"]]
    assert manifest.artifact_type == entry.get("artifact_type")
    assert manifest.is_artifact == ("artifact_type" in entry)
    subject = entry.get("subject")
    assert (str(manifest.subject.digest) if manifest.subject else None) == subject
    for descriptor in (manifest.config, *manifest.layers):
        assert Descriptor.from_dict(descriptor.to_dict()) == descriptor
    if not manifest.is_artifact:
        assert mt.is_config(manifest.config.media_type)
        assert all(mt.is_layer(layer.media_type) for layer in manifest.layers)
    # The config, when the corpus has it, is the one the manifest points at (digest and size)
    # and describes the platform the manifest was listed under.
    config_entry = by_digest(str(manifest.config.digest))
    if config_entry is not None:
        assert len(read(config_entry["file"])) == manifest.config.size
        if "platform" in entry and "config_platform" in config_entry:
            assert config_entry["config_platform"] == entry["platform"]


def test_artifact_config_is_the_empty_blob() -> None:
    empty = by_digest("sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a")
    assert empty is not None
    assert read(empty["file"]) == b"{}"
    assert ImageConfig.parse(b"{}", mt.OCI_EMPTY).diff_ids == ()


CONFIGS = [e for e in ENTRIES if mt.is_config(e["media_type"])]


@pytest.mark.parametrize("entry", CONFIGS, ids=lambda e: e["file"][7:19])
def test_configs(entry: dict[str, Any]) -> None:
    config = ImageConfig.parse(read(entry["file"]), entry["media_type"])
    assert [str(d) for d in config.diff_ids] == entry["diff_ids"]
    assert config.platform is not None
    assert platform_fields(config.platform) == entry["config_platform"]
    assert config.chain_ids == chain_ids(config.diff_ids)
    assert config.chain_ids[0] == config.diff_ids[0]  # one layer: the ChainID is the DiffID
    assert config.history
    assert sum(not h.empty_layer for h in config.history) == len(config.diff_ids)
    assert any(e.startswith("PATH=") for e in config.env)


def test_layer_verifications_match_the_documents() -> None:
    for check in INDEX["layer_verifications"]:
        holders = [
            Manifest.parse(read(e["file"]), e["media_type"])
            for e in MANIFESTS
            if check["layer_digest"] in read(e["file"]).decode()
        ]
        assert holders, check["what"]
        for manifest in holders:
            (layer,) = [lay for lay in manifest.layers if str(lay.digest) == check["layer_digest"]]
            assert layer.size == check["size_in_manifest"] == check["size"]
        assert check["diff_id_computed"] == check["diff_id_in_config"]
    hello = ImageConfig.parse(read(CONFIGS[0]["file"]), CONFIGS[0]["media_type"])
    assert str(hello.diff_ids[0]) == INDEX["layer_verifications"][0]["diff_id_in_config"]


def test_schema1_pair() -> None:
    signed_entry, unsigned_entry = (e for e in ENTRIES if mt.is_schema1(e["media_type"]))
    signed = Schema1Manifest.parse(read(signed_entry["file"]), signed_entry["media_type"])
    unsigned = Schema1Manifest.parse(read(unsigned_entry["file"]), unsigned_entry["media_type"])
    assert signed.signed
    assert not unsigned.signed
    assert (signed.name, signed.tag, signed.architecture) == ("mitr/busybox", "latest", "amd64")
    assert signed.fs_layers == unsigned.fs_layers
    assert len(signed.fs_layers) == 3
    assert Schema1Manifest.payload(read(signed_entry["file"])) == read(unsigned_entry["file"])
    assert Schema1Manifest.payload(read(unsigned_entry["file"])) == read(unsigned_entry["file"])


# ── hypothesis: mutated real documents ─────────────────────────────────────────────────────────

texts = st.text(max_size=10)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**60), 2**60) | st.floats(allow_nan=False) | texts,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(texts, children, max_size=3),
    max_leaves=6,
)


def mutate(data: st.DataObject, value: Any, depth: int = 0) -> Any:
    """A copy of ``value`` with one node deleted, replaced, or (for lists) duplicated."""
    if isinstance(value, dict) and value and depth < 8 and data.draw(st.integers(0, 4)):
        key = data.draw(st.sampled_from(sorted(value)))
        out = dict(value)
        action = data.draw(st.sampled_from(["descend", "descend", "delete", "replace"]))
        if action == "descend":
            out[key] = mutate(data, value[key], depth + 1)
        elif action == "delete":
            del out[key]
        else:
            out[key] = data.draw(json_values)
        return out
    if isinstance(value, list) and value and depth < 8 and data.draw(st.integers(0, 4)):
        i = data.draw(st.integers(0, len(value) - 1))
        items = list(value)
        action = data.draw(st.sampled_from(["descend", "descend", "delete", "duplicate"]))
        if action == "descend":
            items[i] = mutate(data, value[i], depth + 1)
        elif action == "delete":
            del items[i]
        else:
            items.insert(i, items[i])
        return items
    return data.draw(json_values)


DECLARED = st.sampled_from([None, "application/json"]) | st.sampled_from(
    sorted({e["media_type"] for e in ENTRIES})
)


@settings(
    max_examples=300,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(st.sampled_from(ENTRIES), st.data(), DECLARED)
def test_mutated_documents_raise_only_regimage_errors(
    entry: dict[str, Any], data: st.DataObject, declared: str | None
) -> None:
    mutated = json.dumps(mutate(data, json.loads(read(entry["file"])))).encode()
    with contextlib.suppress(RegImageError):
        parse_document(mutated, declared)
    with contextlib.suppress(RegImageError):
        ImageConfig.parse(mutated, declared or mt.OCI_CONFIG)
    with contextlib.suppress(RegImageError):
        Schema1Manifest.payload(mutated)


@settings(max_examples=300, database=None, deadline=None)
@given(
    st.sampled_from(ENTRIES),
    st.lists(st.tuples(st.integers(0, 10_000), st.binary(max_size=3)), min_size=1, max_size=4),
)
def test_corrupted_bytes_raise_only_regimage_errors(
    entry: dict[str, Any], edits: list[tuple[int, bytes]]
) -> None:
    data = bytearray(read(entry["file"]))
    for position, replacement in edits:
        at = position % (len(data) + 1)
        data[at : at + len(replacement)] = replacement
    corrupted = bytes(data)
    for declared in (entry["media_type"], None):
        with contextlib.suppress(RegImageError):
            parse_document(corrupted, declared)
    with contextlib.suppress(RegImageError):
        ImageConfig.parse(corrupted, entry["media_type"])
    with contextlib.suppress(RegImageError):
        Schema1Manifest.payload(corrupted)
