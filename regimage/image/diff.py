"""What moving from one image to another costs and changes: layers, bytes to download, config.

:func:`diff` compares the manifests two :class:`~regimage.image.image.Image`\\ s select (each
with its own platform choice); :func:`diff_platforms` pairs the platforms two images offer
(by ``os/arch[/variant]``) and compares each pair. Both read manifests and configs only, never a
layer.

- **layers**: by digest, ``shared`` (``after``'s layers ``before`` has), ``added``, ``removed``;
  a layer whose digest differs but whose diff ID (the digest of its uncompressed tar, from the
  configs) is the same is ``recompressed``: the same content in another compression.
- **download**: what a host that holds ``before`` downloads to get ``after``: ``after``'s config
  and layers it does not hold, by digest, each once (a recompressed layer is downloaded).
- **base**: how many leading layers the two share by ChainID (OCI config.md): the common base
  image, whatever its compression.
- **size change**: of the pull size (:meth:`~regimage.image.image.Image.size`).
- **config**: :func:`~regimage.model.config_diff.diff_configs`.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from regimage._concurrency import gather_in_order
from regimage.image.answers import ImageConfigResult, ImageSize
from regimage.image.image import Image
from regimage.model.config_diff import ConfigDiff, diff_configs
from regimage.model.descriptor import Descriptor
from regimage.model.digest import Digest
from regimage.model.image_config import chain_ids
from regimage.model.platform import Platform

__all__ = ["DiffLayer", "DiffSide", "ImageDiff", "PlatformsDiff", "diff", "diff_platforms"]


@dataclass(frozen=True, slots=True)
class DiffLayer:
    """A layer as the manifest lists it, with its diff ID from the config (None when the config
    lists fewer diff IDs than the manifest lists layers)."""

    descriptor: Descriptor
    diff_id: Digest | None

    @property
    def digest(self) -> Digest:
        return self.descriptor.digest

    @property
    def size(self) -> int:
        return self.descriptor.size


@dataclass(frozen=True, slots=True)
class DiffSide:
    """One side of a comparison: the image's name and root, and what it selected."""

    name: str
    target: Descriptor
    manifest: Descriptor
    config: Descriptor
    platform: Platform | None
    size: ImageSize
    layers: tuple[DiffLayer, ...]


@dataclass(frozen=True, slots=True)
class ImageDiff:
    """``before`` → ``after`` for one platform (see the module's docstring for each part)."""

    before: DiffSide
    after: DiffSide
    shared: tuple[DiffLayer, ...]
    added: tuple[DiffLayer, ...]
    removed: tuple[DiffLayer, ...]
    recompressed: tuple[tuple[DiffLayer, DiffLayer], ...]
    download: int
    download_blobs: int
    base_layers: int
    config: ConfigDiff

    @property
    def size_change(self) -> int:
        """The pull size of ``after`` less that of ``before``."""
        return self.after.size.total - self.before.size.total

    @property
    def base_chain_id(self) -> Digest | None:
        """The ChainID of the last leading layer both share (their common base), or None."""
        if not self.base_layers:
            return None
        diff_ids = [layer.diff_id for layer in self.after.layers[: self.base_layers]]
        return chain_ids(d for d in diff_ids if d is not None)[-1]

    @property
    def same_manifest(self) -> bool:
        """Whether both sides selected the same manifest: nothing changes."""
        return self.before.manifest.digest == self.after.manifest.digest


@dataclass(frozen=True, slots=True)
class PlatformsDiff:
    """Every platform two images offer: the pairs compared (in ``after``'s order), and the
    platforms only one of them offers."""

    diffs: tuple[ImageDiff, ...]
    only_before: tuple[Platform, ...]
    only_after: tuple[Platform, ...]


async def diff(before: Image, after: Image) -> ImageDiff:
    """Compare the manifests ``before`` and ``after`` select: reads their manifests and configs."""
    (old, old_config), (new, new_config) = await gather_in_order(
        [functools.partial(_side, before), functools.partial(_side, after)]
    )
    return compare(old, new, diff_configs(old_config.config, new_config.config))


