"""Registry hosts as references and URLs write them: ``Registry.example:5000``, ``[::1]:443``.

Split into name and port, and told loopback or not: the session, auth and the command line decide
from these where to connect and whether a registry may be spoken to in plain HTTP.
"""

from __future__ import annotations

import ipaddress
import re

__all__ = ["LOCALHOST", "MAX_PORT", "host_problem", "is_loopback_host", "split_host"]

#: Always a registry host when it is the first path component, even without ``.`` or ``:``.
LOCALHOST = "localhost"
#: The largest TCP port number.
MAX_PORT = 65535
#: A label that makes a name an IPv4 address when it is the last one: decimal digits, or ``0x``
#: and hexadecimal digits (the WHATWG URL standard's "ends in a number").
_NUMBER_LABEL = re.compile(r"[0-9]+|0[xX][0-9a-fA-F]*", re.ASCII)


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


def host_problem(host: str) -> str | None:
    """Why a host that matches the reference grammar cannot be a registry's, or None if it can.

    The grammar (distribution/reference's) takes any digits as a port and any dot-separated labels
    as a name; the network then fails on them in ways that say nothing of the reference, or worse,
    reads them as another address. So:

    - a port is a number from 1 to :data:`MAX_PORT`, without leading zeros (``:05000`` would name
      the registry at ``:5000`` a second way, with other credentials and cache entries);
    - a name whose last label is a number (``256.1.1.1``, ``1.2.3.4.5``, ``registry.123``) is read
      as an IPv4 address, as URLs read it, and must be one: four decimal numbers from 0 to 255
      without leading zeros. The resolver would read ``127.1``, ``2130706433``, ``0x7f.0.0.1`` as
      127.0.0.1 and ``010.0.0.1`` as 8.0.0.1, past the loopback rule of :func:`is_loopback_host`;
    - a bracketed name is an IPv6 address.
    """
    name, port = _host_and_port(host)
    if port is not None:
        problem = _port_problem(port)
        if problem is not None:
            return problem
    if host.startswith("["):
        try:
            ipaddress.IPv6Address(name)
        except ValueError:
            return f"{name!r} is not an IPv6 address"
        return None
    if _NUMBER_LABEL.fullmatch(name.rpartition(".")[2]):
        try:
            ipaddress.IPv4Address(name)
        except ValueError:
            return (
                f"{name!r} is not an IPv4 address: four numbers from 0 to 255, without leading "
                "zeros (a name whose last label is a number is read as an address)"
            )
    return None


def _port_problem(port: str) -> str | None:
    shown = port if len(port) <= 20 else f"{port[:20]}…"
    if not (port.isascii() and port.isdigit()):
        return f"port {shown!r} is not a number"
    if port.startswith("0") and port != "0":
        return f"port {shown!r} has a leading zero"
    if len(port) > len(str(MAX_PORT)) or not 0 < int(port) <= MAX_PORT:
        return f"port {shown} is out of range: a port is a number from 1 to {MAX_PORT}"
    return None


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
