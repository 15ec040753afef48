"""The audited images' content graph, in memory: what each image holds, and the report's counts
over it (storage, the biggest images, shared digests and layers, platform coverage).

The database is read once (:mod:`regimage.cli.report.queries`); the counting is set arithmetic
here. Counting in SQL grouped text digests on temporary B-trees: three to four times slower on a
database of 10,000 references (``scripts/bench_report.py``), where Python's sets hash each digest
once.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Set as AbstractSet
from dataclasses import dataclass

from regimage.cli.report.answers import (
    BigImage,
    Coverage,
    PlatformCount,
    RepositoryStorage,
    SameDigest,
    SharedLayer,
    Storage,
)

__all__ = [
    "Contents",
    "Holding",
    "Latest",
    "biggest",
    "coverage",
    "hold",
    "same_digest",
    "shared_layers",
    "storage",
]


@dataclass(frozen=True, slots=True)
class Latest:
    """A reference at its latest audit: its repository and root digest (None: it failed)."""

    reference: str
    repository: str
    digest: str | None


@dataclass(frozen=True, slots=True)
class Contents:
    """What the database holds, as loaded: sizes and the edges of the graph."""

    sizes: defaultdict[str, int]  # every document and blob (0 for a digest it lacks)
    platforms: dict[str, str]  # each manifest that has a known platform
    attestations: frozenset[str]  # the attestation manifests
    children: dict[str, list[str]]  # an index's manifests (and nested indexes)
    configs: dict[str, str]  # a manifest's config (so every manifest is a key)
    layers: dict[str, list[str]]  # a manifest's layers


@dataclass(frozen=True, slots=True)
class Holding:
    """What one image (a root digest) holds, each digest once."""

    manifests: tuple[str, ...]  # its image manifests (attestations left out), in walk order
    digests: AbstractSet[str]  # everything an image manifest (or the indexes) reaches
    attestations: AbstractSet[str]  # what only attestation manifests reach
    layers: AbstractSet[str]  # its image manifests' layers
    size: int  # every digest once, attestations included
    attestation_size: int


#: How deep indexes may nest under a root: a deeper chain is a cycle (a database is a file that
#: anyone may have written; an audit's walk never records one).
MAX_DEPTH = 16


def hold(contents: Contents, roots: Iterable[str]) -> dict[str, Holding]:
    """Each root's holding: down the indexes to the manifests, an attestation's apart."""
    size = contents.sizes.__getitem__
    held = {}
    for root in roots:
        found = _Found(set(), set(), set(), [])
        _gather(contents, found, root, root in contents.attestations, 0)
        found.under.difference_update(found.digests)
        apart = sum(map(size, found.under))
        total = sum(map(size, found.digests)) + apart
        manifests = tuple(found.manifests)
        held[root] = Holding(manifests, found.digests, found.under, found.layers, total, apart)
    return held


@dataclass(frozen=True, slots=True)
class _Found:
    """What the walk of one root gathers (see :class:`Holding`)."""

    digests: set[str]
    under: set[str]
    layers: set[str]
    manifests: list[str]


def _gather(contents: Contents, found: _Found, digest: str, attestation: bool, depth: int) -> None:
    into = found.under if attestation else found.digests
    into.add(digest)
    config = contents.configs.get(digest)
    if config is not None:  # a manifest
        layers = contents.layers.get(digest, ())
        into.add(config)
        into.update(layers)
        if not attestation:
            found.manifests.append(digest)
            found.layers.update(layers)
    elif depth < MAX_DEPTH:  # an index
        for child in contents.children.get(digest, ()):
            _gather(
                contents, found, child, attestation or child in contents.attestations, depth + 1
            )


def storage(contents: Contents, latest: list[Latest], held: dict[str, Holding]) -> Storage:
    """Each repository's digests once, and every digest once in total, against the naive sums."""
    size = contents.sizes.__getitem__
    roots: dict[str, set[str]] = defaultdict(set)
    references: Counter[str] = Counter()
    naive: Counter[str] = Counter()
    for ref in latest:
        if ref.digest is not None:
            roots[ref.repository].add(ref.digest)
            references[ref.repository] += 1
            naive[ref.repository] += held[ref.digest].size
    rows = []
    for repository, found in roots.items():
        digests = set().union(*(held[r].digests for r in found))
        under = set().union(*(held[r].attestations for r in found)) - digests
        apart = sum(map(size, under))
        total = sum(map(size, digests)) + apart
        rows.append(
            RepositoryStorage(
                repository, references[repository], len(found), total, apart, naive[repository]
            )
        )
    rows.sort(key=lambda r: (-r.size, r.repository))
    digests = set().union(*(h.digests for h in held.values()))
    under = set().union(*(h.attestations for h in held.values())) - digests
    apart = sum(map(size, under))
    total = sum(map(size, digests)) + apart
    return Storage(tuple(rows), total, apart, sum(naive.values()))


