"""Asking a reference's sources in turn: mirrors first, the registry last.

A request by tag goes to the sources that may resolve tags, one by digest to those that may serve
content (:meth:`~regimage.registry.mirrors.Route.candidates`). A mirror that fails in any way (no
answer, an error status, content that does not match its digest) hands the request to the next
source; only the last source's failure reaches the caller, so a mirror can make a pull slower but
never wrong, nor fail where the registry itself would answer. A mirror in trouble (no answer, a
5xx or 429 after the retry layer's attempts) is left out for :data:`MIRROR_RETRY_SECONDS` rather
than tried again on every request. A streamed blob can change source only until its first byte: a
mismatch found at its end is raised.

:class:`RoutedFetcher` puts this in front of :class:`~regimage.registry.fetch.Fetcher`: each source
is asked with the reference as that source names it (its host and path, the same tag and
digest). With no mirror configuration every request goes to the reference's own registry, as
before.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from typing import TypeVar

from regimage.content.cache import ContentCache
from regimage.errors import NetworkError, NotFound, RateLimited, RegImageError, RegistryError
from regimage.model.byte_range import ByteRange
from regimage.model.descriptor import Descriptor
from regimage.model.digest import Digest
from regimage.model.reference import Reference
from regimage.registry.fetch import Fetcher, _cache_key
from regimage.registry.mirrors import Mirrors, Route, Source

__all__ = ["MIRROR_RETRY_SECONDS", "RoutedFetcher", "Router"]

logger = logging.getLogger("regimage")

T = TypeVar("T")

#: How long a mirror in trouble (no answer, 5xx, 429) is left out, in seconds.
MIRROR_RETRY_SECONDS = 60.0


def _first_line(exc: BaseException) -> str:
    text = str(exc)
    return text.splitlines()[0] if text else type(exc).__name__


class Router:
    """The sources a provider asks for each reference, in order; ``clock`` is monotonic seconds."""

    def __init__(self, mirrors: Mirrors | None, clock: Callable[[], float]) -> None:
        self._mirrors = mirrors if mirrors else None
        self._clock = clock
        self._down_until: dict[str, float] = {}

    def route(self, ref: Reference) -> Route:
        """``ref``'s route (raises :class:`RegistryBlocked` where the configuration blocks it)."""
        if self._mirrors is None:
            return Route(ref, (Source(ref.api_host, ref.path),))
        return self._mirrors.route(ref)  # a few table lookups: not worth a cache to bound

    def sources(self, ref: Reference, *, by_digest: bool) -> tuple[Source, ...]:
        """The sources to ask, in order, for a request by digest or by tag: mirrors that did not
        answer lately are left out, the last source never is."""
        found = self.route(ref).candidates(by_digest=by_digest)
        if not found:
            raise NotFound(
                f"{ref}: no host of its configuration may "
                + ("serve content by digest" if by_digest else "resolve a tag")
                + " (hosts.toml capabilities)",
                reference=str(ref),
            )
        now = self._clock()
        usable = tuple(s for s in found[:-1] if self._down_until.get(s.host, 0.0) <= now)
        return (*usable, found[-1])

    def failed(self, ref: Reference, what: str, source: Source, exc: RegImageError) -> None:
        """Note that ``source`` could not answer: a mirror in trouble (no answer, 5xx or 429
        after the retries) is left out a while; one that lacks an image or lies is not."""
        in_trouble = isinstance(exc, NetworkError | RateLimited) or (
            isinstance(exc, RegistryError) and (exc.status or 0) >= 500
        )
        if in_trouble:
            self._down_until[source.host] = self._clock() + MIRROR_RETRY_SECONDS
        logger.debug("%s: %s: mirror %s failed: %s", ref, what, source.host, _first_line(exc))

    def answered(self, ref: Reference, what: str, source: Source) -> None:
        """Say which host answered, when it may not have been the reference's own registry."""
        if self._mirrors is not None and self.route(ref).rerouted:
            kind = f"mirror, {source.origin}" if source.mirror else "the registry"
            logger.debug("%s: %s answered by %s (%s)", ref, what, source.host, kind)

    async def first(
        self,
        ref: Reference,
        *,
        by_digest: bool,
        what: str,
        attempt: Callable[[Source], Awaitable[T]],
    ) -> T:
        """What ``attempt`` gives for the first source that answers (``what`` names the request in
        the log); the last source's failure is raised as it is."""
        sources = self.sources(ref, by_digest=by_digest)
        for source in sources[:-1]:
            try:
                result = await attempt(source)
            except RegImageError as exc:
                self.failed(ref, what, source, exc)
                continue
            self.answered(ref, what, source)
            return result
        result = await attempt(sources[-1])
        self.answered(ref, what, sources[-1])
        return result


