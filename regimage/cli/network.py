"""The network settings the command line checks before it connects: ``--ca-file`` and the proxy
variables.

A mistake in either is a usage error (exit 2) that names the file or the variable, said before
any connection is made, the start-up thread's included. Which registry goes through a proxy is
also asked here, so that the start-up thread never opens a direct connection the pool would then
not use (the proxy is the only way out of many networks).
"""

from __future__ import annotations

from collections.abc import Mapping

from regimage.cli.status import UsageError
from regimage.http.proxy import ProxyConfigError, ProxySettings

__all__ = ["check_network_settings", "proxied"]


def check_network_settings(ca_file: str | None, environ: Mapping[str, str]) -> None:
    """Raise :class:`UsageError` for a ``--ca-file`` that is missing, unreadable, a directory or
    not PEM, or for a proxy variable that names no proxy regimage can use."""
    if ca_file is not None:
        # ssl, for a command line that names a CA file: not for --help nor any other run.
        from regimage.http.tls import CAFileError, check_ca_file

        try:
            check_ca_file(ca_file)
        except CAFileError as exc:
            raise UsageError(f"--ca-file: {exc}") from None
    try:
        ProxySettings.from_environ(environ)
    except ProxyConfigError as exc:
        raise UsageError(str(exc)) from None


def proxied(environ: Mapping[str, str], scheme: str, host: str, port: int) -> bool:
    """Whether the proxy variables send requests to ``scheme://host:port`` through a proxy."""
    try:
        return ProxySettings.from_environ(environ).for_origin(scheme, host, port) is not None
    except ProxyConfigError:
        return True  # the command reports it; no direct connection meanwhile
