"""regimage.model.image_config: platform, rootfs diff IDs, history and ChainIDs of an image config."""

from __future__ import annotations

import contextlib
import hashlib
import json
from typing import Any

import pytest
from hypothesis import given, settings, strategies as st

from regimage.errors import InvalidDocument, RegImageError
from regimage.model import image_config as image_config_module, mediatypes as mt
from regimage.model.digest import Digest
from regimage.model.image_config import HistoryEntry, ImageConfig, chain_ids
from regimage.model.platform import Platform

DROP: Any = object()

D0 = "sha256:" + "0" * 64
D1 = "sha256:" + "1" * 64
D2 = "sha256:" + "2" * 64


def config_doc(**over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "created": "2023-05-02T16:49:27Z",
        "author": "someone",
        "architecture": "arm64",
        "os": "linux",
        "variant": "v8",
        "config": {
            "Env": ["PATH=/usr/bin:/bin", "LANG=C.UTF-8"],
            "Cmd": ["/hello"],
            "Labels": {"org.opencontainers.image.version": "1.0"},
        },
        "rootfs": {"type": "layers", "diff_ids": [D0, D1]},
        "history": [
            {"created": "2023-05-02T16:49:27Z", "created_by": "COPY hello / # buildkit"},
            {"created_by": 'CMD ["/hello"]', "comment": "buildkit", "empty_layer": True},
            {"created_by": "ADD x /", "author": "me", "empty_layer": False},
        ],
    }
    doc = {**base, **over}
    return {k: v for k, v in doc.items() if v is not DROP}


def enc(doc: object) -> bytes:
    return json.dumps(doc).encode()


def test_fields() -> None:
    cfg = ImageConfig.parse(enc(config_doc()))
    assert cfg.media_type == mt.OCI_CONFIG
    assert cfg.platform == Platform("linux", "arm64", "v8", "", ())
    assert cfg.diff_ids == (Digest.parse(D0), Digest.parse(D1))
    assert cfg.created == "2023-05-02T16:49:27Z"
    assert cfg.author == "someone"
    assert cfg.history == (
        HistoryEntry(created="2023-05-02T16:49:27Z", created_by="COPY hello / # buildkit"),
        HistoryEntry(created_by='CMD ["/hello"]', comment="buildkit", empty_layer=True),
        HistoryEntry(created_by="ADD x /", author="me"),
    )
    assert cfg.labels == {"org.opencontainers.image.version": "1.0"}
    assert cfg.env == ("PATH=/usr/bin:/bin", "LANG=C.UTF-8")
    assert cfg.config["Cmd"] == ["/hello"]
    assert cfg.raw["rootfs"]["type"] == "layers"


def test_docker_media_type_is_kept() -> None:
    cfg = ImageConfig.parse(enc(config_doc()), mt.DOCKER_CONFIG)
    assert cfg.media_type == mt.DOCKER_CONFIG


def test_windows_platform_fields() -> None:
    doc = config_doc(
        os="windows",
        architecture="amd64",
        variant=DROP,
        **{"os.version": "10.0.20348.1249", "os.features": ["win32k"]},
    )
    cfg = ImageConfig.parse(enc(doc))
    assert cfg.platform == Platform("windows", "amd64", "", "10.0.20348.1249", ("win32k",))


@pytest.mark.parametrize(
    ("over", "platform"),
    [
        ({}, Platform("linux", "arm64", "v8")),
        ({"variant": None}, Platform("linux", "arm64")),
        ({"variant": ""}, Platform("linux", "arm64")),
        ({"os": DROP}, None),
        ({"architecture": DROP}, None),
        ({"os": "", "architecture": ""}, None),
        ({"os": DROP, "architecture": DROP, "variant": DROP}, None),
        # Values are kept as written: normalization belongs to the platforms module.
        ({"architecture": "aarch64", "variant": DROP}, Platform("linux", "aarch64")),
    ],
)
def test_platform(over: dict[str, Any], platform: Platform | None) -> None:
    assert ImageConfig.parse(enc(config_doc(**over))).platform == platform


