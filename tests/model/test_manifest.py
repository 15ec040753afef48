"""regimage.model.manifest: manifests, indexes and schema1, decoded, validated and told apart."""

from __future__ import annotations

import base64
import contextlib
import json
from typing import Any

import pytest
from hypothesis import given, settings, strategies as st

from regimage.errors import InvalidDocument, RegImageError, UnsupportedMediaType
from regimage.model import _document as document_module, mediatypes as mt
from regimage.model.descriptor import Descriptor
from regimage.model.digest import Digest
from regimage.model.manifest import (
    GENERIC_MEDIA_TYPES,
    MAX_ENTRIES,
    Index,
    Manifest,
    Schema1Manifest,
    parse_document,
)
from regimage.model.platform import Platform

DROP: Any = object()  # a field value meaning "leave this field out"

CONFIG = {"mediaType": mt.OCI_CONFIG, "digest": "sha256:" + "a" * 64, "size": 1469}
LAYER0 = {"mediaType": mt.OCI_LAYER_GZIP, "digest": "sha256:" + "b" * 64, "size": 2479}
LAYER1 = {"mediaType": mt.OCI_LAYER_ZSTD, "digest": "sha256:" + "c" * 64, "size": 17}
CHILD_AMD64 = {
    "mediaType": mt.OCI_MANIFEST,
    "digest": "sha256:" + "d" * 64,
    "size": 610,
    "platform": {"os": "linux", "architecture": "amd64"},
}
CHILD_ARM = {
    "mediaType": mt.OCI_MANIFEST,
    "digest": "sha256:" + "e" * 64,
    "size": 611,
    "platform": {"os": "linux", "architecture": "arm", "variant": "v7"},
}
EMPTY_CONFIG = {
    "mediaType": mt.OCI_EMPTY,
    "digest": str(Digest.of(b"{}")),
    "size": 2,
    "data": "e30=",
}


