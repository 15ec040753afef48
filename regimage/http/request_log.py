"""The logging and counting layer: one DEBUG line and one count per request that got an answer.

It sits innermost, so that every attempt of a retried request is a line and a count of its own.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable

import httpx

from regimage.http.bounded import MAX_ERROR_BODY_BYTES
from regimage.http.extensions import OPERATION
from regimage.http.redaction import redact_url
from regimage.http.watched_stream import WatchedStream, watch

__all__ = ["LoggingTransport", "RequestStats"]

logger = logging.getLogger("regimage")


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
        max_error_body: int = MAX_ERROR_BODY_BYTES,
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
                    redact_url(request.url),
                    (time.perf_counter() - started) * 1000,
                    type(exc).__name__,
                )
            raise
        operation = request.extensions.get(OPERATION)
        self.stats.add(operation if isinstance(operation, str) else _classify(request))
        if self._on_response is not None:
            self._on_response(request, response)
        self._warn_once(request, response)
        limit = self._max_error_body if response.status_code >= 300 else None
        watched = watch(response, request.url, limit)
        if logger.isEnabledFor(logging.DEBUG):
            method, url, status = request.method, request.url, response.status_code

            def log(stream: WatchedStream) -> None:
                logger.debug(
                    "%s %s %d %d B %.1f ms",
                    method,
                    redact_url(url),
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
