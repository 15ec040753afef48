"""The innermost transport: one bounded pool of HTTP/1.1 connections per origin, in constant time.

httpcore's ``AsyncConnectionPool`` re-examines every connection (a socket poll each) whenever a
request starts or ends: with hundreds of requests in a batch that scan is most of the CPU
(DESIGN.md §10). Here each origin (scheme, host, port) has its own pool: a stack of idle
connections (the most recently used is taken first), a count of connections, a limit, and a FIFO
of waiters. Taking a connection, giving it back and handing it to the next waiter are O(1), and a
request waiting for a connection costs nothing until one is handed to it.

Only httpcore's public API is used: :class:`httpcore.AnyIOBackend` opens the sockets (and starts
TLS), :class:`httpcore.AsyncHTTP11Connection` speaks HTTP/1.1 on them. :class:`PoolTransport` is
the ``httpx.AsyncBaseTransport`` over it: it translates requests, responses and exceptions as
httpx's own transport does. Because the pool opens connections itself it can also open them ahead
of need (:meth:`ConnectionPool.preconnect`), while a batch waits for its tokens.

Under pytest-httpx, pass ``transport=httpx.AsyncHTTPTransport()`` to the provider: pytest-httpx
mocks that class, not this one.
"""

from __future__ import annotations

import contextlib
import logging
import ssl
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass

import anyio
import httpcore
import httpx

logger = logging.getLogger("regimage")

__all__ = [
    "DEFAULT_CONNECTIONS_PER_ORIGIN",
    "KEEPALIVE_SECONDS",
    "ConnectionPool",
    "PoolTransport",
]

#: Connections kept per origin at most (requests beyond it wait for one).
DEFAULT_CONNECTIONS_PER_ORIGIN = 64
#: How long an idle connection is kept for reuse.
KEEPALIVE_SECONDS = 5.0
#: Methods that may be sent again on a fresh connection when a reused one turned out dead.
_IDEMPOTENT = frozenset({b"GET", b"HEAD", b"OPTIONS", b"PUT", b"DELETE"})
#: What a reused keep-alive connection the server had closed fails with.
_STALE_ERRORS = (httpcore.RemoteProtocolError, httpcore.ReadError, httpcore.WriteError)

#: httpcore's Origin is not hashable: pools are keyed by (scheme, host, port).
_OriginKey = tuple[bytes, bytes, int]


@dataclass(slots=True)
class PoolStats:
    """What a pool did: connections opened (``preconnected`` of them ahead of need), reused."""

    opened: int = 0
    preconnected: int = 0
    reused: int = 0
    waited: int = 0
    peak: int = 0
    failed: int = 0


class _Waiter:
    """A request waiting for a connection: handed one (or leave to open one) by a release."""

    __slots__ = ("cancelled", "connection", "event", "granted")

    def __init__(self) -> None:
        self.event = anyio.Event()
        self.granted = False
        self.cancelled = False
        self.connection: httpcore.AsyncHTTP11Connection | None = None


class _Origin:
    """The connections of one origin: idle ones (a stack), how many exist, who waits."""

    __slots__ = ("count", "idle", "limit", "origin", "waiters")

    def __init__(self, origin: httpcore.Origin, limit: int) -> None:
        self.origin = origin
        self.limit = limit
        self.idle: list[httpcore.AsyncHTTP11Connection] = []
        self.count = 0  # open or being opened, idle or busy
        self.waiters: deque[_Waiter] = deque()

    def next_waiter(self) -> _Waiter | None:
        while self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.cancelled:
                return waiter
        return None


