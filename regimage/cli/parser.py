"""The CLI's argument parser: every command, its options and its help.

Each command's ``run`` default is the coroutine that answers it (:mod:`regimage.cli.commands`,
:mod:`regimage.cli.audit`); neither imports httpx or anyio with its module, so ``--help`` stays
fast.
"""

from __future__ import annotations

import argparse
import textwrap
from collections.abc import Callable, Sequence
from typing import Any

from regimage._version import __version__
from regimage.cli import commands, diff
from regimage.cli.audit import audit
from regimage.cli.audit.arguments import DEFAULT_REFERENCE_TIMEOUT, define_arguments
from regimage.cli.audit.source import first_reference, reads_stdin
from regimage.cli.report import report
from regimage.cli.report.arguments import define_arguments as define_report_arguments

__all__ = ["AUDIT_NOTES", "SIZE_MEANING", "build_parser", "positive_int"]

#: DESIGN.md §3 in two sentences; the main help and the help of the commands that print a size
#: (size, inspect) carry it.
SIZE_MEANING = (
    "size is what a pull of one platform transfers: the index bytes on the path, the selected "
    "manifest, its config and its layers as stored (compressed); a layer listed twice counts twice. "
    "--all-platforms lists each platform's size and the distinct total: every blob reachable from "
    "the index counted once, attestations reported apart."
)

#: What ``audit --help`` says about the audit (its records' size is a one-platform pull, as size's).
AUDIT_NOTES = (
    "References come from the arguments, then --file, or stdin: one per line, blank lines and # "
    "comments skipped; --all-tags turns a repository into its tags and --catalog a registry into "
    "its repositories' tags, listed as the audit runs. Each gets one record, in input order; a "
    "reference that fails gets an error "
    "record and the run goes on, then exits with the most severe failure's code. A record's size "
    "is what a pull of one platform transfers, as regimage size reports it."
)

_EXAMPLES = """\
examples:
  regimage size ubuntu:24.04
  regimage size --all-platforms --json ghcr.io/acme/api:1.4
  regimage size --unpacked ghcr.io/acme/api:1.4
  regimage diff ghcr.io/acme/api:1.4 ghcr.io/acme/api:1.5
  regimage rootfs --platform linux/arm64 localhost:5000/app:latest
  regimage inspect oci:./layout:v1
  regimage audit --file refs.txt --jobs 32 > audit.jsonl

exit status: 0 ok, 1 unexpected error, 2 usage, 3 invalid reference, 4 not found,
5 authentication, 6 digest or size mismatch, 7 unsupported media type or document,
8 registry or network error (also --timeout), 130 interrupted,
141 the reader of stdout left (regimage ... | head -1).
"""

REF_HELP = "image reference: [registry/]repository[:tag][@digest], or oci:DIR[:tag]"


def _fill(text: str) -> str:
    return textwrap.fill(text, width=79)


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the hand-wrapped description and epilog; a wider option column."""

    def __init__(self, prog: str) -> None:
        super().__init__(prog, max_help_position=30, width=100)


def positive_float(text: str) -> float:
    """An argparse type: a finite number of seconds above zero."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds: {text!r}")
    return value