@pytest.mark.parametrize(
    ("over", "diff_ids"),
    [
        ({"rootfs": {"type": "layers", "diff_ids": []}}, ()),
        # Docker writes diff_ids with omitempty: an image without layers has none at all.
        ({"rootfs": {"type": "layers"}}, ()),
        ({"rootfs": {"type": "layers", "diff_ids": None}}, ()),
        ({"rootfs": {"type": "layers", "diff_ids": [D2, D2]}}, (D2, D2)),  # duplicates are kept
        ({"rootfs": {"type": "layers", "diff_ids": ["sha512:" + "f" * 128]}}, ("sha512:" + "f" * 128,)),
        ({"rootfs": {"type": "layers", "diff_ids": ["blake3:" + "a" * 64]}}, ("blake3:" + "a" * 64,)),
    ],
)  # fmt: skip
def test_diff_ids(over: dict[str, Any], diff_ids: tuple[str, ...]) -> None:
    cfg = ImageConfig.parse(enc(config_doc(**over)))
    assert tuple(str(d) for d in cfg.diff_ids) == diff_ids


def test_optional_fields_may_be_absent_or_null() -> None:
    doc = config_doc(config=None, history=None, created=DROP, author=None)
    cfg = ImageConfig.parse(enc(doc))
    assert cfg.config == {}
    assert cfg.labels == {}
    assert cfg.env == ()
    assert cfg.history == ()
    assert (cfg.created, cfg.author) == (None, None)
    bare = ImageConfig.parse(enc(config_doc(config={"Labels": None, "Env": None})))
    assert (bare.labels, bare.env) == ({}, ())


def test_rootfs_is_optional_for_other_config_types() -> None:
    cfg = ImageConfig.parse(b"{}", mt.OCI_EMPTY)
    assert cfg.diff_ids == ()
    assert cfg.platform is None
    helm = ImageConfig.parse(b'{"name": "chart"}', "application/vnd.cncf.helm.config.v1+json")
    assert helm.raw == {"name": "chart"}


