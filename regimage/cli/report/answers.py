"""What ``regimage report`` answers, as values: storage counted once, the biggest images, tags that
share a digest, layers that images share, the size distribution, platform coverage, and the images
built on a base (``--built-on``).

Sizes are bytes as the manifests declare them (compressed, as stored and pulled). An image is a
root digest (an index, or a manifest that no index holds) that some reference resolved to in its
latest audit; its size counts every digest reachable from the root once: the root, nested indexes,
manifests, configs and layers, attestation manifests and their blobs included, and reported apart
(``attestations``), as ``regimage size --all-platforms`` counts its distinct total.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

__all__ = [
    "BaseImage",
    "BigImage",
    "Coverage",
    "Descendant",
    "Lineage",
    "PlatformCount",
    "Report",
    "RepositoryStorage",
    "SameDigest",
    "SharedLayer",
    "SizeBin",
    "Storage",
    "Totals",
    "size_bins",
]


@dataclass(frozen=True, slots=True)
class Totals:
    """How many references the database holds (each at its latest audit) and what they became."""

    references: int  # distinct references, each at its latest run
    ok: int  # of them, resolved
    failed: int  # of them, failed in their latest run
    images: int  # distinct root digests of the resolved ones
    runs: int  # audit runs written to the database
    last_run: str | None  # when the latest run started (ISO 8601 UTC)


@dataclass(frozen=True, slots=True)
class RepositoryStorage:
    """One repository's storage: its images' digests each once, against the naive sum."""

    repository: str  # registry/repository, e.g. ghcr.io/acme/api
    references: int
    images: int
    size: int  # every digest reachable from its images, once
    attestations: int  # the part of ``size`` only attestation manifests reach
    naive: int  # the sum of its references' image sizes: a digest once per reference

    @property
    def saved(self) -> int:
        """What counting shared digests once saves against the naive sum."""
        return self.naive - self.size


@dataclass(frozen=True, slots=True)
class Storage:
    """Storage per repository (biggest first) and in total (each digest once across them all)."""

    repositories: tuple[RepositoryStorage, ...]
    size: int
    attestations: int
    naive: int

    @property
    def saved(self) -> int:
        """What counting shared digests once saves against the naive sum."""
        return self.naive - self.size


@dataclass(frozen=True, slots=True)
class BigImage:
    """An image (root digest) with its size, its platforms and the references that name it."""

    digest: str
    kind: str  # "index" or "manifest"
    size: int
    attestations: int
    platforms: tuple[str, ...]  # its manifests' platforms, attestations left out; sorted
    references: tuple[str, ...]  # sorted


@dataclass(frozen=True, slots=True)
class SameDigest:
    """References (tags) that resolved to one digest."""

    digest: str
    size: int
    references: tuple[str, ...]  # sorted


@dataclass(frozen=True, slots=True)
class SharedLayer:
    """A layer blob and how many images hold it."""

    digest: str
    media_type: str
    size: int
    images: int  # distinct root digests whose manifests list it
    repositories: int  # distinct repositories those images are in

    @property
    def saved(self) -> int:
        """The bytes its sharing saves: a copy per image but one."""
        return self.size * (self.images - 1)


@dataclass(frozen=True, slots=True)
class SizeBin:
    """Images whose size is in ``[low, high)``."""

    low: int
    high: int
    images: int


@dataclass(frozen=True, slots=True)
class PlatformCount:
    """A platform and how many of a repository's references offer it."""

    platform: str
    references: int


@dataclass(frozen=True, slots=True)
class Coverage:
    """The platforms a repository's images offer, and the references that lack some of them."""

    repository: str
    platforms: tuple[PlatformCount, ...]  # sorted by platform
    lacking: tuple[tuple[str, tuple[str, ...]], ...]  # (reference, the platforms it lacks)
    unknown: tuple[str, ...]  # references whose platforms the database does not know


@dataclass(frozen=True, slots=True)
class Descendant:
    """An image whose first layers are exactly the base's (by chain ID), and what it adds."""

    reference: str
    digest: str  # its root
    manifest: str  # the manifest whose chain IDs begin with the base's
    platform: str | None
    layers: int
    added: int  # layers on top of the base's


@dataclass(frozen=True, slots=True)
class BaseImage:
    """One platform of the base: its chain IDs' top, and the images built on it."""

    platform: str | None
    manifest: str
    layers: int
    chain_id: str  # the chain ID of all its layers
    descendants: tuple[Descendant, ...]  # fewest layers added first


@dataclass(frozen=True, slots=True)
class Lineage:
    """``--built-on REF``: every audited image built on REF, per platform of REF."""

    reference: str
    digest: str
    source: str  # "database" (REF was audited) or "registry" (REF was resolved for this report)
    platforms: tuple[BaseImage, ...]
    without_chain_ids: int  # images whose manifests have no chain IDs (audited without --config)


@dataclass(frozen=True, slots=True)
class Report:
    """Everything ``regimage report`` shows."""

    database: str
    totals: Totals
    storage: Storage
    biggest: tuple[BigImage, ...]
    same_digest: tuple[SameDigest, ...]
    same_digest_count: int  # every group, not only the ``top`` shown
    shared_layers: tuple[SharedLayer, ...]
    shared_layer_count: int  # every layer two images or more share
    distribution: tuple[SizeBin, ...]
    coverage: tuple[Coverage, ...]
    lineage: Lineage | None = None


#: The steps of each decade the histogram's bins end at: 1, 2, 5, 10, 20, 50, … bytes.
_STEPS = (1, 2, 5)


def size_bins(sizes: list[int]) -> tuple[SizeBin, ...]:
    """``sizes`` counted in bins of 1, 2, 5 × 10^k bytes, from the smallest size's bin to the
    largest's (empty bins between them included): image sizes span several orders of
    magnitude, and such bins read as round numbers."""
    if not sizes:
        return ()
    edges = [0, 1]
    while edges[-1] <= max(sizes):
        decade, step = divmod(len(edges) - 1, len(_STEPS))
        edges.append(_STEPS[step] * 10**decade)
    counts = [0] * (len(edges) - 1)
    for size in sizes:
        counts[bisect.bisect_right(edges, size) - 1] += 1
    first = next(i for i, n in enumerate(counts) if n)
    last = max(i for i, n in enumerate(counts) if n)
    return tuple(SizeBin(edges[i], edges[i + 1], counts[i]) for i in range(first, last + 1))
