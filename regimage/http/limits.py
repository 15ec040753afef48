"""The per-host concurrency layer, for an inner transport that does not bound its connections.

regimage's own pool bounds connections per origin itself; httpx's transport (which pytest-httpx
mocks) gets this layer in front.
"""

from __future__ import annotations

import anyio
import httpx

from regimage.http.watched_stream import watch

__all__ = ["HostLimitTransport"]


class HostLimitTransport(httpx.AsyncBaseTransport):
    """At most ``per_host`` requests in flight per origin; a slot is held until the body is closed.

    Put in front of a transport other than regimage's own pool (httpx's, which pytest-httpx
    mocks): with a connection pool at least as large, httpcore never queues a request, and its
    queue is what costs CPU in large batches (DESIGN.md §10).
    """

    def __init__(self, inner: httpx.AsyncBaseTransport, *, per_host: int) -> None:
        if per_host < 1:
            raise ValueError(f"per_host must be at least 1, got {per_host}")
        self._inner = inner
        self._per_host = per_host
        self._limiters: dict[tuple[bytes, bytes, int | None], anyio.CapacityLimiter] = {}

    def _limiter(self, url: httpx.URL) -> anyio.CapacityLimiter:
        key = (url.raw_scheme, url.raw_host, url.port)
        limiter = self._limiters.get(key)
        if limiter is None:
            limiter = self._limiters[key] = anyio.CapacityLimiter(self._per_host)
        return limiter

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        limiter = self._limiter(request.url)
        borrower = object()
        await limiter.acquire_on_behalf_of(borrower)
        try:
            response = await self._inner.handle_async_request(request)
        except BaseException:
            limiter.release_on_behalf_of(borrower)
            raise
        watched = watch(response, request.url, None)
        watched.on_close.append(lambda _stream: limiter.release_on_behalf_of(borrower))
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()
