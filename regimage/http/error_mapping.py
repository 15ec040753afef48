"""The one boundary where httpx's exceptions become regimage's.

Every ``httpx.HTTPError`` a request raises becomes a :mod:`regimage.errors` class here and nowhere
else, with a message that names the host and what to do next (``--ca-file``, ``--plain-http``…).
A proxy's failure names the proxy (a 407 is an authentication error), a trust store that cannot be
loaded names its file (:mod:`regimage.http.connect_errors`).
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from regimage.errors import (
    NetworkError,
    ProxyAuthenticationError,
    ProxyError,
    RegImageError,
    RegistryError,
)
from regimage.http.connect_errors import (
    ProxyAuthenticationRequired,
    ProxyFailure,
    TrustStoreUnavailable,
)
from regimage.http.redaction import host_of, redact_url
from regimage.http.timeouts import ExchangeTimeout, TLSHandshakeTimeout

__all__ = ["is_tls_protocol_error", "map_transport_error", "transport_errors"]


def _causes(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _is_certificate_error(exc: BaseException) -> bool:
    return any(
        isinstance(e, ssl.SSLCertVerificationError) or "CERTIFICATE_VERIFY_FAILED" in str(e)
        for e in _causes(exc)
    )


def _is_ssl_error(exc: BaseException) -> bool:
    return any(isinstance(e, ssl.SSLError) or "[SSL" in str(e) for e in _causes(exc))


def is_tls_protocol_error(exc: BaseException) -> bool:
    """A TLS handshake that failed for another reason than the certificate.

    That is what talking TLS to a plain-HTTP server looks like (``WRONG_VERSION_NUMBER``,
    ``record layer failure``): the cue to fall back to plain HTTP on a loopback registry.
    """
    return _is_ssl_error(exc) and not _is_certificate_error(exc)


def map_transport_error(
    exc: httpx.HTTPError, url: httpx.URL | str, *, reference: str | None = None
) -> RegImageError:
    """Translate an httpx failure into a regimage error naming the host and the next step."""
    shown = redact_url(url)
    host = host_of(url)
    if isinstance(exc, ProxyFailure):
        kind = (
            ProxyAuthenticationError if isinstance(exc, ProxyAuthenticationRequired) else ProxyError
        )
        return kind(f"{exc} (for {host})", proxy=exc.proxy, url=shown, reference=reference)
    if isinstance(exc, httpx.ProxyError | TrustStoreUnavailable):
        return NetworkError(f"{exc} (for {host})", url=shown, reference=reference)
    if isinstance(exc, httpx.TooManyRedirects):
        return RegistryError(
            f"too many redirects fetching {shown} (a redirect loop?)",
            url=shown,
            reference=reference,
        )
    if _is_certificate_error(exc):
        return NetworkError(
            f"TLS connection to {host} failed: certificate verify failed; pass --ca-file with "
            "the registry's CA certificate (or --insecure to skip verification)",
            url=shown,
            reference=reference,
        )
    if _is_ssl_error(exc):
        return NetworkError(
            f"TLS handshake with {host} failed ({_first_line(exc)}); if the registry speaks "
            "plain HTTP, pass --plain-http",
            url=shown,
            reference=reference,
        )
    if isinstance(exc, ExchangeTimeout):
        return NetworkError(
            f"no complete answer from {shown} within {exc.seconds:g} s, the limit for one "
            "request of a manifest, index, config or token; the registry stalls or sends too "
            "slowly",
            url=shown,
            reference=reference,
        )
    if isinstance(exc, TLSHandshakeTimeout):
        return NetworkError(
            f"timed out in the TLS handshake with {host}; if the registry speaks plain HTTP, "
            "pass --plain-http",
            url=shown,
            reference=reference,
        )
    if isinstance(exc, httpx.TimeoutException):
        return NetworkError(
            f"timed out talking to {host} ({type(exc).__name__})", url=shown, reference=reference
        )
    if isinstance(exc, httpx.ConnectError):
        return NetworkError(
            f"cannot connect to {host}: {_first_line(exc)}", url=shown, reference=reference
        )
    if isinstance(exc, httpx.RemoteProtocolError):
        return NetworkError(
            f"{host} closed the connection or broke the HTTP protocol: {_first_line(exc)}",
            url=shown,
            reference=reference,
        )
    if isinstance(exc, httpx.UnsupportedProtocol | httpx.InvalidURL):
        return RegistryError(
            f"cannot request {shown}: {_first_line(exc)}", url=shown, reference=reference
        )
    return NetworkError(
        f"request to {host} failed: {type(exc).__name__}: {_first_line(exc)}",
        url=shown,
        reference=reference,
    )


@contextmanager
def transport_errors(url: httpx.URL | str, *, reference: str | None = None) -> Iterator[None]:
    """Turn any ``httpx.HTTPError`` raised inside the block into a regimage error."""
    try:
        yield
    except httpx.HTTPError as exc:
        raise map_transport_error(exc, url, reference=reference) from exc


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__
