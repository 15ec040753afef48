"""Manifests and indexes: decode, validate, and tell one from the other.

Specs: OCI image-spec v1.1 (manifest.md, image-index.md), Docker "Image Manifest Version 2,
Schema 2" (manifest and manifest list) and "Schema 1" (legacy, read only far enough to say so and
to check its digest).

What a document is comes from the media type it was served or referenced with; the JSON
``mediaType`` field, when present, must agree with it. When the declared type says nothing
(absent, or a generic ``application/json``/``text/plain``), the JSON decides, the way containerd
detects a manifest's type: ``manifests`` → index, ``config``/``layers`` → manifest,
``schemaVersion: 1``/``fsLayers`` → schema1. A document carrying both ``manifests`` and
``config``/``layers`` is refused whatever it claims to be: two readers could otherwise see two
different images in the same bytes (CVE-2021-41190).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import field
from typing import Any, TypeAlias

import regimage.mediatypes as mediatypes
from regimage._json import json_type, loads_object
from regimage._record import record
from regimage.descriptor import Descriptor
from regimage.digest import Digest
from regimage.errors import InvalidDigest, InvalidDocument, UnsupportedMediaType

__all__ = [
    "GENERIC_MEDIA_TYPES",
    "MAX_ENTRIES",
    "Document",
    "Index",
    "Manifest",
    "Schema1Manifest",
    "parse_document",
]

#: Content types that say nothing about which document the body is; the JSON decides then.
GENERIC_MEDIA_TYPES = frozenset({"application/json", "text/plain", "application/octet-stream"})

#: The most entries (``manifests``, ``layers``, ``fsLayers``) one document may list. The largest
#: real images have a few hundred layers; a 4 MiB manifest fits about 25,000 descriptors.
MAX_ENTRIES = 100_000

_INDEX, _MANIFEST, _SCHEMA1 = "index", "manifest", "schema1 manifest"
_A = {_INDEX: "an index", _MANIFEST: "a manifest", _SCHEMA1: "a schema1 manifest", None: "nothing"}


def _normalize(media_type: str) -> str:
    """A media type without parameters (``; charset=utf-8``) and lower-cased, as compared."""
    return media_type.split(";", 1)[0].strip().lower()


def _kind(media_type: str) -> str | None:
    """Which document a (normalized) media type names, or None when regimage does not read it."""
    if mediatypes.is_index(media_type):
        return _INDEX
    if mediatypes.is_manifest(media_type):
        return _MANIFEST
    if mediatypes.is_schema1(media_type):
        return _SCHEMA1
    return None


@record(frozen=True, slots=True, repr=False)
class Manifest:
    """An OCI image manifest or a Docker schema2 manifest: one config and its layers."""

    media_type: str
    config: Descriptor
    layers: tuple[Descriptor, ...]
    subject: Descriptor | None = None
    artifact_type: str | None = None
    annotations: Mapping[str, str] = field(default_factory=dict, hash=False)
    schema_version: int = 2

    @classmethod
    def parse(cls, data: bytes, media_type: str | None = None) -> Manifest:
        """Decode and validate a manifest; ``media_type`` is what it was served or referenced as.

        Without a declared type (or with a generic one) the JSON ``mediaType`` decides, and an
        OCI manifest is assumed when that is absent too. An index, or a media type that is not a
        manifest, raises :class:`~regimage.errors.InvalidDocument`.
        """
        declared = _declared(media_type, want=_MANIFEST)
        obj = loads_object(data, what=_MANIFEST)
        effective = _effective_type(obj, declared, _MANIFEST, default=mediatypes.OCI_MANIFEST)
        _expect_kind(effective, _MANIFEST)
        return cls._decode(obj, effective)

    @classmethod
    def _decode(cls, obj: dict[str, Any], media_type: str) -> Manifest:
        what = _MANIFEST
        schema_version = _schema_version(obj, 2, what, media_type)
        if "manifests" in obj:
            raise _ambiguous(what, media_type, "manifests")
        _require_docker_media_type(obj, what, media_type, mediatypes.DOCKER_MANIFEST)
        if obj.get("config") is None:
            raise InvalidDocument(
                f"{what} is missing required field 'config'", media_type=media_type
            )
        config = _descriptor(obj["config"], "config", media_type)
        layers = _descriptors(obj, "layers", what, media_type)
        return cls(
            media_type=media_type,
            config=config,
            layers=layers,
            subject=_subject(obj, media_type),
            artifact_type=_optional_str(obj, "artifactType", what, media_type),
            annotations=_annotations(obj, what, media_type),
            schema_version=schema_version,
        )

    @property
    def is_artifact(self) -> bool:
        """Whether this is an OCI artifact rather than an image: its config is no image config.

        That covers the OCI 1.1 form (``artifactType`` with the empty ``{}`` config) and older
        artifacts that put their own type on the config (Helm charts, Docker plugins).
        """
        return not mediatypes.is_config(self.config.media_type)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (not the original bytes: re-serialising changes the digest)."""
        out: dict[str, Any] = {"schemaVersion": self.schema_version, "mediaType": self.media_type}
        if self.artifact_type is not None:
            out["artifactType"] = self.artifact_type
        out["config"] = self.config.to_dict()
        out["layers"] = [layer.to_dict() for layer in self.layers]
        if self.subject is not None:
            out["subject"] = self.subject.to_dict()
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        return out

    def __repr__(self) -> str:
        kind = f", artifact_type={self.artifact_type!r}" if self.artifact_type else ""
        return (
            f"<Manifest({self.media_type!r}, config={self.config.digest}, "
            f"layers={len(self.layers)}{kind})>"
        )


