"""Which scheme each registry host is reached with: HTTPS, or plain HTTP where allowed.

Plain HTTP is for the hosts the user named (``--plain-http``), and for loopback registries, which
are tried over HTTPS first and fall back to HTTP when they do not speak TLS: when they answer the
ClientHello with something that is not TLS, or do not complete the handshake within
:data:`LOOPBACK_HANDSHAKE_SECONDS` (a plain-HTTP server may wait for a request line for ever,
neither answering nor refusing). What a loopback host turned out to speak is remembered in the
:class:`~regimage.content.disk_cache.DiskCache` as a hint for the next process, dropped as soon as
the host answers otherwise.
"""

from __future__ import annotations

import logging

import httpx

from regimage.content.disk_cache import DiskCache
from regimage.errors import RegImageError
from regimage.http.connect_errors import TrustStoreUnavailable
from regimage.http.error_mapping import is_tls_protocol_error
from regimage.http.timeouts import TLSHandshakeTimeout
from regimage.model.host import is_loopback_host

__all__ = ["LOOPBACK_HANDSHAKE_SECONDS", "Schemes"]

logger = logging.getLogger("regimage")

#: Seconds a loopback registry whose scheme is still to be found out has to complete the TLS
#: handshake (it takes milliseconds there) before it is asked over plain HTTP instead.
LOOPBACK_HANDSHAKE_SECONDS = 3.0


class Schemes:
    """The scheme of each host: confirmed by an answer, hinted by ``disk``, or the default
    (``http`` for ``plain_all`` and ``plain_hosts``, else ``https``)."""

    def __init__(
        self, *, plain_all: bool, plain_hosts: frozenset[str], disk: DiskCache | None
    ) -> None:
        self._plain_all, self._plain_hosts = plain_all, plain_hosts
        self._disk = disk
        self._confirmed: dict[str, str] = {}  # by an answer
        self._hints: dict[str, str] = {}  # from the disk cache, to be confirmed
        self._stalled: set[str] = set()  # fell back after a handshake that did not end in time

    def scheme(self, host: str) -> str:
        """The scheme to reach ``host`` with now."""
        known = self._confirmed.get(host) or self._hints.get(host)
        if known is not None:
            return known
        return "http" if self._plain_all or host in self._plain_hosts else "https"

    def _forced(self, host: str) -> bool:
        return self._plain_all or host in self._plain_hosts

    def may_fall_back(self, host: str) -> bool:
        """Whether ``host``'s scheme is still to be found out: loopback, not forced, not tried."""
        return host not in self._confirmed and not self._forced(host) and is_loopback_host(host)

    def in_doubt(self, host: str) -> bool:
        """Whether the first request to ``host`` must find out its scheme (no hint either)."""
        return self.may_fall_back(host) and host not in self._hints

    def handshake_limit(self, host: str, scheme: str, limit: float) -> float:
        """How long a TLS handshake with ``host`` may take: ``limit``, or the short bound of a
        loopback registry that may not speak TLS (over ``scheme`` ``https``)."""
        if scheme == "https" and self.may_fall_back(host):
            return min(limit, LOOPBACK_HANDSHAKE_SECONDS)
        return limit

    def timeout(self, host: str, scheme: str, limit: float) -> httpx.Timeout:
        """The timeouts of a request to ``host`` over ``scheme``: ``limit`` for each socket
        operation (none for a free connection), the connect's within :meth:`handshake_limit`."""
        connect = self.handshake_limit(host, scheme, limit)
        return httpx.Timeout(limit, connect=connect, pool=None)

    def confirm(self, host: str, scheme: str) -> None:
        """``host`` answered over ``scheme`` (unless another was confirmed already)."""
        self._confirmed.setdefault(host, scheme)

    def load_hint(self, host: str) -> None:
        """Take the disk cache's hint for a loopback ``host`` whose scheme is to be found out."""
        if self._disk is None or not is_loopback_host(host) or not self.may_fall_back(host):
            return
        scheme = self._disk.scheme(host)
        if scheme is not None:
            self._hints[host] = scheme

    def retry_on_error(self, host: str, scheme: str, exc: httpx.HTTPError) -> bool:
        """Whether a request to ``host`` over ``scheme`` that failed with ``exc`` should go again
        (over :meth:`scheme`, which this may have changed)."""
        hinted = self._hints.get(host) == scheme and host not in self._confirmed
        if hinted:
            self._drop_hint(host)  # the remembered scheme failed: find out again
        if scheme == "https" and self.may_fall_back(host):
            if is_tls_protocol_error(exc):
                logger.debug("%s does not speak TLS; using plain HTTP (loopback)", host)
                self._confirmed[host] = "http"
                return True
            if isinstance(exc, TLSHandshakeTimeout):
                logger.debug("%s: no TLS handshake in time; using plain HTTP (loopback)", host)
                self._confirmed[host] = "http"
                self._stalled.add(host)
                return True
            if isinstance(exc, TrustStoreUnavailable):  # (a bad SSL_CERT_FILE): TLS may be moot
                logger.debug("%s: %s; trying plain HTTP (loopback)", host, exc)
                self._confirmed[host] = "http"
                self._stalled.add(host)  # a TLS port after all: HTTPS again, which says why not
                return True
        # A hinted plain-HTTP host that does not answer may be a TLS port now: try HTTPS first,
        # as for a new host.
        return hinted and scheme == "http" and isinstance(exc, httpx.TransportError)

    async def retry_on_answer(self, host: str, scheme: str, response: httpx.Response) -> bool:
        """Whether ``response`` shows that plain HTTP reached a TLS port (then the request should
        go again): the hint was stale, or a slow TLS handshake was taken for none. Otherwise
        ``scheme`` is confirmed and remembered."""
        stalled = host in self._stalled
        if (
            response.status_code == 400
            and scheme == "http"
            and (stalled or self._hints.get(host) == "http")
            and await _speaks_tls(response)
        ):
            self._drop_hint(host)  # plain HTTP to a TLS port: the hint is stale
            self._confirmed.pop(host, None)
            if stalled:  # a TLS server after all, only slow to shake hands: HTTPS, unhurried
                self._stalled.discard(host)
                self._confirmed[host] = "https"
            return True
        self._stalled.discard(host)
        self._confirmed.setdefault(host, scheme)
        self.remember(host, scheme)
        return False

    def remember(self, host: str, scheme: str) -> None:
        """Keep ``scheme`` in the disk cache as the hint for a loopback ``host`` (when it
        changed)."""
        if self._disk is None:
            return
        if self._hints.get(host) != scheme and is_loopback_host(host) and not self._forced(host):
            self._hints[host] = scheme
            self._disk.set_scheme(host, scheme)

    def _drop_hint(self, host: str) -> None:
        self._hints.pop(host, None)
        if self._disk is not None:
            self._disk.set_scheme(host, None)


async def _speaks_tls(response: httpx.Response) -> bool:
    """Whether a 400 answer to plain HTTP is a TLS server's "HTTP request to an HTTPS server"."""
    try:
        body = await response.aread()  # an error body: bounded by the transport
    except (RegImageError, httpx.HTTPError):
        return False
    return b"https server" in body[:4096].lower()
