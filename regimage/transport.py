"""httpx transport layers: retries, a per-host concurrency limit, and request logging.

Each layer is an ``httpx.AsyncBaseTransport`` wrapping the next, as go-containerregistry stacks
its round trippers; :func:`build_transport` puts them in order::

    RetryTransport → HostLimitTransport → LoggingTransport → inner (httpx.AsyncHTTPTransport)

The retry layer is outermost so that the host's capacity is given back while it sleeps; logging is
innermost so that every attempt is one log line and one count in :class:`RequestStats`.
"""

from __future__ import annotations

import logging
import random
import ssl
import time
from collections import Counter
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field

import anyio
import httpcore
import httpx

import regimage._http as _http

__all__ = [
    "RETRY_STATUSES",
    "HostLimitTransport",
    "LoggingTransport",
    "OriginPool",
    "PoolTransport",
    "RequestStats",
    "RetryPolicy",
    "RetryTransport",
    "build_transport",
]

logger = logging.getLogger("regimage")

#: Answers worth another attempt: timeout, rate limit, and the gateway family of 5xx.
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
#: How long an idle connection is kept for reuse.
KEEPALIVE_SECONDS = 5.0
#: Methods that may be re-sent after the connection broke mid-request.
_IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})

Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """When and how long to wait before trying a request again.

    ``attempts`` counts the first try (4 = up to 3 retries). The n-th retry waits
    ``min(max_delay, base * factor**(n-1))``, scaled by a random factor in ``[1-jitter, 1+jitter]``.
    A ``Retry-After`` answer is honoured when it asks for at most ``retry_after_cap`` seconds;
    asking for longer ends the retries at once (waiting a minute to be told to wait an hour helps
    nobody) and the caller gets the answer. ``sleep`` is injectable so tests never sleep.
    """

    attempts: int = 4
    base: float = 0.5
    factor: float = 2.0
    max_delay: float = 8.0
    jitter: float = 0.2
    retry_after_cap: float = 60.0
    statuses: frozenset[int] = RETRY_STATUSES
    sleep: Sleep = field(default=anyio.sleep, compare=False, repr=False)

    def backoff(self, retry: int, rand: float = 0.5) -> float:
        """Seconds to wait before retry number ``retry`` (1-based); ``rand`` is uniform in [0, 1)."""
        delay = min(self.max_delay, self.base * self.factor ** max(0, retry - 1))
        return max(0.0, delay * (1.0 + self.jitter * (2.0 * rand - 1.0)))


class RequestStats:
    """Requests answered, by operation (``manifest``, ``manifest-head``, ``blob``, ``token``…)."""

    __slots__ = ("_counts",)

    def __init__(self) -> None:
        self._counts: Counter[str] = Counter()

    def add(self, operation: str) -> None:
        self._counts[operation] += 1

    def __getitem__(self, operation: str) -> int:
        return self._counts.get(operation, 0)

    @property
    def total(self) -> int:
        """Every request answered, all operations together."""
        return sum(self._counts.values())

    def as_dict(self) -> dict[str, int]:
        """Counts by operation, sorted by name."""
        return dict(sorted(self._counts.items()))

    def reset(self) -> None:
        self._counts.clear()

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={v}" for k, v in self.as_dict().items())
        return f"<RequestStats(total={self.total}{', ' if inner else ''}{inner})>"


# ── the stream wrapper shared by the layers ────────────────────────────────────────────────────────


class _WatchedStream(httpx.AsyncByteStream):
    """Counts the bytes of a response body, bounds error bodies, and runs callbacks on close."""

    def __init__(self, inner: httpx.AsyncByteStream, url: httpx.URL, limit: int | None) -> None:
        self._inner = inner
        self._url = url
        self._limit = limit
        self.received = 0
        self.on_close: list[Callable[[_WatchedStream], None]] = []
        self._closed = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._inner:
            self.received += len(chunk)
            if self._limit is not None and self.received > self._limit:
                raise _http.body_too_large(self._url, self._limit, "error body")
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


