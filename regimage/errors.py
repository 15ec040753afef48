"""Every failure a user can act on, as its own exception class.

The tree (each class says what went wrong and what to do next; none carries a secret)::

    RegImageError
    ├── InvalidReference        (ValueError) a reference that does not parse
    ├── InvalidDigest           (ValueError) a digest that does not parse, or an unsupported algorithm
    ├── InvalidPlatform         (ValueError) a platform specifier that does not parse
    ├── InvalidChallenge        (ValueError) a WWW-Authenticate header that does not parse
    ├── InvalidDocument         (ValueError) JSON that is not the document its media type says
    │   ├── UnsupportedMediaType             a media type regimage does not read (schema1 included)
    │   └── RootFSMismatch                   a config whose diff IDs do not pair with the layers
    ├── InvalidConfiguration    (ValueError) a registries.conf, hosts.toml or mirror that does not parse
    ├── DigestMismatch                       bytes that do not hash to the digest they were fetched by
    ├── SizeMismatch                         bytes whose length differs from the descriptor's size
    ├── SizeLimitExceeded                    a body larger than the cap for its kind
    ├── NotFound                             a missing repository, tag, manifest or blob
    ├── AuthenticationError                  credentials missing or refused (HTTP 401)
    │   └── AccessDenied                     authenticated, but not allowed (HTTP 403, insufficient scope)
    ├── RegistryBlocked                      a registry the configuration forbids pulling from
    ├── RateLimited                          HTTP 429 after every retry
    ├── RegistryError                        any other error answer, with the registry's error codes
    ├── NetworkError                         no answer at all: DNS, connect, TLS, timeout, reset
    │   └── ProxyError                       the HTTP proxy is down, refuses, or broke the protocol
    │       └── ProxyAuthenticationError     (also an AuthenticationError) the proxy's 407
    ├── NoMatchingPlatform                   an index with no manifest for the wanted platform
    ├── NotAnImage                           an artifact asked for an image config or diff IDs
    └── WalkLimitExceeded                    a cyclic or absurdly deep or wide manifest graph
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "AccessDenied",
    "AuthenticationError",
    "DigestMismatch",
    "InvalidChallenge",
    "InvalidConfiguration",
    "InvalidDigest",
    "InvalidDocument",
    "InvalidPlatform",
    "InvalidReference",
    "NetworkError",
    "NoMatchingPlatform",
    "NotAnImage",
    "NotFound",
    "ProxyAuthenticationError",
    "ProxyError",
    "RateLimited",
    "RegImageError",
    "RegistryBlocked",
    "RegistryError",
    "RegistryErrorDetail",
    "RootFSMismatch",
    "SizeLimitExceeded",
    "SizeMismatch",
    "UnsupportedMediaType",
    "WalkLimitExceeded",
]


class RegImageError(Exception):
    """Base of every error regimage raises on purpose.

    ``url`` is the request URL without credentials or query secrets, ``reference`` the image reference
    the caller asked about; either may be None when the failure is not tied to a request.
    """

    def __init__(self, message: str, *, url: str | None = None, reference: str | None = None):
        super().__init__(message)
        self.message = message
        self.url = url
        self.reference = reference

    def __str__(self) -> str:
        return self.message


class InvalidReference(RegImageError, ValueError):
    """An image reference that does not follow the distribution/reference grammar."""


class InvalidDigest(RegImageError, ValueError):
    """A digest string that does not follow the OCI digest grammar, or an algorithm we cannot verify."""


class InvalidPlatform(RegImageError, ValueError):
    """A platform specifier such as ``linux/arm64/v8`` that does not parse."""


class InvalidChallenge(RegImageError, ValueError):
    """A ``WWW-Authenticate`` header that does not parse as RFC 7235 challenges."""


class InvalidConfiguration(RegImageError, ValueError):
    """A registries.conf, hosts.toml or mirror that does not parse or contradicts itself; ``path``
    names the file (None for a mirror given on the command line or by a program)."""

    def __init__(self, message: str, *, path: str | None = None, reference: str | None = None):
        super().__init__(message, reference=reference)
        self.path = path


class InvalidDocument(RegImageError, ValueError):
    """A manifest, index, descriptor or config whose JSON contradicts its media type or lacks a field."""

    def __init__(
        self,
        message: str,
        *,
        media_type: str | None = None,
        url: str | None = None,
        reference: str | None = None,
    ):
        super().__init__(message, url=url, reference=reference)
        self.media_type = media_type


class UnsupportedMediaType(InvalidDocument):
    """A document of a media type regimage does not read (legacy schema1 is reported with this)."""


class RootFSMismatch(InvalidDocument):
    """A config whose ``rootfs.diff_ids`` are more or fewer than its manifest's layers.

    Diff IDs pair with layers one to one; containerd refuses to unpack such an image
    ("mismatched image rootfs and manifest layers"), so no diff ID or chain ID of it is answered.
    ``layers`` and ``diff_ids`` are the two counts.
    """

    def __init__(
        self,
        message: str,
        *,
        layers: int,
        diff_ids: int,
        media_type: str | None = None,
        url: str | None = None,
        reference: str | None = None,
    ):
        super().__init__(message, media_type=media_type, url=url, reference=reference)
        self.layers = layers
        self.diff_ids = diff_ids


class DigestMismatch(RegImageError):
    """Bytes that do not hash to the digest they were asked for: never returned to the caller."""

    def __init__(
        self,
        message: str,
        *,
        expected: str,
        actual: str,
        url: str | None = None,
        reference: str | None = None,
    ):
        super().__init__(message, url=url, reference=reference)
        self.expected = expected
        self.actual = actual


class SizeMismatch(RegImageError):
    """A body whose length differs from the size its descriptor declares."""

    def __init__(
        self,
        message: str,
        *,
        expected: int,
        actual: int,
        url: str | None = None,
        reference: str | None = None,
    ):
        super().__init__(message, url=url, reference=reference)
        self.expected = expected
        self.actual = actual


class SizeLimitExceeded(RegImageError):
    """A body over the cap for its kind (manifest, config, token, error); it is not read further."""

    def __init__(
        self,
        message: str,
        *,
        limit: int,
        url: str | None = None,
        reference: str | None = None,
    ):
        super().__init__(message, url=url, reference=reference)
        self.limit = limit


class RegistryErrorDetail:
    """One entry of a registry's ``{"errors": [{"code", "message", "detail"}]}`` body; immutable.

    (A plain class rather than a dataclass: this module is imported by ``regimage --version``,
    and :mod:`dataclasses` would double what that costs.)
    """

    __slots__ = ("code", "detail", "message")

    code: str
    message: str
    detail: str | None

    def __init__(self, code: str, message: str, detail: str | None = None) -> None:
        object.__setattr__(self, "code", code)
        object.__setattr__(self, "message", message)
        object.__setattr__(self, "detail", detail)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"RegistryErrorDetail is read-only: cannot set {name!r}")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RegistryErrorDetail):
            return NotImplemented
        return (self.code, self.message, self.detail) == (other.code, other.message, other.detail)

    def __hash__(self) -> int:
        return hash((self.code, self.message, self.detail))

    def __repr__(self) -> str:
        return (
            f"RegistryErrorDetail(code={self.code!r}, message={self.message!r}, "
            f"detail={self.detail!r})"
        )

    def __str__(self) -> str:
        return f"{self.code}: {self.message}" if self.message else self.code


class _HTTPFailure(RegImageError):
    """Shared shape of failures that come with an HTTP status and a registry error body."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        errors: Sequence[RegistryErrorDetail] = (),
        url: str | None = None,
        reference: str | None = None,
    ):
        super().__init__(message, url=url, reference=reference)
        self.status = status
        self.errors = tuple(errors)


