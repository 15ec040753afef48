"""``regimage audit``: many references, resolved concurrently, one record each, in bounded memory.

References come from the arguments, then ``--file`` (``-`` is stdin), or stdin when neither is
given: one per line, blank lines and ``#`` comments skipped. They are read as the run goes, never
all at once: at most :data:`READ_AHEAD` references ahead of the workers (so that their pull tokens
are fetched in a few large batches, see :class:`_Authorizer`), at most ``4 × --jobs`` between
"started" and "written" (the reorder window), at most ``--jobs`` of them resolving. Records come
out in input order (each carries its ``index``), so the output lines up with the input; a slow
reference holds back at most one window. One RegistryProvider serves the whole run, so tokens and
connections are shared. ``--timeout`` applies to each reference, and defaults to
:data:`DEFAULT_REFERENCE_TIMEOUT`: an unattended audit must not hang on one registry that trickles
bytes just inside the read timeout.

A failing reference becomes an error record and the run goes on; the exit status is then the most
severe failure's (see :data:`regimage.cli.core.SEVERITY`). Tags on Docker Hub are resolved with HEAD,
which it does not count against its pull limit, so the budget it states is known before a pull is
spent; when a registry's stated budget falls below ``--budget N`` (default 1: stop when it is used
up), the run starts no more references (up to :data:`READ_AHEAD` more may have been read from the
input), records the started ones that had not sent a request yet as not audited, says why, and
exits 8. A progress line goes to stderr only when stderr is a terminal; the summary (``audited N
references: N ok, N failed in X s``) always does.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import functools
import time
from collections.abc import AsyncGenerator, Callable, Sequence
from typing import TYPE_CHECKING, Any, TextIO

from regimage.cli.core import ExitStatus, UsageError, most_severe, primary
from regimage.cli.errors import describe
from regimage.cli.output import write_json_line

if TYPE_CHECKING:
    import anyio

    from regimage.cli.core import Session
    from regimage.model.ratelimit import RateLimit
    from regimage.model.reference import Reference
    from regimage.registry.client import RegistryProvider

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

#: Seconds one reference may take when --timeout is not given (a handful of requests; generous
#: enough for a slow registry, short enough that a stalled one cannot hold the run for ever).
DEFAULT_REFERENCE_TIMEOUT = 120.0

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
        default=32,
        help="references resolved at once (default: 32, as many as the connections kept per registry)",
    )
    run.add_argument(
        "--budget",
        metavar="N",
        type=_budget_floor,
        default=1,
        help="stop when a registry that states a pull budget (Docker Hub) has fewer than N pulls "
        "left (default: 1, stop when it is used up; 0: never stop)",
    )
    output = p.add_argument_group("output")
    output.add_argument(
        "--csv", action="store_true", help="CSV with a header instead of JSON Lines"
    )


def _budget_floor(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be a whole number of pulls, 0 or more: {text!r}")
    return value


def reads_stdin(args: argparse.Namespace) -> bool:
    """Whether this audit takes its references from stdin."""
    return bool(args.file == "-" or (args.file is None and not args.refs))


def first_reference(args: argparse.Namespace) -> str | None:
    """The first reference this audit will read, when it can be known without consuming any
    input: the first argument, or the first line of a regular ``--file`` (read again later).
    The command line opens a connection to its registry while it starts (regimage.http.preconnect)."""
    for text in args.refs:
        if cleaned := _clean(text):
            return cleaned
    if args.file is None or args.file == "-":
        return None
    import os
    import stat

    try:
        if not stat.S_ISREG(os.stat(args.file).st_mode):
            return None  # a pipe: reading it would take the audit's input away
        with open(args.file, encoding="utf-8", errors="replace") as source:
            for _, line in zip(range(_LINES_PER_READ), source, strict=False):
                if cleaned := _clean(line):
                    return cleaned
    except OSError:
        pass  # the audit reports it
    return None


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

    floor: int = getattr(args, "budget", 1)
    stopped: list[RateLimit] = []
    authorizer = _Authorizer(await session.registry())

    reading = anyio.CancelScope()  # cancelled when the audit takes no more references

    async def one(index: int, text: str, authorized: anyio.Event | None) -> None:
        if authorized is not None:
            await authorized.wait()
        async with limiter:
            short = _short_budget(session, text, floor)
            if short is not None:
                stopped.append(short)
                reading.cancel()  # no more input is needed, nor waited for
                record = _not_audited(index, text, short, floor)
            else:
                record = await _audit_one(session, index, text, args.platform)
        settle(index, record)

    # References are read up to READ_AHEAD ahead of the window, so that the authorizer asks for
    # their tokens in a few large batches before the workers reach them.
    ahead, read = anyio.create_memory_object_stream[tuple[str, "anyio.Event | None"]](READ_AHEAD)

    async def read_ahead() -> None:
        references = _references(args.refs, source)
        try:
            with reading:
                async with ahead, contextlib.aclosing(references):
                    async for text in references:
                        item = (text, authorizer.add(text))
                        try:  # no checkpoint while there is room: the authorizer sees all it read
                            ahead.send_nowait(item)
                        except anyio.WouldBlock:
                            await ahead.send(item)
        except anyio.BrokenResourceError:
            pass  # the audit stopped reading (a budget ran out)
        finally:
            authorizer.close()

    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(authorizer.run)
            tg.start_soon(read_ahead)
            index = 0
            async with read:
                async for text, authorized in read:
                    short = _short_budget(session, text, floor)
                    if short is not None:
                        stopped.append(short)
                        break  # audit no further
                    await window.acquire()
                    tg.start_soon(one, index, text, authorized)
                    index += 1
            reading.cancel()  # a stopped audit does not wait for input that may never come
    finally:
        if progress is not None:
            progress.clear()
        if source is not None and source is not console.stdin:
            source.close()
    elapsed = time.monotonic() - started
    console.stderr.write(
        f"audited {tally.written} references: {tally.ok} ok, {tally.failed} failed in {elapsed:.2f} s\n"
    )
    if stopped:
        console.stderr.write(
            f"regimage: audit stopped early: {stopped[0]}, below --budget {floor}; "
            f"{_budget_advice(stopped[0])}\n"
        )
        return int(most_severe(sorted({*tally.statuses, ExitStatus.REGISTRY})))
    return int(most_severe(sorted(tally.statuses))) if tally.failed else ExitStatus.OK


class _Authorizer:
    """Fetches the pull tokens of the references as they stream in, many repositories per token
    request (``RegistryProvider.authorize``), so that each worker's first request already carries
    its token: no 401 and no token request of its own.

    A batch goes when :data:`AUTHORIZE_BATCH` repositories are waiting, or when no batch is in
    flight (after :data:`AUTHORIZE_GATHER` seconds, to let the references being read join it).
    Each worker waits for its repository's batch. Best effort: whatever fails here is met, and
    reported, by the worker's own requests.
    """

    def __init__(self, registry: RegistryProvider) -> None:
        import anyio

        self._registry = registry
        self._events: dict[tuple[str, str], anyio.Event] = {}
        self._pending: list[tuple[Reference, anyio.Event]] = []
        self._changed = anyio.Event()
        self._in_flight = 0
        self._closed = False

    def add(self, text: str) -> anyio.Event | None:
        """The event set once ``text``'s repository is authorized (None: nothing to wait for)."""
        import anyio

        from regimage.errors import InvalidReference
        from regimage.model.reference import Reference

        if text.startswith("oci:"):
            return None
        try:
            reference = Reference.parse(text)
        except InvalidReference:
            return None  # the worker reports it
        key = (reference.api_host, reference.path)
        event = self._events.get(key)
        if event is None:
            event = self._events[key] = anyio.Event()
            self._pending.append((reference, event))
            self._changed.set()
        return event

    def close(self) -> None:
        """No more references: authorize what is pending, then stop."""
        self._closed = True
        self._changed.set()

    async def _wait_for_change(self) -> None:
        import anyio

        self._changed = anyio.Event()
        await self._changed.wait()

    async def run(self) -> None:
        import anyio

        async with anyio.create_task_group() as group:
            while True:
                if not self._pending:
                    if self._closed:
                        return
                    await self._wait_for_change()
                    continue
                if len(self._pending) < AUTHORIZE_BATCH and not self._closed:
                    if self._in_flight:
                        await self._wait_for_change()  # more references, or the batch is done
                        continue
                    await anyio.sleep(AUTHORIZE_GATHER)
                batch, self._pending = self._pending, []
                self._in_flight += 1
                group.start_soon(self._authorize, batch)

    async def _authorize(self, batch: list[tuple[Reference, anyio.Event]]) -> None:
        try:
            await self._registry.authorize([reference for reference, _ in batch])
        except Exception as exc:  # best effort: the workers meet the failure themselves
            import logging

            logging.getLogger("regimage").debug("audit: authorize failed: %s", exc)
        finally:
            for _, event in batch:
                event.set()
            self._in_flight -= 1
            self._changed.set()


