"""The answers an :class:`~regimage.image.image.Image` gives, and the arithmetic of its sizes.

Plain values: the manifest selected for a platform, its config, and pull sizes, one platform's or
every one's. The functions below derive them from what a walk found, reading nothing.

**Size** (DESIGN.md §3) is what a pull of one platform transfers: the bytes of every index on the
path to the manifest, the manifest's bytes, the config's size and the sum of the layer sizes as
declared (compressed; a layer listed twice counts twice, as in containerd).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from regimage.errors import RootFSMismatch
from regimage.image.handlers import is_attestation_entry
from regimage.image.walk import Visit
from regimage.model.descriptor import Descriptor
from regimage.model.digest import Digest
from regimage.model.image_config import ImageConfig
from regimage.model.manifest import Manifest
from regimage.model.platform import Platform

__all__ = [
    "ImageConfigResult",
    "ImageSize",
    "PlatformSize",
    "PlatformSizes",
    "SelectedManifest",
]


@dataclass(frozen=True, slots=True)
class SelectedManifest:
    """The manifest chosen for a platform, and the indexes that led to it (root first).

    ``platform`` is the one its index entry declares (or its config says, when the entry declares
    none); None for a single-manifest image whose config was not read.
    """

    descriptor: Descriptor
    manifest: Manifest
    platform: Platform | None
    index_path: tuple[Descriptor, ...] = ()

    @property
    def digest(self) -> Digest:
        return self.descriptor.digest


@dataclass(frozen=True, slots=True)
class ImageConfigResult:
    """The config descriptor of the selected manifest and the parsed config."""

    descriptor: Descriptor
    config: ImageConfig

    @property
    def digest(self) -> Digest:
        return self.descriptor.digest


@dataclass(frozen=True, slots=True)
class ImageSize:
    """The bytes a pull of one platform transfers: ``total = index + manifest + config + layers``.

    ``index`` sums every index on the path (top and nested); ``layers`` the declared (compressed)
    layer sizes, duplicates counted each time listed. ``warnings`` says what looked inconsistent.
    """

    total: int
    index: int
    manifest: int
    config: int
    layers: int
    layer_count: int
    platform: Platform | None
    manifest_digest: Digest
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class PlatformSize:
    """One manifest of an index with its pull size; ``attestation`` marks buildx attestations."""

    platform: Platform | None
    descriptor: Descriptor
    breakdown: ImageSize
    attestation: bool = False

    @property
    def size(self) -> int:
        """The pull size of this platform (``breakdown.total``)."""
        return self.breakdown.total

    @property
    def digest(self) -> Digest:
        return self.descriptor.digest


@dataclass(frozen=True, slots=True)
class PlatformSizes:
    """Per-platform sizes of an image, and what the whole index occupies.

    ``entries`` lists every manifest in walk order (index order, nested indexes in place), the
    attestation manifests included but flagged. ``distinct_size`` counts every distinct digest
    reachable from the root once, the root, the attestations and their blobs included: the
    storage the image occupies. ``attestation_size`` is the part of it under attestation
    manifests (each digest once).
    """

    entries: tuple[PlatformSize, ...]
    distinct_size: int
    attestation_size: int = 0

    @property
    def platforms(self) -> tuple[PlatformSize, ...]:
        """The entries that are platforms of the image (attestations left out)."""
        return tuple(e for e in self.entries if not e.attestation)

    @property
    def attestations(self) -> tuple[PlatformSize, ...]:
        """The attestation manifests, reported apart."""
        return tuple(e for e in self.entries if e.attestation)


# ── counting ───────────────────────────────────────────────────────────────────────────────────────


def image_size(selected: SelectedManifest, warnings: tuple[str, ...]) -> ImageSize:
    """The pull size of the selected manifest, from what its descriptors declare."""
    manifest = selected.manifest
    index = sum(d.size for d in selected.index_path)
    layers = sum(layer.size for layer in manifest.layers)
    config = manifest.config.size
    return ImageSize(
        total=index + selected.descriptor.size + config + layers,
        index=index,
        manifest=selected.descriptor.size,
        config=config,
        layers=layers,
        layer_count=len(manifest.layers),
        platform=selected.platform,
        manifest_digest=selected.digest,
        warnings=warnings,
    )


def config_warnings(selected: SelectedManifest, config: ImageConfig) -> list[str]:
    """What the config says that disagrees with the manifest and its index entry."""
    warnings = []
    layers = len(selected.manifest.layers)
    if len(config.diff_ids) != layers:
        warnings.append(
            f"the config lists {len(config.diff_ids)} diff IDs for {layers} layers in the manifest"
        )
    declared, actual = selected.platform, config.platform
    if declared is not None and actual is not None:
        d, a = declared.normalized(), actual.normalized()
        if (d.os, d.architecture, d.variant) != (a.os, a.architecture, a.variant):
            warnings.append(
                f"the index entry says {declared.format_all()} but the config says "
                f"{actual.format_all()}"
            )
    return warnings


def check_rootfs(name: str, selected: SelectedManifest, config: ImageConfig) -> None:
    """Raise RootFSMismatch unless the config lists one diff ID per layer of the manifest.

    A diff ID names its layer uncompressed, in order: a list shorter or longer than the layers
    pairs some layer with another's diff ID or with none, and the chain IDs name no filesystem.
    containerd refuses to unpack such an image ("mismatched image rootfs and manifest layers").
    """
    layers, diff_ids = len(selected.manifest.layers), len(config.diff_ids)
    if layers != diff_ids:
        raise RootFSMismatch(
            f"{name} is not a usable image: its config lists {diff_ids} diff IDs for the "
            f"{layers} layers of its manifest {selected.digest} (containerd refuses to unpack it)",
            layers=layers,
            diff_ids=diff_ids,
            media_type=config.media_type,
            reference=name,
        )


def distinct_size(visits: Sequence[Visit]) -> int:
    """The bytes of every distinct digest visited, each counted once."""
    sizes: dict[Digest, int] = {}
    for visit in visits:
        sizes.setdefault(visit.descriptor.digest, visit.descriptor.size)
    return sum(sizes.values())


def under_attestations(visits: Sequence[Visit]) -> list[Visit]:
    """The visits of attestation manifests and of everything below them."""
    return [
        v
        for v in visits
        if is_attestation_entry(v.descriptor) or any(is_attestation_entry(p) for p in v.parents)
    ]
