"""The ``regimage`` command line: a thin layer over the public API.

Commands (one verb per library call, crane's set)::

    regimage size REF [--platform P]... [--all-platforms] [--breakdown] [--bytes] [--json]
    regimage config REF [--platform P]... [--raw]
    regimage rootfs REF [--platform P]... [--json]        (alias: diff-ids)
    regimage chain-ids REF [--platform P]... [--json]
    regimage manifest REF [--platform P]... [--pretty]
    regimage digest REF [--platform P]... [--json]
    regimage platforms REF [--json]
    regimage inspect REF [--platform P]... [--json]
    regimage tags REPO [--json]
    regimage referrers REF [--artifact-type T] [--json]
    regimage audit [REF...] [--file F] [--jobs N] [--budget N] [--csv] [--platform P]...

REF is a registry reference (``ubuntu``, ``ghcr.io/acme/api:1.4``, ``host:5000/repo@sha256:…``) or an
OCI image layout directory, ``oci:DIR[:TAG]``. Every command also takes the connection options
``--username`` with ``--password-stdin`` (or ``REGIMAGE_USERNAME``/``REGIMAGE_PASSWORD``), ``--ca-file``,
``--insecure`` (TLS without certificate verification), ``--plain-http`` (no TLS: loopback registries
get plain HTTP without it), ``--timeout`` and the diagnostics ``-v/--verbose`` and ``--debug``.

**What size means.** ``size`` is what a pull of one platform transfers: the index bytes on the path,
the selected manifest, its config and its layers as stored (compressed); a layer listed twice counts
twice (containerd's ``Image.Size``). ``--all-platforms`` adds each platform's size and the distinct
total: every blob reachable from the index counted once, attestation manifests reported apart.

**JSON output, schema 1.** Every ``--json`` document and every audit record is one object whose first
key is ``"schema": 1``. Within schema 1 keys may be added, never renamed, removed or retyped.
Digests are ``"sha256:…"`` strings, sizes integers in bytes, platforms ``"os/arch[/variant]"`` or null.

- ``size``: ``reference`` (normalized), ``digest`` (the root document's), ``mediaType`` (the root's),
  ``platform`` (of the selected manifest, or null), ``manifestDigest``, ``size``,
  ``breakdown`` {``index``, ``manifest``, ``config``, ``layers``, ``layerCount``}; with ``--all-platforms``
  also ``platforms`` [{``platform``, ``digest``, ``size``, ``attestation``}] (every manifest below the
  root, attestation manifests flagged), ``distinctSize`` (each blob reachable from the root once) and
  ``attestationSize`` (the part of it under attestation manifests).
- ``rootfs`` and ``chain-ids``: ``reference``, ``manifestDigest``, ``config`` (the config digest),
  ``diffIDs``, ``chainIDs``.
- ``inspect``: every key of ``size`` and ``rootfs``, plus ``configDigest`` (same value as ``config``),
  ``created``, ``labels`` {…}, ``env`` […], ``layers`` [{``digest``, ``mediaType``, ``size``, ``diffID``,
  ``createdBy``}] (``createdBy`` pairs each layer with its history entry, empty-layer entries skipped;
  null when the history is shorter), ``rateLimit`` {``registry``, ``limit``, ``remaining``, ``window``
  (seconds or null), ``reset`` (seconds or null), ``text``}: the pull budget the registry stated
  after the inspection, present only when it stated one (Docker Hub).
- ``digest``: ``reference``, ``digest`` (the root's, or the platform manifest's with ``--platform``),
  ``mediaType``, ``size`` (of that document).
- ``platforms``: ``reference``, ``digest``, ``platforms`` [``"os/arch[/variant]"``…].
- ``tags``: ``repository``, ``tags`` (sorted).
- ``referrers``: ``reference``, ``digest`` (the subject), ``referrers`` [descriptors as OCI JSON].
- ``audit`` (JSON Lines, one record per reference, in input order): ``index`` (0-based position in
  the input), ``reference`` (normalized, or the input text when it does not parse), ``ok``; on success
  ``digest``, ``manifestDigest``, ``platform``, ``size``, ``config`` (the config digest); on failure
  ``error`` {``kind`` (the exception class, or ``Timeout``), ``message``, ``exitCode``}. ``--csv`` writes
  the same fields as columns: index, reference, ok, digest, manifestDigest, platform, size, config,
  errorKind, errorMessage, exitCode.

``REGIMAGE_BACKEND=trio`` runs the command on trio instead of asyncio (anyio runs either).

**Exit status** (:class:`ExitStatus`; :data:`EXIT_CODES` maps exception classes to it, most specific
first): 0 ok · 1 unexpected error · 2 usage (argparse's own, and a ``--platform`` that does not parse)
· 3 invalid reference or digest · 4 not found (also: no manifest for the wanted platform) · 5
authentication or access denied · 6 digest or size mismatch, or a body over its size limit · 7
unsupported media type, malformed document, artifact where an image was needed · 8 registry or
network error, rate limit, ``--timeout`` · 130 interrupted. ``audit`` exits with the most severe code
among its failures (:data:`SEVERITY`).
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from enum import IntEnum, unique

from regimage import errors
from regimage._version import __version__

# typing and dataclasses are not imported: ``regimage --version`` loads only this module, and
# those two would cost it more than the rest. (Type checkers treat TYPE_CHECKING alike.)
TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from typing import TextIO, TypeAlias

    from regimage.image.image import Image
    from regimage.model.ratelimit import RateLimit
    from regimage.registry.client import RegistryProvider

__all__ = ["EXIT_CODES", "SEVERITY", "ExitStatus", "exit_status_for", "main", "run"]


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


#: Exception class → exit status, most specific class first; the first match wins.
EXIT_CODES: tuple[tuple[type[BaseException], ExitStatus], ...] = (
    (KeyboardInterrupt, ExitStatus.INTERRUPTED),
    # A platform reaches the CLI unparsed only from --platform: documents' platforms are wrapped in
    # InvalidDocument by the decoders. So it is a usage error.
    (errors.InvalidPlatform, ExitStatus.USAGE),
    (errors.InvalidReference, ExitStatus.INVALID_REFERENCE),
    (errors.InvalidDigest, ExitStatus.INVALID_REFERENCE),
    (errors.NoMatchingPlatform, ExitStatus.NOT_FOUND),
    (errors.NotFound, ExitStatus.NOT_FOUND),
    (errors.AuthenticationError, ExitStatus.AUTH),  # AccessDenied included
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
#: one: an interruption, then a bug, then failures that likely hit every reference (network, auth),
#: then failures of one reference.
SEVERITY: tuple[ExitStatus, ...] = (
    ExitStatus.INTERRUPTED,
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


class UsageError(Exception):
    """A command line that parses but cannot be run as given (exit 2)."""


def exit_status_for(exc: BaseException) -> ExitStatus:
    """The exit status for one exception (not a group): the first matching row of EXIT_CODES."""
    if isinstance(exc, UsageError):
        return ExitStatus.USAGE
    for cls, status in EXIT_CODES:
        if isinstance(exc, cls):
            return status
    return ExitStatus.ERROR


def most_severe(statuses: Sequence[ExitStatus]) -> ExitStatus:
    """The most severe status of several (ExitStatus.OK when there are none)."""
    return min(statuses, key=SEVERITY.index, default=ExitStatus.OK)


class Options:
    """The connection and diagnostics options every command shares (read-only once made)."""

    __slots__ = (
        "ca_file",
        "cache",
        "debug",
        "insecure",
        "password",
        "plain_http",
        "timeout",
        "username",
        "verbose",
    )

    username: str | None
    password: str | None
    insecure: bool
    plain_http: bool
    ca_file: str | None
    timeout: float | None
    verbose: bool
    debug: bool
    cache: bool

    def __init__(
        self,
        *,
        username: str | None = None,
        password: str | None = None,
        insecure: bool = False,
        plain_http: bool = False,
        ca_file: str | None = None,
        timeout: float | None = None,
        verbose: bool = False,
        debug: bool = False,
        cache: bool = True,  # the disk cache (--no-cache turns it off)
    ) -> None:
        set_ = object.__setattr__
        set_(self, "username", username)
        set_(self, "password", password)
        set_(self, "insecure", insecure)
        set_(self, "plain_http", plain_http)
        set_(self, "ca_file", ca_file)
        set_(self, "timeout", timeout)
        set_(self, "verbose", verbose)
        set_(self, "debug", debug)
        set_(self, "cache", cache)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"Options are read-only: cannot set {name!r}")

    def __repr__(self) -> str:  # the password never reaches a repr
        return (
            f"Options(username={self.username!r}, insecure={self.insecure}, timeout={self.timeout})"
        )


class Console:
    """Where a command writes: the answer on stdout, diagnostics on stderr."""

    __slots__ = ("stderr", "stdin", "stdout")

    def __init__(self, stdout: TextIO, stderr: TextIO, stdin: TextIO) -> None:
        self.stdout = stdout
        self.stderr = stderr
        self.stdin = stdin


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
    members = list(leaves(exc))
    return min(members, key=lambda e: SEVERITY.index(exit_status_for(e)))


def _options(args: argparse.Namespace, environ: Mapping[str, str], stdin: TextIO) -> Options:
    username = getattr(args, "username", None) or environ.get("REGIMAGE_USERNAME") or None
    password: str | None = None
    if getattr(args, "password_stdin", False):
        reads_stdin = getattr(args, "reads_stdin", None)
        if reads_stdin is not None and reads_stdin(args):
            raise UsageError(
                "--password-stdin needs stdin, which this command reads references from"
            )
        password = stdin.read().rstrip("\r\n")
        if not password:
            raise UsageError("--password-stdin read an empty password")
    elif environ.get("REGIMAGE_PASSWORD"):
        password = environ["REGIMAGE_PASSWORD"]
    if username and password is None:
        raise UsageError(
            "--username needs a password: pipe it to --password-stdin or set REGIMAGE_PASSWORD"
        )
    if password is not None and not username:
        raise UsageError("a password needs a user name: pass --username or set REGIMAGE_USERNAME")
    return Options(
        username=username,
        password=password,
        insecure=getattr(args, "insecure", False),
        plain_http=getattr(args, "plain_http", False),
        ca_file=getattr(args, "ca_file", None),
        timeout=getattr(args, "timeout", None),
        verbose=getattr(args, "verbose", False),
        debug=getattr(args, "debug", False),
        cache=not getattr(args, "no_cache", False),
    )


# ── running ───────────────────────────────────────────────────────────────────────────────────────

#: A command's coroutine: it writes its answer and returns the exit status.
Command: TypeAlias = "Callable[[Session, argparse.Namespace], Awaitable[int]]"


class Session:
    """What commands resolve references with: one RegistryProvider for the whole run (opened on first
    use, closed at the end) and OCI layouts for ``oci:`` references."""

    def __init__(
        self, console: Console, options: Options, stack: contextlib.AsyncExitStack
    ) -> None:
        self.console = console
        self.options = options
        self._stack = stack
        self._registry: RegistryProvider | None = None

    async def registry(self) -> RegistryProvider:
        """The run's one RegistryProvider; open it from the task that owns the session."""
        if self._registry is None:
            self._registry = await self._stack.enter_async_context(open_registry(self.options))
            _start_up_over()
        return self._registry

    async def image(
        self, text: str, platform: Sequence[str] | None = None, *, head: bool = False
    ) -> Image:
        """Resolve ``text`` (a registry reference or ``oci:DIR[:TAG]``) to an Image; ``platform``
        (the --platform values, best first) selects from an index, None: this machine's.

        ``head``: resolve a tag with HEAD where the registry does not count HEADs against its pull
        budget (Docker Hub), then read the document by digest: the same pulls, but the budget is
        known before one is spent, and a digest seen before costs nothing more.
        """
        from regimage.image.image import Image
        from regimage.model.ratelimit import head_is_uncounted

        spec = list(platform) if platform else None
        if text.startswith("oci:"):
            from regimage.content.oci_layout import OCILayout

            _start_up_over()
            layout, ref = OCILayout.from_reference(text)
            return Image(str(ref), await layout.resolve(ref), layout).with_platform(spec)
        from regimage.model.reference import Reference

        reference = Reference.parse(text)
        registry = await self.registry()
        # Concurrent resolves need no ordering here: the provider lets its first request to a
        # host go alone and holds the others until the host has answered it.
        if head and reference.digest is None and head_is_uncounted(reference.api_host):
            target = await registry.resolve(reference, head=True)
            image = Image(str(reference), target, registry.repository(reference))
            return image.with_platform(spec)
        return await Image.resolve(reference, registry, platform=spec)

    def rate_limit(self, host: str) -> RateLimit | None:
        """The request budget ``host`` stated in this run's last answer that carried one."""
        if self._registry is None:
            return None
        # RegistryProvider.rate_limit (issue #9); a stand-in registry (tests) may lack it.
        lookup = getattr(self._registry, "rate_limit", None)
        found = lookup(host) if callable(lookup) else None
        from regimage.model.ratelimit import RateLimit

        return found if isinstance(found, RateLimit) else None


