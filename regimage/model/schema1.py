"""Docker's legacy schema1 manifests, decoded only far enough to name them and check their digest.

Spec: Docker "Image Manifest Version 2, Schema 1". regimage does not resolve schema1 images (no
config, no diff IDs); a signed (``prettyjws``) one is digested over its JWS payload, not the bytes
served (docker/libtrust).
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

import regimage.model.mediatypes as mediatypes
from regimage.errors import InvalidDigest, InvalidDocument
from regimage.model._document import (
    SCHEMA1,
    bounded_list,
    check_schema_version,
    declared_type,
    effective_type,
    expect_kind,
    optional_str,
)
from regimage.model._json import json_type, loads_object
from regimage.model.digest import Digest

__all__ = ["Schema1Manifest"]


@dataclass(frozen=True, slots=True, repr=False)
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
        declared = declared_type(media_type, want=SCHEMA1)
        obj = loads_object(data, what=SCHEMA1)
        default = (
            mediatypes.DOCKER_SCHEMA1_SIGNED_MANIFEST
            if "signatures" in obj
            else mediatypes.DOCKER_SCHEMA1_MANIFEST
        )
        effective = effective_type(obj, declared, SCHEMA1, default=default)
        expect_kind(effective, SCHEMA1)
        return cls._decode(obj, effective)

    @classmethod
    def _decode(cls, obj: dict[str, Any], media_type: str) -> Schema1Manifest:
        what = SCHEMA1
        check_schema_version(obj, 1, what, media_type)
        fs_layers = obj.get("fsLayers")
        if fs_layers is None:
            raise InvalidDocument(
                f"{what} is missing required field 'fsLayers'", media_type=media_type
            )
        entries = bounded_list(fs_layers, "fsLayers", what, media_type)
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
            name=optional_str(obj, "name", what, media_type) or "",
            tag=optional_str(obj, "tag", what, media_type) or "",
            architecture=optional_str(obj, "architecture", what, media_type) or "",
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
        obj = loads_object(data, what=SCHEMA1)
        signatures = obj.get("signatures")
        if signatures is None:
            return bytes(data)
        if not isinstance(signatures, list) or not signatures:
            raise InvalidDocument(
                f"{SCHEMA1} field 'signatures' must be a non-empty array",
                media_type=mediatypes.DOCKER_SCHEMA1_SIGNED_MANIFEST,
            )
        formats = {
            _signed_format(signature, f"signatures[{i}]", len(data))
            for i, signature in enumerate(signatures)
        }
        if len(formats) != 1:
            raise InvalidDocument(
                f"{SCHEMA1} signatures disagree on the signed payload (formatLength/formatTail)",
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
