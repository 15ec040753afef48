"""Mirrors: which hosts an image is pulled from, in which order, and what each may answer.

:class:`Mirrors` is the whole configuration, a plain value: the mirrors a program or the command
line names (:class:`Mirror`, ``--mirror docker.io=mirror.example``), the ``[[registry]]`` tables of
registries.conf (:mod:`regimage.registry.registries_conf`) and containerd's hosts.toml directories
(:mod:`regimage.registry.hosts_toml`). :meth:`Mirrors.route` turns a reference into a
:class:`Route`: its :class:`Source` s, mirrors first in that order (command line, registries.conf,
hosts.toml), the registry last, as containerd and Podman try them. Each source says whether it
may answer a tag (``resolve``: a mirror's word on what a tag means is trusted) and whether it may
serve content by digest (``pull``: verified by digest like any answer).

What the files say per host (certificate authorities, client certificates, unverified TLS, plain
HTTP) is :meth:`Mirrors.host_tls`'s answer. Reading the files is
:mod:`regimage.registry.mirror_files`'s; asking the sources in turn is
:mod:`regimage.registry.routing`'s.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from regimage.errors import InvalidConfiguration, InvalidReference, RegistryBlocked
from regimage.model.reference import (
    DEFAULT_DOMAIN,
    DOCKER_HUB_API_HOST,
    LEGACY_DEFAULT_DOMAIN,
    Reference,
)
from regimage.registry.hosts_toml import HostEntry, HostsFile, host_directories
from regimage.registry.registries_conf import RegistriesConf

__all__ = ["HostTLS", "Mirror", "Mirrors", "Route", "Source", "api_host"]

logger = logging.getLogger("regimage")


def api_host(host: str) -> str:
    """The host that serves a registry's API: Docker Hub's is not ``docker.io``."""
    host = host.lower()
    return DOCKER_HUB_API_HOST if host in (DEFAULT_DOMAIN, LEGACY_DEFAULT_DOMAIN) else host


def _registry(host: str) -> str:
    """A registry as references name it: ``index.docker.io`` is ``docker.io``."""
    host = host.lower()
    return DEFAULT_DOMAIN if host == LEGACY_DEFAULT_DOMAIN else host


@dataclass(frozen=True, slots=True, repr=False)
class Mirror:
    """A mirror a program or the command line names: ``docker.io=mirror.example:5000/hub``.

    ``registry`` is the registry it mirrors (as references name it), ``location`` the mirror's
    ``host[:port][/namespace]``; ``http://`` before it means plain HTTP. It is trusted with tags.
    """

    registry: str
    location: str
    plain_http: bool = False

    @classmethod
    def parse(cls, text: str) -> Mirror:
        """``REGISTRY=[http[s]://]HOST[:PORT][/NAMESPACE]``."""
        registry, sep, location = text.partition("=")
        registry, location = _registry(registry.strip()), location.strip().rstrip("/")
        plain = location.startswith("http://")
        mirror = cls(registry, location.removeprefix("http://").removeprefix("https://"), plain)
        try:
            sample = Reference.parse_repository(f"{registry}/x")
            valid = bool(sep and mirror.location) and sample.domain == registry
            if valid:
                mirror.source(sample)
        except (InvalidReference, InvalidConfiguration):
            valid = False
        if not valid:
            raise InvalidConfiguration(
                f"invalid mirror {text!r}: write REGISTRY=MIRROR, the registry as host[:port] "
                "(docker.io) and the mirror as [http://]host[:port][/namespace]"
            )
        return mirror

    def source(self, ref: Reference) -> Source:
        """Where this mirror serves ``ref``'s repository."""
        host, _, namespace = self.location.partition("/")
        rewritten = f"{host}/{namespace}/{ref.path}" if namespace else f"{host}/{ref.path}"
        try:
            reference = Reference.parse_repository(rewritten)
        except InvalidReference:
            reference = None
        if reference is None or reference.name != rewritten:
            raise InvalidConfiguration(f"invalid mirror {str(self)!r}: {rewritten!r} is no name")
        return Source(api_host(reference.domain), reference.path, mirror=True, origin="--mirror")

    def __str__(self) -> str:
        return f"{self.registry}={'http://' if self.plain_http else ''}{self.location}"

    def __repr__(self) -> str:
        return f"<Mirror({str(self)!r})>"


@dataclass(frozen=True, slots=True)
class Source:
    """One host to ask for a repository's content: where, and what it may answer."""

    host: str  # host[:port], as the API is reached
    repository: str  # the repository's path on that host
    resolve: bool = True  # may answer a tag
    pull: bool = True  # may serve content by digest
    mirror: bool = False  # not the registry itself
    origin: str = ""  # where it was configured

    def reference(self, ref: Reference) -> Reference:
        """``ref`` as this source serves it: the same tag and digest, on this host and path."""
        if self.host == ref.api_host and self.repository == ref.path:
            return ref
        return Reference(self.host, self.repository, ref.tag, ref.digest)


@dataclass(frozen=True, slots=True)
class Route:
    """The sources of one reference's content: mirrors in order, the registry last."""

    reference: Reference
    sources: tuple[Source, ...]

    def candidates(self, *, by_digest: bool) -> tuple[Source, ...]:
        """The sources that may answer a request by digest (``pull``) or by tag (``resolve``)."""
        return tuple(s for s in self.sources if (s.pull if by_digest else s.resolve))

    @property
    def rerouted(self) -> bool:
        """Whether anything but the reference's own registry may answer."""
        return len(self.sources) > 1 or self.sources[0].host != self.reference.api_host


@dataclass(frozen=True, slots=True)
class HostTLS:
    """What the configuration says about reaching one host: CA files to trust besides the usual
    ones, client certificates (certificate, key; key "" when in the certificate file), whether
    to skip certificate verification, and whether plain HTTP is allowed (tried when the host does
    not speak TLS)."""

    ca_files: tuple[str, ...] = ()
    client_certificates: tuple[tuple[str, str], ...] = ()
    skip_verify: bool = False
    plain_http: bool = False


@dataclass(frozen=True, slots=True)
class Mirrors:
    """The mirror configuration: ``mirrors`` (a program's or ``--mirror``), ``registries_conf``
    and the ``hosts`` directories' files (:func:`regimage.registry.mirror_files.load_mirrors`
    reads them)."""

    mirrors: tuple[Mirror, ...] = ()
    registries_conf: RegistriesConf = field(default_factory=RegistriesConf)
    hosts: tuple[HostsFile, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.mirrors or self.registries_conf.registries or self.hosts)

    def route(self, ref: Reference) -> Route:
        """Where ``ref``'s content comes from; raises :class:`RegistryBlocked` when the
        configuration forbids it, :class:`InvalidConfiguration` when a rewrite is no name."""
        digested = ref.digest is not None
        sources = [m.source(ref) for m in self.mirrors if m.registry == ref.domain]
        upstream: Source | None = None
        table = self.registries_conf.find(ref.name)
        if table is not None:
            if table.blocked:
                raise RegistryBlocked(
                    f"pulling {ref.name} is blocked by {table.origin} ([[registry]] prefix "
                    f"{table.prefix!r} has blocked = true)",
                    path=table.origin or None,
                    reference=str(ref),
                )
            *mirrors, primary = table.pull_endpoints(digested=digested)
            for endpoint in mirrors:
                moved = table.rewrite(ref.name, endpoint)
                sources.append(
                    Source(api_host(moved.domain), moved.path, mirror=True, origin=table.origin)
                )
            if primary.location:
                moved = table.rewrite(ref.name, primary)
                upstream = Source(api_host(moved.domain), moved.path, origin=table.origin)
        hosts = self._hosts_file(ref.domain)
        if hosts is not None:
            sources.extend(
                _hosts_source(entry, ref, hosts.origin)
                for entry in hosts.hosts
                if _supported(entry, hosts.origin)
            )
            if upstream is None and hosts.server.host:
                if not _supported(hosts.server, hosts.origin):
                    raise InvalidConfiguration(
                        f"{hosts.origin}: server {hosts.server.host}{hosts.server.path}: regimage "
                        "reaches registries at /v2 only (override_path is not supported)",
                        path=hosts.origin,
                    )
                upstream = _hosts_source(hosts.server, ref, hosts.origin)
        if upstream is None:
            upstream = Source(ref.api_host, ref.path)
        unique: dict[tuple[str, str], Source] = {}
        for source in (*sources, upstream):
            unique.setdefault((source.host, source.repository), source)
        return Route(ref, tuple(unique.values()))

    def host_tls(self, host: str) -> HostTLS | None:
        """What the files say about reaching ``host`` (``host[:port]`` as requests name it), or
        None when they say nothing: hosts.toml's ``ca``, ``client`` and ``skip_verify`` (of a
        ``[host]`` table or the ``server``; a directory's certificate files for the registry
        itself), and registries.conf's ``insecure`` (unverified TLS and plain HTTP)."""
        host = api_host(host)
        ca: list[str] = []
        client: list[tuple[str, str]] = []
        skip = plain = False
        found = False
        for hosts in self.hosts:
            for entry in (*hosts.hosts, hosts.server):
                entry_host = entry.host or _namespace_host(hosts.namespace)
                if entry_host is None or api_host(entry_host) != host:
                    continue
                found = True
                ca.extend(c for c in entry.ca if c not in ca)
                client.extend(c for c in entry.client if c not in client)
                skip = skip or bool(entry.skip_verify)
                plain = plain or entry.scheme == "http"
        for mirror in self.mirrors:
            if mirror.plain_http and api_host(mirror.location.partition("/")[0]) == host:
                found = plain = True
        if self._insecure(host):
            found = skip = plain = True
        if not found:
            return None
        return HostTLS(tuple(ca), tuple(client), skip, plain)

    def ca_files(self, host: str, port: int) -> tuple[str, ...]:
        """The CA files the files name for ``host``:``port`` (hosts.toml ``ca``, a registry
        directory's ``*.crt``): :meth:`host_tls` in the shape of
        :data:`regimage.http.trust.HostCAFiles`."""
        shown = f"[{host}]" if ":" in host else host
        names = [f"{shown}:{port}"] + ([shown] if port in (80, 443) else [])
        found: list[str] = []
        for name in names:
            tls = self.host_tls(name)
            if tls is not None:
                found.extend(f for f in tls.ca_files if f not in found)
        return tuple(found)

    @property
    def plain_http_hosts(self) -> frozenset[str]:
        """Hosts named with ``http://``: spoken to in plain HTTP only."""
        hosts = {api_host(m.location.partition("/")[0]) for m in self.mirrors if m.plain_http}
        for hosts_file in self.hosts:
            for entry in (*hosts_file.hosts, hosts_file.server):
                if entry.host and entry.scheme == "http":
                    hosts.add(api_host(entry.host))
        return frozenset(hosts)

    def _insecure(self, host: str) -> bool:
        """Whether registries.conf marks ``host`` ``insecure`` (plain HTTP allowed, TLS not
        verified): as a location or mirror of an insecure table, or by the table it matches."""
        for table in self.registries_conf.registries:
            locations = [m.location for m in table.mirrors if m.insecure]
            if table.insecure and table.location:
                locations.append(table.location)
            if any(api_host(location.partition("/")[0]) == host for location in locations):
                return True
        names = {host, DEFAULT_DOMAIN} if host == DOCKER_HUB_API_HOST else {host}
        return any(
            table is not None and table.insecure for table in map(self.registries_conf.find, names)
        )

    def _hosts_file(self, registry: str) -> HostsFile | None:
        """The hosts of ``registry``'s directory, else ``_default``'s, as containerd looks."""
        for name in host_directories(registry):
            for hosts in self.hosts:
                if hosts.namespace == name:
                    return hosts
        return None


def _namespace_host(namespace: str) -> str | None:
    """The registry a hosts directory is named after (``host_5000_`` is ``host:5000``)."""
    if namespace.startswith("_"):
        return None
    if namespace.endswith("_") and namespace.count("_") >= 2:
        host, _, port = namespace[:-1].rpartition("_")
        return f"{host}:{port}" if port.isdigit() else namespace
    return namespace


def _supported(entry: HostEntry, origin: str) -> bool:
    """Whether regimage can ask ``entry``: its API root must be ``/v2`` (no ``override_path``)."""
    if entry.path == "/v2":
        return True
    logger.debug("%s: %s%s left out: an API root other than /v2", origin, entry.host, entry.path)
    return False


def _hosts_source(entry: HostEntry, ref: Reference, origin: str) -> Source:
    """A hosts.toml host as a source of ``ref``, with containerd's capabilities."""
    host = api_host(entry.host)
    return Source(
        host,
        ref.path,
        resolve="resolve" in entry.capabilities,
        pull="pull" in entry.capabilities,
        mirror=host != ref.api_host,
        origin=origin,
    )
