"""A pooled response's body: read off its connection, which goes back to the pool at its end.

An iterator object rather than an async generator: nothing to finalise, and no cancel scope can be
left open across a ``yield``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import httpx

from regimage.http.connection import Connection
from regimage.http.origin import Origin

__all__ = ["Release", "ResponseStream"]

#: How a connection whose response was closed goes back to its pool (``ConnectionPool.release``).
Release = Callable[[Origin, Connection], Awaitable[None]]


class ResponseStream(httpx.AsyncByteStream):
    """A response body read off its connection; the connection goes back to the pool at the
    end of the body or when the response is closed, whichever comes first."""

    __slots__ = ("_connection", "_done", "_release", "_state")

    def __init__(self, release: Release, state: Origin, connection: Connection) -> None:
        self._release = release
        self._state = state
        self._connection = connection
        self._done = False

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self

    async def __anext__(self) -> bytes:
        if self._done:
            raise StopAsyncIteration
        try:
            chunk = await self._connection.receive_body()
        except BaseException:
            await self.aclose()
            raise
        if chunk is None:
            await self.aclose()
            raise StopAsyncIteration
        return chunk

    async def aclose(self) -> None:
        if not self._done:
            self._done = True
            await self._release(self._state, self._connection)
