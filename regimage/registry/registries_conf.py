"""containers-registries.conf(5): where a name is served from, its mirrors, whether it is blocked.

Podman, Buildah, Skopeo and CRI-O read ``registries.conf`` through containers/image
(``pkg/sysregistriesv2``); regimage reads it the same way, for pulls:

- One ``[[registry]]`` table applies to a name: the one whose ``prefix`` matches it longest. A
  prefix matches a name equal to it or continuing with ``/``, ``:`` or ``@``; ``*.example.com``
  matches any subdomain of ``example.com`` (at the start of the name only). A missing prefix is
  the ``location``.
- ``location`` rewrites the name: the matched prefix is replaced by it (``example.com/foo`` →
  ``internal.example/bar`` sends ``example.com/foo/app`` to ``internal.example/bar/app``). A
  wildcard prefix may leave it empty: the name is used as it is.
- ``[[registry.mirror]]`` tables are tried in order before the location; each rewrites the name
  the same way. ``mirror-by-digest-only = true`` (on the registry) or ``pull-from-mirror =
  "digest-only"`` (on a mirror) keeps mirrors to references by digest, ``"tag-only"`` to
  references by tag.
- ``blocked = true`` forbids pulling matching names; ``insecure = true`` allows plain HTTP and
  unverified TLS for that location or mirror.
- Drop-in files replace the tables of the same prefix and add the others. The deprecated version
  1 format (``[registries.search]``, ``[registries.insecure]``, ``[registries.block]`` lists of
  hosts) is read as the equivalent tables; a file may not mix the two, and drop-ins must be
  version 2.

``unqualified-search-registries``, ``[aliases]``, ``short-name-mode`` and ``credential-helpers``
are not read: regimage normalizes short names as Docker does (``ubuntu`` is
``docker.io/library/ubuntu``). Reading the files is :mod:`regimage.registry.mirror_files`'s.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from regimage.errors import InvalidConfiguration, InvalidReference
from regimage.model.reference import Reference
from regimage.registry._toml import boolean, load_toml, string, tables

__all__ = ["PULL_FROM_MIRROR", "Endpoint", "RegistriesConf", "RegistryTable", "prefix_match"]

#: The values of a mirror's ``pull-from-mirror``: which references it serves.
PULL_FROM_MIRROR = ("all", "digest-only", "tag-only")
#: What may follow a prefix in a name it matches.
_SEPARATORS = (":", "/", "@")


def prefix_match(name: str, prefix: str) -> int:
    """Where the part of ``name`` that ``prefix`` matches ends, or -1 when it does not match.

    ``name`` is a repository name with its registry (``docker.io/library/ubuntu``). As in
    containers/image, ``example.com`` also matches ``example.com:5000/app`` (upstream calls this
    unintended, and keeps it).
    """
    if prefix.startswith("*."):
        domain = prefix[1:]  # ".example.com"
        index = name.find(domain)
        if index == -1 or "/" in name[:index]:
            return -1
        end = index + len(domain)
    elif name.startswith(prefix):
        end = len(prefix)
    else:
        return -1
    return end if end == len(name) or name[end] in _SEPARATORS else -1


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where a ``[[registry]]`` table's names are served: its location or one of its mirrors."""

    location: str
    insecure: bool = False
    #: Which references a mirror serves: "all", "digest-only" or "tag-only".
    pull_from_mirror: str = "all"


