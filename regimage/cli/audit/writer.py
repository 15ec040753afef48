"""What the audit writes: its records (JSON Lines or CSV), the tally behind its summary and exit
status, and the progress line on a terminal.

Records quote the input and the registries: JSON Lines keep the exact text, with what a terminal
would act on written as JSON escapes (:func:`regimage.cli.output.json_text`); CSV has no escapes of
its own, so its text cells show those characters as :mod:`regimage.cli.terminal` does.
"""

from __future__ import annotations

import csv
import time
from collections.abc import Callable
from typing import Any, TextIO

from regimage.cli.output import write_json_line
from regimage.cli.status import ExitStatus
from regimage.cli.terminal import terminal_text
from regimage.model.ratelimit import format_duration

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
    """One self-overwriting progress line on a terminal's stderr, repainted at most every 0.1 s:
    ``audit: 120 of 500 done, 3 failed, 41.5/s, about 9 s left``.

    The audit counts the references it has taken in (:attr:`listed`) and says when there are no
    more (:attr:`complete`). Until then the total is not known (the input may still be arriving,
    or ``--all-tags`` and ``--catalog`` still listing), and the line says ``of at least N`` with no
    time left. The rate is the records written per second since the start; ``clock`` (monotonic
    seconds) is for tests.
    """

    def __init__(self, stream: TextIO, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._stream = stream
        self._clock = clock
        self._started = clock()
        self._last = -PROGRESS_EVERY
        self.listed = 0
        self.complete = False

    def show(self, tally: Tally, held: int) -> None:
        now = self._clock()
        if now - self._last < PROGRESS_EVERY:
            return
        self._last = now
        self._stream.write(f"\r\x1b[K{self.line(tally, held, now)}")
        self._stream.flush()

    def line(self, tally: Tally, held: int, now: float) -> str:
        """The progress line's text at ``now``."""
        total = f"of {self.listed} " if self.complete else f"of at least {self.listed} "
        parts = [f"audit: {tally.written} {total}done", f"{tally.failed} failed"]
        elapsed = now - self._started
        rate = tally.written / elapsed if elapsed > 0 else 0.0
        if tally.written and rate > 0:
            parts.append(f"{rate:.1f}/s")
            if self.complete:
                left = max(0, self.listed - tally.written) / rate
                parts.append(f"about {format_duration(left)} left")
        if held:
            parts.append(f"{held} waiting for earlier ones")
        return ", ".join(parts)

    def clear(self) -> None:
        self._stream.write("\r\x1b[K")
        self._stream.flush()
