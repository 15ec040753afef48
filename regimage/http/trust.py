"""Which CAs verify which registry: the shared trust store, and each host's own CAs.

A host's own CAs are the ``*.crt`` files the certs.d directories hold for it
(:mod:`regimage.http.certs_d`: Docker's and Podman's), trusted for that host only, on top of the
shared store (:mod:`regimage.http.tls`). Other sources of per-host CAs (containerd's
``hosts.toml`` ``ca``) plug in as ``extra``, a function of (host, port) that returns CA files.

Decided once per origin, when the pool first meets it: a host without CAs of its own shares the
one default context, which loads nothing until a certificate is verified. A file that cannot be
loaded is an error naming it (:class:`~regimage.http.tls.TrustStoreError`).
"""

from __future__ import annotations

import functools
import os
import ssl
from collections.abc import Callable, Iterable, Mapping, Sequence

import regimage.http.tls as _tls
from regimage.errors import NetworkError
from regimage.http.certs_d import certs_d_ca_files

__all__ = ["HostCAFiles", "HostTrust"]

#: Extra CA files for a registry, by (host, port): e.g. containerd's ``hosts.toml`` ``ca``.
HostCAFiles = Callable[[str, int], Iterable[str | os.PathLike[str]]]


class HostTrust:
    """The TLS contexts of one provider: the shared one, and one per host with CAs of its own.

    ``verify=False`` verifies nothing (``--insecure``); ``ca_file`` is added to every host's
    store (loaded now: a bad file is reported at once); ``trust_env=False`` ignores
    ``SSL_CERT_FILE``/``SSL_CERT_DIR``; ``certs_d`` are the certs.d roots (None: the standard
    ones, ``()``: none); ``extra`` gives more CA files per host (hosts.toml).
    """

    def __init__(
        self,
        *,
        verify: bool = True,
        ca_file: str | os.PathLike[str] | None = None,
        trust_env: bool = True,
        certs_d: Sequence[str | os.PathLike[str]] | None = None,
        extra: HostCAFiles | None = None,
    ) -> None:
        self._verify = verify
        self._ca_file = ca_file
        self._environ: Mapping[str, str] | None = None if trust_env else {}
        self._roots = certs_d
        self._extra = extra
        self._shared: Callable[[], ssl.SSLContext]
        if not verify:
            self._shared = _tls.insecure_context
        elif ca_file is None and trust_env:
            self._shared = _tls.default_context  # one per process, made on first use
        elif ca_file is None:
            self._shared = functools.cache(lambda: _tls.new_default_context({}))
        else:
            try:
                context = self._with_ca_file(ca_file)
            except _tls.TrustStoreError:  # SSL_CERT_FILE: said when a connection needs TLS
                self._shared = functools.partial(self._with_ca_file, ca_file)
            else:
                self._shared = lambda: context

    def __repr__(self) -> str:
        return f"<HostTrust(verify={self._verify}, ca_file={self._ca_file!r})>"

    def _with_ca_file(self, ca_file: str | os.PathLike[str]) -> ssl.SSLContext:
        try:
            return _tls.new_context(ca_file=ca_file, environ=self._environ)
        except _tls.TrustStoreError:
            raise  # the store itself: reported when a connection needs it
        except (OSError, ssl.SSLError) as exc:
            raise NetworkError(
                f"cannot load the CA file {os.fspath(ca_file)!r}: {exc.strerror or exc}"
            ) from exc

    def shared(self) -> ssl.SSLContext:
        """The context for hosts without CAs of their own (made on first use)."""
        return self._shared()

    def ca_files(self, host: str, port: int) -> tuple[str, ...]:
        """The CA files ``host``:``port`` has of its own (certs.d, then ``extra``)."""
        files = certs_d_ca_files(host, port, self._roots)
        if self._extra is not None:
            files += tuple(os.fspath(f) for f in self._extra(host, port))
        return files

    def for_host(self, host: str, port: int) -> Callable[[], ssl.SSLContext] | None:
        """What makes ``host``:``port``'s own context (its CAs on top of the shared store), or
        None when it has no CAs of its own (or nothing is verified): the shared one serves."""
        if not self._verify:
            return None
        files = self.ca_files(host, port)
        if not files:
            return None
        return functools.cache(lambda: self._host_context(files))

    def _host_context(self, files: tuple[str, ...]) -> ssl.SSLContext:
        context = (
            self._with_ca_file(self._ca_file)
            if self._ca_file is not None
            else _tls.new_default_context(self._environ)
        )
        for path in files:
            try:
                context.load_verify_locations(cafile=path)
            except (OSError, ssl.SSLError) as exc:
                reason = "not PEM certificates" if isinstance(exc, ssl.SSLError) else exc.strerror
                raise _tls.TrustStoreError(
                    f"cannot load the registry's CA certificate {path!r}: {reason or exc}"
                ) from None
        return context
