"""Manifests and indexes: decode, validate, and tell one from the other.

Specs: OCI image-spec v1.1 (manifest.md, image-index.md), Docker "Image Manifest Version 2,
Schema 2" (manifest and manifest list). Docker's legacy "Schema 1" is read only far enough to say
so and to check its digest (:mod:`regimage.model.schema1`); :func:`parse_document` returns any of the
three. The decoding they share is in :mod:`regimage.model._document`.

What a document is comes from the media type it was served or referenced with; the JSON
``mediaType`` field, when present, must agree with it. When the declared type says nothing
(absent, or a generic ``application/json``/``text/plain``), the JSON decides, the way containerd
detects a manifest's type: ``manifests`` → index, ``config``/``layers`` → manifest,
``schemaVersion: 1``/``fsLayers`` → schema1. A document carrying both ``manifests`` and
``config``/``layers`` is refused whatever it claims to be: two readers could otherwise see two
different images in the same bytes (CVE-2021-41190).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeAlias

import regimage.model.mediatypes as mediatypes
from regimage.errors import InvalidDocument
from regimage.model._document import (
    GENERIC_MEDIA_TYPES,
    INDEX,
    MANIFEST,
    MAX_ENTRIES,
    bounded_list,
    check_schema_version,
    declared_type,
    effective_type,
    expect_kind,
    kind_of,
    optional_str,
)
from regimage.model._json import loads_object
from regimage.model.descriptor import Descriptor
from regimage.model.schema1 import Schema1Manifest

__all__ = [
    "GENERIC_MEDIA_TYPES",
    "MAX_ENTRIES",
    "Document",
    "Index",
    "Manifest",
    "Schema1Manifest",
    "parse_document",
]


@dataclass(frozen=True, slots=True, repr=False)
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
        declared = declared_type(media_type, want=MANIFEST)
        obj = loads_object(data, what=MANIFEST)
        effective = effective_type(obj, declared, MANIFEST, default=mediatypes.OCI_MANIFEST)
        expect_kind(effective, MANIFEST)
        return cls._decode(obj, effective)

    @classmethod
    def _decode(cls, obj: dict[str, Any], media_type: str) -> Manifest:
        what = MANIFEST
        schema_version = check_schema_version(obj, 2, what, media_type)
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
            artifact_type=optional_str(obj, "artifactType", what, media_type),
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


@dataclass(frozen=True, slots=True, repr=False)
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
        declared = declared_type(media_type, want=INDEX)
        obj = loads_object(data, what=INDEX)
        effective = effective_type(obj, declared, INDEX, default=mediatypes.OCI_INDEX)
        expect_kind(effective, INDEX)
        return cls._decode(obj, effective)

    @classmethod
    def _decode(cls, obj: dict[str, Any], media_type: str) -> Index:
        what = INDEX
        schema_version = check_schema_version(obj, 2, what, media_type)
        for image_field in ("config", "layers"):
            if image_field in obj:
                raise _ambiguous(what, media_type, image_field)
        _require_docker_media_type(obj, what, media_type, mediatypes.DOCKER_MANIFEST_LIST)
        return cls(
            media_type=media_type,
            manifests=_descriptors(obj, "manifests", what, media_type),
            subject=_subject(obj, media_type),
            artifact_type=optional_str(obj, "artifactType", what, media_type),
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


#: What :func:`parse_document` returns.
Document: TypeAlias = Manifest | Index | Schema1Manifest


def parse_document(data: bytes, media_type: str | None) -> Document:
    """Decode a manifest, an index or a schema1 manifest, as its media type (or its JSON) says.

    ``media_type`` is the ``Content-Type`` it was served with or its descriptor's type. A type
    regimage does not read raises :class:`~regimage.errors.UnsupportedMediaType` naming it,
    before the body is decoded.
    """
    declared = declared_type(media_type, want=None)
    what = (kind_of(declared) if declared else None) or "document"
    obj = loads_object(data, what=what)
    effective = effective_type(obj, declared, what, default=None)
    kind = kind_of(effective)
    if kind == INDEX:
        return Index._decode(obj, effective)
    if kind == MANIFEST:
        return Manifest._decode(obj, effective)
    return Schema1Manifest._decode(obj, effective)


# ── fields ─────────────────────────────────────────────────────────────────────────────────────────


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


def _descriptors(
    obj: dict[str, Any], name: str, what: str, media_type: str
) -> tuple[Descriptor, ...]:
    value = obj.get(name)
    if value is None:
        raise InvalidDocument(f"{what} is missing required field {name!r}", media_type=media_type)
    entries = bounded_list(value, name, what, media_type)
    return tuple(_descriptor(entry, f"{name}[{i}]", media_type) for i, entry in enumerate(entries))


def _subject(obj: dict[str, Any], media_type: str) -> Descriptor | None:
    value = obj.get("subject")
    return None if value is None else _descriptor(value, "subject", media_type)


def _annotations(obj: dict[str, Any], what: str, media_type: str) -> dict[str, str]:
    value = obj.get("annotations")
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise InvalidDocument(
            f"{what} field 'annotations' must be an object of strings", media_type=media_type
        )
    return dict(value)