#: Repositories per authorize call of an audit (the provider asks ~50 scopes per token request).
AUTHORIZE_BATCH = 50
#: References read ahead of the reorder window, for the authorizer to see (a few hundred KB).
READ_AHEAD = 1024
#: Seconds a batch waits for more references when no other batch is in flight.
AUTHORIZE_GATHER = 0.002


def _short_budget(session: Session, text: str, floor: int) -> RateLimit | None:
    """The budget of ``text``'s registry when it is below ``floor`` (None: go on)."""
    if floor <= 0 or text.startswith("oci:"):
        return None
    from regimage.errors import InvalidReference
    from regimage.model.reference import Reference

    try:
        host = Reference.parse(text).api_host
    except InvalidReference:
        return None  # the worker reports it
    budget = session.rate_limit(host)
    return budget if budget is not None and budget.remaining < floor else None


def _not_audited(index: int, text: str, budget: RateLimit, floor: int) -> dict[str, Any]:
    return {
        "index": index,
        "reference": _normalized(text),
        "ok": False,
        "error": {
            "kind": "RateLimited",
            "message": f"not audited: {budget}, below --budget {floor}",
            "exitCode": int(ExitStatus.REGISTRY),
        },
    }


def _budget_advice(budget: RateLimit) -> str:
    from regimage.model.ratelimit import format_duration

    if budget.reset is not None:
        later = f"run again in {format_duration(budget.reset)}"
    elif budget.window is not None:
        later = f"run again later (the window is {format_duration(budget.window)})"
    else:
        later = "run again later"
    login = "log in to raise the limit, or " if budget.registry_name == "Docker Hub" else ""
    return f"{login}{later}; the references after the last record were not audited"


