"""Which proxy, if any, a request goes through: the proxy variables read as Go clients read them.

docker, containerd, crane and skopeo read ``HTTPS_PROXY`` / ``HTTP_PROXY`` / ``NO_PROXY`` (and
their lower-case forms) through Go's ``golang.org/x/net/http/httpproxy``; users set them once for
all those tools. The rules here are that package's:

- ``https://`` requests go through ``HTTPS_PROXY``, ``http://`` ones through ``HTTP_PROXY``; the
  upper-case name wins over the lower-case one; an empty value is no value. ``ALL_PROXY`` (curl's)
  stands in for either when it is unset. ``HTTP_PROXY`` is ignored when ``REQUEST_METHOD`` is set
  (a CGI environment, where a client's ``Proxy:`` header becomes ``HTTP_PROXY``: "httpoxy").
- A proxy URL without a scheme is ``http://``; ``https://`` proxies are spoken to over TLS; a
  SOCKS proxy is refused (an error, never a silent direct connection).
- ``localhost`` and loopback addresses are never proxied by the variables.
- ``NO_PROXY`` is a comma-separated list: ``*`` (nothing is proxied), an IP address or a CIDR
  block (``10.0.0.0/8``), a domain (``example.com`` matches it and every sub-domain;
  ``.example.com`` and ``*.example.com`` only the sub-domains), each optionally with ``:port``.

An explicit proxy (``RegistryProvider(proxy=...)``, as httpx's ``proxy=``) applies to every
request, loopback included: it is the caller's own decision, not the environment's.

Decided once per origin (scheme, host, port) by the pool: a request that goes direct costs nothing
more. Pure standard library (the command line asks before it imports httpx).
"""

from __future__ import annotations

import binascii
import contextlib
import ipaddress
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = ["NoProxy", "Proxy", "ProxyConfigError", "ProxySettings"]

#: The schemes of proxies regimage speaks to (HTTP CONNECT, plain or over TLS).
PROXY_SCHEMES = {"http": 80, "https": 443}

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class ProxyConfigError(ValueError):
    """A proxy setting regimage cannot use (a SOCKS proxy, a URL that does not parse); the message
    names the variable (or ``proxy=``) and never shows a password."""


@dataclass(frozen=True, slots=True)
class Proxy:
    """One HTTP proxy: where it is, the credentials its URL carries, and where it was set."""

    scheme: str  # "http" or "https" (TLS to the proxy)
    host: str
    port: int
    username: str | None = field(default=None, repr=False, compare=False)
    password: str | None = field(default=None, repr=False, compare=False)
    source: str = "proxy="  # the variable (or parameter) it came from, for messages

    @classmethod
    def parse(cls, text: str, source: str = "proxy=") -> Proxy:
        """``http://user:password@proxy.example:3128`` (the scheme defaults to ``http``, the port
        to the scheme's); credentials are percent-decoded. Raises :class:`ProxyConfigError`."""
        value = text.strip()
        if "://" not in value:
            value = "http://" + value
        problem = f"{source}={_masked(text)!r} is not a proxy URL regimage can use"
        try:
            parts = urllib.parse.urlsplit(value)
            port = parts.port
        except ValueError as exc:
            raise ProxyConfigError(f"{problem}: {exc}") from None
        scheme = parts.scheme.lower()
        if scheme.startswith("socks"):
            raise ProxyConfigError(
                f"{problem}: a SOCKS proxy; regimage speaks to HTTP proxies only (http:// or "
                "https://)"
            )
        if scheme not in PROXY_SCHEMES:
            raise ProxyConfigError(f"{problem}: the scheme is not http:// or https://")
        if not parts.hostname:
            raise ProxyConfigError(f"{problem}: no host")
        username = urllib.parse.unquote(parts.username) if parts.username is not None else None
        password = urllib.parse.unquote(parts.password) if parts.password is not None else None
        return cls(
            scheme,
            parts.hostname,
            port if port is not None else PROXY_SCHEMES[scheme],
            username or None,
            password,
            source,
        )

    @property
    def url(self) -> str:
        """``http://proxy.example:3128``: without credentials, for messages and logs."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"

    @property
    def described(self) -> str:
        """``the proxy http://proxy.example:3128 (HTTPS_PROXY)``: what messages call it."""
        return f"the proxy {self.url} ({self.source})"

    def authorization(self) -> bytes | None:
        """The ``Proxy-Authorization`` value (Basic) when the URL carries credentials."""
        if self.username is None:
            return None
        secret = f"{self.username}:{self.password or ''}".encode()
        return b"Basic " + binascii.b2a_base64(secret, newline=False)

    def __str__(self) -> str:
        return self.url

    def __repr__(self) -> str:
        return f"<Proxy({self.url!r}, {self.source})>"