def _build(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    doc = {**base, **over}
    return {k: v for k, v in doc.items() if v is not DROP}


def oci_manifest(**over: Any) -> dict[str, Any]:
    base = {"schemaVersion": 2, "mediaType": mt.OCI_MANIFEST, "config": CONFIG, "layers": [LAYER0]}
    return _build(base, over)


def docker_manifest(**over: Any) -> dict[str, Any]:
    config = {**CONFIG, "mediaType": mt.DOCKER_CONFIG}
    layer = {**LAYER0, "mediaType": mt.DOCKER_LAYER}
    base = {
        "schemaVersion": 2,
        "mediaType": mt.DOCKER_MANIFEST,
        "config": config,
        "layers": [layer],
    }
    return _build(base, over)


def oci_index(**over: Any) -> dict[str, Any]:
    base = {"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": [CHILD_AMD64, CHILD_ARM]}
    return _build(base, over)


def docker_list(**over: Any) -> dict[str, Any]:
    child = {**CHILD_AMD64, "mediaType": mt.DOCKER_MANIFEST}
    base = {"schemaVersion": 2, "mediaType": mt.DOCKER_MANIFEST_LIST, "manifests": [child]}
    return _build(base, over)


def without(obj: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if k != key}


def enc(doc: object) -> bytes:
    return json.dumps(doc).encode()


# ── valid documents ──────────────────────────────────────────────────────────────────────────────


def test_oci_manifest_fields() -> None:
    doc = oci_manifest(layers=[LAYER0, LAYER1], annotations={"org.example": "x"})
    m = Manifest.parse(enc(doc), mt.OCI_MANIFEST)
    assert m.media_type == mt.OCI_MANIFEST
    assert m.schema_version == 2
    assert m.config == Descriptor(mt.OCI_CONFIG, Digest("sha256", "a" * 64), 1469)
    assert [layer.digest.encoded[0] for layer in m.layers] == ["b", "c"]
    assert [layer.size for layer in m.layers] == [2479, 17]
    assert m.layers[1].media_type == mt.OCI_LAYER_ZSTD
    assert m.annotations == {"org.example": "x"}
    assert m.subject is None
    assert m.artifact_type is None
    assert not m.is_artifact


def test_docker_manifest_fields() -> None:
    m = Manifest.parse(enc(docker_manifest()), mt.DOCKER_MANIFEST)
    assert m.media_type == mt.DOCKER_MANIFEST
    assert m.config.media_type == mt.DOCKER_CONFIG
    assert m.layers[0].media_type == mt.DOCKER_LAYER
    assert not m.is_artifact


def test_artifact_manifest() -> None:
    subject = {"mediaType": mt.OCI_INDEX, "digest": "sha256:" + "f" * 64, "size": 934}
    doc = oci_manifest(
        artifactType="application/example.sbom",
        config=EMPTY_CONFIG,
        layers=[{**LAYER0, "mediaType": "application/example.sbom.breakfast"}],
        subject=subject,
    )
    m = Manifest.parse(enc(doc))
    assert m.is_artifact
    assert m.artifact_type == "application/example.sbom"
    assert m.config.data == b"{}"
    assert m.subject is not None
    assert m.subject.digest == Digest("sha256", "f" * 64)
    assert m.subject.media_type == mt.OCI_INDEX


@pytest.mark.parametrize(
    "config_type",
    ["application/vnd.cncf.helm.config.v1+json", mt.DOCKER_PLUGIN_CONFIG, mt.OCI_EMPTY],
)
def test_non_image_configs_make_artifacts(config_type: str) -> None:
    m = Manifest.parse(enc(oci_manifest(config={**CONFIG, "mediaType": config_type})))
    assert m.is_artifact


def test_oci_index_fields() -> None:
    doc = oci_index(annotations={"org.opencontainers.image.ref.name": "v2"})
    index = Index.parse(enc(doc), mt.OCI_INDEX)
    assert index.media_type == mt.OCI_INDEX
    assert len(index.manifests) == 2
    assert index.manifests[0].platform == Platform("linux", "amd64")
    assert index.manifests[1].platform == Platform("linux", "arm", "v7")
    assert index.manifests[1].size == 611
    assert index.annotations == {"org.opencontainers.image.ref.name": "v2"}


def test_docker_list_fields() -> None:
    index = Index.parse(enc(docker_list()), mt.DOCKER_MANIFEST_LIST)
    assert index.media_type == mt.DOCKER_MANIFEST_LIST
    assert index.manifests[0].media_type == mt.DOCKER_MANIFEST


def test_index_may_hold_indexes_and_artifacts() -> None:
    nested = {"mediaType": mt.OCI_INDEX, "digest": "sha256:" + "1" * 64, "size": 5}
    artifact = {**CHILD_AMD64, "artifactType": "application/example.signature"}
    del artifact["platform"]
    index = Index.parse(enc(oci_index(manifests=[nested, artifact])))
    assert index.manifests[0].media_type == mt.OCI_INDEX
    assert index.manifests[1].artifact_type == "application/example.signature"
    assert index.manifests[1].platform is None


def test_empty_lists_are_valid() -> None:
    assert Manifest.parse(enc(oci_manifest(layers=[]))).layers == ()
    assert Index.parse(enc(oci_index(manifests=[]))).manifests == ()


def test_unknown_fields_are_ignored() -> None:
    m = Manifest.parse(enc(oci_manifest(extra={"anything": [1, 2]})))
    assert m.layers[0].size == 2479


def test_oci_types_may_omit_the_media_type_field() -> None:
    m = Manifest.parse(enc(oci_manifest(mediaType=DROP)), mt.OCI_MANIFEST)
    assert m.media_type == mt.OCI_MANIFEST
    i = Index.parse(enc(oci_index(mediaType=DROP)), mt.OCI_INDEX)
    assert i.media_type == mt.OCI_INDEX


def test_media_type_null_counts_as_absent_for_oci() -> None:
    assert Manifest.parse(enc(oci_manifest(mediaType=None)), mt.OCI_MANIFEST).layers


def test_max_entries_is_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(document_module, "MAX_ENTRIES", 3)
    doc = oci_manifest(layers=[LAYER0] * 3)
    assert len(Manifest.parse(enc(doc)).layers) == 3


def test_max_entries_value() -> None:
    assert MAX_ENTRIES == 100_000
    assert document_module.MAX_ENTRIES == MAX_ENTRIES  # the bound manifest.MAX_ENTRIES names


# ── what a document is: declared type, mediaType field, shape ───────────────────────────────────

DECLARED_CASES: list[tuple[dict[str, Any], str | None, type, str]] = [
    (oci_manifest(), mt.OCI_MANIFEST, Manifest, mt.OCI_MANIFEST),
    (oci_manifest(), None, Manifest, mt.OCI_MANIFEST),
    (oci_manifest(mediaType=DROP), None, Manifest, mt.OCI_MANIFEST),
    (oci_manifest(mediaType=DROP), "application/json", Manifest, mt.OCI_MANIFEST),
    (oci_manifest(mediaType=DROP), "text/plain; charset=utf-8", Manifest, mt.OCI_MANIFEST),
    (oci_manifest(mediaType=DROP), "application/octet-stream", Manifest, mt.OCI_MANIFEST),
    (oci_manifest(mediaType=DROP), "", Manifest, mt.OCI_MANIFEST),
    (docker_manifest(), None, Manifest, mt.DOCKER_MANIFEST),
    (docker_manifest(), "text/plain", Manifest, mt.DOCKER_MANIFEST),
    (docker_manifest(), mt.DOCKER_MANIFEST, Manifest, mt.DOCKER_MANIFEST),
    (oci_index(), None, Index, mt.OCI_INDEX),
    (oci_index(mediaType=DROP), None, Index, mt.OCI_INDEX),
    (oci_index(mediaType=DROP), "application/json", Index, mt.OCI_INDEX),
    (docker_list(), None, Index, mt.DOCKER_MANIFEST_LIST),
    (docker_list(), "application/json", Index, mt.DOCKER_MANIFEST_LIST),
    (docker_list(), mt.DOCKER_MANIFEST_LIST, Index, mt.DOCKER_MANIFEST_LIST),
    # Media types compare without parameters and case.
    (oci_manifest(), "Application/VND.OCI.Image.Manifest.v1+JSON; charset=utf-8", Manifest, mt.OCI_MANIFEST),
]  # fmt: skip


@pytest.mark.parametrize(("doc", "declared", "cls", "media_type"), DECLARED_CASES)
def test_parse_document_tells_what_it_is(
    doc: dict[str, Any], declared: str | None, cls: type, media_type: str
) -> None:
    result = parse_document(enc(doc), declared)
    assert type(result) is cls
    assert result.media_type == media_type


def test_generic_media_types() -> None:
    assert {"application/json", "text/plain", "application/octet-stream"} == GENERIC_MEDIA_TYPES


def test_detection_of_schema1() -> None:
    unsigned = schema1_doc()
    result = parse_document(enc(unsigned), None)
    assert isinstance(result, Schema1Manifest)
    assert result.media_type == mt.DOCKER_SCHEMA1_MANIFEST
    assert not result.signed
    signed = sign_schema1(json.dumps(unsigned, indent=3).encode())
    result = parse_document(signed, "application/json")
    assert isinstance(result, Schema1Manifest)
    assert result.media_type == mt.DOCKER_SCHEMA1_SIGNED_MANIFEST
    assert result.signed
    fs_only = {k: v for k, v in unsigned.items() if k != "schemaVersion"}
    with pytest.raises(InvalidDocument, match="missing required field 'schemaVersion'"):
        parse_document(enc(fs_only), None)  # detected as schema1 by fsLayers, then validated


INVALID: list[tuple[dict[str, Any] | bytes, str | None, type[Exception], str]] = [
    # schemaVersion
    (oci_manifest(schemaVersion=DROP), None, InvalidDocument, "manifest is missing required field 'schemaVersion'"),
    (oci_manifest(schemaVersion=None), None, InvalidDocument, "missing required field 'schemaVersion'"),
    (oci_manifest(schemaVersion=1), None, InvalidDocument, f"manifest has schemaVersion 1, but {mt.OCI_MANIFEST} requires 2"),
    (oci_manifest(schemaVersion=3), None, InvalidDocument, "schemaVersion 3"),
    (oci_manifest(schemaVersion="2"), None, InvalidDocument, "'schemaVersion' must be an integer, got string"),
    (oci_manifest(schemaVersion=True), None, InvalidDocument, "'schemaVersion' must be an integer, got boolean"),
    (oci_manifest(schemaVersion=2.0), None, InvalidDocument, "'schemaVersion' must be an integer, got number"),
    (oci_index(schemaVersion=DROP), None, InvalidDocument, "index is missing required field 'schemaVersion'"),
    # required fields
    (oci_manifest(config=DROP), mt.OCI_MANIFEST, InvalidDocument, "manifest is missing required field 'config'"),
    (oci_manifest(config=None), None, InvalidDocument, "manifest is missing required field 'config'"),
    (oci_manifest(layers=DROP), None, InvalidDocument, "manifest is missing required field 'layers'"),
    (oci_manifest(layers=DROP, mediaType=DROP), None, InvalidDocument, "manifest is missing required field 'layers'"),
    (oci_index(manifests=DROP), None, InvalidDocument, "index is missing required field 'manifests'"),
    (oci_index(manifests=None), None, InvalidDocument, "index is missing required field 'manifests'"),
    # descriptors, named by where they are
    (oci_manifest(config="sha256:x"), None, InvalidDocument, "config must be a JSON object, got string"),
    (oci_manifest(config=without(CONFIG, "size")), None, InvalidDocument, "config is missing required field 'size'"),
    (oci_manifest(layers={"0": LAYER0}), None, InvalidDocument, "manifest field 'layers' must be an array, got object"),
    (oci_manifest(layers=[LAYER0, LAYER0, LAYER0, without(LAYER0, "size")]), None, InvalidDocument, "layers[3] is missing required field 'size'"),
    (oci_manifest(layers=[{**LAYER0, "digest": "sha256:XYZ"}]), None, InvalidDocument, "layers[0].digest: "),
    (oci_manifest(layers=[{**LAYER0, "size": -1}]), None, InvalidDocument, "layers[0].size out of range: -1"),
    (oci_manifest(layers=[{**LAYER0, "mediaType": 5}]), None, InvalidDocument, "layers[0].mediaType must be a string"),
    (oci_index(manifests=[CHILD_AMD64, {**CHILD_ARM, "platform": "linux/arm"}]), None, InvalidDocument, "manifests[1].platform"),
    (oci_index(manifests=[None]), None, InvalidDocument, "manifests[0] must be a JSON object, got null"),
    (oci_manifest(subject={"mediaType": mt.OCI_MANIFEST, "size": 3}), None, InvalidDocument, "subject is missing required field 'digest'"),
    (oci_manifest(subject=[]), None, InvalidDocument, "subject must be a JSON object, got array"),
    # optional fields of the wrong type
    (oci_manifest(annotations={"a": 1}), None, InvalidDocument, "manifest field 'annotations' must be an object of strings"),
    (oci_manifest(annotations=["a"]), None, InvalidDocument, "'annotations' must be an object of strings"),
    (oci_index(annotations={"a": None}), None, InvalidDocument, "index field 'annotations' must be an object of strings"),
    (oci_manifest(artifactType=1), None, InvalidDocument, "manifest field 'artifactType' must be a string, got number"),
    (oci_manifest(mediaType=["x"]), None, InvalidDocument, "field 'mediaType' must be a string, got array"),
    # shape against media type (CVE-2021-41190)
    (oci_manifest(manifests=[CHILD_AMD64]), mt.OCI_MANIFEST, InvalidDocument, f"manifest of type {mt.OCI_MANIFEST} has a 'manifests' field, which only an index may have"),
    (docker_manifest(manifests=[]), None, InvalidDocument, f"manifest of type {mt.DOCKER_MANIFEST} has a 'manifests' field"),
    (oci_index(layers=[LAYER0]), mt.OCI_INDEX, InvalidDocument, f"index of type {mt.OCI_INDEX} has a 'layers' field, which only a manifest may have"),
    (oci_index(config=CONFIG), None, InvalidDocument, "index of type application/vnd.oci.image.index.v1+json has a 'config' field"),
    (docker_list(layers=[]), None, InvalidDocument, f"index of type {mt.DOCKER_MANIFEST_LIST} has a 'layers' field"),
    (oci_manifest(mediaType=DROP, manifests=[]), None, InvalidDocument, "document has both 'manifests' and 'config'"),
    (oci_manifest(mediaType=DROP, config=DROP, manifests=[]), "application/json", InvalidDocument, "document has both 'manifests' and 'layers'"),
    # Docker's documents must carry their mediaType
    (docker_manifest(mediaType=DROP), mt.DOCKER_MANIFEST, InvalidDocument, "docker manifest is missing required field 'mediaType'"),
    (docker_list(mediaType=DROP), mt.DOCKER_MANIFEST_LIST, InvalidDocument, "docker index is missing required field 'mediaType'"),
    # the mediaType field against the declared type
    (docker_manifest(), mt.OCI_MANIFEST, InvalidDocument, f"manifest says its mediaType is {mt.DOCKER_MANIFEST!r} but it was served as {mt.OCI_MANIFEST!r}"),
    (oci_manifest(), mt.DOCKER_MANIFEST, InvalidDocument, f"says its mediaType is {mt.OCI_MANIFEST!r} but it was served as {mt.DOCKER_MANIFEST!r}"),
    (oci_index(), mt.OCI_MANIFEST, InvalidDocument, f"says its mediaType is {mt.OCI_INDEX!r} but it was served as {mt.OCI_MANIFEST!r}"),
    (oci_manifest(), mt.OCI_INDEX, InvalidDocument, f"index says its mediaType is {mt.OCI_MANIFEST!r}"),
    (docker_list(), mt.OCI_INDEX, InvalidDocument, f"says its mediaType is {mt.DOCKER_MANIFEST_LIST!r}"),
    (oci_manifest(mediaType=mt.OCI_INDEX), None, InvalidDocument, f"index of type {mt.OCI_INDEX} has a 'config' field"),
    # media types regimage does not read
    (oci_manifest(), mt.OCI_CONFIG, UnsupportedMediaType, f"unsupported media type {mt.OCI_CONFIG!r}"),
    (oci_manifest(), "application/vnd.oci.artifact.manifest.v1+json", UnsupportedMediaType, "unsupported media type 'application/vnd.oci.artifact.manifest.v1+json'"),
    (oci_manifest(), "image/png", UnsupportedMediaType, "unsupported media type 'image/png'"),
    (oci_manifest(mediaType="application/vnd.oci.artifact.manifest.v1+json"), None, UnsupportedMediaType, "unsupported media type 'application/vnd.oci.artifact.manifest.v1+json' (the document's mediaType field)"),
    (oci_manifest(mediaType="application/json"), "text/plain", UnsupportedMediaType, "unsupported media type 'application/json'"),
    # not a manifest at all
    (b"[]", None, InvalidDocument, "document must be a JSON object, got array"),
    (b"", mt.OCI_MANIFEST, InvalidDocument, "manifest is not valid JSON"),
    (b'{"schemaVersion":2,"schemaVersion":2}', mt.OCI_INDEX, InvalidDocument, "index has duplicate key 'schemaVersion'"),
    ({"schemaVersion": 2}, None, InvalidDocument, "cannot tell what this document is"),
    ({}, "application/json", InvalidDocument, "cannot tell what this document is"),
    ({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers"}, "config": {}}, None, InvalidDocument, "document is an image config (it has 'rootfs'), not a manifest or an index"),
]  # fmt: skip


@pytest.mark.parametrize(("doc", "declared", "error", "message"), INVALID)
def test_invalid_documents(
    doc: dict[str, Any] | bytes, declared: str | None, error: type[Exception], message: str
) -> None:
    data = doc if isinstance(doc, bytes) else enc(doc)
    with pytest.raises(error) as info:
        parse_document(data, declared)
    assert message in str(info.value)


def test_unsupported_media_type_carries_it() -> None:
    with pytest.raises(UnsupportedMediaType) as info:
        parse_document(b"not even json", "application/vnd.oci.image.config.v1+json; x=y")
    assert info.value.media_type == mt.OCI_CONFIG  # refused before the body is read


def test_invalid_document_carries_media_type() -> None:
    with pytest.raises(InvalidDocument) as info:
        parse_document(enc(oci_manifest(layers=[{}])), mt.OCI_MANIFEST)
    assert info.value.media_type == mt.OCI_MANIFEST
    assert str(info.value) == "layers[0] is missing required field 'mediaType'"


@pytest.mark.parametrize("name", ["layers", "manifests"])
def test_entry_count_is_bounded(name: str) -> None:
    doc = oci_manifest(layers=[{}] * (MAX_ENTRIES + 1)) if name == "layers" else None
    doc = doc or oci_index(manifests=[{}] * (MAX_ENTRIES + 1))
    with pytest.raises(InvalidDocument, match=f"lists {MAX_ENTRIES + 1} {name}, more than the"):
        parse_document(enc(doc), None)


def test_entry_bound_is_read_at_call_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(document_module, "MAX_ENTRIES", 1)
    with pytest.raises(InvalidDocument, match="lists 2 layers, more than the 1"):
        Manifest.parse(enc(oci_manifest(layers=[LAYER0, LAYER1])))


# ── the typed entry points refuse the other kinds ──────────────────────────────────────────────


@pytest.mark.parametrize(
    ("call", "doc", "declared", "message"),
    [
        (Manifest.parse, oci_index(), None, f"expected a manifest, got an index ({mt.OCI_INDEX})"),
        (Manifest.parse, oci_manifest(), mt.OCI_INDEX, "expected a manifest, got an index"),
        (Manifest.parse, oci_manifest(), mt.DOCKER_SCHEMA1_MANIFEST, "got a schema1 manifest"),
        (Manifest.parse, oci_index(mediaType=DROP), None, "manifest of type"),
        (Index.parse, oci_manifest(), None, "expected an index, got a manifest"),
        (Index.parse, oci_manifest(mediaType=DROP), None, "index of type"),
        (Index.parse, oci_index(), mt.DOCKER_MANIFEST, "expected an index, got a manifest"),
        (
            Schema1Manifest.parse,
            oci_manifest(),
            None,
            "expected a schema1 manifest, got a manifest",
        ),
        (Schema1Manifest.parse, oci_manifest(mediaType=DROP), None, "schemaVersion 2, but"),
    ],
)
def test_typed_parsers_refuse_other_kinds(
    call: Any, doc: dict[str, Any], declared: str | None, message: str
) -> None:
    with pytest.raises(InvalidDocument) as info:
        call(enc(doc), declared)
    assert message in str(info.value)


def test_typed_parsers_refuse_unknown_types() -> None:
    with pytest.raises(UnsupportedMediaType, match="unsupported media type 'x/y'"):
        Manifest.parse(enc(oci_manifest()), "x/y")
    with pytest.raises(UnsupportedMediaType):
        Index.parse(enc(oci_index()), mt.OCI_LAYER)


# ── schema1 ───────────────────────────────────────────────────────────────────────────────────


def schema1_doc(**over: Any) -> dict[str, Any]:
    base = {
        "schemaVersion": 1,
        "name": "library/busybox",
        "tag": "1.0",
        "architecture": "amd64",
        "fsLayers": [{"blobSum": "sha256:" + "5" * 64}, {"blobSum": "sha256:" + "6" * 64}],
        "history": [{"v1Compatibility": "{}"}, {"v1Compatibility": "{}"}],
    }
    return _build(base, over)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def sign_schema1(payload: bytes, *, signatures: int = 1) -> bytes:
    """Sign a schema1 payload the way libtrust formats it (the signature itself is not checked)."""
    assert payload.endswith(b"\n}")
    format_length = len(payload) - 2
    header = {"formatLength": format_length, "formatTail": _b64url(payload[format_length:])}
    protected = _b64url(json.dumps(header).encode())
    sig = {"header": {"alg": "ES256"}, "signature": "c2ln", "protected": protected}
    sigs = json.dumps([sig] * signatures)
    return payload[:format_length] + b',\n   "signatures": ' + sigs.encode() + b"\n}"


def test_schema1_unsigned() -> None:
    data = json.dumps(schema1_doc(), indent=3).encode()
    m = Schema1Manifest.parse(data, mt.DOCKER_SCHEMA1_MANIFEST)
    assert m.name == "library/busybox"
    assert m.tag == "1.0"
    assert m.architecture == "amd64"
    assert m.fs_layers == (Digest("sha256", "5" * 64), Digest("sha256", "6" * 64))
    assert not m.signed
    assert Schema1Manifest.payload(data) == data
    assert repr(m) == "<Schema1Manifest(library/busybox:1.0, amd64, fs_layers=2, unsigned)>"


@pytest.mark.parametrize("count", [1, 2])
def test_schema1_signed_payload(count: int) -> None:
    payload = json.dumps(schema1_doc(), indent=3).encode()
    signed = sign_schema1(payload, signatures=count)
    assert signed != payload
    m = Schema1Manifest.parse(signed)
    assert m.signed
    assert m.media_type == mt.DOCKER_SCHEMA1_SIGNED_MANIFEST
    assert Schema1Manifest.payload(signed) == payload
    assert Digest.of(Schema1Manifest.payload(signed)) == Digest.of(payload)


def _with_header(data: bytes, header: object, index: int = 0) -> bytes:
    obj = json.loads(data)
    obj["signatures"][index]["protected"] = _b64url(json.dumps(header).encode())
    return json.dumps(obj).encode()


SIGNED = sign_schema1(json.dumps(schema1_doc(), indent=3).encode())


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (_with_header(SIGNED, {"formatLength": 10**6, "formatTail": "Cn0"}), "formatLength must be an integer within the document"),
        (_with_header(SIGNED, {"formatLength": -1, "formatTail": "Cn0"}), "formatLength must be"),
        (_with_header(SIGNED, {"formatLength": True, "formatTail": "Cn0"}), "formatLength must be"),
        (_with_header(SIGNED, {"formatTail": "Cn0"}), "signatures[0].protected.formatLength"),
        (_with_header(SIGNED, {"formatLength": 3}), "formatTail must be a base64url string"),
        (_with_header(SIGNED, {"formatLength": 3, "formatTail": "C*0"}), "signatures[0].protected.formatTail is not valid base64url"),
        (_with_header(SIGNED, {"formatLength": 3, "formatTail": "Cn0é"}), "formatTail is not valid base64url"),
        (_with_header(SIGNED, [1]), "signatures[0].protected must be a JSON object, got array"),
        (SIGNED.replace(b'"protected": "', b'"protected": "!'), "signatures[0].protected is not valid base64url"),
        (SIGNED.replace(b'"protected": "', b'"protected": "' + _b64url(b"{").encode() + b"."), "not valid base64url"),
        (SIGNED.replace(b'"protected": "', b'"protected_": "'), "signatures[0] needs a string 'protected' header"),
        (SIGNED.replace(b'"signatures": [', b'"signatures": [1, '), "signatures[0] needs a string 'protected' header"),
        (enc({**schema1_doc(), "signatures": []}), "'signatures' must be a non-empty array"),
        (enc({**schema1_doc(), "signatures": {}}), "'signatures' must be a non-empty array"),
    ],
)  # fmt: skip
def test_schema1_payload_errors(data: bytes, message: str) -> None:
    with pytest.raises(InvalidDocument) as info:
        Schema1Manifest.payload(data)
    assert message in str(info.value)


def test_schema1_signatures_must_agree() -> None:
    two = sign_schema1(json.dumps(schema1_doc(), indent=3).encode(), signatures=2)
    disagreeing = _with_header(two, {"formatLength": 3, "formatTail": "Cn0"}, index=1)
    with pytest.raises(InvalidDocument, match="signatures disagree on the signed payload"):
        Schema1Manifest.payload(disagreeing)


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        (schema1_doc(schemaVersion=2), f"schema1 manifest has schemaVersion 2, but {mt.DOCKER_SCHEMA1_MANIFEST} requires 1"),
        (schema1_doc(fsLayers=DROP), "schema1 manifest is missing required field 'fsLayers'"),
        (schema1_doc(fsLayers={}), "schema1 manifest field 'fsLayers' must be an array, got object"),
        (schema1_doc(fsLayers=[{"blobSum": "sha256:" + "5" * 64}, {"blobSum": "md5:zz!"}]), "fsLayers[1].blobSum: "),
        (schema1_doc(fsLayers=[{"blobSum": "sha256:" + "5" * 64}, {}]), "fsLayers[1] needs a string 'blobSum'"),
        (schema1_doc(fsLayers=[{"blobSum": "sha256:" + "5" * 64}, "x"]), "fsLayers[1] must be a JSON object, got string"),
        (schema1_doc(history=[{}]), "schema1 manifest has 1 history entries for 2 fsLayers"),
        (schema1_doc(history={}), "schema1 manifest field 'history' must be an array"),
        (schema1_doc(signatures={}), "schema1 manifest field 'signatures' must be an array"),
        (schema1_doc(name=1), "schema1 manifest field 'name' must be a string, got number"),
        (schema1_doc(architecture=[]), "field 'architecture' must be a string, got array"),
    ],
)  # fmt: skip
def test_schema1_invalid(doc: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidDocument) as info:
        parse_document(enc(doc), mt.DOCKER_SCHEMA1_MANIFEST)
    assert message in str(info.value)


