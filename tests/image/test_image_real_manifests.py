"""Image answers over real documents, byte for byte (tests/vectors/real_manifests; no layers).

The documents are served by a MemoryProvider under their media types; a layer is never stored,
so any attempt to read one fails the test.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from regimage.content.provider import MemoryProvider
from regimage.errors import NoMatchingPlatform, NotAnImage, NotFound, UnsupportedMediaType
from regimage.image.handlers import (
    children,
    filter_platforms,
    limit_manifests,
    skip_attestations,
)
from regimage.image.image import Image
from regimage.model.descriptor import Descriptor
from regimage.model.digest import Digest
from regimage.model.mediatypes import is_layer
from regimage.model.platform import Platform
from regimage.model.platform_match import matcher_for, only

pytestmark = pytest.mark.anyio

VECTORS = Path(__file__).parent.parent / "vectors" / "real_manifests"
INDEX: dict[str, Any] = json.loads((VECTORS / "INDEX.json").read_text())
ENTRIES: dict[str, dict[str, Any]] = {e["file"]: e for e in INDEX["entries"]}

HELLO_LIST = "sha256:faa03e786c97f07ef34423fccceeec2398ec8a5759259f94d99078f264e9d7af"
HELLO_AMD64 = "sha256:f54a58bc1aac5ea1a25d796ae155dc228b3f0e11d046ae276b39c4bf2f13d8c4"
HELLO_AMD64_CONFIG = "sha256:feb5d9fea6a5e9606aa995e879d862b825965ba48de054caab5ef356dc6b3412"
SYNTHETIC_INDEX = "sha256:dfae8f425735a5e3a72e40d6609e03079995511d48157c74d54801ff4430491e"
REFERRERS_INDEX = "sha256:955b8a891713a806107edb6dd09410233a9e7926584b1d6fd8b7b5342296188b"
SBOM = "sha256:0484e93c23cddf24a8400547119558312023295af241d4cd1eaf1b27145c5026"
SIGNED_SCHEMA1 = "sha256:7364fea9d84ee548ab67d4c46c6006289800c98de3fbf8c0a97138dfcc23f000"
SPEC_EXAMPLE = "sha256:20bf21ed457b390829cdbeec8795a7bea1626991fda603e0d01b4e7f60427e55"


def entry_for(digest: str, *, suffix: str = ".json") -> dict[str, Any]:
    return ENTRIES["sha256_" + digest.split(":", 1)[1] + suffix]


def data_of(entry: dict[str, Any]) -> bytes:
    return (VECTORS / str(entry["file"])).read_bytes()


@pytest.fixture
def store() -> MemoryProvider:
    """Every document whose bytes hash to its digest, under its recorded media type."""
    provider = MemoryProvider()
    for entry in INDEX["entries"]:
        if entry["sha256_matches_claimed"]:
            digest = provider.add(data_of(entry), media_type=entry["media_type"])
            assert str(digest) == entry["claimed_digest"]
    return provider


def descriptor(digest: str, *, suffix: str = ".json") -> Descriptor:
    entry = entry_for(digest, suffix=suffix)
    return Descriptor(entry["media_type"], Digest.parse(digest), entry["size"])


def no_layer_read(store: MemoryProvider, *documents: Descriptor) -> None:
    layers = {d.digest for d in documents if is_layer(d.media_type)}
    assert not layers & set(store.fetched)


# ── hello-world: a Docker manifest list with Windows entries ──────────────────────────────────────


async def test_hello_world_linux_amd64(store: MemoryProvider) -> None:
    img = Image(
        "docker.io/library/hello-world:latest",
        descriptor(HELLO_LIST),
        store,
        matcher_for("linux/amd64"),
    )
    selected = await img.manifest()
    assert str(selected.digest) == HELLO_AMD64
    assert selected.descriptor.size == 525
    config = await img.config()
    assert str(config.digest) == HELLO_AMD64_CONFIG
    assert config.config.platform == Platform("linux", "amd64")
    expected = [Digest.parse(d) for d in entry_for(HELLO_AMD64_CONFIG)["diff_ids"]]
    assert list(await img.rootfs()) == expected
    assert await img.chain_ids() == (expected[0],)  # one layer: the chain ID is the diff ID
    layer = INDEX["layer_verifications"][0]
    assert [str(x.digest) for x in selected.manifest.layers] == [layer["layer_digest"]]
    assert str(expected[0]) == layer["diff_id_in_config"]
    size = await img.size()
    assert (size.index, size.manifest, size.config, size.layers) == (2561, 525, 1469, 2479)
    assert size.total == 2561 + 525 + 1469 + 2479
    assert [str(d) for d in store.fetched] == [HELLO_LIST, HELLO_AMD64, HELLO_AMD64_CONFIG]
    no_layer_read(store, *selected.manifest.layers)


async def test_hello_world_offers_eleven_platforms(store: MemoryProvider) -> None:
    img = Image("hello-world", descriptor(HELLO_LIST), store)
    found = [p.format_all() for p in await img.platforms()]
    declared = entry_for(HELLO_LIST)["platforms"]
    assert len(found) == len(declared) == 11
    assert found[:4] == ["linux/amd64", "linux/arm/v5", "linux/arm/v7", "linux/arm64/v8"]
    assert found[-2:] == ["windows(10.0.20348.1249)/amd64", "windows(10.0.17763.3650)/amd64"]
    assert store.fetched == [Digest.parse(HELLO_LIST)]


async def _choose(store: MemoryProvider, spec: str) -> Descriptor:
    """The entry containerd's handlers pick for ``spec`` (the manifest itself is not stored)."""
    matcher = only(Platform.parse(spec))
    handler = limit_manifests(
        filter_platforms(skip_attestations(children(store)), matcher), matcher, 1
    )
    (chosen,) = await handler(descriptor(HELLO_LIST))
    return chosen