@record(frozen=True, slots=True, repr=False)
class Index:
    """An OCI image index or a Docker manifest list: pointers to manifests (or more indexes)."""

    media_type: str
    manifests: tuple[Descriptor, ...]
    subject: Descriptor | None = None
    artifact_type: str | None = None
    annotations: Mapping[str, str] = field(default_factory=dict, hash=False)
    schema_version: int = 2

    @classmethod
    def parse(cls, data: bytes, media_type: str | None = None) -> Index:
        """Decode and validate an index; like :meth:`Manifest.parse`, assuming an OCI index."""
        declared = _declared(media_type, want=_INDEX)
        obj = loads_object(data, what=_INDEX)
        effective = _effective_type(obj, declared, _INDEX, default=mediatypes.OCI_INDEX)
        _expect_kind(effective, _INDEX)
        return cls._decode(obj, effective)

    @classmethod
    def _decode(cls, obj: dict[str, Any], media_type: str) -> Index:
        what = _INDEX
        schema_version = _schema_version(obj, 2, what, media_type)
        for image_field in ("config", "layers"):
            if image_field in obj:
                raise _ambiguous(what, media_type, image_field)
        _require_docker_media_type(obj, what, media_type, mediatypes.DOCKER_MANIFEST_LIST)
        return cls(
            media_type=media_type,
            manifests=_descriptors(obj, "manifests", what, media_type),
            subject=_subject(obj, media_type),
            artifact_type=_optional_str(obj, "artifactType", what, media_type),
            annotations=_annotations(obj, what, media_type),
            schema_version=schema_version,
        )

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (not the original bytes: re-serialising changes the digest)."""
        out: dict[str, Any] = {"schemaVersion": self.schema_version, "mediaType": self.media_type}
        if self.artifact_type is not None:
            out["artifactType"] = self.artifact_type
        out["manifests"] = [entry.to_dict() for entry in self.manifests]
        if self.subject is not None:
            out["subject"] = self.subject.to_dict()
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        return out

    def __repr__(self) -> str:
        return f"<Index({self.media_type!r}, manifests={len(self.manifests)})>"


@record(frozen=True, slots=True, repr=False)
class Schema1Manifest:
    """A legacy Docker schema1 manifest, decoded only far enough to name it and check its digest.

    regimage does not resolve schema1 images (no config, no diff IDs): callers report them with
    :class:`~regimage.errors.UnsupportedMediaType` and advise rebuilding or re-pushing the image.
    """

    media_type: str
    name: str
    tag: str
    architecture: str
    fs_layers: tuple[Digest, ...]
    signed: bool

    @classmethod
    def parse(cls, data: bytes, media_type: str | None = None) -> Schema1Manifest:
        """Decode a schema1 manifest; signed or not is told by its ``signatures`` field."""
        declared = _declared(media_type, want=_SCHEMA1)
        obj = loads_object(data, what=_SCHEMA1)
        default = (
            mediatypes.DOCKER_SCHEMA1_SIGNED_MANIFEST
            if "signatures" in obj
            else mediatypes.DOCKER_SCHEMA1_MANIFEST
        )
        effective = _effective_type(obj, declared, _SCHEMA1, default=default)
        _expect_kind(effective, _SCHEMA1)
        return cls._decode(obj, effective)

    @classmethod
    def _decode(cls, obj: dict[str, Any], media_type: str) -> Schema1Manifest:
        what = _SCHEMA1
        _schema_version(obj, 1, what, media_type)
        fs_layers = obj.get("fsLayers")
        if fs_layers is None:
            raise InvalidDocument(
                f"{what} is missing required field 'fsLayers'", media_type=media_type
            )
        entries = _bounded_list(fs_layers, "fsLayers", what, media_type)
        digests = tuple(
            _blob_sum(entry, f"fsLayers[{i}]", media_type) for i, entry in enumerate(entries)
        )
        history = obj.get("history")
        if history is not None:
            if not isinstance(history, list):
                raise InvalidDocument(
                    f"{what} field 'history' must be an array, got {json_type(history)}",
                    media_type=media_type,
                )
            if len(history) != len(digests):
                raise InvalidDocument(
                    f"{what} has {len(history)} history entries for {len(digests)} fsLayers",
                    media_type=media_type,
                )
        signatures = obj.get("signatures")
        if signatures is not None and not isinstance(signatures, list):
            raise InvalidDocument(
                f"{what} field 'signatures' must be an array, got {json_type(signatures)}",
                media_type=media_type,
            )
        return cls(
            media_type=media_type,
            name=_optional_str(obj, "name", what, media_type) or "",
            tag=_optional_str(obj, "tag", what, media_type) or "",
            architecture=_optional_str(obj, "architecture", what, media_type) or "",
            fs_layers=digests,
            signed=bool(signatures),
        )

    @staticmethod
    def payload(data: bytes) -> bytes:
        """The bytes a schema1 manifest's digest covers.

        A signed (``prettyjws``) manifest is digested over its JWS payload, not the bytes served:
        each signature's protected header carries ``formatLength`` and ``formatTail``, and the
        payload is ``data[:formatLength] + base64url(formatTail)`` (docker/libtrust). All
        signatures must agree on it. An unsigned manifest's payload is the bytes themselves.
        """
        obj = loads_object(data, what=_SCHEMA1)
        signatures = obj.get("signatures")
        if signatures is None:
            return bytes(data)
        if not isinstance(signatures, list) or not signatures:
            raise InvalidDocument(
                f"{_SCHEMA1} field 'signatures' must be a non-empty array",
                media_type=mediatypes.DOCKER_SCHEMA1_SIGNED_MANIFEST,
            )
        formats = {
            _signed_format(signature, f"signatures[{i}]", len(data))
            for i, signature in enumerate(signatures)
        }
        if len(formats) != 1:
            raise InvalidDocument(
                f"{_SCHEMA1} signatures disagree on the signed payload (formatLength/formatTail)",
                media_type=mediatypes.DOCKER_SCHEMA1_SIGNED_MANIFEST,
            )
        length, tail = formats.pop()
        return bytes(data[:length]) + tail

    def __repr__(self) -> str:
        signed = "signed" if self.signed else "unsigned"
        return (
            f"<Schema1Manifest({self.name}:{self.tag}, {self.architecture or '?'}, "
            f"fs_layers={len(self.fs_layers)}, {signed})>"
        )


#: What :func:`parse_document` returns.
Document: TypeAlias = Manifest | Index | Schema1Manifest


def parse_document(data: bytes, media_type: str | None) -> Document:
    """Decode a manifest, an index or a schema1 manifest, as its media type (or its JSON) says.

    ``media_type`` is the ``Content-Type`` it was served with or its descriptor's type. A type
    regimage does not read raises :class:`~regimage.errors.UnsupportedMediaType` naming it,
    before the body is decoded.
    """
    declared = _declared(media_type, want=None)
    what = (_kind(declared) if declared else None) or "document"
    obj = loads_object(data, what=what)
    effective = _effective_type(obj, declared, what, default=None)
    kind = _kind(effective)
    if kind == _INDEX:
        return Index._decode(obj, effective)
    if kind == _MANIFEST:
        return Manifest._decode(obj, effective)
    return Schema1Manifest._decode(obj, effective)


# ── media types ────────────────────────────────────────────────────────────────────────────────────


def _declared(media_type: str | None, *, want: str | None) -> str | None:
    """The normalized declared type, or None when it says nothing (absent or generic).

    A type naming something regimage does not read raises UnsupportedMediaType; one naming another
    kind of document than ``want`` (a manifest asked for, an index declared) raises InvalidDocument.
    """
    if media_type is None:
        return None
    if not isinstance(media_type, str):
        raise UnsupportedMediaType(f"media type must be a string, not {type(media_type).__name__}")
    base = _normalize(media_type)
    if not base or base in GENERIC_MEDIA_TYPES:
        return None
    kind = _kind(base)
    if kind is None:
        raise UnsupportedMediaType(
            f"unsupported media type {media_type!r}: not a manifest or index regimage reads",
            media_type=base,
        )
    if want is not None and kind != want:
        raise InvalidDocument(f"expected {_A[want]}, got {_A[kind]} ({base})", media_type=base)
    return base


def _effective_type(
    obj: dict[str, Any], declared: str | None, what: str, *, default: str | None
) -> str:
    """The document's media type: declared (checked against ``mediaType``), else the JSON's."""
    found = obj.get("mediaType")
    if found is not None and not isinstance(found, str):
        raise InvalidDocument(
            f"{what} field 'mediaType' must be a string, got {json_type(found)}",
            media_type=declared,
        )
    if declared is not None:
        if found is not None and _normalize(found) != declared:
            raise InvalidDocument(
                f"{what} says its mediaType is {found!r} but it was served as {declared!r}",
                media_type=declared,
            )
        return declared
    if found is not None:
        base = _normalize(found)
        if _kind(base) is None:
            raise UnsupportedMediaType(
                f"unsupported media type {found!r} (the document's mediaType field): not a "
                "manifest or index regimage reads",
                media_type=base,
            )
        return base
    return default if default is not None else _detect(obj)


def _detect(obj: dict[str, Any]) -> str:
    """Tell a document's type from its fields, as containerd does for untyped content."""
    image_fields = [name for name in ("config", "layers") if name in obj]
    if "manifests" in obj:
        if image_fields:
            raise InvalidDocument(
                f"document has both 'manifests' and {image_fields[0]!r}: it is neither a manifest "
                "nor an index (ambiguous document, CVE-2021-41190)"
            )
        return mediatypes.OCI_INDEX
    config = obj.get("config")
    if "layers" in obj or (isinstance(config, dict) and "digest" in config):
        return mediatypes.OCI_MANIFEST
    if "rootfs" in obj:
        raise InvalidDocument(
            "document is an image config (it has 'rootfs'), not a manifest or an index"
        )
    if image_fields:
        return mediatypes.OCI_MANIFEST
    if _is_int(obj.get("schemaVersion"), 1) or "fsLayers" in obj:
        if "signatures" in obj:
            return mediatypes.DOCKER_SCHEMA1_SIGNED_MANIFEST
        return mediatypes.DOCKER_SCHEMA1_MANIFEST
    raise InvalidDocument(
        "cannot tell what this document is: it has no mediaType and none of 'manifests', "
        "'config', 'layers' or 'fsLayers'"
    )


