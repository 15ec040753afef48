"""The report's run: the database opened read-only, the questions asked, the answers written."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import sqlite3
from pathlib import Path

from regimage.cli.output import write_json, write_lines
from regimage.cli.report import graph, queries
from regimage.cli.report.answers import Report, Totals, size_bins
from regimage.cli.report.document import report_document
from regimage.cli.report.html import page
from regimage.cli.report.lineage import built_on
from regimage.cli.report.text import report_lines
from regimage.cli.session import Session
from regimage.cli.status import UsageError

__all__ = ["read_report", "report"]


async def report(session: Session, args: argparse.Namespace) -> int:
    """``regimage report``."""
    connection = queries.open_database(args.database)
    try:
        latest = queries.latest(connection)
        contents = queries.contents(connection)
        held = graph.hold(contents, {ref.digest for ref in latest if ref.digest is not None})
        answer = read_report(connection, args.database, latest, contents, held, top=args.top)
        if args.built_on is not None:
            lineage = await built_on(session, connection, args.built_on, latest, held, contents)
            answer = dataclasses.replace(answer, lineage=lineage)
    finally:
        connection.close()
    if args.html is not None:
        write_page(Path(args.html), page(answer, top=args.top))
    if args.json:
        write_json(session.console.stdout, report_document(answer))
    else:
        write_lines(session.console.stdout, report_lines(answer, top=args.top))
    return 0


def read_report(
    connection: sqlite3.Connection,
    database: str,
    latest: list[graph.Latest],
    contents: graph.Contents,
    held: dict[str, graph.Holding],
    *,
    top: int,
) -> Report:
    """Every answer but ``--built-on``'s."""
    runs, last_run = queries.runs(connection)
    ok = sum(ref.digest is not None for ref in latest)
    totals = Totals(len(latest), ok, len(latest) - ok, len(held), runs, last_run)
    same, same_count = graph.same_digest(latest, held, top)

    def media_types(digests: list[str]) -> dict[str, str]:
        return queries.media_types(connection, digests)

    shared, shared_count = graph.shared_layers(contents, latest, held, top, media_types)
    return Report(
        database=database,
        totals=totals,
        storage=graph.storage(contents, latest, held),
        biggest=graph.biggest(contents, latest, held, top),
        same_digest=same,
        same_digest_count=same_count,
        shared_layers=shared,
        shared_layer_count=shared_count,
        distribution=size_bins([holding.size for holding in held.values()]),
        coverage=graph.coverage(contents, latest, held),
    )


def write_page(path: Path, text: str) -> None:
    """Write the page to ``path`` whole or not at all: to a file beside it (created as any new
    file, the umask applied), then renamed over it."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        try:
            with open(descriptor, "w", encoding="utf-8") as out:
                out.write(text)
            os.replace(temporary, path)
        except BaseException:
            with contextlib.suppress(OSError):
                temporary.unlink()
            raise
    except OSError as exc:
        raise UsageError(f"cannot write the page to {path}: {exc.strerror or exc}") from None
