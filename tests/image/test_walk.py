"""The walker and its handlers, over in-memory content (no network, no layer ever stored)."""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import anyio
import anyio.lowlevel
import pytest

from regimage.content.provider import MemoryProvider
from regimage.errors import NotFound, UnsupportedMediaType, WalkLimitExceeded
from regimage.image.walk import (
    MAX_WALK_WIDTH,
    ChildrenHandler,
    ContentCache,
    Handler,
    children,
    collect_into,
    filter_platforms,
    indexes_only,
    limit_manifests,
    skip_attestations,
    walk,
)
from regimage.model.descriptor import Descriptor
from regimage.model.digest import Digest
from regimage.model.mediatypes import (
    ATTESTATION_REFERENCE_TYPE,
    OCI_CONFIG,
    OCI_EMPTY,
    OCI_INDEX,
    OCI_LAYER_GZIP,
    OCI_MANIFEST,
)
from regimage.model.platforms import Platform, all_platforms, only

pytestmark = pytest.mark.anyio


# ── builders (shared with test_image.py) ───────────────────────────────────────────────────────────


def dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def fake_layer(label: str, size: int = 1000) -> Descriptor:
    """A layer descriptor whose content exists nowhere: fetching it would fail."""
    return Descriptor(OCI_LAYER_GZIP, Digest.of(f"layer {label}".encode()), size)


def add_config(
    provider: MemoryProvider,
    platform: str | None,
    diff_ids: Sequence[Digest] = (),
    *,
    media_type: str = OCI_CONFIG,
) -> Descriptor:
    obj: dict[str, Any] = {"rootfs": {"type": "layers", "diff_ids": [str(d) for d in diff_ids]}}
    if platform is not None:
        p = Platform.parse(platform)
        obj.update({"os": p.os, "architecture": p.architecture})
        if p.variant:
            obj["variant"] = p.variant
    return provider.add_document(dumps(obj), media_type)


def add_image(
    provider: MemoryProvider,
    platform: str | None,
    layers: Sequence[Descriptor] = (),
    *,
    diff_ids: Sequence[Digest] | None = None,
    declare: bool = True,
    annotations: dict[str, str] | None = None,
) -> Descriptor:
    """An image manifest (and its config); the descriptor declares ``platform`` if ``declare``."""
    if diff_ids is None:
        diff_ids = [Digest.of(b"diff " + str(layer.digest).encode()) for layer in layers]
    config = add_config(provider, platform, diff_ids)
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": config.to_dict(),
        "layers": [layer.to_dict() for layer in layers],
    }
    desc = provider.add_document(dumps(manifest), OCI_MANIFEST)
    if platform is not None and declare:
        desc = replace(desc, platform=Platform.parse(platform))
    if annotations:
        desc = replace(desc, annotations=annotations)
    return desc


def add_artifact(
    provider: MemoryProvider,
    artifact_type: str,
    blobs: Sequence[Descriptor],
    subject: Descriptor | None = None,
) -> Descriptor:
    empty = provider.add_document(b"{}", OCI_EMPTY)
    manifest: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": artifact_type,
        "config": empty.to_dict(),
        "layers": [b.to_dict() for b in blobs],
    }
    if subject is not None:
        manifest["subject"] = {
            "mediaType": subject.media_type,
            "digest": str(subject.digest),
            "size": subject.size,
        }
    return provider.add_document(dumps(manifest), OCI_MANIFEST)


def add_attestation(provider: MemoryProvider, attests: Descriptor) -> Descriptor:
    """A buildx attestation manifest entry (platform unknown/unknown) for ``attests``."""
    statement = Descriptor(
        "application/vnd.in-toto+json", Digest.of(b"in-toto " + str(attests.digest).encode()), 700
    )
    config = add_config(provider, None)
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": config.to_dict(),
        "layers": [statement.to_dict()],
    }
    desc = provider.add_document(dumps(manifest), OCI_MANIFEST)
    return replace(
        desc,
        platform=Platform("unknown", "unknown"),
        annotations={
            ATTESTATION_REFERENCE_TYPE: "attestation-manifest",
            "vnd.docker.reference.digest": str(attests.digest),
        },
    )


def add_index(
    provider: MemoryProvider, entries: Sequence[Descriptor], *, media_type: str = OCI_INDEX
) -> Descriptor:
    index = {
        "schemaVersion": 2,
        "mediaType": media_type,
        "manifests": [e.to_dict() for e in entries],
    }
    return provider.add_document(dumps(index), media_type)


def digests(items: Sequence[Descriptor]) -> list[Digest]:
    return [d.digest for d in items]


# ── fakes ──────────────────────────────────────────────────────────────────────────────────────────


