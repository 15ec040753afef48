"""The disk an image will take once pulled: each layer's unpacked size, read from a few of its bytes.

For the selected platform's manifest, each distinct layer is read once, concurrently: a gzip
layer's last 4 bytes (ISIZE), a zstd layer's first 64 bytes (the frame header's content size);
an uncompressed tar layer's size is its descriptor's, read from nothing. What each value means
and when it cannot be trusted is :mod:`regimage.model.layer_size`'s. The values are kept by layer
digest in the image's :class:`~regimage.image.document_cache.DocumentCache` (in memory, shared by
the images that share it), so a layer common to several platforms or images is read once.

The provider must be a :class:`~regimage.content.provider.RangeReader` (a registry's
repository, an OCI layout, memory); a layer it cannot read a part of is unknown, never
downloaded.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeAlias

from regimage._concurrency import gather_in_order
from regimage.content.provider import Provider, RangeReader
from regimage.errors import NotAnImage, NotFound
from regimage.image.answers import SelectedManifest
from regimage.image.document_cache import Memo
from regimage.image.walk import DEFAULT_CONCURRENCY
from regimage.model.byte_range import ByteRange
from regimage.model.descriptor import Descriptor
from regimage.model.digest import Digest
from regimage.model.layer_size import (
    EXACT,
    GZIP,
    GZIP_TRAILER_BYTES,
    TAR,
    UNKNOWN,
    UNTRUSTED,
    ZSTD,
    ZSTD_HEAD_BYTES,
    LayerSize,
    compression_of,
    parse_zstd_head,
)
from regimage.model.platform import Platform

__all__ = ["UnpackedSize", "layer_size", "unpacked_size"]

#: Reads a range of one layer (None: it cannot be had without reading far more).
Read: TypeAlias = Callable[[ByteRange], Awaitable[bytes | None]]

#: Reads of a zstd layer's start: the first, and one per skippable frame too large for it.
MAX_ZSTD_READS = 4

_NOT_SERVED = (
    "the registry did not send the bytes asked for (it ignores Range, and the layer is larger "
    "than what is read of it): not downloading the layer"
)


@dataclass(frozen=True, slots=True)
class UnpackedSize:
    """The unpacked size of one platform's layers, each as listed (a layer listed twice counts
    twice, as its unpacked copy does).

    ``total`` sums the layers whose size is known (exact, or an estimate); the layers whose value
    is ``unknown`` or ``untrusted`` are left out of it and counted. Every compressed layer's value
    is an estimate (see :mod:`regimage.model.layer_size`), so the total is one too unless every
    layer is an uncompressed tar.
    """

    layers: tuple[LayerSize, ...]
    platform: Platform | None
    manifest_digest: Digest

    @property
    def total(self) -> int:
        return sum(layer.unpacked or 0 for layer in self.layers if layer.known)

    @property
    def compressed(self) -> int:
        """The layers' sizes as declared (what a pull downloads of them)."""
        return sum(layer.size for layer in self.layers)

    @property
    def unknown(self) -> int:
        """How many layers' sizes could not be read."""
        return sum(1 for layer in self.layers if layer.status == UNKNOWN)

    @property
    def untrusted(self) -> int:
        """How many layers' values were read but cannot be the whole layer's."""
        return sum(1 for layer in self.layers if layer.status == UNTRUSTED)

    @property
    def complete(self) -> bool:
        """Whether every layer counts in :attr:`total`."""
        return all(layer.known for layer in self.layers)

    @property
    def exact(self) -> bool:
        """Whether :attr:`total` is exact: every layer an uncompressed tar."""
        return all(layer.status == EXACT for layer in self.layers)


async def unpacked_size(
    provider: Provider, selected: SelectedManifest, memo: Memo[LayerSize], *, name: str
) -> UnpackedSize:
    """The unpacked size of ``selected``'s layers, each distinct layer read once (``memo``,
    keyed by digest, may already know some). Raises NotAnImage for an OCI artifact."""
    manifest = selected.manifest
    if manifest.is_artifact:
        raise NotAnImage(
            f"{name} ({selected.digest}) is an OCI artifact of type "
            f"{manifest.artifact_type or manifest.config.media_type!r}, not an image: its layers "
            "are not unpacked",
            reference=name,
        )
    distinct = list({layer.digest: layer for layer in manifest.layers}.values())
    calls = [
        functools.partial(memo.get, layer.digest, functools.partial(layer_size, provider, layer))
        for layer in distinct
    ]
    sizes = await gather_in_order(calls, limit=DEFAULT_CONCURRENCY)
    by_digest = {layer.digest: size for layer, size in zip(distinct, sizes, strict=True)}
    return UnpackedSize(
        tuple(by_digest[layer.digest] for layer in manifest.layers),
        selected.platform,
        selected.digest,
    )


async def layer_size(provider: Provider, layer: Descriptor) -> LayerSize:
    """One layer's unpacked size, from as few of its bytes as its compression needs."""
    kind = compression_of(layer.media_type)
    if kind is None:
        return LayerSize.unknown(layer, f"{layer.media_type!r} is not a layer type regimage reads")
    if kind == TAR:
        return LayerSize.exact(layer)
    read = _reader(provider, layer)
    if read is None:
        return LayerSize.unknown(
            layer, f"{type(provider).__name__} cannot read part of a blob", kind
        )
    try:
        if kind == GZIP:
            tail = await read(ByteRange.last(GZIP_TRAILER_BYTES))
            if tail is None:
                return LayerSize.unknown(layer, _NOT_SERVED, GZIP)
            return LayerSize.from_gzip_trailer(layer, tail)
        return await _zstd_size(read, layer)
    except NotFound:
        return LayerSize.unknown(layer, "the layer is not there (a foreign layer?)", kind)


async def _zstd_size(read: Read, layer: Descriptor) -> LayerSize:
    offset = 0
    for _ in range(MAX_ZSTD_READS):
        head = await read(ByteRange.first(ZSTD_HEAD_BYTES, start=offset))
        if head is None:
            return LayerSize.unknown(layer, _NOT_SERVED, ZSTD)
        try:
            header = parse_zstd_head(head, offset)
        except ValueError as exc:
            return LayerSize.unknown(layer, f"not zstd: {exc}", ZSTD)
        if header.more_at is None:
            return LayerSize.from_zstd_header(layer, header)
        if header.more_at <= offset or header.more_at >= layer.size:
            return LayerSize.unknown(layer, "the layer ends before its first zstd frame", ZSTD)
        offset = header.more_at
    return LayerSize.unknown(
        layer, f"more than {MAX_ZSTD_READS - 1} skippable frames before the first zstd frame", ZSTD
    )


def _reader(provider: Provider, layer: Descriptor) -> Read | None:
    """How to read ranges of the layer: its descriptor's embedded data, else the provider (None
    when it cannot read part of a blob)."""
    data = layer.data
    if data is not None:

        async def embedded(byte_range: ByteRange) -> bytes | None:
            return byte_range.slice(data)

        return embedded
    if isinstance(provider, RangeReader):
        return functools.partial(provider.read_range, layer)
    return None