def test_schema1_optional_strings_default_to_empty() -> None:
    m = Schema1Manifest.parse(enc(schema1_doc(name=DROP, tag=DROP, architecture=DROP)))
    assert (m.name, m.tag, m.architecture) == ("", "", "")
    assert repr(m) == "<Schema1Manifest(:, ?, fs_layers=2, unsigned)>"


# ── round trips and reprs ──────────────────────────────────────────────────────────────────────

ROUND_TRIP = [
    oci_manifest(),
    oci_manifest(layers=[LAYER0, LAYER1], annotations={"a": "b"}),
    oci_manifest(
        artifactType="application/x",
        config=EMPTY_CONFIG,
        subject={"mediaType": mt.OCI_MANIFEST, "digest": "sha256:" + "9" * 64, "size": 1},
    ),
    docker_manifest(),
    oci_index(),
    oci_index(annotations={"k": "v"}, artifactType="application/y"),
    docker_list(),
]


@pytest.mark.parametrize("doc", ROUND_TRIP)
def test_round_trip_through_to_dict(doc: dict[str, Any]) -> None:
    parsed = parse_document(enc(doc), None)
    assert not isinstance(parsed, Schema1Manifest)
    again = parse_document(enc(parsed.to_dict()), parsed.media_type)
    assert again == parsed
    expected = {k: v for k, v in doc.items() if k not in ("config", "layers", "manifests")}
    assert {k: v for k, v in parsed.to_dict().items() if k in expected} == expected