@pytest.mark.parametrize(
    ("host", "os_version"),
    [
        ("windows(10.0.20348.2340)/amd64", "10.0.20348.1249"),  # LTSC 2022 prefers its own build
        ("windows(10.0.17763.5000)/amd64", "10.0.17763.3650"),  # LTSC 2019 runs only its own
    ],
)
async def test_windows_entries_are_chosen_by_os_version(
    store: MemoryProvider, host: str, os_version: str
) -> None:
    chosen = await _choose(store, host)
    assert chosen.platform is not None
    assert (chosen.platform.os, chosen.platform.os_version) == ("windows", os_version)


async def test_an_old_windows_host_matches_nothing(store: MemoryProvider) -> None:
    img = Image(
        "hello-world", descriptor(HELLO_LIST), store, matcher_for("windows(10.0.14393)/amd64")
    )
    with pytest.raises(NoMatchingPlatform) as caught:
        await img.manifest()
    assert "windows(10.0.17763.3650)/amd64" in caught.value.available
    assert "linux/riscv64" in str(caught.value)


@pytest.mark.parametrize(
    ("spec", "variant"), [("linux/arm64", "v8"), ("linux/arm/v6", "v5"), ("linux/arm", "v7")]
)
async def test_arm_entries_follow_containerd_fallbacks(
    store: MemoryProvider, spec: str, variant: str
) -> None:
    chosen = await _choose(store, spec)
    assert chosen.platform is not None
    assert chosen.platform.variant == variant


async def test_an_absent_platform_manifest_is_not_found(store: MemoryProvider) -> None:
    img = Image("hello-world", descriptor(HELLO_LIST), store, matcher_for("linux/s390x"))
    with pytest.raises(NotFound):
        await img.manifest()


# ── busybox: OCI manifests and configs for several platforms ──────────────────────────────────────


BUSYBOX = [
    (e["claimed_digest"], e["platform"])
    for e in INDEX["entries"]
    if e["media_type"].endswith("manifest.v1+json") and "busybox" in e["role"] and "platform" in e
]


def _config_entry(manifest: dict[str, Any]) -> dict[str, Any] | None:
    return ENTRIES.get("sha256_" + manifest["config"]["digest"].split(":", 1)[1] + ".json")