class NotFound(_HTTPFailure):
    """A repository, tag, manifest or blob the registry does not have (or will not admit to having)."""


class AuthenticationError(_HTTPFailure):
    """The registry wants credentials we do not have, or refused the ones we sent."""


class AccessDenied(AuthenticationError):
    """The registry knows who we are and refuses the action (403, or a token lacking the scope)."""


class RegistryBlocked(RegImageError):
    """A reference whose registry (or namespace) the configuration blocks: ``blocked = true`` in
    registries.conf. Nothing was sent; ``path`` names the file that blocks it."""

    def __init__(self, message: str, *, path: str | None = None, reference: str | None = None):
        super().__init__(message, reference=reference)
        self.path = path


class RateLimited(_HTTPFailure):
    """The registry kept answering 429 after every retry; ``retry_after`` is its last hint in seconds."""

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        status: int | None = 429,
        errors: Sequence[RegistryErrorDetail] = (),
        url: str | None = None,
        reference: str | None = None,
    ):
        super().__init__(message, status=status, errors=errors, url=url, reference=reference)
        self.retry_after = retry_after


class RegistryError(_HTTPFailure):
    """Any other error answer from a registry, carrying its status and error codes."""


class NetworkError(RegImageError):
    """No usable answer: name resolution, connection, TLS, timeout, or a connection cut mid-body."""


class ProxyError(NetworkError):
    """The HTTP proxy requests go through is down, refuses them, or broke the protocol; ``proxy``
    is its URL (never its credentials)."""

    def __init__(
        self,
        message: str,
        *,
        proxy: str | None = None,
        url: str | None = None,
        reference: str | None = None,
    ):
        super().__init__(message, url=url, reference=reference)
        self.proxy = proxy


class ProxyAuthenticationError(ProxyError, AuthenticationError):
    """The proxy wants credentials (HTTP 407) that its URL lacks, or refused those it has."""


class NoMatchingPlatform(RegImageError):
    """An index that offers no manifest for the wanted platform; ``available`` lists what it offers."""

    def __init__(
        self,
        message: str,
        *,
        available: Sequence[str] = (),
        url: str | None = None,
        reference: str | None = None,
    ):
        super().__init__(message, url=url, reference=reference)
        self.available = tuple(available)


class NotAnImage(RegImageError):
    """An OCI artifact (no image config) asked for something only images have: a config or diff IDs."""


class WalkLimitExceeded(RegImageError):
    """A manifest graph that is cyclic, nested too deep, or wider than the walker accepts."""