def _expect_kind(media_type: str, want: str) -> None:
    kind = _kind(media_type)
    if kind != want:
        raise InvalidDocument(
            f"expected {_A[want]}, got {_A[kind]} ({media_type})", media_type=media_type
        )


# ── fields ─────────────────────────────────────────────────────────────────────────────────────────


def _is_int(value: object, expected: int | None = None) -> bool:
    ok = isinstance(value, int) and not isinstance(value, bool)
    return ok and (expected is None or value == expected)


def _schema_version(obj: dict[str, Any], expected: int, what: str, media_type: str) -> int:
    value = obj.get("schemaVersion")
    if value is None:
        raise InvalidDocument(
            f"{what} is missing required field 'schemaVersion'", media_type=media_type
        )
    if not _is_int(value):
        raise InvalidDocument(
            f"{what} field 'schemaVersion' must be an integer, got {json_type(value)}",
            media_type=media_type,
        )
    if value != expected:
        raise InvalidDocument(
            f"{what} has schemaVersion {value}, but {media_type} requires {expected}",
            media_type=media_type,
        )
    return expected


def _ambiguous(what: str, media_type: str, found: str) -> InvalidDocument:
    owner = "an index" if found == "manifests" else "a manifest"
    return InvalidDocument(
        f"{what} of type {media_type} has a {found!r} field, which only {owner} may have "
        "(ambiguous document, CVE-2021-41190)",
        media_type=media_type,
    )


