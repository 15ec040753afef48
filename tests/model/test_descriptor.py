"""regimage.model.descriptor: decoding descriptors from JSON, and back."""

from __future__ import annotations

import base64
import contextlib
import json
from typing import Any

import pytest
from hypothesis import given, settings, strategies as st

from regimage.errors import InvalidDocument, RegImageError
from regimage.model import mediatypes as mt
from regimage.model.descriptor import MAX_DESCRIPTOR_SIZE, Descriptor
from regimage.model.digest import Digest
from regimage.model.platform import Platform

DIGEST = "sha256:" + "ab" * 32
BASE: dict[str, Any] = {"mediaType": mt.OCI_MANIFEST, "digest": DIGEST, "size": 527}


def with_(**over: Any) -> dict[str, Any]:
    return {**BASE, **over}


def without(key: str) -> dict[str, Any]:
    return {k: v for k, v in BASE.items() if k != key}


def test_minimal() -> None:
    d = Descriptor.from_dict(BASE)
    assert d == Descriptor(mt.OCI_MANIFEST, Digest.parse(DIGEST), 527)
    assert (d.platform, d.annotations, d.urls, d.artifact_type, d.data) == (
        None,
        {},
        (),
        None,
        None,
    )


def test_all_fields() -> None:
    d = Descriptor.from_dict(
        with_(
            platform={"architecture": "amd64", "os": "linux"},
            annotations={"org.opencontainers.image.ref.name": "v1"},
            urls=["https://example.com/layer"],
            artifactType="application/example.sbom",
            unknown={"ignored": True},
        ),
        where="manifests[0]",
    )
    assert d.platform == Platform("linux", "amd64")
    assert d.annotations == {"org.opencontainers.image.ref.name": "v1"}
    assert d.urls == ("https://example.com/layer",)
    assert d.artifact_type == "application/example.sbom"


def test_embedded_data() -> None:
    data = b'{"a":1}'
    obj = {
        "mediaType": mt.OCI_CONFIG,
        "digest": str(Digest.of(data)),
        "size": len(data),
        "data": base64.b64encode(data).decode(),
    }
    d = Descriptor.from_dict(obj)
    assert d.data == data
    assert "data" not in repr(d)
    assert d.to_dict()["data"] == obj["data"]
    assert Descriptor.from_dict(d.to_dict()) == d


def test_embedded_data_with_unverifiable_digest_is_dropped() -> None:
    obj = with_(digest="blake3:" + "a" * 64, size=2, data="e30=")
    assert Descriptor.from_dict(obj).data is None


@pytest.mark.parametrize("size", [0, 1, MAX_DESCRIPTOR_SIZE])
def test_size_bounds_accepted(size: int) -> None:
    assert Descriptor.from_dict(with_(size=size)).size == size


INVALID: list[tuple[object, str]] = [
    (None, "manifests[2] must be a JSON object, got null"),
    ([], "manifests[2] must be a JSON object, got array"),
    ("sha256:x", "manifests[2] must be a JSON object, got string"),
    (1.5, "manifests[2] must be a JSON object, got number"),
    (without("mediaType"), "manifests[2] is missing required field 'mediaType'"),
    (without("digest"), "manifests[2] is missing required field 'digest'"),
    (without("size"), "manifests[2] is missing required field 'size'"),
    (with_(mediaType=1), "manifests[2].mediaType must be a string, got number"),
    (with_(digest=["x"]), "manifests[2].digest must be a string, got array"),
    (with_(digest="sha256:" + "AB" * 32), "manifests[2].digest: sha256 digest must be 64 lower-case"),
    (with_(digest="nope"), "manifests[2].digest: digest must be 'algorithm:hex'"),
    (with_(size="527"), "manifests[2].size must be an integer, got string"),
    (with_(size=True), "manifests[2].size must be an integer, got boolean"),
    (with_(size=527.0), "manifests[2].size must be an integer, got number"),
    (with_(size=None), "manifests[2] is missing required field 'size'"),
    (with_(size=-1), "manifests[2].size out of range: -1"),
    (with_(size=MAX_DESCRIPTOR_SIZE + 1), f"manifests[2].size out of range: {MAX_DESCRIPTOR_SIZE + 1}"),
    (with_(platform="linux/amd64"), "manifests[2].platform: "),
    (with_(platform={"os": 1, "architecture": "amd64"}), "manifests[2].platform: "),
    (with_(annotations={"a": 1}), "manifests[2].annotations must be an object of strings"),
    (with_(annotations=[]), "manifests[2].annotations must be an object of strings"),
    (with_(urls="https://x"), "manifests[2].urls must be a list of strings"),
    (with_(urls=[1]), "manifests[2].urls must be a list of strings"),
    (with_(artifactType=[]), "manifests[2].artifactType must be a string"),
    (with_(data=1), "manifests[2].data must be a base64 string"),
    (with_(data="!!!!"), "manifests[2].data is not valid base64"),
    (with_(data="é"), "manifests[2].data is not valid base64"),
    (with_(data="e30="), "manifests[2].data does not match the descriptor's digest and size"),
    (with_(digest=str(Digest.of(b"{}")), size=3, data="e30="), "data does not match"),
]  # fmt: skip