def open_registry(options: Options) -> RegistryProvider:
    """A RegistryProvider configured from the command line (the seam tests replace with a fake)."""
    from regimage.content.cache import DiskCache
    from regimage.registry.client import RegistryProvider

    return RegistryProvider(
        username=options.username,
        password=options.password,
        plain_http=options.plain_http,
        verify_tls=not options.insecure,
        ca_file=options.ca_file,
        cache=DiskCache() if options.cache else None,
    )


async def _run_command(
    command: Command, args: argparse.Namespace, console: Console, options: Options
) -> int:
    import anyio

    async with contextlib.AsyncExitStack() as stack:
        session = Session(console, options, stack)
        if options.timeout is None or getattr(args, "timeout_per_reference", False):
            return await command(session, args)
        with anyio.fail_after(options.timeout):
            return await command(session, args)


@contextlib.contextmanager
def _verbose_logging(options: Options, stderr: TextIO) -> Iterator[None]:
    if not options.verbose:
        yield
        return
    import logging  # only with -v: logging costs a tenth of the start-up

    logger = logging.getLogger("regimage")
    handler = logging.StreamHandler(stderr)
    handler.setFormatter(logging.Formatter("regimage: %(message)s"))
    previous = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)


def _warn_insecure(options: Options, stderr: TextIO) -> None:
    if options.insecure:
        stderr.write(
            "regimage: warning: --insecure: TLS certificates are not verified; anyone on the "
            "network path can read and change what regimage sees\n"
        )
    if options.plain_http:
        stderr.write(
            "regimage: warning: --plain-http: no TLS at all; anyone on the network path can read "
            "and change what regimage sees, credentials included\n"
        )