INVALID: list[tuple[dict[str, Any] | bytes, str, str]] = [
    (config_doc(rootfs=DROP), mt.OCI_CONFIG, "image config is missing required field 'rootfs'"),
    (config_doc(rootfs=None), mt.DOCKER_CONFIG, "image config is missing required field 'rootfs'"),
    (config_doc(rootfs=[]), mt.OCI_CONFIG, "image config field 'rootfs' must be an object, got array"),
    (config_doc(rootfs={"diff_ids": []}), mt.OCI_CONFIG, "rootfs.type must be 'layers', got null"),
    (config_doc(rootfs={"type": "Layers", "diff_ids": []}), mt.OCI_CONFIG, "rootfs.type must be 'layers', got 'Layers'"),
    (config_doc(rootfs={"type": 1}), mt.OCI_EMPTY, "rootfs.type must be 'layers', got number"),
    (config_doc(rootfs={"type": "layers", "diff_ids": D0}), mt.OCI_CONFIG, "rootfs.diff_ids must be an array, got string"),
    (config_doc(rootfs={"type": "layers", "diff_ids": [D0, D1, "sha256:abc"]}), mt.OCI_CONFIG, "rootfs.diff_ids[2]: sha256 digest must be 64 lower-case hex characters"),
    (config_doc(rootfs={"type": "layers", "diff_ids": [D0, D0.upper()]}), mt.OCI_CONFIG, "rootfs.diff_ids[1]: "),
    (config_doc(rootfs={"type": "layers", "diff_ids": [D0, 5]}), mt.OCI_CONFIG, "rootfs.diff_ids[1]: must be a digest string, got number"),
    (config_doc(rootfs={"type": "layers", "diff_ids": [None]}), mt.OCI_CONFIG, "rootfs.diff_ids[0]: must be a digest string, got null"),
    (config_doc(history={}), mt.OCI_CONFIG, "image config field 'history' must be an array, got object"),
    (config_doc(history=[{}, "x"]), mt.OCI_CONFIG, "history[1] must be an object, got string"),
    (config_doc(history=[{"created_by": 1}]), mt.OCI_CONFIG, "history[0].created_by must be a string, got number"),
    (config_doc(history=[{}, {}, {"comment": []}]), mt.OCI_CONFIG, "history[2].comment must be a string, got array"),
    (config_doc(history=[{"empty_layer": "true"}]), mt.OCI_CONFIG, "history[0].empty_layer must be a boolean, got string"),
    (config_doc(history=[{"empty_layer": 1}]), mt.OCI_CONFIG, "history[0].empty_layer must be a boolean, got number"),
    (config_doc(created=1), mt.OCI_CONFIG, "image config field 'created' must be a string, got number"),
    (config_doc(author=["x"]), mt.OCI_CONFIG, "image config field 'author' must be a string, got array"),
    (config_doc(os=1), mt.OCI_CONFIG, "image config field 'os' must be a string, got number"),
    (config_doc(architecture=True), mt.OCI_CONFIG, "image config field 'architecture' must be a string, got boolean"),
    (config_doc(variant={}), mt.OCI_CONFIG, "image config field 'variant' must be a string, got object"),
    (config_doc(**{"os.version": 10}), mt.OCI_CONFIG, "image config field 'os.version' must be a string"),
    (config_doc(**{"os.features": "win32k"}), mt.OCI_CONFIG, "'os.features' must be an array of strings"),
    (config_doc(**{"os.features": [1]}), mt.OCI_CONFIG, "'os.features' must be an array of strings"),
    (config_doc(config=[]), mt.OCI_CONFIG, "image config field 'config' must be an object, got array"),
    (config_doc(config={"Labels": {"a": 1}}), mt.OCI_CONFIG, "config.Labels must be an object of strings"),
    (config_doc(config={"Labels": ["a"]}), mt.OCI_CONFIG, "config.Labels must be an object of strings"),
    (config_doc(config={"Env": "A=1"}), mt.OCI_CONFIG, "config.Env must be an array of strings"),
    (config_doc(config={"Env": [None]}), mt.OCI_CONFIG, "config.Env must be an array of strings"),
    (b"[]", mt.OCI_CONFIG, "image config must be a JSON object, got array"),
    (b'{"os": "linux", "os": "windows"}', mt.OCI_CONFIG, "image config has duplicate key 'os'"),
    (b"\x80", mt.OCI_CONFIG, "image config is not valid UTF-8: byte 0x80 at byte offset 0"),
]  # fmt: skip


@pytest.mark.parametrize(("doc", "media_type", "message"), INVALID)
def test_invalid(doc: dict[str, Any] | bytes, media_type: str, message: str) -> None:
    data = doc if isinstance(doc, bytes) else enc(doc)
    with pytest.raises(InvalidDocument) as info:
        ImageConfig.parse(data, media_type)
    assert message in str(info.value)
    assert info.value.media_type in (None, media_type)


def test_entry_counts_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(image_config_module, "MAX_DIFF_IDS", 2)
    three = config_doc(rootfs={"type": "layers", "diff_ids": [D0, D1, D2]})
    with pytest.raises(InvalidDocument, match=r"lists 3 rootfs\.diff_ids, more than 2"):
        ImageConfig.parse(enc(three))
    with pytest.raises(InvalidDocument, match="lists 3 history entries, more than 2"):
        ImageConfig.parse(enc(config_doc(rootfs={"type": "layers"})))


def test_repr_hides_raw() -> None:
    cfg = ImageConfig.parse(enc(config_doc()))
    assert repr(cfg) == "<ImageConfig('linux/arm64/v8', diff_ids=2)>"
    assert (
        repr(ImageConfig.parse(b"{}", mt.OCI_EMPTY)) == "<ImageConfig('no platform', diff_ids=0)>"
    )


