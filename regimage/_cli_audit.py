"""``regimage audit``: many references, resolved concurrently, one record each, in bounded memory.

References come from the arguments, then ``--file`` (``-`` is stdin), or stdin when neither is given:
one per line, blank lines and ``#`` comments skipped. They are read as the run goes, never all at
once: at most ``4 × --jobs`` references are between "read" and "written" (the reorder window), at most
``--jobs`` of them resolving. Records come out in input order (each carries its ``index``), so the output
lines up with the input; a slow reference holds back at most one window. One RegistryProvider serves
the whole run, so tokens and connections are shared. ``--timeout`` applies to each reference.

A failing reference becomes an error record and the run goes on; the exit status is then the most
severe failure's (see :data:`regimage.cli.SEVERITY`). A progress line goes to stderr only when stderr is
a terminal; the summary (``audited N references: N ok, N failed in X s``) always does.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import functools
import time
from collections.abc import AsyncIterator, Callable, Sequence
from typing import TYPE_CHECKING, Any, TextIO

from regimage._cli_errors import describe
from regimage._cli_output import write_json_line
from regimage.cli import ExitStatus, UsageError, most_severe, primary

if TYPE_CHECKING:
    from regimage.cli import Session

__all__ = ["CSV_COLUMNS", "audit", "define_arguments"]

#: The ``--csv`` header, in column order.
CSV_COLUMNS = (
    "index",
    "reference",
    "ok",
    "digest",
    "manifestDigest",
    "platform",
    "size",
    "config",
    "errorKind",
    "errorMessage",
    "exitCode",
)

#: Seconds between two repaints of the progress line.
_PROGRESS_EVERY = 0.1


def define_arguments(p: argparse.ArgumentParser, positive_int: Callable[[str], int]) -> None:
    """The audit command's own arguments."""
    p.add_argument(
        "refs", metavar="REF", nargs="*", help="references to audit (else --file or stdin)"
    )
    source = p.add_argument_group("input")
    source.add_argument(
        "-f",
        "--file",
        metavar="FILE",
        help="read references from FILE, one per line, # comments allowed ('-' for stdin)",
    )
    source.add_argument(
        "--platform",
        metavar="P",
        action="append",
        help="os/arch[/variant] to select from indexes (repeat for fallbacks)",
    )
    run = p.add_argument_group("run")
    run.add_argument(
        "-j",
        "--jobs",
        metavar="N",
        type=positive_int,
        default=16,
        help="references resolved at once (default: 16)",
    )
    output = p.add_argument_group("output")
    output.add_argument(
        "--csv", action="store_true", help="CSV with a header instead of JSON Lines"
    )


def reads_stdin(args: argparse.Namespace) -> bool:
    """Whether this audit takes its references from stdin."""
    return bool(args.file == "-" or (args.file is None and not args.refs))


async def audit(session: Session, args: argparse.Namespace) -> int:
    """Run the audit; the exit status is 0 when every reference resolved."""
    import anyio

    console = session.console
    if args.file is None and not args.refs and _isatty(console.stdin):  # not `--file -`: asked for
        raise UsageError("no references: give them as arguments, with --file, or on stdin")
    source = await _open_source(args, console.stdin)
    await session.registry()  # opened here, in the task that owns it, shared by every worker
    writer = _Writer(console.stdout, csv_output=args.csv)
    progress = _Progress(console.stderr) if _isatty(console.stderr) else None
    tally = _Tally()
    window = anyio.Semaphore(4 * args.jobs)
    limiter = anyio.CapacityLimiter(args.jobs)
    done: dict[int, dict[str, Any]] = {}
    started = time.monotonic()

    def settle(index: int, record: dict[str, Any]) -> None:
        done[index] = record
        while tally.written in done:
            out = done.pop(tally.written)
            writer.write(out)
            tally.count(out)
            window.release()
        if progress is not None:
            progress.show(tally, len(done))

    async def one(index: int, text: str) -> None:
        async with limiter:
            record = await _audit_one(session, index, text, args.platform)
        settle(index, record)

    try:
        async with anyio.create_task_group() as tg:
            index = 0
            async for text in _references(args.refs, source):
                await window.acquire()
                tg.start_soon(one, index, text)
                index += 1
    finally:
        if progress is not None:
            progress.clear()
        if source is not None and source is not console.stdin:
            source.close()
    elapsed = time.monotonic() - started
    console.stderr.write(
        f"audited {tally.written} references: {tally.ok} ok, {tally.failed} failed in {elapsed:.2f} s\n"
    )
    return int(most_severe(sorted(tally.statuses))) if tally.failed else ExitStatus.OK