def test_reprs() -> None:
    m = Manifest.parse(enc(oci_manifest(layers=[LAYER0, LAYER1])))
    assert repr(m) == f"<Manifest({mt.OCI_MANIFEST!r}, config=sha256:{'a' * 64}, layers=2)>"
    artifact = Manifest.parse(enc(oci_manifest(artifactType="application/x", config=EMPTY_CONFIG)))
    assert "artifact_type='application/x'" in repr(artifact)
    index = Index.parse(enc(oci_index()))
    assert repr(index) == f"<Index({mt.OCI_INDEX!r}, manifests=2)>"


def test_values_are_frozen_and_hashable() -> None:
    m = Manifest.parse(enc(oci_manifest()))
    with pytest.raises(AttributeError):
        m.layers = ()  # type: ignore[misc]
    assert hash(m) == hash(Manifest.parse(enc(oci_manifest())))


# ── hypothesis: only RegImageError escapes ─────────────────────────────────────────────────────

MEDIA_TYPES = st.sampled_from(
    [
        None,
        "application/json",
        mt.OCI_MANIFEST,
        mt.OCI_INDEX,
        mt.DOCKER_MANIFEST,
        mt.DOCKER_MANIFEST_LIST,
        mt.DOCKER_SCHEMA1_SIGNED_MANIFEST,
        mt.OCI_CONFIG,
    ]
)
texts = st.text(max_size=12)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**60), 2**60) | st.floats(allow_nan=False) | texts,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(texts, children, max_size=4),
    max_leaves=12,
)
FIELDS = ["schemaVersion", "mediaType", "config", "layers", "manifests", "subject"]
FIELDS += ["annotations", "artifactType", "fsLayers", "signatures", "history", "rootfs"]
documents = st.dictionaries(
    st.sampled_from(FIELDS) | texts, json_values | st.sampled_from([2, 1, CONFIG, [LAYER0]])
)


