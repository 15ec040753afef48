"""The walker over in-memory content: pre-order whatever the timing, one limiter, the guards."""

from __future__ import annotations

import random
from typing import Any

import anyio
import anyio.lowlevel
import pytest

from regimage.content.provider import MemoryProvider
from regimage.errors import NotFound, WalkLimitExceeded
from regimage.image.handlers import children, collect_into
from regimage.image.walk import MAX_WALK_WIDTH, walk
from regimage.model.descriptor import Descriptor
from regimage.model.digest import Digest
from regimage.model.mediatypes import OCI_INDEX, OCI_MANIFEST
from tests.image.builders import add_image, add_index, dumps, fake_layer

pytestmark = pytest.mark.anyio


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


@pytest.fixture
def store() -> MemoryProvider:
    return MemoryProvider()


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