@pytest.mark.parametrize(
    ("digest", "platform"),
    BUSYBOX,
    ids=[p["architecture"] + p.get("variant", "") for _, p in BUSYBOX],
)
async def test_busybox_sizes_and_diff_ids(
    store: MemoryProvider, digest: str, platform: dict[str, str]
) -> None:
    document = json.loads(data_of(entry_for(digest)))
    img = Image("busybox:1.38.0-glibc", descriptor(digest), store)
    size = await img.size()
    layers = sum(layer["size"] for layer in document["layers"])
    assert size.total == entry_for(digest)["size"] + document["config"]["size"] + layers
    assert size.layer_count == len(document["layers"]) == 1
    assert store.fetched == [Digest.parse(digest)]
    config = _config_entry(document)
    if config is None:  # the vectors do not hold every config
        with pytest.raises(NotFound):
            await img.rootfs()
        return
    assert [str(d) for d in await img.rootfs()] == config["diff_ids"]
    spec = "/".join(platform[k] for k in ("os", "architecture", "variant") if k in platform)
    assert (await img.with_platform(spec).manifest()).platform == Platform.from_dict(
        config["config_platform"]
    )
    with pytest.raises(NoMatchingPlatform, match="is a single-platform image for"):
        await img.with_platform("windows/amd64").manifest()


async def test_busybox_amd64_layer_matches_its_verification(store: MemoryProvider) -> None:
    layer = INDEX["layer_verifications"][1]
    digest = "sha256:1cfa4e2b09e127b9c4ed43578d3f3c18e7d44ea47b9ea98475c0cbe9086525f8"
    selected = await Image("busybox", descriptor(digest), store).manifest()
    assert [(str(x.digest), x.size) for x in selected.manifest.layers] == [
        (layer["layer_digest"], layer["size_in_manifest"])
    ]


# ── documents that are not pullable images ───────────────────────────────────────────────────────


async def test_the_spec_example_has_a_size_without_its_config(store: MemoryProvider) -> None:
    img = Image("example", descriptor(SPEC_EXAMPLE), store)
    size = await img.size()
    assert (size.manifest, size.config, size.layers, size.layer_count) == (995, 7023, 122487, 3)
    assert size.total == 995 + 7023 + 32654 + 16724 + 73109
    with pytest.raises(NotFound):
        await img.rootfs()


async def test_schema1_manifests_are_refused(store: MemoryProvider) -> None:
    unsigned = descriptor(SIGNED_SCHEMA1, suffix=".unsigned_payload.json")
    with pytest.raises(UnsupportedMediaType, match="legacy Docker schema1"):
        await Image("mitr/busybox", unsigned, store).size()
    signed = descriptor(SIGNED_SCHEMA1)
    with pytest.raises(UnsupportedMediaType, match="legacy Docker schema1"):
        await Image("mitr/busybox", signed, store).rootfs()
    assert store.fetched == []


async def test_an_oci_artifact_with_a_subject(store: MemoryProvider) -> None:
    img = Image("testrepo:sbom", descriptor(SBOM), store)
    size = await img.size()
    assert (size.manifest, size.config, size.layers) == (583, 2, 5)
    with pytest.raises(NotAnImage, match=r"'application/example\.sbom', not an image"):
        await img.config()
    with pytest.raises(NotAnImage):
        await img.rootfs()


async def test_referrers_agree_with_the_fallback_index(store: MemoryProvider) -> None:
    subject = descriptor(SYNTHETIC_INDEX)
    found = await Image("testrepo:v2", subject, store).referrers()
    fallback = json.loads(data_of(entry_for(REFERRERS_INDEX)))["manifests"]
    assert [(str(d.digest), d.size, d.artifact_type) for d in found] == [
        (m["digest"], m["size"], m["artifactType"]) for m in fallback
    ]


async def test_the_synthetic_index_selects_by_platform(store: MemoryProvider) -> None:
    img = Image("testrepo:v2", descriptor(SYNTHETIC_INDEX), store, matcher_for("linux/arm/v7"))
    assert [str(p) for p in await img.platforms()] == ["linux/amd64", "linux/arm64", "linux/arm/v7"]
    with pytest.raises(NotFound, match="36ed7f4e"):  # the manifest itself is not in the vectors
        await img.manifest()