@pytest.mark.parametrize(("obj", "message"), INVALID)
def test_invalid(obj: object, message: str) -> None:
    with pytest.raises(InvalidDocument) as info:
        Descriptor.from_dict(obj, where="manifests[2]")
    assert message in str(info.value)


def test_where_defaults_to_descriptor() -> None:
    with pytest.raises(InvalidDocument, match=r"^descriptor is missing required field 'size'$"):
        Descriptor.from_dict(without("size"))


ROUND_TRIP = [
    BASE,
    with_(platform={"architecture": "arm64", "os": "linux", "variant": "v8"}),
    with_(platform={"architecture": "amd64", "os": "windows", "os.version": "10.0.17763.3650"}),
    with_(annotations={"k": "v"}, urls=["https://a/b"], artifactType="application/x"),
]


@pytest.mark.parametrize("obj", ROUND_TRIP)
def test_round_trip(obj: dict[str, Any]) -> None:
    d = Descriptor.from_dict(obj)
    assert Descriptor.from_dict(d.to_dict()) == d
    assert Descriptor.from_dict(json.loads(json.dumps(d.to_dict()))) == d
    assert d.to_dict()["digest"] == DIGEST


def test_to_dict_omits_empty_fields() -> None:
    assert Descriptor.from_dict(BASE).to_dict() == BASE


def test_hashable_despite_annotations() -> None:
    a = Descriptor.from_dict(with_(annotations={"k": "v"}))
    b = Descriptor.from_dict(with_(annotations={"k": "w"}))
    assert a != b
    assert hash(a) == hash(b)  # annotations take no part in the hash, only in equality
    assert len({a, Descriptor.from_dict(with_(annotations={"k": "v"}))}) == 1


# ── hypothesis ─────────────────────────────────────────────────────────────────────────────────

texts = st.text(max_size=10)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**60), 2**60) | st.floats(allow_nan=False) | texts,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(texts, children, max_size=3),
    max_leaves=8,
)
FIELDS = ["mediaType", "digest", "size", "platform", "annotations", "urls", "artifactType", "data"]
descriptors = st.dictionaries(
    st.sampled_from(FIELDS),
    json_values | st.sampled_from([DIGEST, 2, "e30=", mt.OCI_LAYER, {"os": "linux"}]),
)


@settings(max_examples=300, database=None, deadline=None)
@given(json_values | descriptors)
def test_arbitrary_json_raises_only_regimage_errors(obj: object) -> None:
    with contextlib.suppress(RegImageError):
        d = Descriptor.from_dict(obj)
        assert Descriptor.from_dict(d.to_dict()) == d


@settings(max_examples=200, database=None, deadline=None)
@given(st.sampled_from(FIELDS), json_values)
def test_one_field_replaced(field: str, value: Any) -> None:
    obj = {**BASE, "platform": {"os": "linux", "architecture": "amd64"}, field: value}
    with contextlib.suppress(RegImageError):
        Descriptor.from_dict(obj)