def positive_int(text: str) -> int:
    """An argparse type: an integer of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1: {text!r}")
    return value


def _common_options() -> argparse.ArgumentParser:
    """Options every command takes, before or after its name.

    Their default is SUPPRESS, so that a value given before the command is not overwritten by the
    command's own (absent) one; :func:`regimage.cli.core.main` fills the defaults in.
    """
    parent = argparse.ArgumentParser(add_help=False)
    suppress = argparse.SUPPRESS
    conn = parent.add_argument_group("connection")
    conn.add_argument("--username", metavar="USER", default=suppress, help="log in as USER")
    conn.add_argument(
        "--password-stdin",
        action="store_true",
        default=suppress,
        help="read the password from stdin (there is no --password: argv is visible to all)",
    )
    conn.add_argument(
        "--insecure",
        action="store_true",
        default=suppress,
        help="do not verify TLS certificates",
    )
    conn.add_argument(
        "--plain-http",
        action="store_true",
        default=suppress,
        help="use plain HTTP, no TLS, for every registry "
        "(loopback registries fall back to it without this)",
    )
    conn.add_argument(
        "--ca-file",
        metavar="FILE",
        default=suppress,
        help="trust the CA certificates in FILE (PEM)",
    )
    conn.add_argument(
        "--mirror",
        metavar="REGISTRY=MIRROR",
        action="append",
        default=suppress,
        help="pull REGISTRY's images (docker.io, host:port) from MIRROR first "
        "(host[:port][/namespace]; http://… for plain HTTP), the registry itself last; "
        "repeatable, tried in order before the mirrors registries.conf and hosts.toml name",
    )
    conn.add_argument(
        "--no-mirrors",
        action="store_true",
        default=suppress,
        help="read neither registries.conf nor containerd's hosts.toml (mirrors, blocked and "
        "remapped registries): ask every registry itself",
    )
    conn.add_argument(
        "--timeout",
        metavar="SECONDS",
        type=positive_float,
        default=suppress,
        help="give up after SECONDS for the whole command (audit: per reference, its token "
        f"batch included, default {DEFAULT_REFERENCE_TIMEOUT:g}); exit 8. Whatever it is, each "
        "request of a manifest, index, config or token must end within 60 s",
    )
    conn.add_argument(
        "--no-cache",
        action="store_true",
        default=suppress,
        help="do not read or write the disk cache (${XDG_CACHE_HOME:-~/.cache}/regimage: "
        "manifests and configs by digest, registry challenges, tokens until they expire)",
    )
    diag = parent.add_argument_group("diagnostics")
    diag.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        default=suppress,
        help="trace requests on stderr (secrets masked)",
    )
    diag.add_argument(
        "--debug", action="store_true", default=suppress, help="show the traceback of an error"
    )
    return parent


def build_parser(command_name: str | None = None) -> argparse.ArgumentParser:
    """The whole command line; or, given the run's first argument when it names a command, a
    parser with only that command's parser in it. Building the ten others cost a warm ``size``
    4 % of its instructions (argparse looks each of its messages up in gettext catalogues), and
    they could not parse this run's arguments anyway: the first one picks the command."""
    if command_name is not None:
        parser, found = _build(command_name)
        if found:
            return parser
    return _build(None)[0]


def _build(only: str | None) -> tuple[argparse.ArgumentParser, bool]:
    """The parser with every command, or with ``only``; and whether a command is called so."""
    common = _common_options()
    parser = argparse.ArgumentParser(
        prog="regimage",
        description=_fill(
            "Resolve container images remotely (size, config, rootfs diff IDs, platforms, "
            "digests) without pulling a layer."
        ),
        epilog=f"{_fill(SIZE_MEANING)}\n\n{_EXAMPLES}",
        formatter_class=_Formatter,
        parents=[common],
    )
    parser.add_argument("--version", action="version", version=f"regimage {__version__}")
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND", dest="command")
    subparsers.required = True
    found = False

    def command(
        name: str,
        summary: str,
        example: str,
        *,
        aliases: Sequence[str] = (),
        notes: str | None = None,
    ) -> Any:
        """A command's parser; ``notes`` (what its answer means) follow the summary in its help."""
        nonlocal found
        if only is not None and only != name and only not in aliases:
            return _Skipped()
        found = True
        return subparsers.add_parser(
            name,
            aliases=list(aliases),
            parents=[common],
            help=summary,
            description=f"{summary}\n\n{_fill(notes)}" if notes else summary,
            epilog=f"example:\n  {example}",
            formatter_class=_Formatter,
        )

    _define_commands(command)
    return parser, found


class _Skipped:
    """Stands for the parser of a command this run does not name: what it is told is dropped."""

    def __getattr__(self, name: str) -> Callable[..., _Skipped]:
        return self._drop

    def _drop(self, *args: object, **kwargs: object) -> _Skipped:
        return self