async def diff_platforms(before: Image, after: Image) -> PlatformsDiff:
    """Compare each platform both images offer, paired by ``os/arch[/variant]``."""
    calls: list[Callable[[], Awaitable[list[Platform]]]] = [before.platforms, after.platforms]
    old_platforms, new_platforms = await gather_in_order(calls)
    old_by_key = {_key(p): p for p in old_platforms}
    new_by_key = {_key(p): p for p in new_platforms}
    pairs = [(old_by_key[k], p) for k, p in new_by_key.items() if k in old_by_key]
    diffs = await gather_in_order(
        [
            functools.partial(diff, before.with_platform(old), after.with_platform(new))
            for old, new in pairs
        ]
    )
    return PlatformsDiff(
        tuple(diffs),
        tuple(p for k, p in old_by_key.items() if k not in new_by_key),
        tuple(p for k, p in new_by_key.items() if k not in old_by_key),
    )


def compare(before: DiffSide, after: DiffSide, config: ConfigDiff | None = None) -> ImageDiff:
    """The comparison of two sides already read (``config``: their configs' differences)."""
    old_digests = {layer.digest for layer in before.layers}
    new_digests = {layer.digest for layer in after.layers}
    old_by_diff_id = {layer.diff_id: layer for layer in before.layers if layer.diff_id is not None}
    new_diff_ids = {layer.diff_id for layer in after.layers if layer.diff_id is not None}
    shared: list[DiffLayer] = []
    added: list[DiffLayer] = []
    recompressed: list[tuple[DiffLayer, DiffLayer]] = []
    for layer in _distinct(after.layers):
        if layer.digest in old_digests:
            shared.append(layer)
        elif layer.diff_id is not None and layer.diff_id in old_by_diff_id:
            recompressed.append((old_by_diff_id[layer.diff_id], layer))
        else:
            added.append(layer)
    removed = [
        layer
        for layer in _distinct(before.layers)
        if layer.digest not in new_digests and layer.diff_id not in new_diff_ids
    ]
    held = old_digests | {before.config.digest}
    wanted = {layer.digest: layer.size for layer in after.layers}
    wanted.setdefault(after.config.digest, after.config.size)
    missing = {digest: size for digest, size in wanted.items() if digest not in held}
    return ImageDiff(
        before,
        after,
        tuple(shared),
        tuple(added),
        tuple(removed),
        tuple(recompressed),
        sum(missing.values()),
        len(missing),
        _common_base(before.layers, after.layers),
        config if config is not None else ConfigDiff(),
    )


# ── reading one side ───────────────────────────────────────────────────────────────────────────────


async def _side(image: Image) -> tuple[DiffSide, ImageConfigResult]:
    selected = await image.manifest()
    config = await image.config()
    size = await image.size()
    diff_ids = config.config.diff_ids
    layers = tuple(
        DiffLayer(layer, diff_ids[i] if i < len(diff_ids) else None)
        for i, layer in enumerate(selected.manifest.layers)
    )
    platform = selected.platform or config.config.platform
    side = DiffSide(
        image.name, image.target, selected.descriptor, config.descriptor, platform, size, layers
    )
    return side, config


def _distinct(layers: Sequence[DiffLayer]) -> list[DiffLayer]:
    """Each layer once, where it is first listed."""
    first: dict[Digest, DiffLayer] = {}
    for layer in layers:
        first.setdefault(layer.digest, layer)
    return list(first.values())


def _common_base(before: Sequence[DiffLayer], after: Sequence[DiffLayer]) -> int:
    """How many leading layers share their ChainID (all leading diff IDs equal)."""
    count = 0
    for old, new in zip(before, after, strict=False):
        if old.diff_id is None or old.diff_id != new.diff_id:
            break
        count += 1
    return count


def _key(platform: Platform) -> str:
    return platform.normalized().format()