@dataclass(frozen=True, slots=True)
class NoProxy:
    """A ``NO_PROXY`` list: the hosts that are reached directly although a proxy is set."""

    everything: bool = False
    networks: tuple[IPNetwork, ...] = ()
    addresses: tuple[tuple[IPAddress, int | None], ...] = ()
    #: (".example.com", port or None, whether "example.com" itself matches)
    domains: tuple[tuple[str, int | None, bool], ...] = ()

    @classmethod
    def parse(cls, text: str) -> NoProxy:
        """Go's grammar (see the module); entries that fit none of its forms are ignored, as Go
        ignores them."""
        networks: list[IPNetwork] = []
        addresses: list[tuple[IPAddress, int | None]] = []
        domains: list[tuple[str, int | None, bool]] = []
        for raw in text.split(","):
            entry = raw.strip().lower()
            if not entry:
                continue
            if entry == "*":
                return cls(everything=True)
            if "/" in entry:
                with contextlib.suppress(ValueError):  # not a CIDR block: ignored
                    networks.append(ipaddress.ip_network(entry, strict=False))
                continue
            host, port, valid = _host_and_port(entry)
            if not valid or not host:
                continue
            address = _ip(host)
            if address is not None:
                addresses.append((address, port))
                continue
            if host.startswith("*."):
                host = host[1:]
            exact = not host.startswith(".")
            domains.append((host if not exact else "." + host, port, exact))
        return cls(False, tuple(networks), tuple(addresses), tuple(domains))

    def matches(self, host: str, port: int) -> bool:
        """Whether ``host`` (a name or an IP address, without brackets) on ``port`` is reached
        directly."""
        if self.everything:
            return True
        name = host.lower().rstrip(".")
        address = _ip(name)
        if address is not None:
            if any(address in network for network in self.networks):
                return True
            return any(a == address and p in (None, port) for a, p in self.addresses)
        return any(
            (name.endswith(suffix) or (exact and name == suffix[1:])) and p in (None, port)
            for suffix, p, exact in self.domains
        )


@dataclass(frozen=True, slots=True)
class ProxySettings:
    """The proxies of one provider: per scheme from the environment, or one explicit proxy."""

    https: Proxy | None = None
    http: Proxy | None = None
    no_proxy: NoProxy = NoProxy()
    #: An explicit proxy (``proxy=``): every request goes through it, loopback included.
    explicit: bool = False

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> ProxySettings:
        """The settings the variables describe (see the module). Raises
        :class:`ProxyConfigError` for a value that names no usable proxy."""
        fallback = _variable(environ, "ALL_PROXY", "all_proxy")
        https = _variable(environ, "HTTPS_PROXY", "https_proxy") or fallback
        cgi = "REQUEST_METHOD" in environ
        http = _variable(environ, *(("http_proxy",) if cgi else ("HTTP_PROXY", "http_proxy")))
        http = http or fallback
        no_proxy = _variable(environ, "NO_PROXY", "no_proxy")
        return cls(
            https=Proxy.parse(environ[https], https) if https else None,
            http=Proxy.parse(environ[http], http) if http else None,
            no_proxy=NoProxy.parse(environ[no_proxy]) if no_proxy else NoProxy(),
        )

    @classmethod
    def explicit_proxy(cls, url: str) -> ProxySettings:
        """Every request through the proxy at ``url`` (``proxy=``)."""
        proxy = Proxy.parse(url)
        return cls(https=proxy, http=proxy, explicit=True)

    @property
    def active(self) -> bool:
        """Whether any request may go through a proxy."""
        return self.https is not None or self.http is not None

    def for_origin(self, scheme: str, host: str, port: int) -> Proxy | None:
        """The proxy for requests to ``scheme://host:port``, or None: they go direct."""
        proxy = self.https if scheme == "https" else self.http if scheme == "http" else None
        if proxy is None or self.explicit:
            return proxy
        if _loopback(host) or self.no_proxy.matches(host, port):
            return None
        return proxy


def _variable(environ: Mapping[str, str], *names: str) -> str | None:
    """The first of ``names`` set to something (its name, for messages), or None."""
    for name in names:
        if environ.get(name, "").strip():
            return name
    return None


def _host_and_port(entry: str) -> tuple[str, int | None, bool]:
    """``host``, ``host:port``, ``[v6]:port``, or a bare IPv6 address; False when the port is
    not a number."""
    if entry.startswith("["):
        host, _, rest = entry[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else ""
    elif entry.count(":") == 1:
        host, _, port_text = entry.partition(":")
    else:
        return entry, None, True  # a name, or a bare IPv6 address
    if not port_text:
        return host, None, True
    if not (port_text.isascii() and port_text.isdigit()):
        return host, None, False
    return host, int(port_text), True


def _ip(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _loopback(host: str) -> bool:
    """Go's rule: the name ``localhost``, or a loopback address (IPv4-mapped ones too)."""
    name = host.lower().rstrip(".")
    if name == "localhost":
        return True
    address = _ip(name)
    if address is None:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


def _masked(text: str) -> str:
    """A proxy setting as messages show it: any credentials replaced by ``[secure]``."""
    value = text.strip()
    scheme, sep, rest = value.partition("://")
    if not sep:
        scheme, rest = "", value
    if "@" not in rest:
        return value
    return f"{scheme}{sep}[secure]@{rest.rpartition('@')[2]}"
