"""The innermost transport: one bounded pool of HTTP/1.1 connections per origin, in constant time.

A pool that re-examines every connection (a socket poll each) whenever a request starts or ends
spends most of a large batch's CPU on that scan (DESIGN.md §10). Here each origin (scheme, host,
port) has its own pool (:mod:`regimage.http.origin`): a stack of idle connections (the most
recently used is taken first), a count of connections, a limit, and a FIFO of waiters. Taking a
connection, giving it back and handing it to the next waiter are O(1), and a request waiting for a
connection costs nothing until one is handed to it.

The connections are regimage's own (:mod:`regimage.http.connection`: anyio streams and h11), not
httpcore's: httpcore costs start-up time, imports trio whenever it is installed, and wraps every
socket read in a cancel scope. :class:`PoolTransport` is the ``httpx.AsyncBaseTransport`` over the
pool; a response's body (:mod:`regimage.http.response_stream`) gives its connection back. Because
the pool opens connections itself it can also open them ahead of need
(:meth:`ConnectionPool.preconnect`), while a batch waits for its tokens.

Each origin's route is decided once, when the pool first meets it: direct, or through the proxy
its :class:`~regimage.http.proxy.ProxySettings` name (:mod:`regimage.http.tunnel`: a ``CONNECT``
tunnel for HTTPS, absolute-form requests for HTTP); and its TLS context, the shared one or the
host's own CAs' (:mod:`regimage.http.trust`). A request that goes direct pays for neither.

Under pytest-httpx, pass ``transport=httpx.AsyncHTTPTransport()`` to the provider: pytest-httpx
mocks that class, not this one.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import anyio
import httpx

from regimage.http.connection import Connect, Connection, connect_tcp, open_connection
from regimage.http.early_connection import EarlyConnections
from regimage.http.extensions import EXCHANGE_TIMEOUT
from regimage.http.origin import (
    DEFAULT_PORTS,
    HostTLS,
    LazyContext,
    Origin,
    OriginKey,
    Waiter,
    origin_key,
)
from regimage.http.proxy import Proxy, ProxySettings
from regimage.http.response_stream import ResponseStream
from regimage.http.tunnel import open_proxied, proxy_refusal

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
_IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
#: What a reused keep-alive connection the server had closed fails with.
_STALE_ERRORS = (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)


@dataclass(slots=True)
class PoolStats:
    """What a pool did: connections opened (``preconnected`` of them ahead of need), reused."""

    opened: int = 0
    preconnected: int = 0
    reused: int = 0
    waited: int = 0
    peak: int = 0
    failed: int = 0


class ConnectionPool:
    """HTTP/1.1 connections, at most ``max_per_origin`` per origin, handed out in O(1).

    ``tls`` makes the TLS context, called once, on the first HTTPS connection (loading CA
    certificates costs milliseconds); ``host_tls`` makes a host's own, where it has CAs of its
    own (:class:`~regimage.http.trust.HostTrust`). ``proxies`` say which origins go through a
    proxy. ``connect`` opens TCP connections (tests pass their own). ``early`` holds connections
    opened before the pool (the command line's start-up thread): the first connection to their
    origin takes one instead of connecting (never for a proxied origin).
    """

    def __init__(
        self,
        tls: Callable[[], ssl.SSLContext],
        *,
        max_per_origin: int = DEFAULT_CONNECTIONS_PER_ORIGIN,
        keepalive_expiry: float = KEEPALIVE_SECONDS,
        connect: Connect = connect_tcp,
        early: EarlyConnections | None = None,
        host_tls: HostTLS | None = None,
        proxies: ProxySettings | None = None,
    ) -> None:
        if max_per_origin < 1:
            raise ValueError(f"max_per_origin must be at least 1, got {max_per_origin}")
        self._ssl_context = LazyContext(tls)
        self._host_tls = host_tls
        self._proxies = proxies if proxies is not None and proxies.active else None
        self.max_per_origin = max_per_origin
        self._keepalive_expiry = keepalive_expiry
        self._connect_tcp = connect
        self._early = early
        self._origins: dict[OriginKey, Origin] = {}
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
        state = self._origins.get(origin_key(httpx.URL(str(url))))
        return 0 if state is None else state.count

    def proxy_for(self, url: str | httpx.URL) -> Proxy | None:
        """The proxy requests to ``url``'s origin go through, or None: they go direct."""
        parsed = httpx.URL(str(url))
        if parsed.raw_scheme not in DEFAULT_PORTS:
            return None
        return self._state(origin_key(parsed)).proxy

    def _state(self, key: OriginKey) -> Origin:
        state = self._origins.get(key)
        if state is None:
            state = self._origins[key] = Origin(key, self.max_per_origin)
            state.route(self._proxies, self._host_tls, self._ssl_context)
        return state

    # ── taking and giving back ──────────────────────────────────────────────────────────────────

    async def _acquire(self, state: Origin, wait_limit: float | None) -> Connection | None:
        """An idle connection, or None: the caller may open a new one (a slot is counted)."""
        connection, dead = state.take_idle()
        if dead:
            await _close_all(dead)
        if connection is not None:
            return connection
        if state.count < state.limit:
            state.count += 1
            self.stats.peak = max(self.stats.peak, state.count)
            return None
        waiter = Waiter()
        state.waiters.append(waiter)
        self.stats.waited += 1
        try:
            if wait_limit is None:
                await waiter.event.wait()
            else:
                with anyio.fail_after(wait_limit):
                    await waiter.event.wait()
        except BaseException as exc:
            waiter.cancelled = True
            if waiter.granted:  # handed something just as we gave up: pass it on
                state.give(waiter.connection)
            if isinstance(exc, TimeoutError):
                raise httpx.PoolTimeout(
                    f"no connection to {state.label} became free in {wait_limit} s"
                ) from None
            raise
        return waiter.connection

    async def release(self, state: Origin, connection: Connection) -> None:
        """Take back a connection whose response was closed: reuse it if it can serve again."""
        if not self._closed and connection.finish():
            state.give(connection)
            return
        await _close_all([connection])
        state.give(None)

    # ── connecting ──────────────────────────────────────────────────────────────────────────────

    async def _connect(
        self, state: Origin, connect_limit: float | None, sni: str | None = None
    ) -> Connection:
        if state.proxy is not None:
            connection = await open_proxied(
                state.proxy,
                state.host,
                state.port,
                origin=state.label,
                tls=state.context,
                proxy_tls=self._ssl_context,
                server_hostname=sni,
                connect_limit=connect_limit,
                keepalive_expiry=self._keepalive_expiry,
                connect=self._connect_tcp,
            )
        else:
            connection = await open_connection(
                state.host,
                state.port,
                origin=state.label,
                tls=state.context,
                server_hostname=sni,
                connect_limit=connect_limit,
                keepalive_expiry=self._keepalive_expiry,
                connect=self._connect_tcp,
                early=self._early,
            )
        self.stats.opened += 1
        return connection

    async def preconnect(
        self, url: str | httpx.URL, count: int, *, connect_limit: float = 30.0
    ) -> int:
        """Open up to ``count`` connections to ``url``'s origin ahead of need (bounded by the
        limit, idle ones counted); returns how many were opened. Failures are left for the
        requests themselves to meet."""
        parsed = httpx.URL(str(url))
        if self._closed or parsed.raw_scheme not in DEFAULT_PORTS:
            return 0
        state = self._state(origin_key(parsed))
        wanted = min(count - len(state.idle), state.limit - state.count)
        if wanted <= 0:
            return 0
        state.count += wanted
        self.stats.peak = max(self.stats.peak, state.count)
        opened = 0

        async def one() -> None:
            nonlocal opened
            try:
                connection = await self._connect(state, connect_limit)
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                logger.debug("preconnect to %s failed: %s", state.label, exc)
                self.stats.failed += 1
                state.give(None)
                return
            except BaseException:
                state.give(None)
                raise
            opened += 1
            self.stats.preconnected += 1
            state.give(connection)

        async with anyio.create_task_group() as group:
            for _ in range(wanted):
                group.start_soon(one)
        return opened

    # ── requests ────────────────────────────────────────────────────────────────────────────────

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` on a pooled connection; the response's body gives it back."""
        url = request.url
        scheme = url.raw_scheme
        if scheme not in DEFAULT_PORTS:
            shown = scheme.decode("ascii", "replace")
            raise httpx.UnsupportedProtocol(f"unsupported URL scheme {shown!r}")
        body = request.stream
        if not isinstance(body, httpx.AsyncByteStream):
            raise TypeError("PoolTransport needs an async request body")
        timeouts: Mapping[str, float | None] = request.extensions.get("timeout", {})
        state = self._state(origin_key(url))
        method = request.method
        retried = False
        while True:
            connection = await self._acquire(state, timeouts.get("pool"))
            reused = connection is not None
            if connection is None:
                if self._closed:  # (a closed pool has no idle connections)
                    state.give(None)
                    raise httpx.ConnectError("the connection pool is closed")
                try:
                    connection = await self._connect(
                        state, timeouts.get("connect"), _sni(request.extensions.get("sni_hostname"))
                    )
                except BaseException:
                    state.give(None)
                    raise
            else:
                self.stats.reused += 1
            target, headers = url.raw_path, request.headers.raw
            if state.forward is not None:  # plain HTTP through a proxy: absolute form
                target, headers = state.forward[0] + target, headers + state.forward[1]
            try:
                head = await connection.send_request(
                    method.encode("ascii"),
                    target,
                    headers,
                    body,
                    timeouts,
                    request.extensions.get(EXCHANGE_TIMEOUT),
                )
            except BaseException as exc:
                await _close_all([connection])
                state.give(None)
                # A kept-alive connection the server had closed meanwhile: once more, fresh.
                if (
                    reused
                    and not retried
                    and method in _IDEMPOTENT
                    and isinstance(exc, _STALE_ERRORS)
                ):
                    retried = True
                    continue
                raise
            if state.forward is not None and head.status_code == 407 and state.proxy is not None:
                await _close_all([connection])
                state.give(None)
                raise proxy_refusal(state.proxy, 407, head.reason, f"{method} {state.label}")
            return httpx.Response(
                status_code=head.status_code,
                headers=head.headers.raw_items(),
                stream=ResponseStream(self.release, state, connection),
                extensions={
                    "http_version": b"HTTP/" + head.http_version,
                    "reason_phrase": head.reason,
                },
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


def _sni(value: object) -> str | None:
    return value if isinstance(value, str) else None


async def _close_all(connections: Iterable[Connection]) -> None:
    for connection in connections:
        await connection.aclose()  # shielded: closes even in a cancelled task


class PoolTransport(httpx.AsyncBaseTransport):
    """An ``httpx.AsyncBaseTransport`` over a :class:`ConnectionPool` (HTTP/1.1)."""

    def __init__(
        self,
        tls: Callable[[], ssl.SSLContext],
        *,
        max_per_origin: int = DEFAULT_CONNECTIONS_PER_ORIGIN,
        keepalive_expiry: float = KEEPALIVE_SECONDS,
        connect: Connect = connect_tcp,
        early: EarlyConnections | None = None,
        host_tls: HostTLS | None = None,
        proxies: ProxySettings | None = None,
    ) -> None:
        self.pool = ConnectionPool(
            tls,
            max_per_origin=max_per_origin,
            keepalive_expiry=keepalive_expiry,
            connect=connect,
            early=early,
            host_tls=host_tls,
            proxies=proxies,
        )

    def __repr__(self) -> str:
        return f"<PoolTransport({self.pool!r})>"

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await self.pool.handle_async_request(request)

    async def aclose(self) -> None:
        await self.pool.aclose()
