"""Image configs: the platform, the rootfs diff IDs and the history of an image (the part we read).

Spec: OCI image-spec v1.1 config.md; Docker's ``application/vnd.docker.container.image.v1+json`` is
the same document. Fields regimage does not interpret stay available in :attr:`ImageConfig.raw`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import regimage.model.mediatypes as mediatypes
from regimage.errors import InvalidDigest, InvalidDocument, InvalidPlatform
from regimage.model._json import json_type, loads_object
from regimage.model.digest import Digest
from regimage.model.platform import Platform

__all__ = ["MAX_DIFF_IDS", "HistoryEntry", "ImageConfig", "chain_ids"]

#: The most ``rootfs.diff_ids`` and ``history`` entries a config may list (as manifest.MAX_ENTRIES).
MAX_DIFF_IDS = 100_000

_WHAT = "image config"


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One ``history`` entry: how a layer (or an empty, metadata-only step) was made."""

    created: str | None = None
    created_by: str | None = None
    author: str | None = None
    comment: str | None = None
    empty_layer: bool = False


@dataclass(frozen=True, slots=True, repr=False)
class ImageConfig:
    """The decoded image config; ``config`` is the runtime ``config`` object (Env, Labels, Cmd…)."""

    media_type: str
    platform: Platform | None
    diff_ids: tuple[Digest, ...]
    history: tuple[HistoryEntry, ...] = ()
    created: str | None = None
    author: str | None = None
    config: Mapping[str, Any] = field(default_factory=dict, hash=False)
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, hash=False)

    @classmethod
    def parse(cls, data: bytes, media_type: str = mediatypes.OCI_CONFIG) -> ImageConfig:
        """Decode and validate a config; errors name the field (``rootfs.diff_ids[2]: …``).

        ``rootfs`` is required for image config media types (OCI and Docker); for other config
        types (an artifact's, say) a missing ``rootfs`` just means no diff IDs.
        """
        obj = loads_object(data, what=_WHAT)
        rootfs = obj.get("rootfs")
        if rootfs is None:
            if mediatypes.is_config(media_type):
                raise InvalidDocument(
                    f"{_WHAT} is missing required field 'rootfs'", media_type=media_type
                )
            diff_ids: tuple[Digest, ...] = ()
        else:
            diff_ids = _diff_ids(rootfs, media_type)
        runtime = obj.get("config")
        if runtime is None:
            runtime = {}
        elif not isinstance(runtime, dict):
            raise _invalid(
                f"field 'config' must be an object, got {json_type(runtime)}", media_type
            )
        _check_runtime(runtime, media_type)
        return cls(
            media_type=media_type,
            platform=_platform(obj, media_type),
            diff_ids=diff_ids,
            history=_history(obj.get("history"), media_type),
            created=_optional_str(obj, "created", f"{_WHAT} field 'created'", media_type),
            author=_optional_str(obj, "author", f"{_WHAT} field 'author'", media_type),
            config=runtime,
            raw=obj,
        )

    @property
    def labels(self) -> Mapping[str, str]:
        """``config.Labels`` (empty when absent or null)."""
        labels: Mapping[str, str] | None = self.config.get("Labels")
        return labels or {}

    @property
    def env(self) -> tuple[str, ...]:
        """``config.Env`` as ``KEY=value`` strings, in order (empty when absent or null)."""
        return tuple(self.config.get("Env") or ())

    @property
    def chain_ids(self) -> tuple[Digest, ...]:
        """The ChainIDs of :attr:`diff_ids` (see :func:`chain_ids`)."""
        return chain_ids(self.diff_ids)

    def __repr__(self) -> str:
        platform = f"{self.platform}" if self.platform is not None else "no platform"
        return f"<ImageConfig({platform!r}, diff_ids={len(self.diff_ids)})>"


def chain_ids(diff_ids: Iterable[Digest]) -> tuple[Digest, ...]:
    """The ChainID of each layer, as OCI config.md "Layer ChainID" defines it.

    ``ChainID(L0) = DiffID(L0)``; ``ChainID(Ln) = sha256(ChainID(Ln-1) + " " + DiffID(Ln))`` over
    the digests' string forms. The last one identifies the whole unpacked filesystem.
    """
    chain: list[Digest] = []
    for diff_id in diff_ids:
        if not chain:
            chain.append(diff_id)
        else:
            link = f"{chain[-1]} {diff_id}".encode("ascii")
            chain.append(Digest.of(link, Digest.SHA256))
    return tuple(chain)


def _invalid(message: str, media_type: str) -> InvalidDocument:
    return InvalidDocument(f"{_WHAT} {message}", media_type=media_type)