def _watch(response: httpx.Response, url: httpx.URL, limit: int | None) -> _WatchedStream:
    """The response's watched stream, wrapping it once however many layers ask."""
    stream = response.stream
    if isinstance(stream, _WatchedStream):
        return stream
    if not isinstance(stream, httpx.AsyncByteStream):
        raise TypeError("regimage's transports need an async response stream")
    watched = _WatchedStream(stream, url, limit)
    response.stream = watched
    return watched


# ── logging and counting ───────────────────────────────────────────────────────────────────────────


def _classify(request: httpx.Request) -> str:
    """The operation of a request that did not name one, from its URL."""
    path = request.url.path
    head = request.method == "HEAD"
    if path in ("/v2/", "/v2"):
        return "ping"
    if "/manifests/" in path:
        return "manifest-head" if head else "manifest"
    if "/blobs/" in path:
        return "blob-head" if head else "blob"
    if path.endswith("/tags/list"):
        return "tags"
    if path.endswith("/_catalog"):
        return "catalog"
    if "/referrers/" in path:
        return "referrers"
    return "other"


class LoggingTransport(httpx.AsyncBaseTransport):
    """One DEBUG line per request (method, URL with secrets masked, status, bytes, ms) and a count.

    ``Warning: 299`` headers are logged once each at WARNING. Error bodies (status >= 300) are
    bounded here at ``max_error_body`` bytes, so that no layer above (httpx reads redirect and 401
    bodies itself) can be made to read an endless body.
    """

    def __init__(
        self,
        inner: httpx.AsyncBaseTransport,
        *,
        stats: RequestStats | None = None,
        max_error_body: int = _http.MAX_ERROR_BODY_BYTES,
    ) -> None:
        self._inner = inner
        self.stats = stats if stats is not None else RequestStats()
        self._max_error_body = max_error_body
        self._warned: set[str] = set()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        started = time.perf_counter()
        try:
            response = await self._inner.handle_async_request(request)
        except Exception as exc:
            if logger.isEnabledFor(logging.DEBUG):
                logger.debug(
                    "%s %s failed after %.1f ms: %s",
                    request.method,
                    _http.redact_url(request.url),
                    (time.perf_counter() - started) * 1000,
                    type(exc).__name__,
                )
            raise
        operation = request.extensions.get(_http.OPERATION)
        self.stats.add(operation if isinstance(operation, str) else _classify(request))
        self._warn_once(request, response)
        limit = self._max_error_body if response.status_code >= 300 else None
        watched = _watch(response, request.url, limit)
        if logger.isEnabledFor(logging.DEBUG):
            method, url, status = request.method, request.url, response.status_code

            def log(stream: _WatchedStream) -> None:
                logger.debug(
                    "%s %s %d %d B %.1f ms",
                    method,
                    _http.redact_url(url),
                    status,
                    stream.received,
                    (time.perf_counter() - started) * 1000,
                )

            watched.on_close.append(log)
        return response

    def _warn_once(self, request: httpx.Request, response: httpx.Response) -> None:
        for value in response.headers.get_list("warning"):
            text = value.strip()
            if not text.startswith("299") or text in self._warned:
                continue
            self._warned.add(text)
            logger.warning("registry warning from %s: %s", request.url.host, text[:500])

    async def aclose(self) -> None:
        await self._inner.aclose()


# ── per-host concurrency ───────────────────────────────────────────────────────────────────────────


