"""The audit's run: references read ahead, authorized in batches, resolved ``--jobs`` at a time
within a reorder window, written in input order; and one reference's record
(:mod:`regimage.cli.audit` says what the audit promises)."""

from __future__ import annotations

import argparse
import contextlib
import time
from collections.abc import Sequence
from typing import Any

import anyio

from regimage.cli.audit.arguments import DEFAULT_REFERENCE_TIMEOUT
from regimage.cli.audit.authorizer import Authorizer
from regimage.cli.audit.database import AuditDatabase, open_database
from regimage.cli.audit.expansion import Expander, Item, ListingFailure
from regimage.cli.audit.reader import open_source, references
from regimage.cli.audit.source import reads_stdin
from regimage.cli.audit.writer import Progress, Tally, Writer, isatty
from regimage.cli.errors import describe, error_message
from regimage.cli.session import Session
from regimage.cli.status import ExitStatus, UsageError, most_severe, primary
from regimage.errors import InvalidReference
from regimage.model.ratelimit import RateLimit, format_duration
from regimage.model.reference import Reference

__all__ = ["READ_AHEAD", "audit"]

#: References read ahead of the reorder window, for the authorizer to see (a few hundred KB).
READ_AHEAD = 1024


async def audit(session: Session, args: argparse.Namespace) -> int:
    """Run the audit; the exit status is 0 when every reference resolved."""
    console = session.console
    if args.file is None and reads_stdin(args) and isatty(console.stdin):  # `--file -`: asked for
        raise UsageError(
            "no references: give them as arguments, with --file or --catalog, or on stdin"
        )
    source = await open_source(args, console.stdin)
    await session.registry()  # opened here, in the task that owns it, shared by every worker
    writer = Writer(console.stdout, csv_output=args.csv)
    progress = Progress(console.stderr) if isatty(console.stderr) else None
    tally = Tally()
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
    timeout = session.options.timeout or DEFAULT_REFERENCE_TIMEOUT
    authorizer = Authorizer(await session.registry(), timeout=timeout)
    expander = Expander(session, args, authorize=authorizer.add, timeout=timeout)
    refused: list[ListingFailure] = []  # catalogs that could not be listed, said again at the end
    database = await open_database(args)  # --db FILE; None without it

    reading = anyio.CancelScope()  # cancelled when the audit takes no more references

    async def one(index: int, text: Item, authorized: anyio.Event | None) -> None:
        if isinstance(text, ListingFailure):  # in the place of what it could not list
            failed = _listing_failed(index, text, timeout)
            if database is not None:
                await database.add(failed)
            settle(index, failed)
            return
        # The wait for the reference's token batch is part of its time (not the wait for a job).
        waited = 0.0
        if authorized is not None:
            began = anyio.current_time()
            with anyio.move_on_after(timeout):
                await authorized.wait()
            waited = anyio.current_time() - began
        async with limiter:
            short = _short_budget(session, text, floor)
            if short is not None:
                stopped.append(short)
                reading.cancel()  # no more input is needed, nor waited for
                record = _not_audited(index, text, short, floor)
            else:
                record = await _audit_one(
                    session, index, text, args.platform, spent=waited, database=database
                )
        if database is not None:
            await database.add(record)
        settle(index, record)

    # References are read up to READ_AHEAD ahead of the window, so that the authorizer asks for
    # their tokens in a few large batches before the workers reach them.
    # --all-tags and --catalog are listed there too, page by page, as the audit takes them.
    ahead, read = anyio.create_memory_object_stream[tuple[Item, anyio.Event | None]](READ_AHEAD)

    async def put(text: Item) -> None:
        pair = (text, authorizer.add(text) if isinstance(text, str) else None)
        if progress is not None:
            progress.listed += 1
        try:  # no checkpoint while there is room: the authorizer sees all it read
            ahead.send_nowait(pair)
        except anyio.WouldBlock:
            await ahead.send(pair)

    async def read_ahead() -> None:
        texts = references(args.refs, source)
        try:
            with reading:
                async with ahead, contextlib.aclosing(texts):
                    await expander.run(texts, put)
                    if progress is not None:
                        progress.complete = True  # the total is known: an ETA can be shown
        except anyio.BrokenResourceError:
            pass  # the audit stopped reading (a budget ran out)
        finally:
            authorizer.close()

    complete = False  # every reference read has its record (for the database's run)
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(authorizer.run)
            tg.start_soon(read_ahead)
            index = 0
            async with read:
                async for text, authorized in read:
                    if isinstance(text, ListingFailure):
                        if text.catalog:
                            refused.append(text)
                    elif (short := _short_budget(session, text, floor)) is not None:
                        stopped.append(short)
                        break  # audit no further
                    await window.acquire()
                    tg.start_soon(one, index, text, authorized)
                    index += 1
            reading.cancel()  # a stopped audit does not wait for input that may never come
        complete = not stopped and not refused
    finally:
        if progress is not None:
            progress.clear()
        if source is not None and source is not console.stdin:
            source.close()
        if database is not None:
            await database.finish(complete=complete)
    elapsed = time.monotonic() - started
    console.stderr.write(
        f"audited {tally.written} references: {tally.ok} ok, {tally.failed} failed in {elapsed:.2f} s"
        f"{_skipped(database)}\n"
    )
    for failure in refused:  # a whole registry left out: not only in a record
        message = error_message(primary(failure.error), session.options)
        console.stderr.write(f"regimage: error: --catalog {failure.subject}: {message}\n")
    if stopped:
        console.stderr.write(
            f"regimage: audit stopped early: {stopped[0]}, below --budget {floor}; "
            f"{_budget_advice(stopped[0])}\n"
        )
        return int(most_severe(sorted({*tally.statuses, ExitStatus.REGISTRY})))
    return int(most_severe(sorted(tally.statuses))) if tally.failed else ExitStatus.OK