def _diff_ids(rootfs: object, media_type: str) -> tuple[Digest, ...]:
    if not isinstance(rootfs, dict):
        raise _invalid(f"field 'rootfs' must be an object, got {json_type(rootfs)}", media_type)
    kind = rootfs.get("type")
    if kind != "layers":
        shown = repr(kind) if isinstance(kind, str) else json_type(kind)
        raise _invalid(f"rootfs.type must be 'layers', got {shown}", media_type)
    # Docker writes `diff_ids` with omitempty: a config of an image without layers has none.
    raw = rootfs.get("diff_ids")
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise _invalid(f"rootfs.diff_ids must be an array, got {json_type(raw)}", media_type)
    if len(raw) > MAX_DIFF_IDS:
        raise _invalid(f"lists {len(raw)} rootfs.diff_ids, more than {MAX_DIFF_IDS}", media_type)
    out: list[Digest] = []
    for i, text in enumerate(raw):
        if not isinstance(text, str):
            raise InvalidDocument(
                f"rootfs.diff_ids[{i}]: must be a digest string, got {json_type(text)}",
                media_type=media_type,
            )
        try:
            out.append(Digest.parse(text))
        except InvalidDigest as exc:
            raise InvalidDocument(f"rootfs.diff_ids[{i}]: {exc}", media_type=media_type) from exc
    return tuple(out)


def _platform(obj: dict[str, Any], media_type: str) -> Platform | None:
    """The platform from ``os``/``architecture``/``variant``/``os.version``/``os.features``.

    None when ``os`` or ``architecture`` is absent (artifact configs); present but not a string is
    an error. Values are kept as written: normalizing is the platforms module's business.
    """
    os_ = _optional_str(obj, "os", f"{_WHAT} field 'os'", media_type)
    architecture = _optional_str(obj, "architecture", f"{_WHAT} field 'architecture'", media_type)
    variant = _optional_str(obj, "variant", f"{_WHAT} field 'variant'", media_type) or ""
    os_version = _optional_str(obj, "os.version", f"{_WHAT} field 'os.version'", media_type) or ""
    features = obj.get("os.features")
    if features is None:
        features = []
    elif not isinstance(features, list) or not all(isinstance(f, str) for f in features):
        raise _invalid("field 'os.features' must be an array of strings", media_type)
    if not os_ or not architecture:
        return None
    try:
        return Platform(os_, architecture, variant, os_version, tuple(features))
    except InvalidPlatform as exc:
        raise _invalid(f"platform: {exc}", media_type) from exc


def _history(raw: object, media_type: str) -> tuple[HistoryEntry, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise _invalid(f"field 'history' must be an array, got {json_type(raw)}", media_type)
    if len(raw) > MAX_DIFF_IDS:
        raise _invalid(f"lists {len(raw)} history entries, more than {MAX_DIFF_IDS}", media_type)
    entries: list[HistoryEntry] = []
    for i, item in enumerate(raw):
        where = f"history[{i}]"
        if not isinstance(item, dict):
            raise InvalidDocument(
                f"{where} must be an object, got {json_type(item)}", media_type=media_type
            )
        empty = item.get("empty_layer")
        if empty is not None and not isinstance(empty, bool):
            raise InvalidDocument(
                f"{where}.empty_layer must be a boolean, got {json_type(empty)}",
                media_type=media_type,
            )
        entries.append(
            HistoryEntry(
                created=_optional_str(item, "created", f"{where}.created", media_type),
                created_by=_optional_str(item, "created_by", f"{where}.created_by", media_type),
                author=_optional_str(item, "author", f"{where}.author", media_type),
                comment=_optional_str(item, "comment", f"{where}.comment", media_type),
                empty_layer=bool(empty),
            )
        )
    return tuple(entries)


def _check_runtime(runtime: dict[str, Any], media_type: str) -> None:
    """Check the runtime fields the properties expose, so reading them never fails later."""
    labels = runtime.get("Labels")
    if labels is not None and (
        not isinstance(labels, dict) or not all(isinstance(v, str) for v in labels.values())
    ):
        raise InvalidDocument("config.Labels must be an object of strings", media_type=media_type)
    env = runtime.get("Env")
    if env is not None and (not isinstance(env, list) or not all(isinstance(v, str) for v in env)):
        raise InvalidDocument("config.Env must be an array of strings", media_type=media_type)


def _optional_str(obj: dict[str, Any], key: str, where: str, media_type: str) -> str | None:
    value = obj.get(key)
    if value is not None and not isinstance(value, str):
        raise InvalidDocument(
            f"{where} must be a string, got {json_type(value)}", media_type=media_type
        )
    return value
