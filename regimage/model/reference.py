"""Image references: ``docker.io/library/ubuntu:latest`` parsed, normalized and printed back.

The grammar is distribution/reference's (:mod:`regimage.model.reference_grammar`), so that a name
Docker, containerd or buildkit accepts is accepted here, and one they refuse is refused.
:meth:`Reference.parse` adds Docker Hub normalization (``ubuntu`` →
``docker.io/library/ubuntu:latest``), as ``docker pull`` does.

The module-level ``_parse``, ``_with_name``, ``_parse_named``, ``_parse_normalized_named`` and
``_parse_any_reference`` mirror the upstream functions of the same names (``Parse``,
``WithName``, …) so that upstream's test tables run unchanged; regimage itself goes through
:class:`Reference`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from regimage.errors import InvalidDigest, InvalidReference
from regimage.model.digest import Digest
from regimage.model.host import LOCALHOST, host_problem, is_loopback_host
from regimage.model.reference_grammar import (
    ANCHORED_DIGEST_RE,
    ANCHORED_IDENTIFIER_RE,
    ANCHORED_NAME_RE,
    ANCHORED_TAG_RE,
    COMPONENT_RULE,
    DOMAIN_AND_PORT_RE,
    PATH_COMPONENT_RE,
    REFERENCE_RE,
    REMAINDER_RE,
    TAG_RULE,
)

__all__ = [
    "DEFAULT_DOMAIN",
    "DEFAULT_TAG",
    "DOCKER_HUB_API_HOST",
    "REPOSITORY_PATH_MAX_CHARS",
    "Reference",
]

#: The registry of names without one, as Docker prints it (``docker.io/library/ubuntu``).
DEFAULT_DOMAIN = "docker.io"
#: The old spelling of Docker Hub, normalized to :data:`DEFAULT_DOMAIN`.
LEGACY_DEFAULT_DOMAIN = "index.docker.io"
#: Where Docker Hub actually serves the Distribution API: ``docker.io`` only redirects browsers.
DOCKER_HUB_API_HOST = "registry-1.docker.io"
#: The namespace of Docker Hub's official images: ``ubuntu`` is ``library/ubuntu``.
OFFICIAL_REPO_PREFIX = "library/"
#: The tag a reference gets when it names neither a tag nor a digest.
DEFAULT_TAG = "latest"
#: Longest repository path (``library/ubuntu``, without the registry host), in characters.
REPOSITORY_PATH_MAX_CHARS = 255


_ASCII_UPPER = re.compile(r"[A-Z]")
#: A lone surrogate: a byte that was not UTF-8 (``surrogateescape``: argv, audit input), never text.
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
_TO_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


@dataclass(frozen=True, slots=True, repr=False)
class Reference:
    """Where an image lives and which one: registry ``domain``, repository ``path``, tag, digest.

    When both ``tag`` and ``digest`` are set the digest decides what is fetched; the tag is kept
    so that ``str()`` gives back what the user wrote. Build values with :meth:`parse`: the
    constructor stores its arguments unchecked, as :class:`~regimage.model.digest.Digest`'s does.
    """

    domain: str
    path: str
    tag: str | None = None
    digest: Digest | None = None

    @classmethod
    def parse(cls, text: str) -> Reference:
        """Parse an image reference the way ``docker pull`` does, adding ``:latest`` if untagged.

        Grammar (distribution/reference,
        https://github.com/distribution/reference/blob/main/reference.go)::

            reference        := name [ ":" tag ] [ "@" digest ]
            name             := [ domain "/" ] remote-name
            domain           := host [ ":" port-number ]
            host             := domain-name | IPv4address | "[" IPv6address "]"
            domain-name      := domain-component [ "." domain-component ]*
            domain-component := /([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])/
            port-number      := /[0-9]+/
            remote-name      := path-component [ "/" path-component ]*
            path-component   := alpha-numeric [ separator alpha-numeric ]*
            alpha-numeric    := /[a-z0-9]+/
            separator        := /[_.]|__|[-]+/
            tag              := /[\\w][\\w.-]{0,127}/
            digest           := algorithm ":" hex   (sha256 or sha512, checked by Digest.parse)

        Docker normalization (``ParseNormalizedNamed``): the first component is a registry only
        if it contains ``.`` or ``:``, is ``localhost`` or has upper case letters; otherwise the
        name is on ``docker.io``, where single-component paths get ``library/``.
        ``index.docker.io`` becomes ``docker.io``. The repository path is lower case and at most
        255 characters; a bare 64-hex-digit name is refused because it looks like an image ID.
        """
        ref = _parse_normalized_named(text)
        if ref.tag is None and ref.digest is None:
            return cls(ref.domain, ref.path, DEFAULT_TAG, None)
        return cls(ref.domain, ref.path, ref.tag, ref.digest)

    @classmethod
    def parse_repository(cls, text: str) -> Reference:
        """Parse a repository name (``ubuntu``, ``ghcr.io/acme/api``): no tag, no digest allowed.

        For commands about a repository rather than an image (``tags``), where a tag would be
        silently ignored otherwise.
        """
        ref = _parse_normalized_named(text)
        if ref.digest is not None:
            raise InvalidReference(
                f"expected a repository name without digest, got {_quote(text)} "
                f"(digest '@{ref.digest}')"
            )
        if ref.tag is not None:
            raise InvalidReference(
                f"expected a repository name without tag, got {_quote(text)} (tag ':{ref.tag}')"
            )
        return cls(ref.domain, ref.path, None, None)

    @property
    def name(self) -> str:
        """The fully qualified repository name: ``docker.io/library/ubuntu``."""
        return f"{self.domain}/{self.path}" if self.domain else self.path

    @property
    def familiar_name(self) -> str:
        """The name as Docker prints it: ``ubuntu``, ``acme/api``, ``ghcr.io/acme/api``.

        Unlike upstream's ``FamiliarName``, ``docker.io/`` stays when dropping it would make the
        first path component read as a registry (``docker.io/foo.bar/app``), so that the
        familiar form parses back to the same reference.
        """
        if self.domain != DEFAULT_DOMAIN:
            return self.name
        official = self.path.removeprefix(OFFICIAL_REPO_PREFIX)
        if official != self.path and "/" not in official:
            return official
        if _split_docker_domain(self.path)[2]:
            return self.name
        return self.path

    @property
    def familiar(self) -> str:
        """The reference as Docker prints it: ``ubuntu:latest``, ``ghcr.io/acme/api@sha256:…``."""
        return self.familiar_name + self._suffix()

    @property
    def api_host(self) -> str:
        """The host (and port) serving the registry API; Docker Hub's is not ``docker.io``."""
        return DOCKER_HUB_API_HOST if self.domain == DEFAULT_DOMAIN else self.domain

    @property
    def is_loopback(self) -> bool:
        """Whether the registry is this machine (localhost, 127.0.0.0/8, ::1), so HTTP is safe.

        Deliberately narrow: :func:`~regimage.model.host.is_loopback_host` says which hosts.
        """
        return is_loopback_host(self.domain)

    @property
    def identifier(self) -> str:
        """What the registry is asked for: the digest when there is one, else the tag."""
        if self.digest is not None:
            return str(self.digest)
        if self.tag is not None:
            return self.tag
        raise InvalidReference(
            f"{_quote(str(self))} names a repository, not an image: add a tag or a digest"
        )

    def scope(self, actions: str | Iterable[str] = "pull") -> str:
        """The token scope for this repository: ``repository:library/ubuntu:pull``.

        ``actions`` is one action or several (``("pull", "push")``), joined with commas.
        """
        joined = actions if isinstance(actions, str) else ",".join(actions)
        return f"repository:{self.path}:{joined}"

    def with_tag(self, tag: str) -> Reference:
        """The same reference with ``tag`` (a digest, if any, is kept and still decides)."""
        if not isinstance(tag, str):
            raise InvalidReference(f"tag must be a string, not {type(tag).__name__}")
        if ANCHORED_TAG_RE.fullmatch(tag) is None:
            raise InvalidReference(
                f"invalid tag {_quote(tag)} for {_quote(str(self))}: a tag is {TAG_RULE}"
            )
        return Reference(self.domain, self.path, tag, self.digest)

    def with_digest(self, digest: Digest | str) -> Reference:
        """The same reference pinned to ``digest`` (the tag, if any, is kept).

        A string is parsed and must be sha256 or sha512, which regimage can verify. A
        :class:`Digest` the caller built is checked against the reference grammar only, like
        upstream's ``WithDigest``.
        """
        where = f"for {_quote(str(self))}"
        if isinstance(digest, str):
            checked = _checked_digest(digest, where=where)
        elif isinstance(digest, Digest) and ANCHORED_DIGEST_RE.fullmatch(str(digest)):
            checked = digest
        else:
            raise InvalidReference(f"invalid digest {_quote(str(digest))} {where}")
        return Reference(self.domain, self.path, self.tag, checked)

    def _suffix(self) -> str:
        tag = f":{self.tag}" if self.tag is not None else ""
        digest = f"@{self.digest}" if self.digest is not None else ""
        return tag + digest

    def __str__(self) -> str:
        """The full, normalized reference; :meth:`parse` gives back an equal value."""
        return self.name + self._suffix()

    def __repr__(self) -> str:
        return f"<Reference({str(self)!r})>"


# ── Parsers, named after the upstream functions they mirror ───────────────────────────────────────


def _parse_normalized_named(text: str) -> Reference:
    """Upstream ``ParseNormalizedNamed``: Docker Hub normalization, no default tag.

    One deliberate difference: a first component that looks like a registry (it has a ``.``) but
    is not a valid host, such as ``foo_bar.com/app``, is refused; upstream returns a reference
    with an empty domain, which no registry can serve.
    """
    _require_str(text)
    if ANCHORED_IDENTIFIER_RE.fullmatch(text):
        raise InvalidReference(
            f"invalid repository name {_quote(text)}: a 64-character hexadecimal string is an "
            "image ID, not a name"
        )
    if not text:
        raise InvalidReference("invalid reference: the reference is empty")
    domain, typed, explicit = _split_docker_domain(text)
    remote = typed.partition("@")[0].partition(":")[0]
    if _ASCII_UPPER.search(remote):
        raise InvalidReference(f"repository name must be lowercase: {_quote(remote)}")
    if explicit and DOMAIN_AND_PORT_RE.fullmatch(domain) is None:
        raise InvalidReference(
            f"invalid registry host {_quote(domain)} in {_quote(text)}: expected a host name, "
            "IPv4 address or [IPv6] address, with an optional :port"
        )
    remainder = typed
    if domain == DEFAULT_DOMAIN and "/" not in typed:
        remainder = OFFICIAL_REPO_PREFIX + typed
    match = REMAINDER_RE.fullmatch(remainder)
    if match is None:
        raise InvalidReference(_explain(typed, text))
    return _build(domain, match["path"], match["tag"], match["digest"], text)


def _split_docker_domain(text: str) -> tuple[str, str, bool]:
    """Upstream ``splitDockerDomain``: (registry, what follows it as typed, whether typed).

    Upper case is tested on ASCII letters only; other letters fail the grammar anyway, with a
    message naming the component rather than a misleading "must be lowercase".
    """
    first, slash, rest = text.partition("/")
    if slash and (first == LOCALHOST or "." in first or ":" in first or _ASCII_UPPER.search(first)):
        domain = DEFAULT_DOMAIN if first == LEGACY_DEFAULT_DOMAIN else first
        return domain, rest, True
    return DEFAULT_DOMAIN, text, False


def _parse(text: str) -> Reference:
    """Upstream ``Parse``: the grammar alone; no registry is assumed (``domain`` may be empty)."""
    _require_str(text)
    match = REFERENCE_RE.fullmatch(text)
    if match is None:
        if not text:
            raise InvalidReference("repository name must have at least one component: empty input")
        if REFERENCE_RE.fullmatch(text.translate(_TO_ASCII_LOWER)):
            raise InvalidReference(f"repository name must be lowercase: {_quote(text)}")
        first, slash, rest = text.partition("/")
        if slash and DOMAIN_AND_PORT_RE.fullmatch(first):
            raise InvalidReference(_explain(rest, text))
        raise InvalidReference(_explain(text, text))
    name = ANCHORED_NAME_RE.fullmatch(match["name"])
    if name is None:  # unreachable: ReferenceRegexp's name is anchoredNameRegexp's language
        raise InvalidReference(f"invalid reference format: {_quote(text)}")
    return _build(name["domain"] or "", name["path"], match["tag"], match["digest"], text)


def _with_name(text: str) -> Reference:
    """Upstream ``WithName``: a repository name only, not normalized."""
    _require_str(text)
    match = ANCHORED_NAME_RE.fullmatch(text)
    if match is None:
        if not text:
            raise InvalidReference("invalid reference format: empty repository name")
        raise InvalidReference(
            f"invalid repository name {_quote(text)}: components are {COMPONENT_RULE}"
        )
    return _build(match["domain"] or "", match["path"], None, None, text)


def _parse_named(text: str) -> Reference:
    """Upstream ``ParseNamed``: accepts only names already in their full, normalized form."""
    ref = _parse_normalized_named(text)
    if str(ref) != text:
        raise InvalidReference(
            f"repository name must be canonical: {_quote(text)} is {_quote(str(ref))} in full"
        )
    return ref


def _parse_any_reference(text: str) -> Reference | Digest:
    """Upstream ``ParseAnyReference``: an image ID (bare hex or a digest) or a normalized name."""
    _require_str(text)
    if ANCHORED_IDENTIFIER_RE.fullmatch(text):
        return Digest(Digest.SHA256, text)
    try:
        digest = Digest.parse(text)
    except InvalidDigest:
        pass
    else:
        if digest.is_verifiable:
            return digest
    return _parse_normalized_named(text)


# ── Helpers ───────────────────────────────────────────────────────────────────────────────────────


def _require_str(text: object) -> None:
    if not isinstance(text, str):
        raise InvalidReference(f"reference must be a string, not {type(text).__name__}")
    if lone := _LONE_SURROGATE.search(text):
        byte = ord(lone.group()) - 0xDC00  # surrogateescape keeps byte 0xNN as U+DCNN
        what = f"byte 0x{byte:02X}" if 0x80 <= byte <= 0xFF else "a lone surrogate"
        at = f"at character {lone.start() + 1}"
        raise InvalidReference(f"invalid reference {_quote(text)}: {what} {at} is not UTF-8")


def _quote(text: str, *, limit: int = 80) -> str:
    """``repr(text)``, cut short so that a megabyte of input does not become the message."""
    return repr(text) if len(text) <= limit else f"{text[:limit]!r}…"


def _build(domain: str, path: str, tag: str | None, digest: str | None, text: str) -> Reference:
    """The checks that follow a grammar match: the host, the path length, then the digest."""
    if domain and (problem := host_problem(domain)):
        raise InvalidReference(
            f"invalid registry host {_quote(domain)} in {_quote(text)}: {problem}"
        )
    if len(path) > REPOSITORY_PATH_MAX_CHARS:
        raise InvalidReference(
            f"repository name must not be more than {REPOSITORY_PATH_MAX_CHARS} characters: "
            f"{_quote(path, limit=24)} is {len(path)}"
        )
    checked = _checked_digest(digest, where=f"in reference {_quote(text)}") if digest else None
    return Reference(domain, path, tag, checked)


def _checked_digest(value: str, *, where: str) -> Digest:
    """``Digest.parse``, refusing algorithms regimage could not verify on fetch."""
    try:
        digest = Digest.parse(value)
    except InvalidDigest as exc:
        raise InvalidReference(f"invalid digest {where}: {exc}") from exc
    if not digest.is_verifiable:
        raise InvalidReference(
            f"unsupported digest algorithm {_quote(digest.algorithm)} {where}: "
            "only sha256 and sha512 can be verified"
        )
    return digest


def _explain(remainder: str, text: str) -> str:
    """Name the part of ``remainder`` (``path[:tag][@digest]``) that breaks the grammar."""
    name_and_tag, at, digest = remainder.partition("@")
    name, colon, tag = name_and_tag.partition(":")
    if not name:
        return f"invalid reference {_quote(text)}: the repository name is empty"
    for component in name.split("/"):
        if not component:
            return f"invalid reference {_quote(text)}: empty path component in {_quote(name)}"
        if PATH_COMPONENT_RE.fullmatch(component) is None:
            return (
                f"invalid reference {_quote(text)}: path component {_quote(component)} must be "
                f"{COMPONENT_RULE}"
            )
    if colon and ANCHORED_TAG_RE.fullmatch(tag) is None:
        return f"invalid tag {_quote(tag)} in reference {_quote(text)}: a tag is {TAG_RULE}"
    if at and ANCHORED_DIGEST_RE.fullmatch(digest) is None:
        return (
            f"invalid digest {_quote(digest)} in reference {_quote(text)}: expected 'algorithm:hex'"
        )
    return f"invalid reference format: {_quote(text)}"
