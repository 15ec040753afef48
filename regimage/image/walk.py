"""Walking a manifest graph: handlers that say what to visit next, and the walker that visits it.

This is containerd's ``images/handlers.go`` in Python. A :class:`Handler` receives a descriptor and
returns the children to visit (an empty sequence means "stop here"). Handlers compose::

    handler = limit_manifests(filter_platforms(skip_attestations(children(provider)), m), m, 1)
    visits = await walk(handler, image.target)

:func:`walk` visits depth-first; siblings run concurrently, but every handler call, at any depth,
waits for one shared :class:`anyio.CapacityLimiter`. Its answer is the tuple of :class:`Visit` in
depth-first pre-order, the order a sequential walk would produce, whatever the timing.

Guards: a digest met again on its own ancestor path (a cycle), a descriptor more than ``max_depth``
levels below a root, a handler returning more than ``max_width`` children, or more than
``max_visits`` visits in one walk raise :class:`~regimage.errors.WalkLimitExceeded`.

:func:`children` never fetches a layer or a config: only index and manifest documents are read, and
each at most once per :class:`ContentCache` (one per walk unless the caller shares one).
"""

from __future__ import annotations

import contextvars
import functools
from bisect import bisect_right
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Generic, Protocol, TypeVar

import anyio

from regimage._concurrency import gather_in_order
from regimage.content.provider import Provider
from regimage.errors import UnsupportedMediaType, WalkLimitExceeded
from regimage.model.descriptor import Descriptor
from regimage.model.manifest import Document, Index, Manifest, parse_document
from regimage.model.mediatypes import (
    ATTESTATION_REFERENCE_TYPE,
    ATTESTATION_REFERENCE_TYPE_VALUE,
    is_config,
    is_index,
    is_layer,
    is_manifest,
)
from regimage.model.platforms import Platform, PlatformMatcher

if TYPE_CHECKING:  # imported when a config is read: `size` never reads one
    from regimage.model.image_config import ImageConfig