def run() -> None:
    """The console script (and ``python -m regimage``): :func:`main`, then leave at once.

    Python's own shutdown, which tears down the hundreds of modules httpx and anyio bring, takes
    longer here than a warm run's one request (tens of milliseconds, measured by scripts/bench).
    Everything the run writes is written by then (the disk cache's files are closed as they are
    written): the output is flushed and the process ends with ``os._exit``. The cyclic garbage
    collector waits until the imports are done (:func:`_pause_collector`).
    """
    _pause_collector()
    status = main()
    try:
        sys.stdout.flush()
    except (OSError, ValueError):  # the reader left (a broken pipe), or stdout was closed
        status = status or ExitStatus.ERROR
    with contextlib.suppress(OSError, ValueError):
        sys.stderr.flush()
    os._exit(status)


class _Collector:
    """Whether :func:`run` paused the cyclic garbage collector for the start-up."""

    paused = False


def _pause_collector() -> None:
    """Pause the cyclic collector while the program starts: the imports make hundreds of
    thousands of objects that live until exit, and collecting them again and again cost about
    4 % of a warm run's instructions (scripts/bench). :func:`_start_up_over` resumes it."""
    import gc

    gc.disable()
    _Collector.paused = True


def _start_up_over() -> None:
    """The registry client is imported: freeze what start-up made (later collections skip it)
    and let the collector run again for what the command makes (an audit runs for long)."""
    if _Collector.paused:
        import gc

        gc.freeze()
        gc.enable()
        _Collector.paused = False


