"""The transport stack: regimage's httpx transport layers, composed around an inner transport.

Each layer is an ``httpx.AsyncBaseTransport`` wrapping the next, one per module as
go-containerregistry stacks its round trippers; :func:`build_transport` puts them in order::

    [TokenCacheTransport →] RetryTransport → [HostLimitTransport →] LoggingTransport → inner

The token cache is outermost, so that an answer from the cache is no request at all. The retry
layer comes next so that the host's capacity is given back while it sleeps; logging is innermost
so that every attempt is one log line and one count in :class:`RequestStats`. The inner transport
is regimage's :class:`~regimage.http.pool.PoolTransport` (one bounded pool per origin, so no limit
layer is needed) or any other, e.g. ``httpx.AsyncHTTPTransport`` under pytest-httpx, which then
gets the per-host limit in front.
"""

from __future__ import annotations

from collections.abc import Callable

import httpx

from regimage.content.disk_cache import DiskCache
from regimage.http.limits import HostLimitTransport
from regimage.http.pool import PoolTransport
from regimage.http.request_log import LoggingTransport, RequestStats
from regimage.http.retry import RetryPolicy, RetryTransport
from regimage.http.token_cache import TokenCacheTransport

__all__ = ["build_transport"]


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