class RoutedFetcher:
    """:class:`Fetcher`'s reads, each from the first of the reference's sources that answers."""

    def __init__(self, fetcher: Fetcher, router: Router, cache: ContentCache) -> None:
        self._fetcher = fetcher
        self._router = router
        self._cache = cache

    def _kept(self, ref: Reference, digest: Digest, size: int) -> Source | None:
        """A source whose copy of ``digest`` the cache holds (verified when it was read): a
        pull-only mirror need not send again what the registry sent when it resolved the tag."""
        sources = self._router.route(ref).sources
        if len(sources) == 1:
            return None  # the fetcher looks there itself
        for source in sources:
            cached = self._cache.get(_cache_key(source.reference(ref), digest))
            if cached is not None and len(cached) == size:
                return source
        return None

    async def resolve(self, ref: Reference, *, head: bool = False) -> Descriptor:
        """See ``RegistryProvider.resolve``."""
        return await self._router.first(
            ref,
            by_digest=ref.digest is not None,
            what=f"manifest {ref.identifier}",
            attempt=lambda s: self._fetcher.resolve(s.reference(ref), head=head),
        )

    async def fetch_manifest(self, ref: Reference, descriptor: Descriptor) -> bytes:
        """See ``RegistryProvider.fetch_manifest``."""
        kept = self._kept(ref, descriptor.digest, descriptor.size)
        if kept is not None:
            return await self._fetcher.fetch_manifest(kept.reference(ref), descriptor)
        return await self._router.first(
            ref,
            by_digest=True,
            what=f"manifest {descriptor.digest}",
            attempt=lambda s: self._fetcher.fetch_manifest(s.reference(ref), descriptor),
        )

    async def fetch_blob(self, ref: Reference, descriptor: Descriptor) -> bytes:
        """See ``RegistryProvider.fetch_blob``."""
        kept = self._kept(ref, descriptor.digest, descriptor.size)
        if kept is not None:
            return await self._fetcher.fetch_blob(kept.reference(ref), descriptor)
        return await self._router.first(
            ref,
            by_digest=True,
            what=f"blob {descriptor.digest}",
            attempt=lambda s: self._fetcher.fetch_blob(s.reference(ref), descriptor),
        )

    async def head_blob(self, ref: Reference, wanted: Digest) -> Descriptor:
        """See ``RegistryProvider.head_blob``."""
        return await self._router.first(
            ref,
            by_digest=True,
            what=f"blob {wanted}",
            attempt=lambda s: self._fetcher.head_blob(s.reference(ref), wanted),
        )

    async def read_blob_range(
        self, ref: Reference, descriptor: Descriptor, byte_range: ByteRange, *, limit: int
    ) -> bytes | None:
        """See ``RegistryProvider.read_blob_range``."""
        return await self._router.first(
            ref,
            by_digest=True,
            what=f"blob {descriptor.digest} ({byte_range})",
            attempt=lambda s: self._fetcher.read_blob_range(
                s.reference(ref), descriptor, byte_range, limit=limit
            ),
        )

    @asynccontextmanager
    async def stream_blob(
        self, ref: Reference, descriptor: Descriptor
    ) -> AsyncIterator[AsyncIterator[bytes]]:
        """See ``RegistryProvider.stream_blob``: the source may change until the answer starts."""
        what = f"blob {descriptor.digest}"
        sources = self._router.sources(ref, by_digest=True)
        async with AsyncExitStack() as stack:
            for index, source in enumerate(sources):
                opened = self._fetcher.stream_blob(source.reference(ref), descriptor)
                if index == len(sources) - 1:
                    chunks = await stack.enter_async_context(opened)
                    break
                try:
                    chunks = await stack.enter_async_context(opened)
                except RegImageError as exc:
                    self._router.failed(ref, what, source, exc)
                    continue
                break
            self._router.answered(ref, what, source)
            yield chunks
