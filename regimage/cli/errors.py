"""The CLI's error messages: one line saying what went wrong and what to do next.

:mod:`regimage.cli.status` decides the exit status (``EXIT_CODES``); this module words the failure,
for the ``regimage: error: …`` line (:func:`report`) and for audit's error records (:func:`describe`).
"""

from __future__ import annotations

import re
import traceback
from typing import Any, TextIO

from regimage import errors
from regimage.cli.session import Options
from regimage.cli.status import UsageError, exit_status_for, primary

__all__ = ["describe", "error_message", "report"]

_NAMES_AN_OPTION = re.compile(r"(?:^|[\s(])--[a-z]")


def error_message(exc: BaseException, options: Options) -> str:
    """One line saying what went wrong and what to do next."""
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted"
    if isinstance(exc, TimeoutError) and options.timeout is not None:
        text = f"timed out after {options.timeout:g} s"
    elif isinstance(exc, errors.RegImageError | UsageError):
        text = str(exc)
    else:
        text = f"unexpected {type(exc).__name__}: {exc}"
    text = re.sub(r"\s*\n\s*", " ", text).strip()
    # The library's messages often say what to do already, in the CLI's words (--ca-file, …).
    hint = "" if _NAMES_AN_OPTION.search(text) else _hint(exc, options)
    return f"{text} — {hint}" if hint else text


def _hint(exc: BaseException, options: Options) -> str:
    if isinstance(exc, UsageError):
        return "see regimage --help"
    if isinstance(exc, errors.InvalidPlatform):
        return "write os/arch[/variant], e.g. --platform linux/arm64/v8"
    if isinstance(exc, errors.InvalidReference | errors.InvalidDigest):
        return "write [registry/]repository[:tag][@sha256:…], or oci:DIR[:tag] for an OCI layout"
    if isinstance(exc, errors.NoMatchingPlatform):
        if exc.available:
            return f"pick one of {', '.join(exc.available)} with --platform"
        return "list what it offers with: regimage platforms REF"
    if isinstance(exc, errors.NotFound):
        return "check the repository and tag; list the tags with: regimage tags REPO"
    if isinstance(exc, errors.AccessDenied):
        return "these credentials may not pull this repository"
    if isinstance(exc, errors.AuthenticationError):
        return (
            "pass --username with --password-stdin (or set REGIMAGE_USERNAME and REGIMAGE_PASSWORD),"
            " or log in with docker login"
        )
    if isinstance(exc, errors.DigestMismatch | errors.SizeMismatch):
        return "the registry served content that does not match its digest: retry, report it if it persists"
    if isinstance(exc, errors.SizeLimitExceeded):
        return "regimage refuses documents this large; this is not a usual manifest or config"
    if isinstance(exc, errors.NotAnImage):
        return "this is an artifact, not an image; show it with: regimage manifest REF"
    if isinstance(exc, errors.UnsupportedMediaType):
        return (
            "regimage reads OCI and Docker schema 2 images; re-push legacy images in one of those"
        )
    if isinstance(exc, errors.InvalidDocument | errors.WalkLimitExceeded):
        return (
            "the registry served a malformed document; see it as served with: regimage manifest REF"
        )
    if isinstance(exc, errors.RateLimited):
        wait = f" {exc.retry_after:g} s" if exc.retry_after else " a while"
        return f"wait{wait} and retry, or log in for a higher limit"
    if isinstance(exc, errors.RegistryError | errors.InvalidChallenge):
        return "the registry refused the request; rerun with -v to see the exchange"
    if isinstance(exc, errors.NetworkError):
        if options.plain_http:
            return "check the registry address and that it is up; rerun with -v to see the requests"
        return (
            "check the registry address and that it is up; a plain-HTTP registry off loopback "
            "needs --plain-http"
        )
    if isinstance(exc, TimeoutError):
        return "raise --timeout, or rerun with -v to see which request stalls"
    if isinstance(exc, KeyboardInterrupt):
        return ""
    if isinstance(exc, errors.RegImageError):
        return "rerun with -v to see the requests"
    return "this is a bug: rerun with --debug and report the traceback"


def describe(exc: BaseException, *, timeout: float | None = None) -> dict[str, Any]:
    """An error record for JSON output: ``{kind, message, exitCode}``; ``kind`` is the exception
    class name, or ``Timeout`` for --timeout (whose message then says after how long)."""
    if isinstance(exc, TimeoutError):
        kind = "Timeout"
        text = f"timed out after {timeout:g} s" if timeout is not None else str(exc)
    else:
        kind = type(exc).__name__
        text = str(exc)
    message = re.sub(r"\s*\n\s*", " ", text or kind).strip()
    return {"kind": kind, "message": message, "exitCode": int(exit_status_for(exc))}


def report(exc: BaseException, stderr: TextIO, options: Options) -> int:
    """Write the one-line error (and the traceback with --debug); return the exit status."""
    leaf = primary(exc)
    if options.debug:
        traceback.print_exception(type(exc), exc, exc.__traceback__, file=stderr)
    stderr.write(f"regimage: error: {error_message(leaf, options)}\n")
    return exit_status_for(leaf)