@settings(max_examples=200, database=None, deadline=None)
@given(st.binary(max_size=200), MEDIA_TYPES)
def test_arbitrary_bytes_raise_only_regimage_errors(data: bytes, media_type: str | None) -> None:
    with contextlib.suppress(RegImageError):
        parse_document(data, media_type)


@settings(max_examples=300, database=None, deadline=None)
@given(documents, MEDIA_TYPES)
def test_arbitrary_json_raises_only_regimage_errors(
    doc: dict[str, Any], media_type: str | None
) -> None:
    try:
        result = parse_document(enc(doc), media_type)
    except RegImageError:
        return
    assert isinstance(result, Manifest | Index | Schema1Manifest)


@settings(max_examples=100, database=None, deadline=None)
@given(
    st.lists(st.sampled_from([LAYER0, LAYER1, CONFIG]), max_size=5),
    st.dictionaries(texts, texts, max_size=3),
    st.none() | st.text(min_size=1, max_size=10),
)
def test_round_trip_property(
    layers: list[dict[str, Any]], annotations: dict[str, str], artifact_type: str | None
) -> None:
    doc = oci_manifest(layers=layers, annotations=annotations)
    if artifact_type is not None:
        doc["artifactType"] = artifact_type
    parsed = Manifest.parse(enc(doc))
    assert Manifest.parse(enc(parsed.to_dict())) == parsed
    assert len(parsed.layers) == len(layers)
