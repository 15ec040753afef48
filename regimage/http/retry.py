"""The retry layer: a request sent again on 408/429/5xx answers and broken connections.

It sits above the per-host limit and the logging layer, so that the host's capacity is given back
while it sleeps between attempts, and each attempt is logged and counted.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import anyio
import httpx

from regimage.http.error_mapping import is_tls_protocol_error
from regimage.http.extensions import ATTEMPTS
from regimage.http.redaction import redact_url
from regimage.http.status import parse_retry_after_seconds
from regimage.http.timeouts import TLSHandshakeTimeout

__all__ = ["RETRY_STATUSES", "RetryPolicy", "RetryTransport", "Sleep"]

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
    nobody) and the caller gets the answer. ``sleep`` is injectable so tests never sleep; an
    injected one keeps its own time, so the caller's deadline (anyio's clock) is not held
    against its waits.
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


def _retryable_error(request: httpx.Request, exc: httpx.TransportError) -> bool:
    if is_tls_protocol_error(exc) or "CERTIFICATE" in str(exc).upper():
        return False  # a TLS failure does not heal by itself
    if isinstance(exc, TLSHandshakeTimeout):
        return False  # nor does a server that takes the connection and stalls the handshake
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
        return True  # nothing was sent
    return request.method in _IDEMPOTENT and isinstance(
        exc, httpx.ReadError | httpx.RemoteProtocolError
    )


def _past_deadline(policy: RetryPolicy, delay: float) -> bool:
    """Whether a real wait of ``delay`` seconds would end after the caller's deadline."""
    if policy.sleep is not anyio.sleep:
        return False  # a test's clock: its time is not anyio's
    return anyio.current_time() + delay >= anyio.current_effective_deadline()


class RetryTransport(httpx.AsyncBaseTransport):
    """Re-sends a request on 408/429/5xx answers and broken connections, with jittered backoff.

    ``Retry-After`` (seconds or an HTTP date) replaces the backoff when it is within the policy's
    cap. A wait that would end past the caller's deadline (an enclosing ``anyio.fail_after``: the
    command line's ``--timeout``) is not begun: the caller gets the last answer (or error) now,
    rather than a cancelled sleep. The last answer (or error) is what the caller gets; its
    ``regimage.attempts`` extension says how many tries it took.
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
                if _past_deadline(policy, delay):
                    raise
                logger.debug(
                    "%s %s: %s; retry %d in %.2f s",
                    request.method,
                    redact_url(request.url),
                    type(exc).__name__,
                    attempt,
                    delay,
                )
            else:
                response.extensions[ATTEMPTS] = attempt
                if response.status_code not in policy.statuses or attempt >= policy.attempts:
                    return response
                retry_after = parse_retry_after_seconds(
                    response.headers.get("retry-after"), self._now()
                )
                if retry_after is not None and retry_after > policy.retry_after_cap:
                    logger.debug(
                        "%s %s: %d asks to wait %.0f s, over the %.0f s cap; not retrying",
                        request.method,
                        redact_url(request.url),
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
                if _past_deadline(policy, delay):
                    logger.debug(
                        "%s %s: %d; waiting %.2f s would pass the deadline; not retrying",
                        request.method,
                        redact_url(request.url),
                        response.status_code,
                        delay,
                    )
                    return response
                await response.aclose()
                logger.debug(
                    "%s %s: %d; retry %d in %.2f s",
                    request.method,
                    redact_url(request.url),
                    response.status_code,
                    attempt,
                    delay,
                )
            await policy.sleep(delay)
            attempt += 1

    async def aclose(self) -> None:
        await self._inner.aclose()
