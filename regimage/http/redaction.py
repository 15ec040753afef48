"""How a URL is shown in messages and logs: never with credentials or a signed query string.

CDN redirects carry signatures and credentials in the query (``X-Amz-Signature``, ``sig``,
``token``…), and httpx logs every request's URL at INFO: both go through :func:`redact_url`.
"""

from __future__ import annotations

import logging

import httpx

__all__ = ["host_of", "redact_httpx_log", "redact_url"]

#: Query parameters that are safe to show; every other value is masked (CDN redirects carry
#: signatures and credentials in the query: X-Amz-Signature, sig, token…).
_SAFE_QUERY_PARAMS = frozenset({"n", "last", "service", "scope", "artifacttype", "digest"})
_MASK = "[secure]"


def redact_url(url: httpx.URL | str) -> str:
    """``url`` without userinfo, every query value outside a short safe list shown as ``[secure]``."""
    try:
        parsed = url if isinstance(url, httpx.URL) else httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError):
        return "<invalid URL>"
    if parsed.userinfo:
        parsed = parsed.copy_with(username=None, password=None)
    if parsed.query:
        pairs = [
            (key, value if key.lower() in _SAFE_QUERY_PARAMS else _MASK)
            for key, value in parsed.params.multi_items()
        ]
        parsed = parsed.copy_with(params=pairs)
        # Keep the mask readable rather than percent-encoded.
        return str(parsed).replace("%5Bsecure%5D", _MASK)
    return str(parsed)


def host_of(url: httpx.URL | str) -> str:
    """The ``host[:port]`` a message names for ``url`` (never its userinfo)."""
    try:
        parsed = url if isinstance(url, httpx.URL) else httpx.URL(url)
        return parsed.netloc.decode("ascii", "replace") or "<no host>"
    except (httpx.InvalidURL, TypeError, ValueError):
        return "<invalid URL>"


class _RedactedURLs(logging.Filter):
    """httpx logs every request's URL at INFO, a signed URL's signature (or an
    ``X-Amz-Security-Token``) included: its records carry :func:`redact_url`'s form instead."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and any(isinstance(arg, httpx.URL) for arg in args):
            record.args = tuple(redact_url(a) if isinstance(a, httpx.URL) else a for a in args)
        return True


def redact_httpx_log() -> None:
    """Put :class:`_RedactedURLs` on httpx's logger (once per process)."""
    httpx_logger = logging.getLogger("httpx")
    if not any(isinstance(f, _RedactedURLs) for f in httpx_logger.filters):
        httpx_logger.addFilter(_RedactedURLs())