class JitterProvider:
    """Wraps a MemoryProvider and yields to the scheduler a random number of times per fetch,
    so that concurrent fetches finish in a different order for every seed (no real sleep)."""

    def __init__(self, inner: MemoryProvider, seed: int):
        self.inner = inner
        self.random = random.Random(seed)  # noqa: S311 - scheduling jitter, not cryptography
        self.in_flight = 0
        self.most_in_flight = 0

    async def fetch(self, descriptor: Descriptor) -> bytes:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            for _ in range(self.random.randrange(0, 20)):
                await anyio.lowlevel.checkpoint()
            return await self.inner.fetch(descriptor)
        finally:
            self.in_flight -= 1


class LyingProvider:
    """Serves fixed bytes for any digest: the only way to build a cyclic graph."""

    def __init__(self, documents: dict[Digest, bytes]):
        self.documents = documents

    async def fetch(self, descriptor: Descriptor) -> bytes:
        return self.documents[descriptor.digest]


# ── children ───────────────────────────────────────────────────────────────────────────────────────


@pytest.fixture
def store() -> MemoryProvider:
    return MemoryProvider()


async def test_children_of_an_index_are_its_manifests(store: MemoryProvider) -> None:
    amd = add_image(store, "linux/amd64", [fake_layer("a")])
    arm = add_image(store, "linux/arm64", [fake_layer("b")])
    root = add_index(store, [amd, arm])
    assert await children(store)(root) == (amd, arm)
    assert store.fetched == [root.digest]


async def test_children_of_a_manifest_are_config_then_layers(store: MemoryProvider) -> None:
    layers = [fake_layer("1", 10), fake_layer("2", 20)]
    manifest = add_image(store, "linux/amd64", layers)
    found = await children(store)(manifest)
    assert [d.media_type for d in found] == [OCI_CONFIG, OCI_LAYER_GZIP, OCI_LAYER_GZIP]
    assert digests(found[1:]) == digests(layers)
    assert store.fetched == [manifest.digest]


async def test_children_never_reads_configs_or_layers(store: MemoryProvider) -> None:
    config = add_config(store, "linux/amd64")
    handler = children(store)
    assert await handler(config) == ()
    assert await handler(fake_layer("x")) == ()
    assert store.fetched == []
    with pytest.raises(UnsupportedMediaType, match="not a manifest or index"):
        await handler.document(fake_layer("x"))


async def test_children_uses_embedded_data_without_fetching(store: MemoryProvider) -> None:
    manifest = add_image(store, "linux/amd64", [fake_layer("a")])
    data = await store.fetch(manifest)
    store.fetched.clear()
    embedded = replace(manifest, data=data)
    assert len(await children(store)(embedded)) == 2
    assert store.fetched == []


async def test_a_document_is_fetched_once_even_when_listed_twice(store: MemoryProvider) -> None:
    amd = add_image(store, "linux/amd64", [fake_layer("a")])
    root = add_index(store, [amd, amd, amd])
    visits = await walk(children(store), root)
    assert len(visits) == 1 + 3 * 3
    assert sorted(store.fetched, key=str) == sorted([root.digest, amd.digest], key=str)


async def test_a_cache_shared_between_walks_reads_nothing_twice(store: MemoryProvider) -> None:
    root = add_index(store, [add_image(store, "linux/amd64", [fake_layer("a")])])
    cache = ContentCache()
    first = await walk(children(store, cache=cache), root)
    second = await walk(children(store, cache=cache), root)
    assert first == second
    assert len(store.fetched) == 2


# ── walk ───────────────────────────────────────────────────────────────────────────────────────────


async def test_walk_visits_depth_first_with_parents(store: MemoryProvider) -> None:
    la, lb = fake_layer("a"), fake_layer("b")
    amd = add_image(store, "linux/amd64", [la])
    arm = add_image(store, "linux/arm64", [lb])
    root = add_index(store, [amd, arm])
    visits = await walk(children(store), root)
    kinds = [(v.depth, v.descriptor.digest) for v in visits]
    amd_config, arm_config = (await children(store)(amd))[0], (await children(store)(arm))[0]
    assert kinds == [
        (0, root.digest),
        (1, amd.digest),
        (2, amd_config.digest),
        (2, la.digest),
        (1, arm.digest),
        (2, arm_config.digest),
        (2, lb.digest),
    ]
    assert visits[3].parents == (root, amd)
    assert visits[0].children == (amd, arm)


async def test_walk_never_fetches_a_layer(store: MemoryProvider) -> None:
    layers = [fake_layer(str(i)) for i in range(5)]
    root = add_index(store, [add_image(store, "linux/amd64", layers)])
    await walk(children(store), root)
    assert not set(store.fetched) & {layer.digest for layer in layers}
    assert len(store.fetched) == 2