def _define_commands(command: Any) -> None:
    p = command(
        "size",
        "Print what a pull of the image transfers.",
        "regimage size --breakdown ubuntu:24.04",
        notes=SIZE_MEANING,
    )
    _ref_and_platform(p)
    out = _output(p)
    out.add_argument(
        "--all-platforms", action="store_true", help="a row per platform, and the distinct total"
    )
    out.add_argument(
        "--breakdown", action="store_true", help="split into index, manifest, config and layers"
    )
    out.add_argument("--bytes", action="store_true", help="sizes as plain integers")
    out.add_argument(
        "--unpacked",
        action="store_true",
        help="the disk the layers take once pulled, estimated from a few bytes of each "
        "(--breakdown: per layer)",
    )
    _json_flag(out)
    p.set_defaults(run=commands.size)

    p = command(
        "diff",
        "Compare two images: layers shared, added and removed, the download, size and config "
        "changes.",
        "regimage diff ghcr.io/acme/api:1.4 ghcr.io/acme/api:1.5",
    )
    _json_flag(diff.define_arguments(p, REF_HELP))
    p.set_defaults(run=diff.diff)

    p = command("config", "Print the image config (pretty JSON).", "regimage config alpine:3.20")
    _ref_and_platform(p)
    _output(p).add_argument("--raw", action="store_true", help="the bytes exactly as served")
    p.set_defaults(run=commands.config)

    p = command(
        "rootfs",
        "Print the rootfs diff IDs, one per line.",
        "regimage rootfs --platform linux/arm64 alpine:3.20",
        aliases=["diff-ids"],
    )
    _ref_and_platform(p)
    _json_flag(_output(p))
    p.set_defaults(run=commands.rootfs, chain=False)

    p = command(
        "chain-ids", "Print the layer chain IDs, one per line.", "regimage chain-ids alpine:3.20"
    )
    _ref_and_platform(p)
    _json_flag(_output(p))
    p.set_defaults(run=commands.rootfs, chain=True)

    p = command(
        "manifest",
        "Print the root manifest or index exactly as served "
        "(with --platform: the platform's manifest).",
        "regimage manifest --pretty alpine:3.20",
    )
    _ref_and_platform(p)
    _output(p).add_argument("--pretty", action="store_true", help="indent the JSON")
    p.set_defaults(run=commands.manifest)

    p = command(
        "digest",
        "Print the root document's digest (with --platform: the platform manifest's).",
        "regimage digest --platform linux/arm64 alpine:3.20",
    )
    _ref_and_platform(p)
    _json_flag(_output(p))
    p.set_defaults(run=commands.digest)

    p = command(
        "platforms", "List the platforms an image offers.", "regimage platforms alpine:3.20"
    )
    p.add_argument("ref", metavar="REF", help=REF_HELP)
    _json_flag(_output(p))
    p.set_defaults(run=commands.platforms)

    p = command(
        "inspect",
        "Show digests, platform, created, labels, env, layers with the history that made them, "
        "and the size.",
        "regimage inspect alpine:3.20",
        notes=SIZE_MEANING,
    )
    _ref_and_platform(p)
    _json_flag(_output(p))
    p.set_defaults(run=commands.inspect)

    p = command("tags", "List a repository's tags, sorted.", "regimage tags ghcr.io/acme/api")
    p.add_argument("repo", metavar="REPO", help="repository: [registry/]repository, or oci:DIR")
    _json_flag(_output(p))
    p.set_defaults(run=commands.tags)

    p = command(
        "referrers",
        "List the artifacts (signatures, SBOMs, attestations) that refer to an image.",
        "regimage referrers --artifact-type application/spdx+json ghcr.io/acme/api:1.4",
    )
    p.add_argument("ref", metavar="REF", help=REF_HELP)
    p.add_argument("--artifact-type", metavar="TYPE", help="only referrers of this artifact type")
    _json_flag(_output(p))
    p.set_defaults(run=commands.referrers)

    p = command(
        "audit",
        "Resolve many references concurrently: one JSON Lines (or CSV) record each, in input "
        "order.",
        "regimage audit --file refs.txt --jobs 32 > audit.jsonl",
        notes=AUDIT_NOTES,
    )
    define_arguments(p, positive_int)
    p.set_defaults(
        run=audit,
        timeout_per_reference=True,
        reads_stdin=reads_stdin,
        first_reference=first_reference,
    )

    p = command(
        "report",
        "Answer from an audit database: storage counted once, the biggest images, shared tags "
        "and layers, platform coverage, images built on a base.",
        "regimage report audit.db --built-on ghcr.io/acme/base:1 --html report.html",
    )
    _json_flag(define_report_arguments(p, positive_int))
    p.set_defaults(run=report)


def _ref_and_platform(p: argparse.ArgumentParser) -> None:
    p.add_argument("ref", metavar="REF", help=REF_HELP)
    p.add_argument_group("selection").add_argument(
        "--platform",
        metavar="P",
        action="append",
        help="os/arch[/variant] to pick from an index; repeat for fallbacks (default: this host's)",
    )


def _output(p: argparse.ArgumentParser) -> argparse._ArgumentGroup:
    return p.add_argument_group("output")


def _json_flag(group: argparse._ArgumentGroup) -> None:
    group.add_argument("--json", action="store_true", help="one JSON document (schema 1)")