async def _audit_one(
    session: Session, index: int, text: str, platform: Sequence[str] | None
) -> dict[str, Any]:
    """One reference's record; every failure but an interruption becomes an error record."""
    import anyio

    timeout = session.options.timeout
    try:
        with anyio.fail_after(timeout) if timeout else contextlib.nullcontext():
            image = await session.image(text, platform)
            result = await image.size()
            selected = await image.manifest()
    except Exception as exc:  # one bad reference must not stop the run
        return {
            "index": index,
            "reference": _normalized(text),
            "ok": False,
            "error": describe(primary(exc), timeout=timeout),
        }
    return {
        "index": index,
        "reference": image.name,
        "ok": True,
        "digest": str(image.target.digest),
        "manifestDigest": str(result.manifest_digest),
        "platform": None if result.platform is None else str(result.platform),
        "size": result.total,
        "config": str(selected.manifest.config.digest),
    }


def _normalized(text: str) -> str:
    if text.startswith("oci:"):
        return text
    from regimage.errors import InvalidReference
    from regimage.reference import Reference

    try:
        return str(Reference.parse(text))
    except InvalidReference:
        return text


def _isatty(stream: TextIO) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


async def _open_source(args: argparse.Namespace, stdin: TextIO) -> TextIO | None:
    """The stream references are read from after the arguments (None: the arguments only)."""
    import anyio

    if args.file is None:
        return None if args.refs else stdin
    if args.file == "-":
        return stdin
    try:
        return await anyio.to_thread.run_sync(functools.partial(open, args.file, encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"cannot read --file {args.file}: {exc.strerror or exc}") from exc


async def _references(refs: Sequence[str], source: TextIO | None) -> AsyncIterator[str]:
    """The references to audit, comments and blank lines dropped, the stream read line by line.

    One line per trip to a worker thread: a line is audited as soon as it arrives, whatever
    follows (a pipe may hold the next one back for a long time).
    """
    import anyio

    for text in refs:
        if cleaned := _clean(text):
            yield cleaned
    if source is None:
        return
    while line := await anyio.to_thread.run_sync(source.readline):
        if cleaned := _clean(line):
            yield cleaned


def _clean(line: str) -> str:
    return line.split("#", 1)[0].strip()


class _Tally:
    """Counts of written records and the distinct failure statuses (bounded: one per code)."""

    def __init__(self) -> None:
        self.written = 0
        self.ok = 0
        self.failed = 0
        self.statuses: set[ExitStatus] = set()

    def count(self, record: dict[str, Any]) -> None:
        self.written += 1
        if record["ok"]:
            self.ok += 1
        else:
            self.failed += 1
            self.statuses.add(ExitStatus(record["error"]["exitCode"]))


class _Writer:
    """Writes records as JSON Lines or CSV rows, flushed one by one so pipelines see them early."""

    def __init__(self, stream: TextIO, *, csv_output: bool) -> None:
        self._stream = stream
        self._csv = csv.writer(stream, lineterminator="\n") if csv_output else None
        if self._csv is not None:
            self._csv.writerow(CSV_COLUMNS)

    def write(self, record: dict[str, Any]) -> None:
        if self._csv is None:
            write_json_line(self._stream, record)
        else:
            error = record.get("error") or {}
            self._csv.writerow(
                [
                    record["index"],
                    record["reference"],
                    "true" if record["ok"] else "false",
                    record.get("digest", ""),
                    record.get("manifestDigest", ""),
                    record.get("platform") or "",
                    record.get("size", ""),
                    record.get("config", ""),
                    error.get("kind", ""),
                    error.get("message", ""),
                    error.get("exitCode", ""),
                ]
            )
        self._stream.flush()


class _Progress:
    """One self-overwriting progress line on a terminal's stderr, repainted at most every 0.1 s."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._last = 0.0

    def show(self, tally: _Tally, held: int) -> None:
        now = time.monotonic()
        if now - self._last < _PROGRESS_EVERY:
            return
        self._last = now
        waiting = f", {held} waiting for earlier ones" if held else ""
        self._stream.write(f"\r\x1b[Kaudit: {tally.written} done, {tally.failed} failed{waiting}")
        self._stream.flush()

    def clear(self) -> None:
        self._stream.write("\r\x1b[K")
        self._stream.flush()
