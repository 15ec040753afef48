"""Which scheme each registry host is reached with: HTTPS, or plain HTTP where allowed.

Plain HTTP is for the hosts the user named (``--plain-http``), and for loopback registries, which
are tried over HTTPS first and fall back to HTTP when they do not speak TLS. What a loopback host
turned out to speak is remembered in the :class:`~regimage.content.disk_cache.DiskCache` as a
hint for the next process, dropped as soon as the host answers otherwise.
"""

from __future__ import annotations

import logging

import httpx

from regimage.content.disk_cache import DiskCache
from regimage.errors import RegImageError
from regimage.http.error_mapping import is_tls_protocol_error
from regimage.model.host import is_loopback_host

__all__ = ["Schemes"]

logger = logging.getLogger("regimage")


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
        if scheme == "https" and self.may_fall_back(host) and is_tls_protocol_error(exc):
            logger.debug("%s does not speak TLS; using plain HTTP (loopback)", host)
            self._confirmed[host] = "http"
            return True
        # A hinted plain-HTTP host that does not answer may be a TLS port now: try HTTPS first,
        # as for a new host.
        return hinted and scheme == "http" and isinstance(exc, httpx.TransportError)

    async def retry_on_answer(self, host: str, scheme: str, response: httpx.Response) -> bool:
        """Whether ``response`` shows that the hinted plain HTTP reached a TLS port (then the
        request should go again); otherwise ``scheme`` is confirmed and remembered."""
        if (
            response.status_code == 400
            and scheme == "http"
            and self._hints.get(host) == "http"
            and await _speaks_tls(response)
        ):
            self._drop_hint(host)  # plain HTTP to a TLS port: the hint is stale
            self._confirmed.pop(host, None)
            return True
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
