"""Registry hosts as references and URLs write them: ``Registry.example:5000``, ``[::1]:443``.

Split into name and port, and told loopback or not: the session, auth and the command line decide
from these where to connect and whether a registry may be spoken to in plain HTTP.
"""

from __future__ import annotations

import ipaddress

__all__ = ["LOCALHOST", "is_loopback_host", "split_host"]

#: Always a registry host when it is the first path component, even without ``.`` or ``:``.
LOCALHOST = "localhost"


def is_loopback_host(host: str) -> bool:
    """Whether a host (``localhost``, ``127.0.0.0/8``, ``::1``, optionally with a port) is loopback.

    Deliberately narrow: names that merely resolve to loopback, ``127.1`` shorthands and
    IPv4-mapped IPv6 addresses are not trusted with plain HTTP.
    """
    name = _host_and_port(host)[0]
    if name == LOCALHOST:
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False
    if address.version == 6:
        return address == ipaddress.IPv6Address("::1")
    return address.is_loopback


def split_host(host: str) -> tuple[str, int | None]:
    """``Registry.example:5000`` → (``registry.example``, 5000); ``[::1]`` → (``::1``, None).

    Raises ValueError for a port that is not a number from 0 to 65535."""
    name, port = _host_and_port(host)
    if port is None:
        return name, None
    if not (port.isascii() and port.isdigit()) or int(port) > 65535:
        raise ValueError(f"not a port from 0 to 65535: {port!r}")
    return name, int(port)


def _host_and_port(host: str) -> tuple[str, str | None]:
    """The host name, lower case and without IPv6 brackets, and the port as written (or None)."""
    if host.startswith("["):
        name, _, rest = host[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else None
    elif host.count(":") == 1:
        name, _, port = host.partition(":")
    else:
        name, port = host, None
    return name.lower(), port or None
