"""The response stream the transport layers share: one wrapper however many layers watch a body.

The logging layer counts a body's bytes and bounds an error body; the per-host limit gives its
slot back when the body is closed. Both hook the same :class:`WatchedStream` rather than wrapping
the stream once each.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import httpx

from regimage.http.bounded import body_too_large

__all__ = ["WatchedStream", "watch"]


class WatchedStream(httpx.AsyncByteStream):
    """Counts the bytes of a response body, bounds error bodies, and runs callbacks on close."""

    def __init__(self, inner: httpx.AsyncByteStream, url: httpx.URL, limit: int | None) -> None:
        self._inner = inner
        self._url = url
        self._limit = limit
        self.received = 0
        self.on_close: list[Callable[[WatchedStream], None]] = []
        self._closed = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._inner:
            self.received += len(chunk)
            if self._limit is not None and self.received > self._limit:
                raise body_too_large(self._url, self._limit, "error body")
            yield chunk

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            await self._inner.aclose()
        finally:
            for callback in self.on_close:
                callback(self)


def watch(response: httpx.Response, url: httpx.URL, limit: int | None) -> WatchedStream:
    """The response's watched stream, wrapping it once however many layers ask."""
    stream = response.stream
    if isinstance(stream, WatchedStream):
        return stream
    if not isinstance(stream, httpx.AsyncByteStream):
        raise TypeError("regimage's transports need an async response stream")
    watched = WatchedStream(stream, url, limit)
    response.stream = watched
    return watched
