"""The command line's standard streams, and the one rule for each way they fail (every command).

- **The reader of stdout left** (EPIPE: ``regimage … | head -1``): the command stops at once and
  quietly, and exits 141 (128 + SIGPIPE), the status a shell reports for a GNU tool that SIGPIPE
  ended; ``set -o pipefail`` sees it as theirs. No message: the reader chose to stop.
- **stdout cannot be written** (a full disk, ``>/dev/full``: ENOSPC; a closed stdout, ``>&-``:
  EBADF; EIO…): one line, ``regimage: error: cannot write to standard output: …``, and exit 1, as
  GNU tools do. A command that writes nothing (it failed first) is not affected.
- **stderr cannot be written** (closed, full, its reader gone): diagnostics are dropped, there is
  nowhere to say so; the exit status stands.

:class:`Stdout` turns a failed write into :class:`OutputClosed` or :class:`OutputFailed` (so that
no other ``OSError`` is taken for one), :class:`Stderr` drops what it cannot write; either then
points the process's stream at /dev/null (the recipe of Python's ``signal`` documentation), so that
the interpreter's own flush at exit finds nothing to fail on: no ``Exception ignored … BrokenPipe``,
no exit status 120.

Diagnostics are one line each, prefixed: :func:`warning_line` (every warning, the library's logged
ones too) and :func:`one_line`. Nothing here is heavier than ``io`` and ``unicodedata``: ``--version``
writes through it.
"""

from __future__ import annotations

import errno
import io
import os
import re
import sys
from typing import BinaryIO, TextIO

from regimage.cli.terminal import terminal_text

__all__ = [
    "OutputClosed",
    "OutputFailed",
    "Stderr",
    "Stdout",
    "one_line",
    "warning_line",
]

_LINE_BREAKS = re.compile(r"\s*[\r\n]+\s*")


class OutputClosed(Exception):
    """The reader of standard output left (EPIPE): stop quietly (exit 141)."""


class OutputFailed(Exception):
    """Standard output cannot be written: a full disk, a closed descriptor, an I/O error."""


def one_line(text: str) -> str:
    """``text`` on one line: line breaks (and the blanks around them) become one space."""
    return _LINE_BREAKS.sub(" ", text).strip()


def warning_line(text: str) -> str:
    """A warning as the command line writes it: ``regimage: warning: …``, one line, escaped for
    the terminal (:mod:`regimage.cli.terminal`: a warning may quote the registry)."""
    return f"regimage: warning: {terminal_text(one_line(text))}\n"


def _failure(exc: OSError | ValueError) -> Exception:
    if isinstance(exc, BrokenPipeError):
        return OutputClosed()
    if isinstance(exc, ValueError):  # "I/O operation on closed file"
        reason = "it is closed"
    elif exc.errno:
        reason = exc.strerror or os.strerror(exc.errno)
    else:
        reason = str(exc)
    return OutputFailed(f"cannot write to standard output: {reason}")


def _closed() -> OSError:
    return OSError(errno.EBADF, os.strerror(errno.EBADF))


def _to_devnull(stream: object, *process_streams: object) -> None:
    """Point the descriptor under ``stream`` at /dev/null, when it is the process's own stream
    (as it is now, or was at start-up: argparse runs with ours in its place)."""
    if stream is None or all(stream is not s for s in process_streams):
        return
    try:
        fileno = stream.fileno()  # type: ignore[attr-defined]
        devnull = os.open(os.devnull, os.O_WRONLY)
    except (OSError, ValueError, AttributeError):
        return
    try:
        os.dup2(devnull, fileno)
    except OSError:
        pass
    finally:
        os.close(devnull)


class Stdout(io.TextIOBase, TextIO):
    """Standard output (``stream``; None when the process started with it closed) whose failures
    are :class:`OutputClosed` or :class:`OutputFailed`. Closing it closes nothing."""

    def __init__(self, stream: TextIO | None) -> None:
        super().__init__()
        self._stream = stream

    def _target(self) -> TextIO:
        if self._stream is None:
            raise _closed()
        return self._stream

    def write(self, text: str, /) -> int:
        try:
            return self._target().write(text)
        except UnicodeError:
            raise
        except (OSError, ValueError) as exc:
            raise _failure(exc) from exc

    def flush(self) -> None:
        if self._stream is None:
            return  # nothing was written, so nothing failed
        try:
            self._stream.flush()
        except (OSError, ValueError) as exc:
            raise _failure(exc) from exc

    @property
    def buffer(self) -> BinaryIO:
        """The binary stream under the text one (raw bytes: ``manifest``, ``config --raw``)."""
        if self._stream is None:
            return _BinaryStdout(None)  # fails as the text stream does, when written
        inner = getattr(self._stream, "buffer", None)
        if inner is None:
            raise AttributeError("buffer")
        return _BinaryStdout(inner)

    def isatty(self) -> bool:
        check = getattr(self._stream, "isatty", None)
        try:
            return bool(check and check())
        except (OSError, ValueError):
            return False

    def close(self) -> None:
        """Nothing to close: the stream stays its owner's (and is not flushed when this goes)."""

    def silence(self) -> None:
        """After a failure: the process's stdout to /dev/null, so the flush at exit cannot fail."""
        _to_devnull(self._stream, sys.stdout, sys.__stdout__)


class _BinaryStdout(io.BufferedIOBase, BinaryIO):
    """The binary stream under :class:`Stdout`, failing the same way."""

    def __init__(self, stream: BinaryIO | None) -> None:
        super().__init__()
        self._stream = stream

    def write(self, data: bytes, /) -> int:  # type: ignore[override]
        try:
            if self._stream is None:
                raise _closed()
            return self._stream.write(data)
        except (OSError, ValueError) as exc:
            raise _failure(exc) from exc

    def flush(self) -> None:
        if self._stream is None:
            return
        try:
            self._stream.flush()
        except (OSError, ValueError) as exc:
            raise _failure(exc) from exc

    def close(self) -> None:
        """Nothing to close: the stream stays its owner's."""


class Stderr(io.TextIOBase, TextIO):
    """Standard error (``stream``; None when closed) that drops what it cannot write: from the
    first failure on, nothing more is tried."""

    def __init__(self, stream: TextIO | None) -> None:
        super().__init__()
        self._stream = stream

    def write(self, text: str, /) -> int:
        if self._stream is not None:
            try:
                self._stream.write(text)
            except (OSError, ValueError):
                self._give_up()
        return len(text)

    def flush(self) -> None:
        if self._stream is not None:
            try:
                self._stream.flush()
            except (OSError, ValueError):
                self._give_up()

    def isatty(self) -> bool:
        check = getattr(self._stream, "isatty", None)
        try:
            return bool(check and check())
        except (OSError, ValueError):
            return False

    def close(self) -> None:
        """Nothing to close: the stream stays its owner's (and is not flushed when this goes)."""

    def _give_up(self) -> None:
        _to_devnull(self._stream, sys.stderr, sys.__stderr__)
        self._stream = None
