"""Walking a manifest graph: the walker that visits what a handler says is below each descriptor.

This is containerd's ``images.Walk`` in Python. A :class:`Handler` receives a
descriptor and returns the children to visit (an empty sequence means "stop here"); the handlers
themselves, and the wrappers that compose them, are in :mod:`regimage.image.handlers`::

    handler = limit_manifests(filter_platforms(skip_attestations(children(provider)), m), m, 1)
    visits = await walk(handler, image.target)

:func:`walk` visits depth-first; siblings run concurrently, but every handler call, at any depth,
waits for one shared :class:`anyio.CapacityLimiter`. Its answer is the tuple of :class:`Visit` in
depth-first pre-order, the order a sequential walk would produce, whatever the timing.

Guards: a digest met again on its own ancestor path (a cycle), a descriptor more than ``max_depth``
levels below a root, a handler returning more than ``max_width`` children, or more than
``max_visits`` visits in one walk raise :class:`~regimage.errors.WalkLimitExceeded`.
"""

from __future__ import annotations

import contextvars
import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import anyio

from regimage._concurrency import gather_in_order
from regimage.errors import WalkLimitExceeded
from regimage.model.descriptor import Descriptor

__all__ = [
    "DEFAULT_CONCURRENCY",
    "FAN_OUT_WORKERS",
    "MAX_WALK_DEPTH",
    "MAX_WALK_VISITS",
    "MAX_WALK_WIDTH",
    "Handler",
    "Visit",
    "walk",
    "walk_position",
]

#: How many handler calls (fetches) one walk runs at the same time.
DEFAULT_CONCURRENCY = 8
#: Levels below a root: a root index, 8 nested indexes, a manifest, then its config and layers.
MAX_WALK_DEPTH = 10
#: Children one handler call may return (an index of 10,000 entries is already ~4 MiB of JSON).
MAX_WALK_WIDTH = 10_000
#: Visits in one walk: bounds a graph that lists the same small index again and again.
MAX_WALK_VISITS = 100_000
#: Children of one descriptor in progress at a time. Each holds the walk's limiter only while its
#: handler runs, so this bounds tasks, not fetches: a 10,000-entry index costs this many workers
#: taking entries in turn, not 10,000 tasks queued on the limiter (seconds of scheduling).
FAN_OUT_WORKERS = 16


class Handler(Protocol):
    """Receives a descriptor and returns the children to visit next (empty: go no deeper)."""

    async def __call__(self, descriptor: Descriptor) -> Sequence[Descriptor]: ...


@dataclass(frozen=True, slots=True)
class Visit:
    """One descriptor the walker visited, with its ancestors (root first) and the children it got."""

    descriptor: Descriptor
    parents: tuple[Descriptor, ...]
    children: tuple[Descriptor, ...]

    @property
    def depth(self) -> int:
        """0 for a root, 1 for its children, …"""
        return len(self.parents)


#: The position of the handler call in progress: (walk, path of sibling indexes from the root).
_POSITION: contextvars.ContextVar[tuple[object, tuple[int, ...]]] = contextvars.ContextVar(
    "regimage_walk_position"
)


def walk_position() -> tuple[object, tuple[int, ...]] | None:
    """Where the handler call in progress stands: its walk, and the path of sibling indexes from
    the root (None outside a walk).

    Pre-order is the lexicographic order of these paths, which lets a collector that handler calls
    reach in any order keep the order of a sequential walk.
    """
    return _POSITION.get(None)


async def walk(
    handler: Handler,
    *descriptors: Descriptor,
    limit: int | anyio.CapacityLimiter = DEFAULT_CONCURRENCY,
    max_depth: int = MAX_WALK_DEPTH,
    max_width: int = MAX_WALK_WIDTH,
    max_visits: int = MAX_WALK_VISITS,
) -> tuple[Visit, ...]:
    """Visit ``descriptors`` and everything ``handler`` says is below them.

    Returns every visit in depth-first pre-order. Siblings are handled concurrently, each handler
    call holding ``limit`` (a number, or a limiter shared with other walks). On failure the other
    branches are cancelled and the first error in pre-order among those raised is re-raised as is
    (never an ``ExceptionGroup``).
    """
    limiter = limit if isinstance(limit, anyio.CapacityLimiter) else anyio.CapacityLimiter(limit)
    walker = _Walker(handler, limiter, max_depth, max_width, max_visits)
    return tuple(await walker.visit_all(descriptors, (), ()))


class _Walker:
    def __init__(
        self,
        handler: Handler,
        limiter: anyio.CapacityLimiter,
        max_depth: int,
        max_width: int,
        max_visits: int,
    ):
        self._handler = handler
        self._limiter = limiter
        self._max_depth = max_depth
        self._max_width = max_width
        self._max_visits = max_visits
        self._visits = 0

    async def visit_all(
        self,
        descriptors: Sequence[Descriptor],
        parents: tuple[Descriptor, ...],
        position: tuple[int, ...],
    ) -> list[Visit]:
        async def one(i: int) -> list[Visit]:
            return await self._visit(descriptors[i], parents, (*position, i))

        # The walker's limiter covers handler calls only, never held across this recursive
        # fan-out: that would deadlock once the depth exceeded its capacity.
        branches = await gather_in_order(
            [functools.partial(one, i) for i in range(len(descriptors))], limit=FAN_OUT_WORKERS
        )
        return [visit for branch in branches for visit in branch]

    async def _visit(
        self, descriptor: Descriptor, parents: tuple[Descriptor, ...], position: tuple[int, ...]
    ) -> list[Visit]:
        self._check(descriptor, parents)
        token = _POSITION.set((self, position))
        try:
            async with self._limiter:
                found = tuple(await self._handler(descriptor))
        finally:
            _POSITION.reset(token)
        if len(found) > self._max_width:
            raise WalkLimitExceeded(
                f"{descriptor.media_type} {descriptor.digest} lists {len(found)} children, more "
                f"than the walker accepts ({self._max_width})"
            )
        below = await self.visit_all(found, (*parents, descriptor), position)
        return [Visit(descriptor, parents, found), *below]

    def _check(self, descriptor: Descriptor, parents: tuple[Descriptor, ...]) -> None:
        if any(parent.digest == descriptor.digest for parent in parents):
            chain = " → ".join(str(d.digest) for d in (*parents, descriptor))
            raise WalkLimitExceeded(f"cycle: {descriptor.digest} contains itself ({chain})")
        if len(parents) > self._max_depth:
            raise WalkLimitExceeded(
                f"{descriptor.digest} is nested {len(parents)} levels deep, more than the walker "
                f"accepts ({self._max_depth})"
            )
        self._visits += 1
        if self._visits > self._max_visits:
            raise WalkLimitExceeded(
                f"the walk visited more than {self._max_visits} descriptors; stopped at "
                f"{descriptor.digest}"
            )