async def _audit_one(
    session: Session,
    index: int,
    text: str,
    platform: Sequence[str] | None,
    *,
    spent: float = 0.0,
    database: AuditDatabase | None = None,
) -> dict[str, Any]:
    """One reference's record, within what is left of its time after ``spent`` seconds (its
    token batch); every failure but an interruption becomes an error record."""
    timeout = session.options.timeout or DEFAULT_REFERENCE_TIMEOUT
    try:
        with anyio.fail_after(max(0.0, timeout - spent)):
            image = await session.image(text, platform, head=True)
            if database is not None and await database.unchanged(image):  # --resume
                return database.skipped_record(index, image)
            result = await image.size()
            selected = await image.manifest()
            if database is not None:
                await database.collect(image)  # its graph, for --db
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


def _skipped(database: AuditDatabase | None) -> str:
    """What the summary says of ``--resume``: how many references it did not walk again."""
    if database is None or not database.resume:
        return ""
    return f"; {database.skipped} unchanged since an earlier run, skipped (--resume)"


def _listing_failed(index: int, failure: ListingFailure, timeout: float) -> dict[str, Any]:
    """The record of a list that could not be read (``reference``: what was being listed)."""
    return {
        "index": index,
        "reference": failure.subject,
        "ok": False,
        "error": describe(primary(failure.error), timeout=timeout),
    }


def _short_budget(session: Session, text: str, floor: int) -> RateLimit | None:
    """The budget of ``text``'s registry when it is below ``floor`` (None: go on)."""
    if floor <= 0 or text.startswith("oci:"):
        return None
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
    if budget.reset is not None:
        later = f"run again in {format_duration(budget.reset)}"
    elif budget.window is not None:
        later = f"run again later (the window is {format_duration(budget.window)})"
    else:
        later = "run again later"
    login = "log in to raise the limit, or " if budget.registry_name == "Docker Hub" else ""
    return f"{login}{later}; the references after the last record were not audited"


def _normalized(text: str) -> str:
    if text.startswith("oci:"):
        return text
    try:
        return str(Reference.parse(text))
    except InvalidReference:
        return text
