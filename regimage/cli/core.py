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
    regimage report DB [--top N] [--built-on REF] [--html FILE] [--json]

REF is a registry reference (``ubuntu``, ``ghcr.io/acme/api:1.4``, ``host:5000/repo@sha256:…``) or an
OCI image layout directory, ``oci:DIR[:NAME]`` (skopeo's form: the directory ends at the first
colon; NAME is a tag or a full name such as ``docker.io/library/alpine:3.20``). Every command also
takes the connection options ``--username`` with ``--password-stdin`` (or
``REGIMAGE_USERNAME``/``REGIMAGE_PASSWORD``), ``--ca-file``, ``--insecure`` (TLS without
certificate verification), ``--plain-http`` (no TLS: loopback registries get plain HTTP without
it), ``--mirror REGISTRY=MIRROR`` and ``--no-mirrors`` (registries.conf and hosts.toml are read
unless it is given), ``--timeout`` and the diagnostics ``-v/--verbose`` and ``--debug``.

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
  ``attestationSize`` (the part of it under attestation manifests); for an index with nothing for
  this machine (and no ``--platform``) the table alone: ``platform``, ``manifestDigest``, ``size``
  and ``breakdown`` are null.
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
- ``report``: ``references``, ``images``, ``storage`` (per repository and in total, against the naive
  sum), ``biggest``, ``sameDigest``, ``sharedLayers``, ``sizeDistribution``, ``platforms``,
  ``builtOn``; every key in the README.

``REGIMAGE_BACKEND=trio`` runs the command on trio instead of asyncio (anyio runs either).

**Exit status** (:class:`regimage.cli.status.ExitStatus`; :data:`regimage.cli.status.EXIT_CODES`
maps exception classes to it, most specific first): 0 ok · 1 unexpected error · 2 usage (argparse's
own, and a ``--platform`` that does not parse) · 3 invalid reference or digest · 4 not found (also:
no manifest for the wanted platform) · 5 authentication or access denied · 6 digest or size
mismatch, or a body over its size limit · 7 unsupported media type, malformed document, artifact
where an image was needed · 8 registry or network error, rate limit, ``--timeout`` · 130
interrupted · 141 the reader of stdout left (``regimage … | head -1``: quietly, as a GNU tool that
SIGPIPE ended). ``audit`` exits with the most severe code among its failures
(:data:`regimage.cli.status.SEVERITY`). A stdout that cannot be written (a full disk, ``>&-``) is one
``regimage: error: cannot write to standard output: …`` line and 1; a stderr that cannot be written
drops the diagnostics (:mod:`regimage.cli.streams`).

The modules below: :mod:`~regimage.cli.status` (exit codes), :mod:`~regimage.cli.session` (options,
console, the session commands resolve through), :mod:`~regimage.cli.errors` (messages),
:mod:`~regimage.cli.parser`, :mod:`~regimage.cli.commands`, :mod:`~regimage.cli.audit` and
:mod:`~regimage.cli.report` (the commands), :mod:`~regimage.cli.streams` (stdout and stderr, and what their failures end in),
:mod:`~regimage.cli.preconnect` and :mod:`~regimage.cli.collector` (start-up).
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
from collections.abc import Sequence
from typing import TextIO

from regimage._version import __version__
from regimage.cli import collector
from regimage.cli.status import ExitStatus, primary
from regimage.cli.streams import OutputClosed, OutputFailed, Stderr, Stdout

__all__ = ["main", "run"]


def run() -> None:
    """The console script (and ``python -m regimage``): :func:`main`, then exit with its status.

    The cyclic garbage collector waits until the imports are done (:mod:`regimage.cli.collector`).
    """
    collector.pause()
    sys.exit(main())


def main(
    argv: Sequence[str] | None = None,
    *,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
    stdin: TextIO | None = None,
) -> int:
    """Run the command line and return the exit status (:func:`run` exits with it); what it wrote
    is flushed first. A stdout that cannot be written, or whose reader left, ends every command
    the same way (:mod:`regimage.cli.streams`)."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    out = Stdout(sys.stdout if stdout is None else stdout)  # None: started with stdout closed
    err = Stderr(sys.stderr if stderr is None else stderr)
    try:
        if arguments == ["--version"]:  # the fast path: no parser to build
            out.write(f"regimage {__version__}\n")
            status = int(ExitStatus.OK)
        else:
            # A closed stdin reads as an empty one, as /dev/null would.
            source = stdin if stdin is not None else sys.stdin or io.StringIO()
            status = _command_line(arguments, out, err, source)
        out.flush()
    except OutputClosed:  # `regimage … | head -1`: the reader left, quietly
        out.silence()
        return ExitStatus.BROKEN_PIPE
    except OutputFailed as exc:  # `>/dev/full`, `>&-`
        out.silence()
        err.write(f"regimage: error: {exc}\n")
        return ExitStatus.ERROR
    return status


def _command_line(arguments: list[str], out: Stdout, err: Stderr, stdin: TextIO) -> int:
    """Parse ``arguments`` and run the command; every failure but stdout's becomes its status."""
    # Past the fast path: `regimage --version` imports neither argparse nor dataclasses, nor what
    # the commands bring, and so stays within its 60 ms (issue #7).
    from regimage.cli import parser, preconnect
    from regimage.cli.errors import report
    from regimage.cli.session import (
        Console,
        Options,
        log_to,
        read_options,
        run_command,
        warn_insecure,
    )

    console = Console(out, err, stdin)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            args = parser.build_parser(arguments[0] if arguments else None).parse_args(arguments)
    except SystemExit as exc:  # --help, --version (0) and argparse's usage errors (2)
        return exc.code if isinstance(exc.code, int) else ExitStatus.USAGE
    options = Options(debug=getattr(args, "debug", False))
    try:
        options = read_options(args, os.environ, console.stdin)
        warn_insecure(options, console)
        early = preconnect.start(args, options, os.environ)
        try:
            backend = os.environ.get("REGIMAGE_BACKEND", "asyncio")
            with log_to(console, options):
                return run_command(args.run, args, console, options, early, backend=backend)
        finally:
            if early is not None:
                early.close()
    except BaseException as exc:  # the one place failures become exit codes
        if isinstance(exc, SystemExit | GeneratorExit):
            raise
        leaf = primary(exc)
        if isinstance(leaf, OutputClosed | OutputFailed):  # stdout's rule is main()'s
            raise leaf from None
        subject = getattr(args, "ref", None) or getattr(args, "repo", None)
        return report(exc, console.stderr, options, command=args.command, subject=subject)