__all__ = [
    "DEFAULT_CONCURRENCY",
    "FAN_OUT_WORKERS",
    "MAX_WALK_DEPTH",
    "MAX_WALK_VISITS",
    "MAX_WALK_WIDTH",
    "ChildrenHandler",
    "ContentCache",
    "Handler",
    "PlatformResolver",
    "Visit",
    "children",
    "collect_into",
    "filter_platforms",
    "indexes_only",
    "is_attestation_entry",
    "limit_manifests",
    "skip_attestations",
    "walk",
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

T = TypeVar("T")


class Handler(Protocol):
    """Receives a descriptor and returns the children to visit next (empty: go no deeper)."""

    async def __call__(self, descriptor: Descriptor) -> Sequence[Descriptor]: ...


#: Reads the platform of a manifest that its index entry does not declare (None: not an image).
PlatformResolver = Callable[[Descriptor], Awaitable[Platform | None]]


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


# ── the walker ─────────────────────────────────────────────────────────────────────────────────────

#: The position of the handler call in progress: (walk, path of sibling indexes from the root).
#: Pre-order is the lexicographic order of these paths, which lets collectors stay deterministic.
_POSITION: contextvars.ContextVar[tuple[object, tuple[int, ...]]] = contextvars.ContextVar(
    "regimage_walk_position"
)


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


# ── reading documents ──────────────────────────────────────────────────────────────────────────────


class _Memo(Generic[T]):
    """Values by key, loaded once even when several tasks ask at the same time."""

    def __init__(self) -> None:
        self._values: dict[object, T] = {}
        self._loading: dict[object, anyio.Event] = {}

    def put(self, key: object, value: T) -> None:
        self._values[key] = value

    async def get(self, key: object, load: Callable[[], Awaitable[T]]) -> T:
        while key not in self._values:
            loading = self._loading.get(key)
            if loading is None:
                break
            await loading.wait()  # the loader finished; on its failure, the loop loads again
        else:
            return self._values[key]
        event = self._loading[key] = anyio.Event()
        try:
            value = await load()
            self._values[key] = value
            return value
        finally:
            del self._loading[key]
            event.set()


class ContentCache:
    """Parsed documents and configs by digest (and declared media type).

    Content is addressed by digest, so an entry never goes stale: one cache can serve every walk of
    an image, or of many images sharing manifests.
    """

    def __init__(self) -> None:
        self.documents: _Memo[Document] = _Memo()
        self.configs: _Memo[ImageConfig] = _Memo()

    @staticmethod
    def key(descriptor: Descriptor) -> tuple[str, str]:
        return (str(descriptor.digest), descriptor.media_type)


class ChildrenHandler:
    """Fetches and parses indexes and manifests and returns what they point at.

    index → its manifests; manifest → its config then its layers; anything else → nothing, without
    reading it. Layers are returned as descriptors (so sizes can be summed) but never fetched.
    """

    def __init__(self, provider: Provider, cache: ContentCache | None = None):
        self.provider = provider
        self.cache = cache if cache is not None else ContentCache()

    async def __call__(self, descriptor: Descriptor) -> Sequence[Descriptor]:
        media_type = descriptor.media_type
        if not (is_index(media_type) or is_manifest(media_type)):
            return ()
        document = await self.document(descriptor)
        if isinstance(document, Index):
            return document.manifests
        if isinstance(document, Manifest):
            return (document.config, *document.layers)
        return ()

    async def document(self, descriptor: Descriptor) -> Document:
        """The parsed index or manifest ``descriptor`` points at (fetched once per cache)."""
        if is_layer(descriptor.media_type) or is_config(descriptor.media_type):
            raise UnsupportedMediaType(
                f"{descriptor.digest} is a {descriptor.media_type}, not a manifest or index: "
                "regimage does not read it as one",
                media_type=descriptor.media_type,
            )

        async def load() -> Document:
            return parse_document(await self._read(descriptor), descriptor.media_type)

        return await self.cache.documents.get(self.cache.key(descriptor), load)

    async def image_config(self, descriptor: Descriptor) -> ImageConfig:
        """The parsed image config ``descriptor`` points at (fetched once per cache)."""

        async def load() -> ImageConfig:
            from regimage.model.image_config import ImageConfig

            return ImageConfig.parse(await self._read(descriptor), descriptor.media_type)

        return await self.cache.configs.get(self.cache.key(descriptor), load)

    async def platform_of(self, descriptor: Descriptor) -> Platform | None:
        """The platform a manifest is for: declared on its descriptor, else read from its config.

        None for an index, an artifact or a legacy schema1 manifest (no image config to read).
        """
        if descriptor.platform is not None:
            return descriptor.platform
        if not is_manifest(descriptor.media_type):
            return None
        document = await self.document(descriptor)
        if not isinstance(document, Manifest) or not is_config(document.config.media_type):
            return None
        return (await self.image_config(document.config)).platform

    async def _read(self, descriptor: Descriptor) -> bytes:
        # Embedded ``data`` was checked against the digest when the descriptor was parsed.
        if descriptor.data is not None:
            return descriptor.data
        return await self.provider.fetch(descriptor)


def children(provider: Provider, *, cache: ContentCache | None = None) -> ChildrenHandler:
    """The handler that reads indexes and manifests from ``provider`` (see :class:`ChildrenHandler`)."""
    return ChildrenHandler(provider, cache)


# ── wrappers ───────────────────────────────────────────────────────────────────────────────────────


def is_attestation_entry(descriptor: Descriptor) -> bool:
    """Whether an index entry is a buildx attestation manifest (never a platform of the image)."""
    return (
        descriptor.annotations.get(ATTESTATION_REFERENCE_TYPE) == ATTESTATION_REFERENCE_TYPE_VALUE
    )


def skip_attestations(handler: Handler) -> Handler:
    """Drop attestation manifests from the children ``handler`` returns."""

    async def skipping(descriptor: Descriptor) -> Sequence[Descriptor]:
        return [child for child in await handler(descriptor) if not is_attestation_entry(child)]

    return skipping


def filter_platforms(
    handler: Handler,
    matcher: PlatformMatcher,
    *,
    platform_of: PlatformResolver | None = None,
) -> Handler:
    """Keep the children of an index whose platform ``matcher`` accepts.

    An entry without a ``platform`` is kept as containerd keeps it, unless ``platform_of`` is
    given: then a manifest entry's platform is read (from its config) and the kept descriptor
    carries it; an entry whose platform cannot be read (an artifact) is dropped. Nested indexes
    have no platform of their own and are always kept.
    """

    async def filtering(descriptor: Descriptor) -> Sequence[Descriptor]:
        found = await handler(descriptor)
        if not is_index(descriptor.media_type):
            return found
        # Declared platforms are decided here and now; only entries without one are read
        # (concurrently): a 10,000-entry index must not cost 10,000 tasks.
        decided: list[Descriptor | None] = []
        unread: list[int] = []
        for child in found:
            if child.platform is not None:
                decided.append(child if matcher.match(child.platform) else None)
            elif platform_of is None or not is_manifest(child.media_type):
                decided.append(child)
            else:
                unread.append(len(decided))
                decided.append(None)
        if unread and platform_of is not None:
            read = platform_of

            async def read_platform(child: Descriptor) -> Descriptor | None:
                platform = await read(child)
                if platform is None or not matcher.match(platform):
                    return None
                return replace(child, platform=platform)

            calls = [functools.partial(read_platform, found[i]) for i in unread]
            read_back = await gather_in_order(calls, limit=DEFAULT_CONCURRENCY)
            for i, kept in zip(unread, read_back, strict=True):
                decided[i] = kept
        return [child for child in decided if child is not None]

    return filtering


def limit_manifests(handler: Handler, matcher: PlatformMatcher, n: int) -> Handler:
    """Keep, for each index, its best ``n`` manifests in ``matcher``'s preference order.

    Entries without a platform sort after those with one (as in containerd); ties keep index
    order. Nested indexes are kept after the chosen manifests, so the walk can still search them.
    ``n <= 0`` keeps every manifest, sorted.
    """

    def compare(a: Descriptor, b: Descriptor) -> int:
        if a.platform is None or b.platform is None:
            return (a.platform is None) - (b.platform is None)
        if matcher.less(a.platform, b.platform):
            return -1
        return 1 if matcher.less(b.platform, a.platform) else 0

    async def limiting(descriptor: Descriptor) -> Sequence[Descriptor]:
        found = await handler(descriptor)
        if not is_index(descriptor.media_type):
            return found
        manifests = sorted(
            (c for c in found if not is_index(c.media_type)), key=functools.cmp_to_key(compare)
        )
        if n > 0:
            manifests = manifests[:n]
        return [*manifests, *(c for c in found if is_index(c.media_type))]

    return limiting


def collect_into(target: list[Descriptor], handler: Handler) -> Handler:
    """Append every descriptor ``handler`` is called on to ``target``, in pre-order.

    Calls run concurrently and finish in any order; each descriptor is inserted at its pre-order
    place, so ``target`` ends the same whatever the timing. Outside a walk, calls append.
    """
    return _Collector(target, handler)


class _Collector:
    def __init__(self, target: list[Descriptor], handler: Handler):
        self._target = target
        self._handler = handler
        self._walk: object = None  # the walk whose visits are being inserted
        self._base = 0  # where that walk's visits start in target
        self._keys: list[tuple[int, ...]] = []  # their positions, sorted (= pre-order)

    async def __call__(self, descriptor: Descriptor) -> Sequence[Descriptor]:
        found = await self._handler(descriptor)
        position = _POSITION.get(None)
        if position is None:
            self._walk = None
            self._target.append(descriptor)
            return found
        walker, key = position
        if walker is not self._walk:  # a new walk: its visits go after what is there
            self._walk, self._base, self._keys = walker, len(self._target), []
        at = bisect_right(self._keys, key)
        self._keys.insert(at, key)
        self._target.insert(self._base + at, descriptor)
        return found


def indexes_only(handler: Handler) -> Handler:
    """Expand indexes only: their manifests are visited, as leaves, without being read."""

    async def expanding(descriptor: Descriptor) -> Sequence[Descriptor]:
        if not is_index(descriptor.media_type):
            return ()
        return await handler(descriptor)

    return expanding
