"""What a command works with: the options every command shares, the console it writes to (with
the diagnostics the options ask for), and the session it resolves references through (one
RegistryProvider for the run, OCI layouts for ``oci:``), on the event loop :func:`run_command` runs.

The library is imported when a command first needs it, not with this module: the parser and
``--help`` use these names, and must not import httpx or anyio.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TextIO, TypeAlias

from regimage.cli import collector
from regimage.cli.network import check_network_settings
from regimage.cli.status import UsageError
from regimage.cli.streams import one_line, warning_line
from regimage.cli.terminal import terminal_text
from regimage.content.disk_cache import DiskCache
from regimage.errors import InvalidReference
from regimage.model.ratelimit import RateLimit, head_is_uncounted
from regimage.model.reference import Reference

if TYPE_CHECKING:
    from regimage.content.oci_layout import OCILayout, OCIReference
    from regimage.image.image import Image
    from regimage.registry.client import RegistryProvider
    from regimage.registry.preconnect import Preconnect

__all__ = [
    "Command",
    "Console",
    "Options",
    "Session",
    "log_to",
    "open_registry",
    "read_options",
    "run_command",
    "warn_insecure",
]


@dataclass(frozen=True, slots=True)
class Options:
    """The connection and diagnostics options every command shares."""

    username: str | None = None
    password: str | None = field(default=None, repr=False)  # never in a repr
    insecure: bool = False
    plain_http: bool = False
    ca_file: str | None = None
    timeout: float | None = None
    verbose: bool = False
    debug: bool = False
    cache: bool = True  # the disk cache (--no-cache turns it off)
    mirrors: tuple[str, ...] = ()  # --mirror REGISTRY=MIRROR, in order
    mirror_files: bool = True  # registries.conf and hosts.toml (--no-mirrors turns them off)
    jobs: int | None = None  # audit --jobs: requests in flight per registry, at least the default


def read_options(args: argparse.Namespace, environ: Mapping[str, str], stdin: TextIO) -> Options:
    """The options of a parsed command line; the password from stdin or the environment."""
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
    check_network_settings(getattr(args, "ca_file", None), environ)
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
        mirrors=tuple(getattr(args, "mirror", None) or ()),
        mirror_files=not getattr(args, "no_mirrors", False),
        jobs=getattr(args, "jobs", None),
    )


@dataclass(frozen=True, slots=True)
class Console:
    """Where a command writes: the answer on stdout, diagnostics on stderr (see
    :mod:`regimage.cli.streams` for what happens when they cannot be written)."""

    stdout: TextIO
    stderr: TextIO
    stdin: TextIO

    def warn(self, text: str) -> None:
        """One ``regimage: warning: …`` line on stderr: every warning of the command line."""
        self.stderr.write(warning_line(text))


def warn_insecure(options: Options, console: Console) -> None:
    """Say loudly what --insecure and --plain-http give up."""
    if options.insecure:
        console.warn(
            "--insecure: TLS certificates are not verified; anyone on the network path can read "
            "and change what regimage sees"
        )
    if options.plain_http:
        console.warn(
            "--plain-http: no TLS at all; anyone on the network path can read and change what "
            "regimage sees, tokens included (passwords go over plain HTTP to loopback registries "
            "only)"
        )


class _LineFormatter(logging.Formatter):
    """regimage's log records as the command line's lines: a warning as ``regimage: warning: …``
    (as the command line's own), the -v trace as ``regimage: …``; one line per record."""

    def format(self, record: logging.LogRecord) -> str:
        text = record.getMessage()
        if record.levelno >= logging.WARNING:
            line = warning_line(text).rstrip("\n")
        else:
            line = f"regimage: {terminal_text(one_line(text))}"  # it may quote the registry
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


@contextlib.contextmanager
def log_to(console: Console, options: Options) -> Iterator[None]:
    """regimage's log on the console's stderr while the run lasts: its warnings always (a
    credential file it cannot read, a helper not on PATH), the requests too with -v (secrets
    masked). Without a handler, Python would print the warnings bare, on the process's stderr."""
    logger = logging.getLogger("regimage")
    level = logging.DEBUG if options.verbose else logging.WARNING
    handler = logging.StreamHandler(console.stderr)
    handler.setFormatter(_LineFormatter())
    handler.setLevel(level)
    previous = logger.level
    logger.addHandler(handler)
    logger.setLevel(level)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)