async def test_walk_of_several_roots_keeps_their_order(store: MemoryProvider) -> None:
    a = add_image(store, "linux/amd64", [fake_layer("a")])
    b = add_image(store, "linux/arm64", [fake_layer("b")])
    visits = await walk(children(store), b, a)
    assert [v.descriptor.digest for v in visits if v.depth == 0] == [b.digest, a.digest]


@pytest.mark.parametrize("seed", range(6))
async def test_results_do_not_depend_on_timing(seed: int) -> None:
    store = MemoryProvider()
    images = [
        add_image(store, p, [fake_layer(f"{p}{i}") for i in range(3)])
        for p in ("linux/amd64", "linux/arm64", "linux/arm/v7", "linux/386", "linux/s390x")
    ]
    nested = add_index(store, images[3:])
    root = add_index(store, [*images[:3], nested])

    async def run(provider: Any) -> tuple[Any, list[Descriptor]]:
        seen: list[Descriptor] = []
        visits = await walk(collect_into(seen, children(provider)), root, limit=3)
        return visits, seen

    expected_visits, expected_seen = await run(store)
    jitter = JitterProvider(store, seed)
    visits, seen = await run(jitter)
    assert visits == expected_visits
    assert seen == [v.descriptor for v in visits] == expected_seen
    assert 1 < jitter.most_in_flight <= 3


async def test_one_limiter_bounds_every_level(store: MemoryProvider) -> None:
    leaves = [add_image(store, f"linux/amd64/v{i}", [fake_layer(str(i))]) for i in range(1, 5)]
    root = add_index(store, [add_index(store, leaves[:2]), add_index(store, leaves[2:])])
    jitter = JitterProvider(store, 1)
    await walk(children(jitter), root, limit=anyio.CapacityLimiter(1))
    assert jitter.most_in_flight == 1


async def test_collect_into_appends_outside_a_walk_and_after_each_walk(
    store: MemoryProvider,
) -> None:
    a = add_image(store, "linux/amd64", [fake_layer("a")])
    seen: list[Descriptor] = []
    handler = collect_into(seen, children(store))
    await handler(a)
    await walk(handler, a)
    assert [d.digest for d in seen][:2] == [a.digest, a.digest]
    assert len(seen) == 1 + 3


async def test_the_first_error_in_walk_order_is_raised_plainly(store: MemoryProvider) -> None:
    present = add_image(store, "linux/amd64", [fake_layer("a")])
    missing_1 = Descriptor(OCI_MANIFEST, Digest.of(b"missing 1"), 10)
    missing_2 = Descriptor(OCI_MANIFEST, Digest.of(b"missing 2"), 10)
    root = add_index(store, [present, missing_1, missing_2])
    with pytest.raises(NotFound, match=str(missing_1.digest)):
        await walk(children(store), root)


# ── guards ─────────────────────────────────────────────────────────────────────────────────────────


async def test_a_cycle_is_refused() -> None:
    # Real digests cannot make a cycle, so a provider serves an index that lists its own digest.
    fake = Descriptor(OCI_INDEX, Digest.of(b"the index"), 100)
    other = Descriptor(OCI_INDEX, Digest.of(b"the other"), 100)
    documents = {
        fake.digest: dumps({"schemaVersion": 2, "manifests": [other.to_dict()]}),
        other.digest: dumps({"schemaVersion": 2, "manifests": [fake.to_dict()]}),
    }
    with pytest.raises(WalkLimitExceeded, match="cycle") as caught:
        await walk(children(LyingProvider(documents)), fake)
    assert f"{fake.digest} → {other.digest} → {fake.digest}" in str(caught.value)


def _chain(store: MemoryProvider, depth: int) -> Descriptor:
    node = add_image(store, "linux/amd64", [fake_layer("deep")])
    for _ in range(depth):
        node = add_index(store, [node])
    return node


async def test_eight_nested_indexes_are_walked(store: MemoryProvider) -> None:
    root = _chain(store, 9)  # the root index and 8 nested ones
    visits = await walk(children(store), root)
    assert max(v.depth for v in visits) == 10


async def test_deeper_nesting_is_refused(store: MemoryProvider) -> None:
    root = _chain(store, 10)
    with pytest.raises(WalkLimitExceeded, match=r"nested 11 levels deep, more than .* \(10\)"):
        await walk(children(store), root)


async def test_a_wider_index_than_the_limit_is_refused(store: MemoryProvider) -> None:
    entries = [fake_layer(str(i), 1) for i in range(MAX_WALK_WIDTH + 1)]
    root = add_index(store, entries)
    with pytest.raises(WalkLimitExceeded, match=r"lists 10001 children, more than .* \(10000\)"):
        await walk(children(store), root)
    assert len(await walk(children(store), add_index(store, entries[:50]), max_width=50)) == 51
    with pytest.raises(WalkLimitExceeded, match=r"lists 51 children, more than .* \(50\)"):
        await walk(children(store), add_index(store, entries[:51]), max_width=50)


