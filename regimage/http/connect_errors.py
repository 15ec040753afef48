"""What opening a connection fails with beyond httpx's own: a proxy, or the trust store.

They are ``httpx.TransportError``s (so that they leave the transport as httpx's own do) whose
message already says what went wrong and names what to fix: the proxy (never its credentials), or
the CA file or variable. :mod:`regimage.http.error_mapping` turns them into regimage's errors. None
is a ``ConnectError``: the retry layer does not send again what configuration, not chance, broke.
"""

from __future__ import annotations

import httpx

__all__ = ["ProxyAuthenticationRequired", "ProxyFailure", "TrustStoreUnavailable"]


class ProxyFailure(httpx.ProxyError):
    """The proxy is down, refused, or broke the protocol; ``proxy`` is its URL (no credentials)."""

    def __init__(self, message: str, *, proxy: str) -> None:
        super().__init__(message)
        self.proxy = proxy


class ProxyAuthenticationRequired(ProxyFailure):
    """The proxy answered 407: credentials missing from the proxy URL, or refused."""


class TrustStoreUnavailable(httpx.TransportError):
    """The CA certificates to verify a server with could not be loaded (``SSL_CERT_FILE``, a
    certs.d directory): no TLS connection can be verified until that is fixed."""
