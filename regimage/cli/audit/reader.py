"""Reading the audit's references as the run goes: the arguments, then a file, a pipe or stdin.

Lines are decoded one by one (:class:`~regimage.cli.audit.source.Lines`: bytes that are not UTF-8
make that line an error record, not the run's end). A line is audited as soon as it arrives,
whatever follows (a pipe may hold the next one back for a long time). A regular file has nothing
to wait for: it is read many lines per trip to a worker thread. A pipe or a terminal is read one
line at a time, when the audit asks for one, by a daemon thread of its own (:class:`_LineThread`):
an audit that stops early leaves that thread blocked in its read, and the process still exits (the
interpreter waits for anyio's worker threads at exit, never for a daemon thread).
"""

from __future__ import annotations

import argparse
import functools
import queue
import threading
from collections.abc import AsyncGenerator, Sequence
from typing import IO, Any, TextIO

import anyio
import anyio.to_thread

from regimage.cli.audit.source import LINES_PER_READ, Lines, clean, is_regular_file, read_lines
from regimage.cli.status import UsageError

__all__ = ["open_source", "references"]


async def open_source(args: argparse.Namespace, stdin: TextIO) -> IO[Any] | None:
    """The stream references are read from after the arguments (None: the arguments only): a
    ``--file`` is opened for bytes (:class:`~regimage.cli.audit.source.Lines` decodes them)."""
    if args.file is None:
        return None if args.refs else stdin
    if args.file == "-":
        return stdin
    try:
        return await anyio.to_thread.run_sync(functools.partial(open, args.file, "rb"))
    except OSError as exc:
        raise UsageError(f"cannot read --file {args.file}: {exc.strerror or exc}") from exc


async def references(refs: Sequence[str], source: IO[Any] | None) -> AsyncGenerator[str, None]:
    """The references to audit, comments and blank lines dropped, the stream read as needed."""
    for text in refs:
        if cleaned := clean(text):
            yield cleaned
    if source is None:
        return
    if is_regular_file(source):  # nothing to wait for: many lines per trip
        read = functools.partial(read_lines, Lines(source), LINES_PER_READ)
        while lines := await anyio.to_thread.run_sync(read):
            for line in lines:
                if cleaned := clean(line):
                    yield cleaned
        return
    reader = _LineThread(Lines(source))
    try:
        while line := await reader.readline():
            if cleaned := clean(line):
                yield cleaned
    finally:
        reader.close()


class _LineThread:
    """Reads a pipe or a terminal in a daemon thread, one line per :meth:`readline`."""

    def __init__(self, source: Lines) -> None:
        self._asks: queue.SimpleQueue[bool] = queue.SimpleQueue()
        self._lines: queue.SimpleQueue[str] = queue.SimpleQueue()
        thread = threading.Thread(
            target=self._serve, args=(source,), name="regimage-audit-input", daemon=True
        )
        thread.start()

    def _serve(self, source: Lines) -> None:
        while self._asks.get():
            try:
                line = source.readline()
            except (OSError, ValueError):  # closed under us: the end of the input
                line = ""
            self._lines.put(line)
            if not line:
                return

    async def readline(self) -> str:
        """The next line ("" at the end of the input)."""
        self._asks.put(True)
        # abandon_on_cancel: a stopped audit does not wait for a line that may never come
        return await anyio.to_thread.run_sync(self._lines.get, abandon_on_cancel=True)

    def close(self) -> None:
        """No more lines wanted: the thread ends after the read under way, if any; a wait that
        a cancellation abandoned ends now (its worker thread is then free to exit)."""
        self._asks.put(False)
        self._lines.put("")