def test_equal_configs_compare_equal() -> None:
    assert ImageConfig.parse(enc(config_doc())) == ImageConfig.parse(enc(config_doc()))
    assert ImageConfig.parse(enc(config_doc())) != ImageConfig.parse(enc(config_doc(author="x")))


# ── ChainIDs (OCI config.md "Layer ChainID") ────────────────────────────────────────────────────


def _reference_chain(diff_ids: list[str]) -> list[str]:
    """The spec's recursion, written independently with hashlib."""
    chain: list[str] = []
    for diff_id in diff_ids:
        if not chain:
            chain.append(diff_id)
        else:
            joined = f"{chain[-1]} {diff_id}".encode()
            chain.append("sha256:" + hashlib.sha256(joined).hexdigest())
    return chain


@pytest.mark.parametrize(
    "diff_ids",
    [[], [D0], [D0, D1], [D0, D1, D2], [D2, D2, D2], ["sha512:" + "e" * 128, D1]],
    ids=["none", "one", "two", "three", "repeated", "sha512-first"],
)
def test_chain_ids(diff_ids: list[str]) -> None:
    result = chain_ids(Digest.parse(d) for d in diff_ids)
    assert [str(d) for d in result] == _reference_chain(diff_ids)


def test_chain_id_worked_example() -> None:
    # ChainID(L1) = sha256("sha256:000… sha256:111…"), spelled out.
    text = f"{D0} {D1}"
    expected = Digest("sha256", hashlib.sha256(text.encode()).hexdigest())
    assert chain_ids([Digest.parse(D0), Digest.parse(D1)]) == (Digest.parse(D0), expected)
    assert chain_ids([Digest.parse(D0)]) == (Digest.parse(D0),)


def test_chain_ids_of_a_real_config() -> None:
    # hello-world linux/amd64 has one layer: its ChainID is its DiffID.
    diff = "sha256:e07ee1baac5fae6a26f30cabfe54a36d3402f96afda318fe0a96cec4ca393359"
    cfg = ImageConfig.parse(enc(config_doc(rootfs={"type": "layers", "diff_ids": [diff]})))
    assert [str(c) for c in cfg.chain_ids] == [diff]


def test_chain_ids_property_matches_function() -> None:
    cfg = ImageConfig.parse(enc(config_doc()))
    assert cfg.chain_ids == chain_ids(cfg.diff_ids)
    assert cfg.chain_ids[1] != cfg.diff_ids[1]


# ── hypothesis ─────────────────────────────────────────────────────────────────────────────────

texts = st.text(max_size=10)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**60), 2**60) | st.floats(allow_nan=False) | texts,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(texts, children, max_size=4),
    max_leaves=10,
)
FIELDS = ["os", "architecture", "variant", "os.version", "os.features", "rootfs", "history"]
FIELDS += ["config", "created", "author"]
configs = st.dictionaries(
    st.sampled_from(FIELDS) | texts,
    json_values | st.just({"type": "layers", "diff_ids": [D0]}) | st.just({"type": "layers"}),
)


@settings(max_examples=200, database=None, deadline=None)
@given(st.binary(max_size=200))
def test_arbitrary_bytes_raise_only_regimage_errors(data: bytes) -> None:
    with contextlib.suppress(RegImageError):
        ImageConfig.parse(data)


@settings(max_examples=150, database=None, deadline=None)
@given(configs, st.sampled_from([mt.OCI_CONFIG, mt.OCI_EMPTY]))
def test_arbitrary_json_raises_only_regimage_errors(doc: dict[str, Any], media_type: str) -> None:
    try:
        cfg = ImageConfig.parse(enc(doc), media_type)
    except RegImageError:
        return
    # Whatever parsed can be read without surprises.
    assert isinstance(cfg.labels, dict)
    assert all(isinstance(e, str) for e in cfg.env)
    assert len(cfg.chain_ids) == len(cfg.diff_ids)
