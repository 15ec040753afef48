"""The grammar of image references: distribution/reference's ``regexp.go``, atom by atom.

Ported so that a name Docker, containerd or buildkit accepts is accepted here, and one they refuse
is refused (https://github.com/distribution/reference/blob/main/regexp.go). Every pattern is
compiled with ``re.ASCII``: Python's ``\\w`` and ``\\d`` otherwise match any Unicode letter or
digit, and Go's do not. Callers use ``fullmatch``, which anchors as upstream's ``anchored()`` does.
:mod:`regimage.model.reference` parses with these.
"""

from __future__ import annotations

import re

__all__ = [
    "ANCHORED_DIGEST_RE",
    "ANCHORED_IDENTIFIER_RE",
    "ANCHORED_NAME_RE",
    "ANCHORED_TAG_RE",
    "COMPONENT_RULE",
    "DOMAIN_AND_PORT_RE",
    "PATH_COMPONENT_RE",
    "REFERENCE_RE",
    "REMAINDER_RE",
    "TAG_RULE",
]


def _optional(*parts: str) -> str:
    """``optional()``: the parts, zero or one time."""
    return f"(?:{''.join(parts)})?"


def _any_times(*parts: str) -> str:
    """``repeated()``/``anyTimes()``: the parts, zero or more times."""
    return f"(?:{''.join(parts)})*"


def _capture(name: str, *parts: str) -> str:
    """``capture()``, with a group name instead of a position."""
    return f"(?P<{name}>{''.join(parts)})"


def _anchored(*parts: str) -> re.Pattern[str]:
    """``anchored()``: ASCII only; callers use ``fullmatch``, which anchors."""
    return re.compile("".join(parts), re.ASCII)


# alphanumeric: the atom of path components; lower case letters and digits only.
_ALPHANUMERIC = r"[a-z0-9]+"
# separator: one period, one or two underscores, or any number of dashes, between alphanumerics.
_SEPARATOR = r"(?:[._]|__|[-]+)"
# domainNameComponent: a DNS label; upper case allowed, dashes only inside.
_DOMAIN_NAME_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
# optionalPort: ":" and a port number (any digits: the grammar does not check the range).
_OPTIONAL_PORT = r"(?::[0-9]+)?"
# tag: a word character, then up to 127 word characters, periods and dashes (ASCII \w).
_TAG = r"[\w][\w.-]{0,127}"
# digestPat: algorithm components joined by [-_+.], ":" and at least 32 hex digits.
_DIGEST_PAT = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*[:][0-9a-fA-F]{32,}"
# identifier: a bare sha256 hex string, as Docker prints image IDs.
_IDENTIFIER = r"[a-f0-9]{64}"
# ipv6address: brackets around hex digits and colons; no zone (%eth0), no embedded IPv4.
_IPV6_ADDRESS = r"\[(?:[a-fA-F0-9:]+)\]"
# domainName: dot-separated labels (an IPv4 address in decimal is one too).
_DOMAIN_NAME = _DOMAIN_NAME_COMPONENT + _any_times(r"\.", _DOMAIN_NAME_COMPONENT)
# host: a domain name or a bracketed IPv6 address (the URI host of RFC 3986, narrowed).
_HOST = f"(?:{_DOMAIN_NAME}|{_IPV6_ADDRESS})"
# domainAndPort: the registry part of a name.
_DOMAIN_AND_PORT = _HOST + _OPTIONAL_PORT
# pathComponent: alphanumerics joined by separators.
_PATH_COMPONENT = _ALPHANUMERIC + _any_times(_SEPARATOR, _ALPHANUMERIC)
# remoteName: slash-separated path components ("library/ubuntu").
_REMOTE_NAME = _PATH_COMPONENT + _any_times("/", _PATH_COMPONENT)
# namePat: an optional registry and "/", then the remote name.
_NAME_PAT = _optional(_DOMAIN_AND_PORT, "/") + _REMOTE_NAME

ANCHORED_TAG_RE = _anchored(_TAG)
ANCHORED_DIGEST_RE = _anchored(_DIGEST_PAT)
ANCHORED_IDENTIFIER_RE = _anchored(_IDENTIFIER)
DOMAIN_AND_PORT_RE = _anchored(_DOMAIN_AND_PORT)
PATH_COMPONENT_RE = _anchored(_PATH_COMPONENT)
#: anchoredNameRegexp: groups ``domain`` (may be absent) and ``path``.
ANCHORED_NAME_RE = _anchored(
    _optional(_capture("domain", _DOMAIN_AND_PORT), "/"), _capture("path", _REMOTE_NAME)
)
#: ReferenceRegexp: groups ``name``, ``tag`` and ``digest``.
REFERENCE_RE = _anchored(
    _capture("name", _NAME_PAT),
    _optional(":", _capture("tag", _TAG)),
    _optional("@", _capture("digest", _DIGEST_PAT)),
)
#: What follows the registry once the domain is split off: groups ``path``, ``tag`` and ``digest``.
REMAINDER_RE = _anchored(
    _capture("path", _REMOTE_NAME),
    _optional(":", _capture("tag", _TAG)),
    _optional("@", _capture("digest", _DIGEST_PAT)),
)

#: The rules above in words, for error messages.
COMPONENT_RULE = "lower-case letters and digits separated by '.', '_', '__' or '-'"
TAG_RULE = "up to 128 ASCII letters, digits, '_', '.' or '-', not starting with '.' or '-'"
