"""The handlers over in-memory content: what children reads (never a layer), and the wrappers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import pytest

from regimage.content.provider import MemoryProvider
from regimage.errors import UnsupportedMediaType
from regimage.image.document_cache import DocumentCache
from regimage.image.handlers import (
    ChildrenHandler,
    children,
    collect_into,
    filter_platforms,
    indexes_only,
    limit_manifests,
    skip_attestations,
)
from regimage.image.walk import Handler, walk
from regimage.model.descriptor import Descriptor
from regimage.model.digest import Digest
from regimage.model.mediatypes import OCI_CONFIG, OCI_LAYER_GZIP
from regimage.model.platform import Platform
from regimage.model.platform_match import all_platforms, only
from tests.image.builders import (
    add_artifact,
    add_attestation,
    add_config,
    add_image,
    add_index,
    digests,
    fake_layer,
)

pytestmark = pytest.mark.anyio


@pytest.fixture
def store() -> MemoryProvider:
    return MemoryProvider()


# ── children ───────────────────────────────────────────────────────────────────────────────────────


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
    cache = DocumentCache()
    first = await walk(children(store, cache=cache), root)
    second = await walk(children(store, cache=cache), root)
    assert first == second
    assert len(store.fetched) == 2


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