def _require_docker_media_type(
    obj: dict[str, Any], what: str, media_type: str, docker_type: str
) -> None:
    """Docker's schema2 documents must name themselves (Distribution refuses them otherwise)."""
    if media_type == docker_type and obj.get("mediaType") is None:
        raise InvalidDocument(
            f"docker {what} is missing required field 'mediaType'", media_type=media_type
        )


def _descriptor(value: object, where: str, media_type: str) -> Descriptor:
    try:
        return Descriptor.from_dict(value, where=where)
    except InvalidDocument as exc:
        raise InvalidDocument(exc.message, media_type=media_type) from exc


def _bounded_list(value: object, name: str, what: str, media_type: str) -> list[Any]:
    if not isinstance(value, list):
        raise InvalidDocument(
            f"{what} field {name!r} must be an array, got {json_type(value)}",
            media_type=media_type,
        )
    if len(value) > MAX_ENTRIES:
        raise InvalidDocument(
            f"{what} lists {len(value)} {name}, more than the {MAX_ENTRIES} regimage accepts",
            media_type=media_type,
        )
    return value


def _descriptors(
    obj: dict[str, Any], name: str, what: str, media_type: str
) -> tuple[Descriptor, ...]:
    value = obj.get(name)
    if value is None:
        raise InvalidDocument(f"{what} is missing required field {name!r}", media_type=media_type)
    entries = _bounded_list(value, name, what, media_type)
    return tuple(_descriptor(entry, f"{name}[{i}]", media_type) for i, entry in enumerate(entries))