@dataclass(frozen=True, slots=True)
class RegistryTable:
    """One ``[[registry]]`` table; ``origin`` is the file it came from."""

    prefix: str
    location: str = ""
    insecure: bool = False
    blocked: bool = False
    mirror_by_digest_only: bool = False
    mirrors: tuple[Endpoint, ...] = ()
    origin: str = ""

    def pull_endpoints(self, *, digested: bool) -> tuple[Endpoint, ...]:
        """The endpoints a pull of a reference (by digest or not) tries, in order: the mirrors
        that serve such references, then the location."""
        if self.mirror_by_digest_only:
            mirrors = self.mirrors if digested else ()
        else:
            skip = "tag-only" if digested else "digest-only"
            mirrors = tuple(m for m in self.mirrors if m.pull_from_mirror != skip)
        return (*mirrors, Endpoint(self.location, self.insecure))

    def rewrite(self, name: str, endpoint: Endpoint) -> Reference:
        """``name`` (which this table matches) as ``endpoint`` serves it: registry and path."""
        end = prefix_match(name, self.prefix)
        if end == -1:  # pragma: no cover - callers match first
            raise ValueError(f"{self.prefix!r} does not match {name!r}")
        rewritten = endpoint.location + name[end:] if endpoint.location else name
        try:
            reference = Reference.parse_repository(rewritten)
        except InvalidReference:
            reference = None
        if reference is None or reference.name != rewritten:
            raise InvalidConfiguration(
                f"{self.origin}: [[registry]] prefix {self.prefix!r} rewrites {name} to "
                f"{rewritten!r}, which is not a repository name with its registry",
                path=self.origin or None,
            )
        return reference


@dataclass(frozen=True, slots=True)
class RegistriesConf:
    """The ``[[registry]]`` tables of a registries.conf and its drop-ins, merged."""

    registries: tuple[RegistryTable, ...] = ()

    @classmethod
    def parse(cls, text: str, *, origin: str, drop_in: bool = False) -> RegistriesConf:
        """One file (``origin`` names it in errors); a ``drop_in`` must be version 2."""
        document = load_toml(text, origin=origin)
        v1 = document.get("registries")
        if v1 is not None:
            if drop_in:
                raise InvalidConfiguration(
                    f"{origin}: a drop-in must use the [[registry]] format (version 2), not "
                    "[registries.*] lists",
                    path=origin,
                )
            if "registry" in document:
                raise InvalidConfiguration(
                    f"{origin}: mixes [registries.*] lists (version 1) with [[registry]] tables "
                    "(version 2); use one format",
                    path=origin,
                )
            return cls(_unique(_from_v1(v1, origin)))
        parsed = [_table(t, origin) for t in tables(document, "registry", origin=origin)]
        _check_conflicts(parsed, origin)
        return cls(_unique(parsed))

    def merged(self, drop_in: RegistriesConf) -> RegistriesConf:
        """These tables with ``drop_in``'s: a table of the same prefix is replaced."""
        replaced = {table.prefix for table in drop_in.registries}
        kept = tuple(t for t in self.registries if t.prefix not in replaced)
        return RegistriesConf(kept + drop_in.registries)

    def find(self, name: str) -> RegistryTable | None:
        """The table for ``name`` (``docker.io/library/ubuntu``): the longest matching prefix."""
        best: RegistryTable | None = None
        for table in self.registries:
            if prefix_match(name, table.prefix) != -1 and (
                best is None or len(table.prefix) > len(best.prefix)
            ):
                best = table
        return best


def _location(value: str, origin: str, where: str) -> str:
    """A location or prefix as containers/image takes it: trailing ``/`` dropped, no scheme."""
    trimmed = value.rstrip("/")
    if trimmed.startswith(("http://", "https://")):
        raise InvalidConfiguration(
            f"{origin}: {where}{value!r}: write host[:port][/namespace], without http:// or "
            "https:// (insecure = true allows plain HTTP)",
            path=origin,
        )
    return trimmed


