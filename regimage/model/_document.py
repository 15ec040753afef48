"""What manifests, indexes and schema1 manifests share when they are decoded.

Which document a media type names, the type a document is taken as (declared, checked against its
``mediaType`` field, or told from its fields the way containerd does), and the field checks all
three use. :mod:`regimage.model.manifest` and :mod:`regimage.model.schema1` hold the documents themselves.
"""

from __future__ import annotations

from typing import Any

import regimage.model.mediatypes as mediatypes
from regimage.errors import InvalidDocument, UnsupportedMediaType
from regimage.model._json import json_type

#: Content types that say nothing about which document the body is; the JSON decides then.
GENERIC_MEDIA_TYPES = frozenset({"application/json", "text/plain", "application/octet-stream"})

#: The most entries (``manifests``, ``layers``, ``fsLayers``) one document may list. The largest
#: real images have a few hundred layers; a 4 MiB manifest fits about 25,000 descriptors.
MAX_ENTRIES = 100_000

#: The kinds of document regimage reads, as messages name them.
INDEX, MANIFEST, SCHEMA1 = "index", "manifest", "schema1 manifest"
A_DOCUMENT = {
    INDEX: "an index",
    MANIFEST: "a manifest",
    SCHEMA1: "a schema1 manifest",
    None: "nothing",
}


# ── media types ────────────────────────────────────────────────────────────────────────────────────


def normalize(media_type: str) -> str:
    """A media type without parameters (``; charset=utf-8``) and lower-cased, as compared."""
    return media_type.split(";", 1)[0].strip().lower()


def kind_of(media_type: str) -> str | None:
    """Which document a (normalized) media type names, or None when regimage does not read it."""
    if mediatypes.is_index(media_type):
        return INDEX
    if mediatypes.is_manifest(media_type):
        return MANIFEST
    if mediatypes.is_schema1(media_type):
        return SCHEMA1
    return None


def declared_type(media_type: str | None, *, want: str | None) -> str | None:
    """The normalized declared type, or None when it says nothing (absent or generic).

    A type naming something regimage does not read raises UnsupportedMediaType; one naming another
    kind of document than ``want`` (a manifest asked for, an index declared) raises InvalidDocument.
    """
    if media_type is None:
        return None
    if not isinstance(media_type, str):
        raise UnsupportedMediaType(f"media type must be a string, not {type(media_type).__name__}")
    base = normalize(media_type)
    if not base or base in GENERIC_MEDIA_TYPES:
        return None
    kind = kind_of(base)
    if kind is None:
        raise UnsupportedMediaType(
            f"unsupported media type {media_type!r}: not a manifest or index regimage reads",
            media_type=base,
        )
    if want is not None and kind != want:
        raise InvalidDocument(
            f"expected {A_DOCUMENT[want]}, got {A_DOCUMENT[kind]} ({base})", media_type=base
        )
    return base


def effective_type(
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
        if found is not None and normalize(found) != declared:
            raise InvalidDocument(
                f"{what} says its mediaType is {found!r} but it was served as {declared!r}",
                media_type=declared,
            )
        return declared
    if found is not None:
        base = normalize(found)
        if kind_of(base) is None:
            raise UnsupportedMediaType(
                f"unsupported media type {found!r} (the document's mediaType field): not a "
                "manifest or index regimage reads",
                media_type=base,
            )
        return base
    return default if default is not None else detect(obj)


def detect(obj: dict[str, Any]) -> str:
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
    if is_int(obj.get("schemaVersion"), 1) or "fsLayers" in obj:
        if "signatures" in obj:
            return mediatypes.DOCKER_SCHEMA1_SIGNED_MANIFEST
        return mediatypes.DOCKER_SCHEMA1_MANIFEST
    raise InvalidDocument(
        "cannot tell what this document is: it has no mediaType and none of 'manifests', "
        "'config', 'layers' or 'fsLayers'"
    )


def expect_kind(media_type: str, want: str) -> None:
    kind = kind_of(media_type)
    if kind != want:
        raise InvalidDocument(
            f"expected {A_DOCUMENT[want]}, got {A_DOCUMENT[kind]} ({media_type})",
            media_type=media_type,
        )


# ── fields ─────────────────────────────────────────────────────────────────────────────────────────


def is_int(value: object, expected: int | None = None) -> bool:
    ok = isinstance(value, int) and not isinstance(value, bool)
    return ok and (expected is None or value == expected)


def check_schema_version(obj: dict[str, Any], expected: int, what: str, media_type: str) -> int:
    value = obj.get("schemaVersion")
    if value is None:
        raise InvalidDocument(
            f"{what} is missing required field 'schemaVersion'", media_type=media_type
        )
    if not is_int(value):
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


def bounded_list(value: object, name: str, what: str, media_type: str) -> list[Any]:
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


def optional_str(obj: dict[str, Any], name: str, what: str, media_type: str) -> str | None:
    value = obj.get(name)
    if value is not None and not isinstance(value, str):
        raise InvalidDocument(
            f"{what} field {name!r} must be a string, got {json_type(value)}",
            media_type=media_type,
        )
    return value