def _subject(obj: dict[str, Any], media_type: str) -> Descriptor | None:
    value = obj.get("subject")
    return None if value is None else _descriptor(value, "subject", media_type)


def _optional_str(obj: dict[str, Any], name: str, what: str, media_type: str) -> str | None:
    value = obj.get(name)
    if value is not None and not isinstance(value, str):
        raise InvalidDocument(
            f"{what} field {name!r} must be a string, got {json_type(value)}",
            media_type=media_type,
        )
    return value


def _annotations(obj: dict[str, Any], what: str, media_type: str) -> dict[str, str]:
    value = obj.get("annotations")
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise InvalidDocument(
            f"{what} field 'annotations' must be an object of strings", media_type=media_type
        )
    return dict(value)


def _blob_sum(entry: object, where: str, media_type: str) -> Digest:
    if not isinstance(entry, dict):
        raise InvalidDocument(
            f"{where} must be a JSON object, got {json_type(entry)}", media_type=media_type
        )
    blob_sum = entry.get("blobSum")
    if not isinstance(blob_sum, str):
        raise InvalidDocument(f"{where} needs a string 'blobSum'", media_type=media_type)
    try:
        return Digest.parse(blob_sum)
    except InvalidDigest as exc:
        raise InvalidDocument(f"{where}.blobSum: {exc}", media_type=media_type) from exc


def _signed_format(signature: object, where: str, data_length: int) -> tuple[int, bytes]:
    """The (formatLength, decoded formatTail) a schema1 signature's protected header names."""
    media_type = mediatypes.DOCKER_SCHEMA1_SIGNED_MANIFEST
    if not isinstance(signature, dict) or not isinstance(signature.get("protected"), str):
        raise InvalidDocument(f"{where} needs a string 'protected' header", media_type=media_type)
    header = loads_object(
        _base64url(signature["protected"], f"{where}.protected"), what=f"{where}.protected"
    )
    length = header.get("formatLength")
    tail = header.get("formatTail")
    if not isinstance(length, int) or isinstance(length, bool) or not 0 <= length <= data_length:
        raise InvalidDocument(
            f"{where}.protected.formatLength must be an integer within the document "
            f"(0..{data_length})",
            media_type=media_type,
        )
    if not isinstance(tail, str):
        raise InvalidDocument(
            f"{where}.protected.formatTail must be a base64url string", media_type=media_type
        )
    return length, _base64url(tail, f"{where}.protected.formatTail")


def _base64url(text: str, where: str) -> bytes:
    """Decode unpadded base64url (RFC 7515 §2), refusing characters outside the alphabet."""
    stripped = text.rstrip("=")
    try:
        return base64.b64decode(
            stripped + "=" * (-len(stripped) % 4), altchars=b"-_", validate=True
        )
    except (binascii.Error, ValueError) as exc:
        raise InvalidDocument(
            f"{where} is not valid base64url",
            media_type=mediatypes.DOCKER_SCHEMA1_SIGNED_MANIFEST,
        ) from exc
