"""What the audit writes: its records (JSON Lines or CSV), the tally behind its summary and exit
status, and the progress line on a terminal.

Records quote the input and the registries: JSON Lines keep the exact text, with what a terminal
would act on written as JSON escapes (:func:`regimage.cli.output.json_text`); CSV has no escapes of
its own, so its text cells show those characters as :mod:`regimage.cli.terminal` does.
"""

from __future__ import annotations

import csv
import time
from typing import Any, TextIO

from regimage.cli.output import write_json_line
from regimage.cli.status import ExitStatus
from regimage.cli.terminal import terminal_text

__all__ = ["CSV_COLUMNS", "Progress", "Tally", "Writer", "isatty"]

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
PROGRESS_EVERY = 0.1


def isatty(stream: TextIO) -> bool:
    """Whether ``stream`` is a terminal (a stream without ``isatty`` is not)."""
    check = getattr(stream, "isatty", None)
    return bool(check and check())


class Tally:
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


class Writer:
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
            row = [
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
            self._csv.writerow([terminal_text(c) if isinstance(c, str) else c for c in row])
        self._stream.flush()


class Progress:
    """One self-overwriting progress line on a terminal's stderr, repainted at most every 0.1 s."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._last = 0.0

    def show(self, tally: Tally, held: int) -> None:
        now = time.monotonic()
        if now - self._last < PROGRESS_EVERY:
            return
        self._last = now
        waiting = f", {held} waiting for earlier ones" if held else ""
        self._stream.write(f"\r\x1b[Kaudit: {tally.written} done, {tally.failed} failed{waiting}")
        self._stream.flush()

    def clear(self) -> None:
        self._stream.write("\r\x1b[K")
        self._stream.flush()