def _table(raw: dict[str, Any], origin: str) -> RegistryTable:
    where = f"[[registry]] prefix {raw.get('prefix') or raw.get('location')!r}: "
    location = _location(string(raw, "location", origin=origin, where=where), origin, where)
    prefix = _location(string(raw, "prefix", origin=origin, where=where), origin, where)
    if not prefix and not location:
        raise InvalidConfiguration(
            f"{origin}: a [[registry]] with neither prefix nor location", path=origin
        )
    if not prefix:
        prefix = location
    wildcard = prefix.startswith("*.")
    if not location and not wildcard:
        raise InvalidConfiguration(
            f"{origin}: {where}no location; only a wildcard prefix (*.example.com) may omit it",
            path=origin,
        )
    if wildcard and any(c in prefix for c in "/@:"):
        raise InvalidConfiguration(
            f"{origin}: {where}a wildcard prefix is *.example.com: no port, path, tag or digest",
            path=origin,
        )
    if "pull-from-mirror" in raw:
        raise InvalidConfiguration(
            f"{origin}: {where}pull-from-mirror belongs in a [[registry.mirror]] table",
            path=origin,
        )
    by_digest = boolean(raw, "mirror-by-digest-only", origin=origin, where=where)
    mirrors = tuple(
        _mirror(m, origin, where, by_digest)
        for m in tables(raw, "mirror", origin=origin, where=where)
    )
    return RegistryTable(
        prefix=prefix,
        location=location,
        insecure=boolean(raw, "insecure", origin=origin, where=where),
        blocked=boolean(raw, "blocked", origin=origin, where=where),
        mirror_by_digest_only=by_digest,
        mirrors=mirrors,
        origin=origin,
    )


def _mirror(raw: dict[str, Any], origin: str, where: str, by_digest: bool) -> Endpoint:
    location = _location(string(raw, "location", origin=origin, where=where), origin, where)
    if not location:
        raise InvalidConfiguration(f"{origin}: {where}a mirror without location", path=origin)
    pull = string(raw, "pull-from-mirror", origin=origin, where=where)
    if pull and by_digest:
        raise InvalidConfiguration(
            f"{origin}: {where}mirror-by-digest-only and a mirror's pull-from-mirror cannot "
            "both be set",
            path=origin,
        )
    if pull and pull not in PULL_FROM_MIRROR:
        raise InvalidConfiguration(
            f"{origin}: {where}pull-from-mirror {pull!r} is none of " + ", ".join(PULL_FROM_MIRROR),
            path=origin,
        )
    return Endpoint(location, boolean(raw, "insecure", origin=origin, where=where), pull or "all")


def _check_conflicts(parsed: list[RegistryTable], origin: str) -> None:
    """One location, one security setting: containers/image refuses a file that says both."""
    seen: dict[str, RegistryTable] = {}
    for table in parsed:
        key = table.location or table.prefix
        other = seen.setdefault(key, table)
        for setting in ("insecure", "blocked"):
            if getattr(other, setting) != getattr(table, setting):
                raise InvalidConfiguration(
                    f"{origin}: registry {key!r} is defined more than once with conflicting "
                    f"{setting!r}",
                    path=origin,
                )


def _unique(parsed: list[RegistryTable]) -> tuple[RegistryTable, ...]:
    """The first table of each prefix (containers/image ignores later ones)."""
    found: dict[str, RegistryTable] = {}
    for table in parsed:
        found.setdefault(table.prefix, table)
    return tuple(found.values())


def _from_v1(v1: object, origin: str) -> list[RegistryTable]:
    """The version 1 lists as the tables they stand for (search lists are not read)."""
    if not isinstance(v1, dict):
        raise InvalidConfiguration(f"{origin}: [registries] must be a table", path=origin)
    flags: dict[str, dict[str, bool]] = {}
    for kind, flag in (("block", "blocked"), ("insecure", "insecure")):
        section = v1.get(kind, {})
        hosts = section.get("registries", []) if isinstance(section, dict) else None
        if not isinstance(hosts, list) or not all(isinstance(h, str) for h in hosts):
            raise InvalidConfiguration(
                f"{origin}: [registries.{kind}] registries must be an array of strings",
                path=origin,
            )
        for host in hosts:
            location = _location(host, origin, f"[registries.{kind}] ")
            if location:
                flags.setdefault(location, {})[flag] = True
    return [
        RegistryTable(
            prefix=location,
            location=location,
            insecure=found.get("insecure", False),
            blocked=found.get("blocked", False),
            origin=origin,
        )
        for location, found in flags.items()
    ]