def main(
    argv: Sequence[str] | None = None,
    *,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
    stdin: TextIO | None = None,
) -> int:
    """Run the command line and return the exit status (:func:`run` exits with it)."""
    console = Console(stdout or sys.stdout, stderr or sys.stderr, stdin or sys.stdin)
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments == ["--version"]:  # the fast path: no parser to build
        console.stdout.write(f"regimage {__version__}\n")
        return ExitStatus.OK
    # The CLI's own machinery, imported as attributes of the package (the layering test forbids
    # `regimage._x` imports in this module: they are meant for the library's private modules).
    from regimage.cli import parser as _cli_parser

    try:
        with contextlib.redirect_stdout(console.stdout), contextlib.redirect_stderr(console.stderr):
            parser = _cli_parser.build_parser(arguments[0] if arguments else None)
            args = parser.parse_args(arguments)
    except SystemExit as exc:  # --help, --version (0) and argparse's usage errors (2)
        return exc.code if isinstance(exc.code, int) else ExitStatus.USAGE
    options = Options(debug=getattr(args, "debug", False))
    try:
        options = _options(args, os.environ, console.stdin)
        _warn_insecure(options, console.stderr)
        started = _preconnect(args, options)
        try:
            with _verbose_logging(options, console.stderr):
                return _run(args.run, args, console, options)
        finally:
            if started:
                from regimage.http import preconnect

                preconnect.discard()
    except BaseException as exc:  # the one place failures become exit codes
        if isinstance(exc, SystemExit | GeneratorExit):
            raise
        if isinstance(primary(exc), BrokenPipeError):  # `regimage audit … | head`: reader left
            _silence_stdout(console.stdout)
            return ExitStatus.ERROR
        return report(exc, console.stderr, options)