class ConnectionPool:
    """HTTP/1.1 connections, at most ``max_per_origin`` per origin, handed out in O(1).

    ``tls`` makes the TLS context, called once, on the first HTTPS connection. ``backend`` is the
    httpcore network backend (tests pass a mock one).
    """

    def __init__(
        self,
        tls: Callable[[], ssl.SSLContext],
        *,
        max_per_origin: int = DEFAULT_CONNECTIONS_PER_ORIGIN,
        keepalive_expiry: float = KEEPALIVE_SECONDS,
        backend: httpcore.AsyncNetworkBackend | None = None,
    ) -> None:
        if max_per_origin < 1:
            raise ValueError(f"max_per_origin must be at least 1, got {max_per_origin}")
        self._tls_factory = tls
        self._tls: ssl.SSLContext | None = None
        self.max_per_origin = max_per_origin
        self._keepalive_expiry = keepalive_expiry
        self._backend = backend if backend is not None else httpcore.AnyIOBackend()
        self._origins: dict[_OriginKey, _Origin] = {}
        self._closed = False
        self.stats = PoolStats()

    def __repr__(self) -> str:
        idle = sum(len(o.idle) for o in self._origins.values())
        total = sum(o.count for o in self._origins.values())
        return f"<ConnectionPool(busy={total - idle}, idle={idle})>"

    def connections(self, url: str | httpx.URL | None = None) -> int:
        """Connections open (or being opened) to ``url``'s origin, or to every origin."""
        if url is None:
            return sum(o.count for o in self._origins.values())
        parsed = httpx.URL(str(url))
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
        state = self._origins.get((parsed.raw_scheme, parsed.raw_host, port))
        return 0 if state is None else state.count

    def _state(self, origin: httpcore.Origin) -> _Origin:
        key = (origin.scheme, origin.host, origin.port)
        state = self._origins.get(key)
        if state is None:
            state = self._origins[key] = _Origin(origin, self.max_per_origin)
        return state

    # ── taking and giving back ──────────────────────────────────────────────────────────────────

    def _take_idle(
        self, state: _Origin
    ) -> tuple[httpcore.AsyncHTTP11Connection | None, list[httpcore.AsyncHTTP11Connection]]:
        """The most recently used idle connection still usable, and the dead ones found."""
        dead: list[httpcore.AsyncHTTP11Connection] = []
        while state.idle:
            connection = state.idle.pop()
            if _usable(connection):
                return connection, dead
            dead.append(connection)
            state.count -= 1
        return None, dead

    async def _acquire(
        self, state: _Origin, wait_limit: float | None
    ) -> httpcore.AsyncHTTP11Connection | None:
        """An idle connection, or None: the caller may open a new one (a slot is counted)."""
        connection, dead = self._take_idle(state)
        if dead:
            await _close_all(dead)
        if connection is not None:
            return connection
        if state.count < state.limit:
            state.count += 1
            self.stats.peak = max(self.stats.peak, state.count)
            return None
        waiter = _Waiter()
        state.waiters.append(waiter)
        self.stats.waited += 1
        try:
            with anyio.fail_after(wait_limit):
                await waiter.event.wait()
        except BaseException as exc:
            waiter.cancelled = True
            if waiter.granted:  # handed something just as we gave up: pass it on
                await self._give(state, waiter.connection)
            if isinstance(exc, TimeoutError):
                raise httpcore.PoolTimeout(
                    f"no connection to {_show(state.origin)} became free in {wait_limit} s"
                ) from None
            raise
        return waiter.connection

    async def _give(
        self, state: _Origin, connection: httpcore.AsyncHTTP11Connection | None
    ) -> None:
        """Pass a usable connection (or, with None, the right to open one) to the next waiter;
        with nobody waiting, keep the connection idle (or give the slot up)."""
        waiter = state.next_waiter()
        if waiter is not None:
            waiter.granted = True
            waiter.connection = connection
            waiter.event.set()
            return
        if connection is None:
            state.count -= 1
        else:
            state.idle.append(connection)

    async def release(self, state: _Origin, connection: httpcore.AsyncHTTP11Connection) -> None:
        """Take back a connection whose response was closed: reuse it if it can serve again."""
        if not self._closed and connection.is_idle():
            await self._give(state, connection)
            return
        await _close_all([connection])
        await self._give(state, None)

    # ── connecting ──────────────────────────────────────────────────────────────────────────────

    def _ssl_context(self) -> ssl.SSLContext:
        if self._tls is None:
            context = self._tls_factory()
            context.set_alpn_protocols(["http/1.1"])
            self._tls = context
        return self._tls

    async def _connect(
        self, origin: httpcore.Origin, connect_limit: float | None, sni: str | None = None
    ) -> httpcore.AsyncHTTP11Connection:
        host = origin.host.decode("ascii")
        stream = await self._backend.connect_tcp(host, origin.port, timeout=connect_limit)
        try:
            if origin.scheme == b"https":
                stream = await stream.start_tls(
                    self._ssl_context(), server_hostname=sni or host, timeout=connect_limit
                )
        except BaseException:
            with anyio.CancelScope(shield=True):
                await stream.aclose()
            raise
        self.stats.opened += 1
        return httpcore.AsyncHTTP11Connection(
            origin=origin, stream=stream, keepalive_expiry=self._keepalive_expiry
        )

    async def preconnect(
        self, url: str | httpx.URL, count: int, *, connect_limit: float = 30.0
    ) -> int:
        """Open up to ``count`` connections to ``url``'s origin ahead of need (bounded by the
        limit, idle ones counted); returns how many were opened. Failures are left for the
        requests themselves to meet."""
        parsed = httpx.URL(str(url))
        if self._closed or parsed.scheme not in ("http", "https"):
            return 0
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
        state = self._state(httpcore.Origin(parsed.raw_scheme, parsed.raw_host, port))
        wanted = min(count - len(state.idle), state.limit - state.count)
        if wanted <= 0:
            return 0
        state.count += wanted
        self.stats.peak = max(self.stats.peak, state.count)
        opened = 0

        async def one() -> None:
            nonlocal opened
            try:
                connection = await self._connect(state.origin, connect_limit)
            except (httpcore.ConnectError, httpcore.ConnectTimeout, OSError) as exc:
                logger.debug("preconnect to %s failed: %s", _show(state.origin), exc)
                self.stats.failed += 1
                await self._give(state, None)
                return
            opened += 1
            self.stats.preconnected += 1
            await self._give(state, connection)

        async with anyio.create_task_group() as group:
            for _ in range(wanted):
                group.start_soon(one)
        return opened

    # ── requests ────────────────────────────────────────────────────────────────────────────────

    async def handle_async_request(self, request: httpcore.Request) -> httpcore.Response:
        scheme = request.url.scheme
        if scheme not in (b"http", b"https"):
            shown = scheme.decode("ascii", "replace")
            raise httpcore.UnsupportedProtocol(f"unsupported URL scheme {shown!r}")
        if self._closed:
            raise httpcore.ConnectError("the connection pool is closed")
        timeouts: Mapping[str, float | None] = request.extensions.get("timeout", {})
        state = self._state(request.url.origin)
        retried = False
        while True:
            connection = await self._acquire(state, timeouts.get("pool"))
            reused = connection is not None
            if connection is None:
                try:
                    connection = await self._connect(
                        state.origin,
                        timeouts.get("connect"),
                        _sni(request.extensions.get("sni_hostname")),
                    )
                except BaseException:
                    await self._give(state, None)
                    raise
            else:
                self.stats.reused += 1
            try:
                response = await connection.handle_async_request(request)
            except BaseException as exc:
                await _close_all([connection])
                await self._give(state, None)
                # A kept-alive connection the server had closed meanwhile: once more, fresh.
                if (
                    reused
                    and not retried
                    and request.method in _IDEMPOTENT
                    and isinstance(exc, (httpcore.ConnectionNotAvailable, *_STALE_ERRORS))
                ):
                    retried = True
                    continue
                raise
            return httpcore.Response(
                status=response.status,
                headers=response.headers,
                content=_PooledStream(response.stream, self, state, connection),
                extensions=response.extensions,
            )

    async def __aenter__(self) -> ConnectionPool:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close every idle connection; busy ones close when their response is closed."""
        self._closed = True
        idle = [c for state in self._origins.values() for c in state.idle]
        for state in self._origins.values():
            state.count -= len(state.idle)
            state.idle.clear()
        await _close_all(idle)


def _usable(connection: httpcore.AsyncHTTP11Connection) -> bool:
    """Whether an idle (or pre-opened, never used) connection can take a request now."""
    if connection.is_closed():
        return False
    return not connection.has_expired()


def _sni(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _show(origin: httpcore.Origin) -> str:
    return f"{origin.scheme.decode()}://{origin.host.decode()}:{origin.port}"


async def _close_all(connections: Iterable[httpcore.AsyncHTTP11Connection]) -> None:
    with anyio.CancelScope(shield=True):
        for connection in connections:
            with contextlib.suppress(OSError, httpcore.NetworkError, anyio.BrokenResourceError):
                await connection.aclose()


class _PooledStream:
    """A response body that gives its connection back to the pool when closed."""

    __slots__ = ("_closed", "_connection", "_pool", "_state", "_stream")

    def __init__(
        self,
        stream: object,
        pool: ConnectionPool,
        state: _Origin,
        connection: httpcore.AsyncHTTP11Connection,
    ) -> None:
        self._stream = stream
        self._pool = pool
        self._state = state
        self._connection = connection
        self._closed = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        stream = self._stream
        if not hasattr(stream, "__aiter__"):  # pragma: no cover - httpcore streams are async
            raise TypeError("an async connection answered with a sync stream")
        try:
            async for part in stream:
                yield part
        except BaseException:
            await self.aclose()
            raise

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        with anyio.CancelScope(shield=True):
            closer = getattr(self._stream, "aclose", None)
            try:
                if closer is not None:
                    await closer()
            finally:
                await self._pool.release(self._state, self._connection)


# ── the httpx transport ────────────────────────────────────────────────────────────────────────────

#: httpcore exception → httpx exception; the most specific match wins (as in httpx's transport).
_EXCEPTIONS: tuple[tuple[type[Exception], type[httpx.TransportError]], ...] = (
    (httpcore.ConnectTimeout, httpx.ConnectTimeout),
    (httpcore.ReadTimeout, httpx.ReadTimeout),
    (httpcore.WriteTimeout, httpx.WriteTimeout),
    (httpcore.PoolTimeout, httpx.PoolTimeout),
    (httpcore.TimeoutException, httpx.TimeoutException),
    (httpcore.ConnectError, httpx.ConnectError),
    (httpcore.ReadError, httpx.ReadError),
    (httpcore.WriteError, httpx.WriteError),
    (httpcore.NetworkError, httpx.NetworkError),
    (httpcore.ProxyError, httpx.ProxyError),
    (httpcore.UnsupportedProtocol, httpx.UnsupportedProtocol),
    (httpcore.LocalProtocolError, httpx.LocalProtocolError),
    (httpcore.RemoteProtocolError, httpx.RemoteProtocolError),
    (httpcore.ProtocolError, httpx.ProtocolError),
)


def _mapped(exc: Exception) -> httpx.TransportError | None:
    for source, target in _EXCEPTIONS:
        if isinstance(exc, source):
            return target(str(exc))
    return None


class _ResponseStream(httpx.AsyncByteStream):
    __slots__ = ("_stream",)

    def __init__(self, stream: _PooledStream) -> None:
        self._stream = stream

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for part in self._stream:
                yield part
        except Exception as exc:
            mapped = _mapped(exc)
            if mapped is None:
                raise
            raise mapped from exc

    async def aclose(self) -> None:
        await self._stream.aclose()


class PoolTransport(httpx.AsyncBaseTransport):
    """An ``httpx.AsyncBaseTransport`` over a :class:`ConnectionPool` (HTTP/1.1, no proxies)."""

    def __init__(
        self,
        tls: Callable[[], ssl.SSLContext],
        *,
        max_per_origin: int = DEFAULT_CONNECTIONS_PER_ORIGIN,
        keepalive_expiry: float = KEEPALIVE_SECONDS,
        backend: httpcore.AsyncNetworkBackend | None = None,
    ) -> None:
        self.pool = ConnectionPool(
            tls, max_per_origin=max_per_origin, keepalive_expiry=keepalive_expiry, backend=backend
        )

    def __repr__(self) -> str:
        return f"<PoolTransport({self.pool!r})>"

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        stream = request.stream
        if not isinstance(stream, httpx.AsyncByteStream):
            raise TypeError("PoolTransport needs an async request body")
        core = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=url.raw_scheme, host=url.raw_host, port=url.port, target=url.raw_path
            ),
            headers=request.headers.raw,
            content=stream,
            extensions=request.extensions,
        )
        try:
            response = await self.pool.handle_async_request(core)
        except Exception as exc:
            mapped = _mapped(exc)
            if mapped is None:
                raise
            raise mapped from exc
        content = response.stream
        if not isinstance(content, _PooledStream):  # pragma: no cover - the pool wraps every body
            raise TypeError("the pool answered with a foreign stream")
        return httpx.Response(
            status_code=response.status,
            headers=response.headers,
            stream=_ResponseStream(content),
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        await self.pool.aclose()