class Session:
    """What commands resolve references with: one RegistryProvider for the whole run (opened on
    first use, closed at the end) and OCI layouts for ``oci:`` references. ``preconnect`` holds
    what the start-up opened for the registry (handed to the provider)."""

    def __init__(
        self,
        console: Console,
        options: Options,
        stack: contextlib.AsyncExitStack,
        preconnect: Preconnect | None = None,
    ) -> None:
        self.console = console
        self.options = options
        self._stack = stack
        self._preconnect = preconnect
        self._registry: RegistryProvider | None = None

    async def registry(self) -> RegistryProvider:
        """The run's one RegistryProvider; open it from the task that owns the session."""
        if self._registry is None:
            opened = open_registry(self.options, self._preconnect)
            self._registry = await self._stack.enter_async_context(opened)
            collector.start_up_over()
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
        from regimage.image.image import Image  # with anyio: not for the parser nor --help

        spec = list(platform) if platform else None
        if text.startswith("oci:"):
            layout, ref = _layout(text)
            return Image(str(ref), await layout.resolve(ref), layout).with_platform(spec)
        reference = Reference.parse(text)
        registry = await self.registry()
        # Concurrent resolves need no ordering here: the provider lets its first request to a
        # host go alone and holds the others until the host has answered it.
        if head and reference.digest is None and head_is_uncounted(reference.api_host):
            target = await registry.resolve(reference, head=True)
            image = Image(str(reference), target, registry.repository(reference))
            return image.with_platform(spec)
        return await Image.resolve(reference, registry, platform=spec)

    async def layout_tags(self, text: str) -> tuple[str, list[str]]:
        """The name and the sorted tags of the OCI layout ``oci:DIR`` (no tag, no digest)."""
        layout, ref = _layout(text)
        if ref.tag is not None or ref.digest is not None:
            raise InvalidReference(f"tags takes a layout directory, not an image in it: {text!r}")
        return str(ref), sorted(await layout.tags())

    def rate_limit(self, host: str) -> RateLimit | None:
        """The request budget ``host`` stated in this run's last answer that carried one."""
        if self._registry is None:
            return None
        # RegistryProvider.rate_limit (issue #9); a stand-in registry (tests) may lack it.
        lookup = getattr(self._registry, "rate_limit", None)
        found = lookup(host) if callable(lookup) else None
        return found if isinstance(found, RateLimit) else None


#: A command's coroutine: it writes its answer and returns the exit status.
Command: TypeAlias = Callable[[Session, argparse.Namespace], Awaitable[int]]


def run_command(
    command: Command,
    args: argparse.Namespace,
    console: Console,
    options: Options,
    preconnect: Preconnect | None = None,
    *,
    backend: str = "asyncio",
) -> int:
    """Run ``command`` in a new session on the event loop (``backend``: asyncio or trio), within
    --timeout unless the command times its own parts (audit); the session's registry is closed at
    the end."""
    import anyio  # not for the parser nor --help, which import this module

    async def in_session() -> int:
        async with contextlib.AsyncExitStack() as stack:
            session = Session(console, options, stack, preconnect)
            if options.timeout is None or getattr(args, "timeout_per_reference", False):
                return await command(session, args)
            with anyio.fail_after(options.timeout):
                return await command(session, args)

    return anyio.run(in_session, backend=backend)


def _layout(text: str) -> tuple[OCILayout, OCIReference]:
    """The OCI layout an ``oci:`` reference points into, and the parsed reference."""
    from regimage.content.oci_layout import OCILayout  # with anyio: not for --help

    collector.start_up_over()
    return OCILayout.from_reference(text)


def open_registry(options: Options, preconnect: Preconnect | None = None) -> RegistryProvider:
    """A RegistryProvider configured from the command line (the seam tests replace with a fake)."""
    from regimage.registry.client import (  # httpx: not for the parser nor --help
        DEFAULT_CONNECTIONS_PER_HOST,
        RegistryProvider,
    )
    from regimage.registry.mirror_files import load_mirrors

    # Read after the start-up thread has set off (its connection goes to the registry itself):
    # parsing the files does not delay it.
    mirrors = load_mirrors(options.mirrors, files=options.mirror_files)
    return RegistryProvider(
        username=options.username,
        password=options.password,
        plain_http=options.plain_http,
        verify_tls=not options.insecure,
        ca_file=options.ca_file,
        cache=DiskCache() if options.cache else None,
        preconnect=preconnect,
        mirrors=mirrors or None,
        # --jobs 64 means 64 requests in flight to a registry, not 32 and 32 waiting.
        max_connections_per_host=max(options.jobs or 0, DEFAULT_CONNECTIONS_PER_HOST),
    )