async def _audit_one(
    session: Session, index: int, text: str, platform: Sequence[str] | None
) -> dict[str, Any]:
    """One reference's record; every failure but an interruption becomes an error record."""
    import anyio

    timeout = session.options.timeout or DEFAULT_REFERENCE_TIMEOUT
    try:
        with anyio.fail_after(timeout):
            image = await session.image(text, platform, head=True)
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
    from regimage.model.reference import Reference

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


async def _references(refs: Sequence[str], source: TextIO | None) -> AsyncGenerator[str, None]:
    """The references to audit, comments and blank lines dropped, the stream read line by line.

    One line per trip to a worker thread: a line is audited as soon as it arrives, whatever
    follows (a pipe may hold the next one back for a long time). A regular file has nothing to
    wait for: it is read many lines per trip.
    """
    import anyio

    for text in refs:
        if cleaned := _clean(text):
            yield cleaned
    if source is None:
        return
    if _is_regular_file(source):  # nothing to wait for: many lines per trip
        read = functools.partial(_read_lines, source, _LINES_PER_READ)
        while lines := await anyio.to_thread.run_sync(read):
            for line in lines:
                if cleaned := _clean(line):
                    yield cleaned
        return
    # abandon_on_cancel: a stopped audit leaves a read of an open pipe or terminal behind
    while line := await anyio.to_thread.run_sync(source.readline, abandon_on_cancel=True):
        if cleaned := _clean(line):
            yield cleaned


#: Lines read per trip to a worker thread from a regular file.
_LINES_PER_READ = 256


def _is_regular_file(stream: TextIO) -> bool:
    import os
    import stat

    try:
        return stat.S_ISREG(os.fstat(stream.fileno()).st_mode)
    except (OSError, ValueError, AttributeError):  # io.StringIO and the like have no fileno
        return False


def _read_lines(stream: TextIO, count: int) -> list[str]:
    lines = []
    for _ in range(count):
        line = stream.readline()
        if not line:
            break
        lines.append(line)
    return lines


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
