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
from regimage.cli.streams import one_line
from regimage.cli.terminal import terminal_text
from regimage.model.reference import Reference

__all__ = ["describe", "error_message", "report"]

_NAMES_AN_OPTION = re.compile(r"(?:^|[\s(])--[a-z]")


def error_message(
    exc: BaseException,
    options: Options,
    *,
    command: str | None = None,
    subject: str | None = None,
) -> str:
    """One line saying what went wrong and what to do next; ``command`` (its name) and ``subject``
    (the reference or repository it was given) let the advice name what to run."""
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted"
    if isinstance(exc, TimeoutError) and options.timeout is not None:
        text = f"timed out after {options.timeout:g} s"
    elif isinstance(exc, errors.RegImageError | UsageError):
        text = str(exc)
    else:
        text = f"unexpected {type(exc).__name__}: {exc}"
    text = one_line(text)
    # The library's messages often say what to do already, in the CLI's words (--ca-file, …).
    hint = "" if _NAMES_AN_OPTION.search(text) else _hint(exc, options, command, subject)
    # Escaped for the terminal: the message and the hint may quote the registry (its errors, its
    # platforms), and a registry's text must not act on the screen (regimage.cli.terminal).
    return terminal_text(f"{text} — {hint}" if hint else text)


def _hint(exc: BaseException, options: Options, command: str | None, subject: str | None) -> str:
    if isinstance(exc, UsageError):
        return "see regimage --help"
    if isinstance(exc, errors.InvalidPlatform):
        return "write os/arch[/variant], e.g. --platform linux/arm64/v8"
    if isinstance(exc, errors.InvalidReference | errors.InvalidDigest):
        return "write [registry/]repository[:tag][@sha256:…], or oci:DIR[:tag] for an OCI layout"
    if isinstance(exc, errors.InvalidConfiguration | errors.RegistryBlocked):
        if exc.path:
            return (
                f"edit {exc.path}, or pass --no-mirrors to read neither registries.conf nor "
                "hosts.toml"
            )
        return "see regimage --help"
    if isinstance(exc, errors.NoMatchingPlatform):
        if exc.available:
            return f"pick one of {', '.join(exc.available)} with --platform"
        return "list what it offers with: regimage platforms REF"
    if isinstance(exc, errors.NotFound):
        return _not_found_hint(command, subject)
    if isinstance(exc, errors.ProxyError):  # its 407 included: not the registry's credentials
        return (
            "check the proxy and the variable that names it (HTTPS_PROXY, HTTP_PROXY), or list "
            "the registry in NO_PROXY to reach it directly"
        )
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
    if isinstance(exc, errors.RootFSMismatch):
        return "compare the two with: regimage manifest REF and regimage config REF"
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


def _not_found_hint(command: str | None, subject: str | None) -> str:
    """What to check when something was not found: ``regimage tags`` with the repository or
    layout the command was given, except after ``tags`` itself."""
    if subject is not None and subject.startswith("oci:"):
        if command == "tags":
            return "check the layout directory"
        from regimage.content.oci_layout import OCIReference  # anyio: loaded by the command

        try:
            layout = f"oci:{OCIReference.parse(subject).path}"
        except errors.InvalidReference:
            layout = "oci:DIR"
        return f"check the layout directory and the tag; list its tags with: regimage tags {layout}"
    if command == "tags":
        return "check the repository name, and that these credentials may see it"
    try:
        repository = Reference.parse(subject).familiar_name if subject else "REPO"
    except errors.InvalidReference:
        repository = "REPO"
    return f"check the repository and tag; list the tags with: regimage tags {repository}"


def describe(exc: BaseException, *, timeout: float | None = None) -> dict[str, Any]:
    """An error record for JSON output: ``{kind, message, exitCode}``; ``kind`` is the exception
    class name, or ``Timeout`` for --timeout (whose message then says after how long)."""
    if isinstance(exc, TimeoutError):
        kind = "Timeout"
        text = f"timed out after {timeout:g} s" if timeout is not None else str(exc)
    else:
        kind = type(exc).__name__
        text = str(exc)
    message = one_line(text or kind)
    return {"kind": kind, "message": message, "exitCode": int(exit_status_for(exc))}


def report(
    exc: BaseException,
    stderr: TextIO,
    options: Options,
    *,
    command: str | None = None,
    subject: str | None = None,
) -> int:
    """Write the one-line error (and the traceback with --debug); return the exit status."""
    leaf = primary(exc)
    if options.debug:
        for chunk in traceback.format_exception(exc):  # the messages in it may be the registry's
            lines = chunk.rstrip("\n").split("\n")
            stderr.write("".join(f"{terminal_text(line)}\n" for line in lines))
    message = error_message(leaf, options, command=command, subject=subject)
    stderr.write(f"regimage: error: {message}\n")
    return exit_status_for(leaf)
