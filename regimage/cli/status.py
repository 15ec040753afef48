"""The command line's exit status: one code per kind of failure a script may want to tell apart.

:data:`EXIT_CODES` is the one table from exception to exit code (most specific class first);
:data:`SEVERITY` picks the code when several failures happened (an audit, an exception group).

0 ok · 1 unexpected error · 2 usage (argparse's own, and a ``--platform`` that does not parse) · 3
invalid reference or digest · 4 not found (also: no manifest for the wanted platform) · 5
authentication or access denied · 6 digest or size mismatch, or a body over its size limit · 7
unsupported media type, malformed document, artifact where an image was needed · 8 registry or
network error, rate limit, ``--timeout`` · 130 interrupted · 141 the reader of stdout left (128 +
SIGPIPE; :mod:`regimage.cli.streams` has the rule, and that for a stdout that cannot be written: 1).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from enum import IntEnum, unique

from regimage import errors
from regimage.cli.streams import OutputClosed, OutputFailed

__all__ = [
    "EXIT_CODES",
    "SEVERITY",
    "ExitStatus",
    "UsageError",
    "exit_status_for",
    "leaves",
    "most_severe",
    "primary",
]


@unique
class ExitStatus(IntEnum):
    """Process exit codes; one per kind of failure a script may want to tell apart."""

    OK = 0
    ERROR = 1  # unexpected: a bug, rerun with --debug
    USAGE = 2  # argparse's code, kept
    INVALID_REFERENCE = 3
    NOT_FOUND = 4
    AUTH = 5
    MISMATCH = 6
    UNSUPPORTED = 7
    REGISTRY = 8
    INTERRUPTED = 130  # 128 + SIGINT
    BROKEN_PIPE = 141  # 128 + SIGPIPE: the reader of stdout left


class UsageError(Exception):
    """A command line that parses but cannot be run as given (exit 2)."""


#: Exception class → exit status, most specific class first; the first match wins.
EXIT_CODES: tuple[tuple[type[BaseException], ExitStatus], ...] = (
    (KeyboardInterrupt, ExitStatus.INTERRUPTED),
    (OutputClosed, ExitStatus.BROKEN_PIPE),
    (OutputFailed, ExitStatus.ERROR),  # as GNU tools: "write error: No space left on device", 1
    (UsageError, ExitStatus.USAGE),
    # A platform reaches the CLI unparsed only from --platform: documents' platforms are wrapped in
    # InvalidDocument by the decoders. So it is a usage error.
    (errors.InvalidPlatform, ExitStatus.USAGE),
    # A registries.conf, hosts.toml or --mirror that does not parse: like a usage error, nothing
    # can run until the user fixes it (or passes --no-mirrors).
    (errors.InvalidConfiguration, ExitStatus.USAGE),
    (errors.InvalidReference, ExitStatus.INVALID_REFERENCE),
    (errors.InvalidDigest, ExitStatus.INVALID_REFERENCE),
    (errors.NoMatchingPlatform, ExitStatus.NOT_FOUND),
    (errors.NotFound, ExitStatus.NOT_FOUND),
    (errors.AuthenticationError, ExitStatus.AUTH),  # AccessDenied included
    # Refused by the user's own policy (registries.conf blocked = true) rather than by the
    # registry: still "not allowed", and retrying does not help, unlike a network error (8).
    (errors.RegistryBlocked, ExitStatus.AUTH),
    (errors.DigestMismatch, ExitStatus.MISMATCH),
    (errors.SizeMismatch, ExitStatus.MISMATCH),
    (errors.SizeLimitExceeded, ExitStatus.MISMATCH),
    (errors.UnsupportedMediaType, ExitStatus.UNSUPPORTED),
    (errors.InvalidDocument, ExitStatus.UNSUPPORTED),
    (errors.NotAnImage, ExitStatus.UNSUPPORTED),
    (errors.WalkLimitExceeded, ExitStatus.UNSUPPORTED),
    (errors.RateLimited, ExitStatus.REGISTRY),
    (errors.RegistryError, ExitStatus.REGISTRY),
    (errors.InvalidChallenge, ExitStatus.REGISTRY),
    (errors.NetworkError, ExitStatus.REGISTRY),
    (TimeoutError, ExitStatus.REGISTRY),  # --timeout (anyio.fail_after)
)

#: When several failures happened (audit, or an exception group), the exit code is the most severe
#: one: an interruption or the reader gone, then a bug, then failures that likely hit every
#: reference (network, auth), then failures of one reference.
SEVERITY: tuple[ExitStatus, ...] = (
    ExitStatus.INTERRUPTED,
    ExitStatus.BROKEN_PIPE,
    ExitStatus.ERROR,
    ExitStatus.REGISTRY,
    ExitStatus.AUTH,
    ExitStatus.MISMATCH,
    ExitStatus.UNSUPPORTED,
    ExitStatus.NOT_FOUND,
    ExitStatus.INVALID_REFERENCE,
    ExitStatus.USAGE,
    ExitStatus.OK,
)


def exit_status_for(exc: BaseException) -> ExitStatus:
    """The exit status for one exception (not a group): the first matching row of EXIT_CODES."""
    for cls, status in EXIT_CODES:
        if isinstance(exc, cls):
            return status
    return ExitStatus.ERROR


def most_severe(statuses: Sequence[ExitStatus]) -> ExitStatus:
    """The most severe status of several (ExitStatus.OK when there are none)."""
    return min(statuses, key=SEVERITY.index, default=ExitStatus.OK)


def leaves(exc: BaseException) -> Iterator[BaseException]:
    """The exceptions inside (nested) exception groups; an exception that is not a group itself."""
    inner = getattr(exc, "exceptions", None)
    if isinstance(inner, tuple) and inner:
        for member in inner:
            yield from leaves(member)
    else:
        yield exc


def primary(exc: BaseException) -> BaseException:
    """The one exception to report for ``exc``: itself, or the most severe member of a group."""
    return min(leaves(exc), key=lambda e: SEVERITY.index(exit_status_for(e)))
