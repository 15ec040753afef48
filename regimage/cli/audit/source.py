"""Where the audit's references come from, as lines: what counts as one, and what is known of the
input before the run (whether it is stdin, its first reference). No anyio here: the parser and
the start-up use it; :mod:`regimage.cli.audit.reader` reads the input as the run goes.
"""

from __future__ import annotations

import argparse
import os
import stat
from typing import TextIO

__all__ = [
    "LINES_PER_READ",
    "clean",
    "first_reference",
    "is_regular_file",
    "read_lines",
    "reads_stdin",
]

#: Lines read per trip to a worker thread from a regular file.
LINES_PER_READ = 256


def clean(line: str) -> str:
    """The reference on a line: ``#`` comments and surrounding blanks dropped ("" for none)."""
    return line.split("#", 1)[0].strip()


def reads_stdin(args: argparse.Namespace) -> bool:
    """Whether this audit takes its references from stdin."""
    return bool(args.file == "-" or (args.file is None and not args.refs))


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
        with open(args.file, encoding="utf-8", errors="replace") as source:
            for _, line in zip(range(LINES_PER_READ), source, strict=False):
                if cleaned := clean(line):
                    return cleaned
    except OSError:
        pass  # the audit reports it
    return None


def is_regular_file(stream: TextIO) -> bool:
    """Whether ``stream`` reads a regular file (nothing to wait for), not a pipe or a terminal."""
    try:
        return stat.S_ISREG(os.fstat(stream.fileno()).st_mode)
    except (OSError, ValueError, AttributeError):  # io.StringIO and the like have no fileno
        return False


def read_lines(stream: TextIO, count: int) -> list[str]:
    """Up to ``count`` lines of ``stream`` (fewer at its end)."""
    lines = []
    for _ in range(count):
        line = stream.readline()
        if not line:
            break
        lines.append(line)
    return lines
