"""httpx transport layers: retries, a per-host concurrency limit, and request logging.

Each layer is an ``httpx.AsyncBaseTransport`` wrapping the next, as go-containerregistry stacks
its round trippers; :func:`build_transport` puts them in order::

    RetryTransport → [HostLimitTransport] → LoggingTransport → inner

The retry layer is outermost so that the host's capacity is given back while it sleeps; logging is
innermost so that every attempt is one log line and one count in :class:`RequestStats`. The inner
transport is regimage's :class:`~regimage.http.pool.PoolTransport` (one bounded pool per origin, so no
limit layer is needed) or any other, e.g. ``httpx.AsyncHTTPTransport`` under pytest-httpx, which
then gets the per-host limit in front.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import anyio
import httpx

import regimage.http.responses as _http
from regimage.content.cache import DiskCache
from regimage.http.pool import PoolTransport

__all__ = [
    "FROM_CACHE",
    "RETRY_STATUSES",
    "HostLimitTransport",
    "LoggingTransport",
    "PoolTransport",
    "RequestStats",
    "RetryPolicy",
    "RetryTransport",
    "TokenCacheTransport",
    "build_transport",
]

logger = logging.getLogger("regimage")

#: Answers worth another attempt: timeout, rate limit, and the gateway family of 5xx.
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
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
        on_response: Callable[[httpx.Request, httpx.Response], None] | None = None,
    ) -> None:
        self._inner = inner
        self.stats = stats if stats is not None else RequestStats()
        self._max_error_body = max_error_body
        self._on_response = on_response
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
        if self._on_response is not None:
            self._on_response(request, response)
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


# ── tokens from the disk cache ─────────────────────────────────────────────────────────────────────


#: Response extension on a token answer served from the disk cache.
FROM_CACHE = "regimage.from_cache"


def _token_request_key(request: httpx.Request) -> tuple[str, str, str, list[str]] | None:
    """(realm, service, identity, scopes) of a cacheable token request: a GET that auth made."""
    if request.method != "GET" or request.extensions.get(_http.OPERATION) != "token":
        return None
    url = request.url
    params = url.params
    others = sorted((k, v) for k, v in params.multi_items() if k not in ("scope", "service"))
    realm = str(url.copy_with(query=None, fragment=None))
    if others:
        realm += "?" + "&".join(f"{k}={v}" for k, v in others)
    authorization = request.headers.get("authorization")
    identity = (
        hashlib.sha256(authorization.encode("utf-8", "surrogateescape")).hexdigest()
        if authorization
        else "anonymous"
    )
    return realm, params.get("service", ""), identity, params.get_list("scope")


def _bearer(request: httpx.Request) -> str | None:
    value = request.headers.get("authorization", "")
    return value[7:] if value[:7].lower() == "bearer " else None


class TokenCacheTransport(httpx.AsyncBaseTransport):
    """Answers token requests from a :class:`~regimage.content.cache.DiskCache` while the token lives,
    and keeps the tokens the token server hands out.

    It sits outermost, so that an answer from the cache is no request in :class:`RequestStats`.
    Only anonymous or Basic-authenticated GET token requests (Docker token spec) are cached, keyed
    by realm, service, a digest of the ``Authorization`` header and the scopes; an answer from the
    cache says how long the token has left (``expires_in``), so the auth layer expires it in time.
    A registry that answers 401 to a token this layer saw has the token dropped from the cache,
    so asking again reaches the token server.
    """

    def __init__(self, inner: httpx.AsyncBaseTransport, cache: DiskCache) -> None:
        self._inner = inner
        self._cache = cache
        self._seen: set[str] = set()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        key = _token_request_key(request)
        if key is None:
            response = await self._inner.handle_async_request(request)
            if response.status_code == 401 and self._seen:
                refused = _bearer(request)
                if refused is not None and refused in self._seen:
                    self._seen.discard(refused)
                    self._cache.forget_token(refused)
            return response
        realm, service, identity, scopes = key
        cached = self._cache.token(realm, service, identity, scopes)
        if cached is not None:
            self._seen.add(cached.value)
            body = {
                "token": cached.value,
                "expires_in": max(1, int(cached.expires_at - self._cache.now())),
            }
            if cached.issued_at:
                body["issued_at"] = cached.issued_at
            return httpx.Response(
                200,
                json=body,
                request=request,
                extensions={FROM_CACHE: True},
            )
        response = await self._inner.handle_async_request(request)
        if response.status_code != 200:
            return response
        raw = await self._read(response, request.url)
        kept = httpx.Response(
            response.status_code,
            headers=response.headers,
            content=raw,
            request=request,
            extensions=response.extensions,
        )
        self._keep(kept.content, realm, service, identity, scopes)
        return kept

    @staticmethod
    async def _read(response: httpx.Response, url: httpx.URL) -> bytes:
        chunks: list[bytes] = []
        total = 0
        try:
            async for chunk in response.aiter_raw():
                total += len(chunk)
                if total > _http.MAX_TOKEN_BODY_BYTES:
                    raise _http.body_too_large(url, _http.MAX_TOKEN_BODY_BYTES, "token response")
                chunks.append(chunk)
        finally:
            await response.aclose()
        return b"".join(chunks)

    def _keep(
        self, data: bytes, realm: str, service: str, identity: str, scopes: list[str]
    ) -> None:
        try:
            obj = json.loads(data)
        except (ValueError, UnicodeDecodeError):
            return
        if not isinstance(obj, dict):
            return
        value = obj.get("token") or obj.get("access_token")
        if not isinstance(value, str) or not value:
            return
        expires_in = obj.get("expires_in")
        lifetime = 60.0  # the Docker token spec's default
        if isinstance(expires_in, int | float) and not isinstance(expires_in, bool):
            lifetime = float(expires_in) if expires_in > 0 else lifetime
        issued_at = obj.get("issued_at")
        self._seen.add(value)
        self._cache.put_token(
            realm,
            service,
            identity,
            scopes,
            value,
            lifetime,
            issued_at if isinstance(issued_at, str) else None,
        )

    async def aclose(self) -> None:
        await self._inner.aclose()


def build_transport(
    inner: httpx.AsyncBaseTransport,
    *,
    retry: RetryPolicy | None = None,
    per_host: int = 32,
    stats: RequestStats | None = None,
    token_cache: DiskCache | None = None,
    on_response: Callable[[httpx.Request, httpx.Response], None] | None = None,
) -> httpx.AsyncBaseTransport:
    """The standard stack around ``inner``: [token cache →] retry → [per-host limit →] logging
    and counting → inner.

    A :class:`~regimage.http.pool.PoolTransport` bounds its connections per origin itself: no
    limit layer goes in front of it (it would only count the same thing twice). ``on_response``
    sees every answer as it arrives (headers read, body not), before anyone else.
    """
    logged: httpx.AsyncBaseTransport = LoggingTransport(inner, stats=stats, on_response=on_response)
    if not isinstance(inner, PoolTransport):
        logged = HostLimitTransport(logged, per_host=per_host)
    stack: httpx.AsyncBaseTransport = RetryTransport(logged, retry)
    if token_cache is not None:
        stack = TokenCacheTransport(stack, token_cache)
    return stack
