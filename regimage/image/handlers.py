"""Handlers for the walker: the one that reads the graph, and the wrappers that prune what it finds.

This is containerd's ``images/handlers.go`` in Python. :func:`children` reads indexes and
manifests and returns what they point at; the wrappers (:func:`skip_attestations`,
:func:`filter_platforms`, :func:`limit_manifests`, :func:`indexes_only`, :func:`collect_into`)
each take a :class:`~regimage.image.walk.Handler` and return one::

    handler = limit_manifests(filter_platforms(skip_attestations(children(provider)), m), m, 1)
    visits = await walk(handler, image.target)

:func:`children` never fetches a layer or a config: only index and manifest documents are read, and
each at most once per :class:`~regimage.image.document_cache.DocumentCache` (one per walk unless
the caller shares one).
"""

from __future__ import annotations

import functools
from bisect import bisect_right
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace

from regimage._concurrency import gather_in_order
from regimage.content.provider import Provider
from regimage.errors import UnsupportedMediaType
from regimage.image.document_cache import DocumentCache
from regimage.image.walk import DEFAULT_CONCURRENCY, Handler, walk_position
from regimage.model.descriptor import Descriptor
from regimage.model.image_config import ImageConfig
from regimage.model.manifest import Document, Index, Manifest, parse_document
from regimage.model.mediatypes import (
    ATTESTATION_REFERENCE_TYPE,
    ATTESTATION_REFERENCE_TYPE_VALUE,
    is_config,
    is_index,
    is_layer,
    is_manifest,
)
from regimage.model.platform import Platform
from regimage.model.platform_match import PlatformMatcher

__all__ = [
    "ChildrenHandler",
    "PlatformResolver",
    "children",
    "collect_into",
    "filter_platforms",
    "indexes_only",
    "is_attestation_entry",
    "limit_manifests",
    "skip_attestations",
]

#: Reads the platform of a manifest that its index entry does not declare (None: not an image).
PlatformResolver = Callable[[Descriptor], Awaitable[Platform | None]]


class ChildrenHandler:
    """Fetches and parses indexes and manifests and returns what they point at.

    index → its manifests; manifest → its config then its layers; anything else → nothing, without
    reading it. Layers are returned as descriptors (so sizes can be summed) but never fetched.
    """

    def __init__(self, provider: Provider, cache: DocumentCache | None = None):
        self.provider = provider
        self.cache = cache if cache is not None else DocumentCache()

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


def children(provider: Provider, *, cache: DocumentCache | None = None) -> ChildrenHandler:
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
        position = walk_position()
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