async def test_too_many_visits_are_refused(store: MemoryProvider) -> None:
    inner = add_index(store, [fake_layer(str(i), 1) for i in range(20)])
    root = add_index(store, [inner] * 20)
    with pytest.raises(WalkLimitExceeded, match="more than 400 descriptors"):
        await walk(children(store), root, max_visits=400)
    assert len(await walk(children(store), root, max_visits=421)) == 1 + 20 * 21


# ── wrappers ───────────────────────────────────────────────────────────────────────────────────────


async def test_filter_platforms_keeps_matches_and_undeclared(store: MemoryProvider) -> None:
    amd = add_image(store, "linux/amd64", [fake_layer("a")])
    arm = add_image(store, "linux/arm64", [fake_layer("b")])
    bare = add_image(store, "linux/arm64", [fake_layer("c")], declare=False)
    root = add_index(store, [amd, arm, bare])
    handler = filter_platforms(children(store), only(Platform.parse("linux/arm64")))
    assert await handler(root) == [arm, bare]
    assert store.fetched == [root.digest]  # containerd keeps undeclared entries unread


async def test_filter_platforms_reads_undeclared_platforms_when_asked(
    store: MemoryProvider,
) -> None:
    amd = add_image(store, "linux/amd64", [fake_layer("a")])
    bare_arm = add_image(store, "linux/arm64", [fake_layer("c")], declare=False)
    bare_amd = add_image(store, "linux/amd64", [fake_layer("d")], declare=False)
    artifact = add_artifact(store, "application/example", [fake_layer("e")])
    root = add_index(store, [amd, bare_arm, bare_amd, artifact])
    source = children(store)
    handler = filter_platforms(
        source, only(Platform.parse("linux/arm64")), platform_of=source.platform_of
    )
    kept = await handler(root)
    assert digests(kept) == [bare_arm.digest]
    assert kept[0].platform == Platform("linux", "arm64")


async def test_filter_platforms_leaves_manifests_children_alone(store: MemoryProvider) -> None:
    manifest = add_image(store, "linux/amd64", [fake_layer("a")])
    handler = filter_platforms(children(store), only(Platform.parse("linux/s390x")))
    assert len(await handler(manifest)) == 2


async def test_limit_manifests_keeps_the_best_n_in_preference_order(
    store: MemoryProvider,
) -> None:
    amd = add_image(store, "linux/amd64", [fake_layer("a")])
    v7 = add_image(store, "linux/arm/v7", [fake_layer("b")])
    arm64 = add_image(store, "linux/arm64", [fake_layer("c")])
    v6 = add_image(store, "linux/arm/v6", [fake_layer("d")])
    nested = add_index(store, [amd])
    root = add_index(store, [amd, v6, nested, v7, arm64])
    matcher = only(Platform.parse("linux/arm64"))
    best_two = limit_manifests(filter_platforms(children(store), matcher), matcher, 2)
    assert digests(await best_two(root)) == [arm64.digest, v7.digest, nested.digest]
    every = limit_manifests(filter_platforms(children(store), matcher), matcher, 0)
    assert digests(await every(root)) == [arm64.digest, v7.digest, v6.digest, nested.digest]


async def test_limit_manifests_sorts_undeclared_platforms_last(store: MemoryProvider) -> None:
    bare = add_image(store, "linux/amd64", [fake_layer("a")], declare=False)
    amd = add_image(store, "linux/amd64", [fake_layer("b")])
    root = add_index(store, [bare, amd])
    handler = limit_manifests(children(store), all_platforms(), 1)
    assert digests(await handler(root)) == [amd.digest]


async def test_skip_attestations(store: MemoryProvider) -> None:
    amd = add_image(store, "linux/amd64", [fake_layer("a")])
    attestation = add_attestation(store, amd)
    root = add_index(store, [amd, attestation])
    assert await children(store)(root) == (amd, attestation)
    assert await skip_attestations(children(store))(root) == [amd]


async def test_indexes_only_does_not_read_manifests(store: MemoryProvider) -> None:
    amd = add_image(store, "linux/amd64", [fake_layer("a")])
    root = add_index(store, [add_index(store, [amd])])
    visits = await walk(indexes_only(children(store)), root)
    assert [v.descriptor.digest for v in visits][-1] == amd.digest
    assert amd.digest not in store.fetched


async def test_handlers_are_plain_async_callables(store: MemoryProvider) -> None:
    calls: list[Digest] = []

    async def recording(descriptor: Descriptor) -> Sequence[Descriptor]:
        calls.append(descriptor.digest)
        return await children(store)(descriptor)

    handler: Handler = recording
    manifest = add_image(store, "linux/amd64", [fake_layer("a")])
    await walk(handler, manifest)
    assert calls[0] == manifest.digest
    assert len(calls) == 3
    assert isinstance(children(store), ChildrenHandler)
