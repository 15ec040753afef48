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
import os
import queue
import threading
from collections.abc import AsyncGenerator, Sequence
from typing import IO, Any, TextIO

import anyio
import anyio.to_thread

from regimage.cli.audit.source import (
    LINES_PER_READ,
    Lines,
    clean,
    is_regular_file,
    read_lines,
    reads_stdin,
)
from regimage.cli.status import UsageError

__all__ = ["open_source", "references"]


async def open_source(args: argparse.Namespace, stdin: TextIO) -> IO[Any] | None:
    """The stream references are read from after the arguments (None: none, the arguments and
    ``--catalog`` only): a ``--file`` is opened for bytes
    (:class:`~regimage.cli.audit.source.Lines` decodes them)."""
    if args.file is None:
        return stdin if reads_stdin(args) else None
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
    reader = _LineThread(Lines(_unlocked(source)))
    try:
        while line := await reader.readline():
            if cleaned := clean(line):
                yield cleaned
    finally:
        reader.close()


def _unlocked(source: IO[Any]) -> IO[Any] | _Descriptor:
    """A pipe or terminal's bytes read straight from its file descriptor when it has one.

    The daemon thread may still be blocked in that read when the interpreter shuts down: inside
    Python's buffered file it would hold the file's lock, and shutdown then aborts the process
    ("could not acquire lock for <stdin> at interpreter shutdown"). ``os.read`` holds none.
    """
    try:
        return _Descriptor(source.fileno())
    except (OSError, ValueError, AttributeError):  # io.StringIO and the like: no descriptor
        return source


class _Descriptor:
    """``readline(limit)`` over a file descriptor, with a buffer of our own (see :func:`_unlocked`)."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._pending = b""
        self._ended = False

    def readline(self, limit: int) -> bytes:
        while b"\n" not in self._pending and len(self._pending) < limit and not self._ended:
            chunk = os.read(self._fd, _CHUNK_BYTES)  # what has arrived: a line goes at once
            self._ended = not chunk
            self._pending += chunk
        end = self._pending.find(b"\n", 0, limit)
        cut = limit if end < 0 else end + 1
        line, self._pending = self._pending[:cut], self._pending[cut:]
        return line


#: The most one read of a pipe or terminal takes.
_CHUNK_BYTES = 64 * 1024


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
