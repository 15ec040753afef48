"""Where the audit's references come from, as lines: what counts as one, and what is known of the
input before the run (whether it is stdin, its first reference). No anyio here: the parser and
the start-up use it; :mod:`regimage.cli.audit.reader` reads the input as the run goes.

The input is read as bytes and decoded line by line (:class:`Lines`), so that one line that is not
UTF-8 is that line's problem, not the run's: its undecodable bytes are kept as ``surrogateescape``
characters, which no reference holds, so the line becomes an error record of its own
(:class:`~regimage.errors.InvalidReference`, saying which byte). A UTF-8 BOM is dropped from the
first line (Windows editors write one); anywhere else it is a character like another, and the line
an invalid reference. Lines end at LF (CRLF's CR is a blank, dropped with the others). A line is
read up to :data:`MAX_LINE_BYTES`; the rest of a longer one is skipped unread.
"""

from __future__ import annotations

import argparse
import codecs
import os
import stat
from typing import IO, Any, Protocol

__all__ = [
    "LINES_PER_READ",
    "MAX_LINE_BYTES",
    "Lines",
    "clean",
    "first_reference",
    "is_regular_file",
    "read_lines",
    "reads_stdin",
]

#: Lines read per trip to a worker thread from a regular file.
LINES_PER_READ = 256
#: The longest line read, in bytes (the rest of a longer one is skipped): a reference is under a
#: thousand (a 255-character repository, a host, a 128-character tag, a sha512 digest), so only a
#: comment or garbage is cut, and one line cannot take the memory.
MAX_LINE_BYTES = 4096
_BOM = "\ufeff"
_UTF8 = codecs.getincrementaldecoder("utf-8")


def clean(line: str) -> str:
    """The reference on a line: ``#`` comments and surrounding blanks dropped ("" for none)."""
    return line.split("#", 1)[0].strip()


def reads_stdin(args: argparse.Namespace) -> bool:
    """Whether this audit takes its references from stdin (not when it has arguments or a
    ``--catalog`` to audit and no ``--file -``)."""
    given = args.refs or getattr(args, "catalog", None)
    return bool(args.file == "-" or (args.file is None and not given))


def first_reference(args: argparse.Namespace) -> str | None:
    """The first reference this audit will read, when it can be known without consuming any
    input: the first argument, or the first line of a regular ``--file`` (read again later).
    The command line opens a connection to its registry while it starts (regimage.cli.preconnect)."""
    for text in args.refs:
        if cleaned := clean(text):
            return cleaned
    if args.file is None or args.file == "-":
        return None
    try:
        if not stat.S_ISREG(os.stat(args.file).st_mode):
            return None  # a pipe: reading it would take the audit's input away
        with open(args.file, "rb") as source:
            for line in read_lines(Lines(source), LINES_PER_READ):
                if cleaned := clean(line):
                    return cleaned
    except OSError:
        pass  # the audit reports it
    return None


class ByteLines(Protocol):
    """What :class:`Lines` reads besides a file: lines of bytes, each at most ``limit`` long."""

    def readline(self, limit: int, /) -> bytes: ...


class Lines:
    """The lines of an input, as text (see the module's docstring): bytes decoded line by line, a
    BOM dropped from the first, each line at most :data:`MAX_LINE_BYTES`.

    A text stream over bytes (``sys.stdin``) is read through its bytes: its own decoding would
    stop the run at the first byte that is not UTF-8. A text stream without bytes under it (an
    ``io.StringIO``) is read as it is.
    """

    def __init__(self, stream: IO[Any] | ByteLines) -> None:
        self._stream: IO[Any] | ByteLines = getattr(stream, "buffer", stream)
        self._first = True

    def readline(self) -> str:
        """The next line, with its line break ("" at the end of the input)."""
        line: str | bytes = self._stream.readline(MAX_LINE_BYTES)
        if not line:
            return ""
        cut = len(line) >= MAX_LINE_BYTES and not _ends_line(line)
        if cut:
            self._skip_rest_of_line()
        if isinstance(line, bytes):
            # A line cut short loses the end of a character it cut too, not only the rest.
            text = _UTF8("surrogateescape").decode(line, final=not cut)
        else:
            text = line
        if self._first:
            self._first = False
            text = text.removeprefix(_BOM) or "\n"  # a BOM alone is a blank line, not the end
        return text

    def _skip_rest_of_line(self) -> None:
        while True:
            rest = self._stream.readline(MAX_LINE_BYTES)
            if not rest or _ends_line(rest):
                return


def _ends_line(line: str | bytes) -> bool:
    return line.endswith(b"\n") if isinstance(line, bytes) else line.endswith("\n")


def is_regular_file(stream: IO[Any]) -> bool:
    """Whether ``stream`` reads a regular file (nothing to wait for), not a pipe or a terminal."""
    try:
        return stat.S_ISREG(os.fstat(stream.fileno()).st_mode)
    except (OSError, ValueError, AttributeError):  # io.StringIO and the like have no fileno
        return False


def read_lines(stream: Lines, count: int) -> list[str]:
    """Up to ``count`` lines of ``stream`` (fewer at its end)."""
    lines = []
    for _ in range(count):
        line = stream.readline()
        if not line:
            break
        lines.append(line)
    return lines