class HostLimitTransport(httpx.AsyncBaseTransport):
    """At most ``per_host`` requests in flight per origin; a slot is held until the body is closed.

    With a connection pool at least as large, httpcore never queues a request: its queue is what
    costs CPU in large batches (DESIGN.md §10).
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
        watched = _watch(response, request.url, None)
        watched.on_close.append(lambda _stream: limiter.release_on_behalf_of(borrower))
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()


# ── retries ────────────────────────────────────────────────────────────────────────────────────────


def _retryable_error(request: httpx.Request, exc: httpx.TransportError) -> bool:
    if _http.is_tls_protocol_error(exc) or "CERTIFICATE" in str(exc).upper():
        return False  # a TLS failure does not heal by itself
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
        return True  # nothing was sent
    return request.method in _IDEMPOTENT and isinstance(
        exc, httpx.ReadError | httpx.RemoteProtocolError
    )


class RetryTransport(httpx.AsyncBaseTransport):
    """Re-sends a request on 408/429/5xx answers and broken connections, with jittered backoff.

    ``Retry-After`` (seconds or an HTTP date) replaces the backoff when it is within the policy's
    cap. The last answer (or error) is what the caller gets; its ``regimage.attempts`` extension
    says how many tries it took.
    """

    def __init__(
        self,
        inner: httpx.AsyncBaseTransport,
        policy: RetryPolicy | None = None,
        *,
        rand: Callable[[], float] = random.random,
        now: Callable[[], float] = time.time,
    ) -> None:
        self._inner = inner
        self.policy = policy if policy is not None else RetryPolicy()
        self._rand = rand
        self._now = now

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        policy = self.policy
        attempt = 1
        while True:
            try:
                response = await self._inner.handle_async_request(request)
            except httpx.TransportError as exc:
                if attempt >= policy.attempts or not _retryable_error(request, exc):
                    raise
                delay = policy.backoff(attempt, self._rand())
                logger.debug(
                    "%s %s: %s; retry %d in %.2f s",
                    request.method,
                    _http.redact_url(request.url),
                    type(exc).__name__,
                    attempt,
                    delay,
                )
            else:
                response.extensions[_http.ATTEMPTS] = attempt
                if response.status_code not in policy.statuses or attempt >= policy.attempts:
                    return response
                retry_after = _http.parse_retry_after_seconds(
                    response.headers.get("retry-after"), self._now()
                )
                if retry_after is not None and retry_after > policy.retry_after_cap:
                    logger.debug(
                        "%s %s: %d asks to wait %.0f s, over the %.0f s cap; not retrying",
                        request.method,
                        _http.redact_url(request.url),
                        response.status_code,
                        retry_after,
                        policy.retry_after_cap,
                    )
                    return response
                delay = (
                    retry_after
                    if retry_after is not None
                    else policy.backoff(attempt, self._rand())
                )
                await response.aclose()
                logger.debug(
                    "%s %s: %d; retry %d in %.2f s",
                    request.method,
                    _http.redact_url(request.url),
                    response.status_code,
                    attempt,
                    delay,
                )
            await policy.sleep(delay)
            attempt += 1

    async def aclose(self) -> None:
        await self._inner.aclose()


class OriginPool:
    """httpcore connections kept per origin and handed out in constant time.

    httpcore's ``AsyncConnectionPool`` re-examines every connection (one socket poll each) whenever
    a request starts or ends, so a batch with hundreds of connections spends most of its CPU there
    (81 % with 200 connections, DESIGN.md §10). Here each origin has a stack of idle connections: a
    request takes the most recently used one still usable, or opens a new one, and closing its
    response gives the connection back. There is no limit of its own: :class:`HostLimitTransport`
    above bounds requests, hence connections, per host. Only httpcore's public connection class is
    used; ``tls`` makes the TLS context, called on the first HTTPS connection only.
    """

    def __init__(
        self, tls: Callable[[], ssl.SSLContext], *, keepalive_expiry: float = KEEPALIVE_SECONDS
    ) -> None:
        self._tls = tls
        self._keepalive_expiry = keepalive_expiry
        self._idle: dict[_OriginKey, list[httpcore.AsyncHTTPConnection]] = {}
        self._busy: set[httpcore.AsyncHTTPConnection] = set()
        self._closed = False

    def __repr__(self) -> str:
        idle = sum(len(c) for c in self._idle.values())
        return f"<OriginPool(busy={len(self._busy)}, idle={idle})>"

    def _checkout(
        self, origin: httpcore.Origin
    ) -> tuple[httpcore.AsyncHTTPConnection, list[httpcore.AsyncHTTPConnection]]:
        """A connection for ``origin``, and the stale ones found on the way (to be closed)."""
        stale: list[httpcore.AsyncHTTPConnection] = []
        idle = self._idle.get(_key(origin))
        while idle:
            connection = idle.pop()
            if connection.is_idle() and not connection.has_expired():
                return connection, stale
            stale.append(connection)
        context = self._tls() if origin.scheme == b"https" else None
        connection = httpcore.AsyncHTTPConnection(
            origin=origin, ssl_context=context, keepalive_expiry=self._keepalive_expiry
        )
        return connection, stale

    async def handle_async_request(self, request: httpcore.Request) -> httpcore.Response:
        if request.url.scheme not in (b"http", b"https"):
            scheme = request.url.scheme.decode("ascii", "replace")
            raise httpcore.UnsupportedProtocol(f"unsupported URL scheme {scheme!r}")
        if self._closed:
            raise httpcore.ConnectError("the connection pool is closed")
        while True:
            connection, stale = self._checkout(request.url.origin)
            await _close_all(stale)
            self._busy.add(connection)
            try:
                response = await connection.handle_async_request(request)
            except httpcore.ConnectionNotAvailable:
                # The server closed it between our check and the request: take another.
                self._busy.discard(connection)
                await _close_all([connection])
                continue
            except BaseException:
                self._busy.discard(connection)
                await _close_all([connection])
                raise
            return httpcore.Response(
                status=response.status,
                headers=response.headers,
                content=_PooledStream(response.stream, self, connection, request.url.origin),
                extensions=response.extensions,
            )

    async def release(
        self, connection: httpcore.AsyncHTTPConnection, origin: httpcore.Origin
    ) -> None:
        """Take back a connection whose response was closed: keep it if it can serve again."""
        self._busy.discard(connection)
        if not self._closed and connection.is_idle() and not connection.is_closed():
            self._idle.setdefault(_key(origin), []).append(connection)
        else:
            await _close_all([connection])

    async def __aenter__(self) -> OriginPool:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        self._closed = True
        connections = [c for idle in self._idle.values() for c in idle] + list(self._busy)
        self._idle.clear()
        self._busy.clear()
        await _close_all(connections)


#: httpcore's Origin is not hashable: pools are keyed by (scheme, host, port).
_OriginKey = tuple[bytes, bytes, int]


def _key(origin: httpcore.Origin) -> _OriginKey:
    return (origin.scheme, origin.host, origin.port)


async def _close_all(connections: list[httpcore.AsyncHTTPConnection]) -> None:
    if not connections:
        return
    with anyio.CancelScope(shield=True):
        for connection in connections:
            await connection.aclose()


class _PooledStream:
    """A response body that gives its connection back to the pool when closed."""

    def __init__(
        self,
        stream: Iterable[bytes] | AsyncIterable[bytes],
        pool: OriginPool,
        connection: httpcore.AsyncHTTPConnection,
        origin: httpcore.Origin,
    ) -> None:
        self._stream = stream
        self._pool = pool
        self._connection = connection
        self._origin = origin
        self._closed = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        if not isinstance(self._stream, AsyncIterable):  # pragma: no cover - httpcore streams
            raise TypeError("an async connection answered with a sync stream")
        try:
            async for part in self._stream:
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
            if closer is not None:
                await closer()
            await self._pool.release(self._connection, self._origin)


class PoolTransport(httpx.AsyncHTTPTransport):
    """The innermost layer: httpx's own transport (request, response and exception mapping) over
    an :class:`OriginPool` instead of httpcore's pool.

    The pool is swapped in after httpx built its own, so that what pytest-httpx patches (this
    class's ``handle_async_request``) still sees every request. The context handed to httpx's
    discarded pool verifies and trusts nothing: it is never used.
    """

    def __init__(
        self, tls: Callable[[], ssl.SSLContext], *, keepalive_expiry: float = KEEPALIVE_SECONDS
    ) -> None:
        super().__init__(verify=ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT), trust_env=False)
        self.pool = OriginPool(tls, keepalive_expiry=keepalive_expiry)
        self._pool = self.pool  # type: ignore[assignment]


def build_transport(
    inner: httpx.AsyncBaseTransport,
    *,
    retry: RetryPolicy | None = None,
    per_host: int = 32,
    stats: RequestStats | None = None,
) -> RetryTransport:
    """The standard stack around ``inner``: retry → per-host limit → logging and counting."""
    logged = LoggingTransport(inner, stats=stats)
    return RetryTransport(HostLimitTransport(logged, per_host=per_host), retry)