def biggest(
    contents: Contents, latest: list[Latest], held: dict[str, Holding], top: int
) -> tuple[BigImage, ...]:
    """The ``top`` biggest images, biggest first."""
    names = _names(latest)
    ranked = sorted(held.items(), key=lambda item: (-item[1].size, item[0]))[:top]
    return tuple(
        BigImage(
            root,
            "manifest" if root in contents.configs else "index",
            holding.size,
            holding.attestation_size,
            _platforms(contents, holding),
            tuple(names[root]),
        )
        for root, holding in ranked
    )


def same_digest(
    latest: list[Latest], held: dict[str, Holding], top: int
) -> tuple[tuple[SameDigest, ...], int]:
    """The ``top`` digests most references resolved to (two or more), and how many there are."""
    groups = [(root, refs) for root, refs in _names(latest).items() if len(refs) > 1]
    groups.sort(key=lambda g: (-len(g[1]), -held[g[0]].size, g[0]))
    shown = tuple(SameDigest(root, held[root].size, tuple(refs)) for root, refs in groups[:top])
    return shown, len(groups)


def shared_layers(
    contents: Contents,
    latest: list[Latest],
    held: dict[str, Holding],
    top: int,
    media_types: Callable[[list[str]], dict[str, str]],
) -> tuple[tuple[SharedLayer, ...], int]:
    """The ``top`` layers the most images hold (two or more), and how many layers are shared;
    ``media_types`` looks the shown ones' up."""
    images: Counter[str] = Counter()
    for holding in held.values():
        images.update(holding.layers)
    shared = [(digest, n) for digest, n in images.items() if n > 1]
    sizes = contents.sizes
    shared.sort(key=lambda item: (-item[1], -sizes[item[0]], item[0]))
    shown = shared[:top]
    repositories: dict[str, set[str]] = {digest: set() for digest, _ in shown}
    for ref in latest:
        if ref.digest is not None:
            for digest in repositories.keys() & held[ref.digest].layers:
                repositories[digest].add(ref.repository)
    types = media_types([digest for digest, _ in shown])
    return tuple(
        SharedLayer(digest, types.get(digest, ""), sizes[digest], n, len(repositories[digest]))
        for digest, n in shown
    ), len(shared)


def coverage(
    contents: Contents, latest: list[Latest], held: dict[str, Holding]
) -> tuple[Coverage, ...]:
    """Per repository: the platforms its images offer, and the references lacking some."""
    offered: dict[str, dict[str, tuple[str, ...]]] = defaultdict(dict)
    for ref in latest:
        if ref.digest is not None:
            offered[ref.repository][ref.reference] = _platforms(contents, held[ref.digest])
    answers = []
    for repository in sorted(offered):
        references = offered[repository]
        every = sorted(set().union(*references.values()))
        counts = Counter(p for found in references.values() for p in found)
        lacking = tuple(
            (reference, tuple(p for p in every if p not in found))
            for reference, found in sorted(references.items())
            if found and len(found) < len(every)
        )
        unknown = tuple(sorted(r for r, found in references.items() if not found))
        platforms = tuple(PlatformCount(p, counts[p]) for p in every)
        answers.append(Coverage(repository, platforms, lacking, unknown))
    return tuple(answers)


def _platforms(contents: Contents, holding: Holding) -> tuple[str, ...]:
    """The known platforms of an image's manifests, sorted."""
    found = {contents.platforms.get(m) for m in holding.manifests}
    return tuple(sorted(p for p in found if p is not None))


def _names(latest: list[Latest]) -> dict[str, list[str]]:
    """Each root and the references that resolved to it, sorted."""
    names: dict[str, list[str]] = defaultdict(list)
    for ref in sorted(latest, key=lambda r: r.reference):
        if ref.digest is not None:
            names[ref.digest].append(ref.reference)
    return names
