"""Descriptors: what points at a piece of content (media type, digest, size, platform, …)."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from regimage.errors import InvalidDigest, InvalidDocument, InvalidPlatform
from regimage.model.digest import Digest
from regimage.model.platform import Platform

__all__ = ["Descriptor"]

#: The largest size a descriptor may declare (2**53: JSON numbers stay exact up to there).
MAX_DESCRIPTOR_SIZE = 2**53


@dataclass(frozen=True, slots=True)
class Descriptor:
    """A typed pointer to content, as in OCI image-spec descriptor.md.

    ``platform`` is set on index entries that declare one; ``data`` holds embedded content when the
    descriptor carried it (``data`` field, base64 in JSON) and it matched the digest.
    """

    media_type: str
    digest: Digest
    size: int
    platform: Platform | None = None
    annotations: Mapping[str, str] = field(default_factory=dict, hash=False, compare=True)
    urls: tuple[str, ...] = ()
    artifact_type: str | None = None
    data: bytes | None = field(default=None, repr=False)

    @classmethod
    def from_dict(cls, obj: object, *, where: str = "descriptor") -> Descriptor:
        """Decode a descriptor from parsed JSON; ``where`` names it in errors (``manifests[2]``)."""
        if not isinstance(obj, dict):
            raise InvalidDocument(f"{where} must be a JSON object, got {_json_type(obj)}")
        media_type = _required_str(obj, "mediaType", where)
        digest_text = _required_str(obj, "digest", where)
        try:
            digest = Digest.parse(digest_text)
        except InvalidDigest as exc:
            raise InvalidDocument(f"{where}.digest: {exc}") from exc
        size = obj.get("size")
        if size is None:
            raise InvalidDocument(f"{where} is missing required field 'size'")
        if isinstance(size, bool) or not isinstance(size, int):
            raise InvalidDocument(f"{where}.size must be an integer, got {_json_type(size)}")
        if not 0 <= size <= MAX_DESCRIPTOR_SIZE:
            raise InvalidDocument(f"{where}.size out of range: {size}")
        platform = None
        if (raw_platform := obj.get("platform")) is not None:
            try:
                platform = Platform.from_dict(raw_platform)
            except InvalidPlatform as exc:
                raise InvalidDocument(f"{where}.platform: {exc}") from exc
        annotations = _string_map(obj.get("annotations"), f"{where}.annotations")
        urls_raw = obj.get("urls")
        urls: tuple[str, ...] = ()
        if urls_raw is not None:
            if not isinstance(urls_raw, list) or not all(isinstance(u, str) for u in urls_raw):
                raise InvalidDocument(f"{where}.urls must be a list of strings")
            urls = tuple(urls_raw)
        artifact_type = obj.get("artifactType")
        if artifact_type is not None and not isinstance(artifact_type, str):
            raise InvalidDocument(f"{where}.artifactType must be a string")
        data = _embedded_data(obj.get("data"), digest, size, where)
        return cls(media_type, digest, size, platform, annotations, urls, artifact_type, data)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form, with OCI field names, omitting empty optional fields."""
        out: dict[str, Any] = {
            "mediaType": self.media_type,
            "digest": str(self.digest),
            "size": self.size,
        }
        if self.platform is not None:
            out["platform"] = self.platform.to_dict()
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        if self.urls:
            out["urls"] = list(self.urls)
        if self.artifact_type is not None:
            out["artifactType"] = self.artifact_type
        if self.data is not None:
            out["data"] = base64.b64encode(self.data).decode("ascii")
        return out


def _json_type(value: object) -> str:
    names = {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}
    return names.get(type(value), "number")


def _required_str(obj: dict[str, Any], key: str, where: str) -> str:
    value = obj.get(key)
    if value is None:
        raise InvalidDocument(f"{where} is missing required field {key!r}")
    if not isinstance(value, str):
        raise InvalidDocument(f"{where}.{key} must be a string, got {_json_type(value)}")
    return value


def _string_map(value: object, where: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise InvalidDocument(f"{where} must be an object of strings")
    return dict(value)


def _embedded_data(value: object, digest: Digest, size: int, where: str) -> bytes | None:
    """Decode and check the optional base64 ``data`` field; unverifiable data is dropped."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidDocument(f"{where}.data must be a base64 string")
    try:
        data = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidDocument(f"{where}.data is not valid base64") from exc
    if not digest.is_verifiable:
        # Data we cannot check is never used: the content is fetched (and refused) instead.
        return None
    if len(data) != size or Digest.of(data, digest.algorithm) != digest:
        raise InvalidDocument(f"{where}.data does not match the descriptor's digest and size")
    return data
