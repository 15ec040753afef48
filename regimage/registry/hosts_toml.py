"""containerd's hosts.toml: the hosts a registry's content comes from, in order, and how.

containerd (``ctr --hosts-dir``, the CRI plugin's ``config_path``, nerdctl) reads one directory per
registry under a root such as ``/etc/containerd/certs.d``: ``docker.io/hosts.toml``,
``registry.example:5000/`` (also spelled ``registry.example_5000_/``), and ``_default/`` for the
registries without one of their own. regimage reads them the same way:

- ``[host."https://mirror.example"]`` tables are tried in the order they are written, and
  ``server`` last (the registry itself when ``server`` is not set).
- ``capabilities`` says what a host is trusted with: ``resolve`` (answering a tag with a digest),
  ``pull`` (serving content by digest, which is verified anyway), ``push``. Default: all three.
  containerd's advice: a public mirror gets ``pull`` only.
- A host URL without a scheme is HTTPS; its path is the API root, ``/v2`` appended unless it ends
  so or ``override_path = true`` (registries without the ``/v2`` prefix).
- ``ca`` (a path or an array of them, relative to the file's directory), ``client`` (a
  certificate file, or certificate and key) and ``skip_verify`` are TLS settings of that host.
- A directory without hosts.toml holds Docker's certificate files for the registry itself:
  ``*.crt`` CAs, ``*.cert`` client certificates with their ``*.key``.

``header``, ``dial_timeout`` and ``proxy`` are not read; hosts whose API root is not ``/v2``
(``override_path``) are parsed but left out of routes (:mod:`regimage.registry.mirrors`), and
requests carry no ``?ns=``. Reading the directories is :mod:`regimage.registry.mirror_files`'s;
this module parses one file's text.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from regimage.errors import InvalidConfiguration
from regimage.registry._toml import boolean, load_toml, string, string_or_strings

__all__ = ["CAPABILITIES", "DEFAULT_NAMESPACE", "HostEntry", "HostsFile", "host_directories"]

#: What a host may be asked to do.
CAPABILITIES = frozenset({"pull", "resolve", "push"})
#: The directory that serves registries without one of their own.
DEFAULT_NAMESPACE = "_default"


def host_directories(registry: str) -> tuple[str, ...]:
    """The directory names containerd looks for ``registry`` (``host[:port]``) under, in order:
    ``host_port_``, ``host:port``, then ``_default``."""
    index = registry.rfind(":")
    if index > 0 and not registry.endswith("]"):
        return (f"{registry[:index]}_{registry[index + 1 :]}_", registry, DEFAULT_NAMESPACE)
    return (registry, DEFAULT_NAMESPACE)


@dataclass(frozen=True, slots=True)
class HostEntry:
    """One host of a hosts.toml: a ``[host."…"]`` table, or the file's ``server`` (``host`` empty
    when it is not set: the registry itself)."""

    scheme: str = "https"
    host: str = ""
    path: str = "/v2"  # the API root
    capabilities: frozenset[str] = CAPABILITIES
    ca: tuple[str, ...] = ()
    client: tuple[tuple[str, str], ...] = ()  # (certificate, key); key "" when in the certificate
    skip_verify: bool | None = None


@dataclass(frozen=True, slots=True)
class HostsFile:
    """The hosts of one registry directory (``namespace`` is its name), and where it was read."""

    namespace: str
    hosts: tuple[HostEntry, ...] = ()
    server: HostEntry = HostEntry()
    origin: str = ""

    @classmethod
    def parse(cls, text: str, *, namespace: str, directory: str, origin: str) -> HostsFile:
        """A hosts.toml's text; relative certificate paths are taken from ``directory``."""
        document = load_toml(text, origin=origin)
        raw_hosts = document.get("host", {})
        if not isinstance(raw_hosts, dict) or not all(
            isinstance(v, dict) for v in raw_hosts.values()
        ):
            raise InvalidConfiguration(
                f'{origin}: host must be tables: [host."https://mirror.example"]', path=origin
            )
        hosts = tuple(
            _entry(url, raw, directory, origin, f"[host.{url!r}] ")
            for url, raw in raw_hosts.items()  # in the order the file names them
        )
        server = string(document, "server", origin=origin)
        return cls(namespace, hosts, _entry(server, document, directory, origin, ""), origin)

    @classmethod
    def from_certificates(
        cls, names: Iterable[str], *, namespace: str, directory: str
    ) -> HostsFile:
        """A directory without hosts.toml: Docker's certificate files for the registry itself."""
        found = sorted(names)
        ca = tuple(posixpath.join(directory, n) for n in found if n.endswith(".crt"))
        client = tuple(
            (
                posixpath.join(directory, n),
                posixpath.join(directory, n[:-5] + ".key") if n[:-5] + ".key" in found else "",
            )
            for n in found
            if n.endswith(".cert")
        )
        return cls(namespace, server=HostEntry(ca=ca, client=client), origin=directory)