def _preconnect(args: argparse.Namespace, options: Options) -> bool:
    """Start the TCP and TLS handshakes with the registry of the command's reference now, in a
    thread, while the run still imports httpx and anyio (:mod:`regimage.http.preconnect`); True if
    started. ``REGIMAGE_PRECONNECT=0`` turns it off (the test suite does: its fake hosts must
    never be looked up)."""
    if os.environ.get("REGIMAGE_PRECONNECT", "1") == "0":
        return False
    text = getattr(args, "ref", None) or getattr(args, "repo", None)
    first_reference = getattr(args, "first_reference", None)  # audit: the first it will read
    if text is None and callable(first_reference):
        text = first_reference(args)
    if not isinstance(text, str) or text.startswith("oci:"):
        return False
    from regimage.http import preconnect
    from regimage.model.reference import Reference, split_host

    try:
        api_host = Reference.parse(text).api_host
        host, port = split_host(api_host)
    except (errors.RegImageError, ValueError):
        return False  # the command reports it
    if not host:
        return False
    # HTTPS unless told otherwise: a loopback registry's plain HTTP is found out by the provider
    # (the TLS handshake then fails here, and only costs this thread its time).
    tls = not options.plain_http
    # Once connected, the thread also asks GET /v2/ (what the registry wants), unless the disk
    # cache remembers the answer: then the provider asks nothing before its first request either.
    # Looking in the cache takes longer than starting the thread: it is done once it runs.
    probe = _ProbeDecision()
    preconnect.start(
        host,
        port or (443 if tls else 80),
        tls=tls,
        ca_file=options.ca_file,
        verify=not options.insecure,
        probe=probe,
    )
    probe.decide(not (options.cache and _challenge_remembered(api_host)))
    return True


class _ProbeDecision:
    """Whether the start-up thread is to ask ``GET /v2/``: it waits here for the answer."""

    __slots__ = ("_decided", "_wanted")

    def __init__(self) -> None:
        import threading

        self._decided = threading.Event()
        self._wanted = False

    def decide(self, wanted: bool) -> None:
        self._wanted = wanted
        self._decided.set()

    def __call__(self) -> bool:
        return self._decided.wait(5.0) and self._wanted


def _challenge_remembered(api_host: str) -> bool:
    """Whether the disk cache knows what ``api_host`` answers, as the provider will see it."""
    from regimage.content.cache import DiskCache
    from regimage.model.reference import is_loopback_host

    try:
        found = DiskCache().challenge(api_host, loopback=is_loopback_host(api_host))
    except (OSError, ValueError):
        return False
    return found is not None


def _silence_stdout(stdout: TextIO) -> None:
    """Point a closed stdout pipe at /dev/null, so that flushing it at exit raises nothing more."""
    if stdout is not sys.stdout:
        return
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


def _run(command: Command, args: argparse.Namespace, console: Console, options: Options) -> int:
    import anyio

    backend = os.environ.get("REGIMAGE_BACKEND", "asyncio")
    return anyio.run(_run_command, command, args, console, options, backend=backend)


def report(exc: BaseException, stderr: TextIO, options: Options) -> int:
    """Write the one-line error (and the traceback with --debug); return the exit status."""
    from regimage.cli import errors as _cli_errors

    leaf = primary(exc)
    if options.debug:
        import traceback

        traceback.print_exception(type(exc), exc, exc.__traceback__, file=stderr)
    stderr.write(f"regimage: error: {_cli_errors.error_message(leaf, options)}\n")
    return exit_status_for(leaf)