def _entry(url: str, raw: dict[str, Any], directory: str, origin: str, where: str) -> HostEntry:
    override_path = boolean(raw, "override_path", origin=origin, where=where)
    scheme, host, path = _split_url(url, override_path, origin, where) if url else ("https", "", "")
    skip_verify = raw.get("skip_verify")
    if skip_verify is not None:
        skip_verify = boolean(raw, "skip_verify", origin=origin, where=where)
    return HostEntry(
        scheme=scheme,
        host=host,
        path=path or ("" if override_path else "/v2"),
        capabilities=_capabilities(raw, origin, where),
        ca=tuple(
            _absolute(p, directory)
            for p in string_or_strings(raw, "ca", origin=origin, where=where)
        ),
        client=_client(raw.get("client"), directory, origin, where),
        skip_verify=skip_verify,
    )


def _split_url(url: str, override_path: bool, origin: str, where: str) -> tuple[str, str, str]:
    """Scheme, host and API root of a host URL, as containerd takes them."""
    full = url if url.startswith(("http://", "https://")) else f"https://{url}"
    parts = urlsplit(full)
    if not parts.netloc or parts.query or parts.fragment or parts.username or parts.password:
        raise InvalidConfiguration(
            f"{origin}: {where}{url!r} is not a host URL: [http[s]://]host[:port][/path]",
            path=origin,
        )
    path = posixpath.normpath(parts.path) if parts.path else ""
    if path in ("/", "//"):
        path = ""
    if not override_path and not path.endswith("/v2"):
        path += "/v2"
    return parts.scheme, parts.netloc.lower(), path


def _capabilities(raw: dict[str, Any], origin: str, where: str) -> frozenset[str]:
    value = raw.get("capabilities", [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidConfiguration(
            f'{origin}: {where}capabilities must be an array such as ["pull", "resolve"]',
            path=origin,
        )
    found = frozenset(v.lower() for v in value)
    unknown = found - CAPABILITIES
    if unknown:
        raise InvalidConfiguration(
            f"{origin}: {where}unknown capability {sorted(unknown)[0]!r} (pull, resolve, push)",
            path=origin,
        )
    return found or CAPABILITIES


def _client(value: object, directory: str, origin: str, where: str) -> tuple[tuple[str, str], ...]:
    """``client``: a file, an array of files, or an array of [certificate, key] pairs."""
    if value is None:
        return ()
    items = [value] if isinstance(value, str) else value
    pairs: list[tuple[str, str]] = []
    for item in items if isinstance(items, list) else [None]:
        if isinstance(item, str):
            pairs.append((_absolute(item, directory), ""))
        elif isinstance(item, list) and len(item) == 2 and all(isinstance(p, str) for p in item):
            pairs.append((_absolute(item[0], directory), _absolute(item[1], directory)))
        else:
            raise InvalidConfiguration(
                f"{origin}: {where}client must be a file, an array of files, or an array of "
                "[certificate, key] pairs",
                path=origin,
            )
    return tuple(pairs)


def _absolute(path: str, directory: str) -> str:
    return path if not path or posixpath.isabs(path) else posixpath.join(directory, path)
