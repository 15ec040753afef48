"""How the CLI writes answers: human sizes, aligned tables, JSON documents and raw bytes.

Human lines go through :func:`write_lines` (and table cells through :func:`table`), which write
what a terminal would act on as escapes (:func:`regimage.cli.terminal.terminal_text`): much of the
text is the registry's. JSON goes through :func:`json_text`: exact values, the same characters
written as JSON's ``\\u`` escapes. Raw bytes (:func:`write_bytes`) are written as they are: that
is what was asked for.

Machinery for :mod:`regimage.cli.core`; nothing here imports httpx or anyio.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable, Sequence
from typing import Any, TextIO

from regimage.cli.terminal import ESCAPED_CATEGORIES, terminal_text

__all__ = [
    "SCHEMA",
    "human_size",
    "json_text",
    "size_text",
    "table",
    "write_bytes",
    "write_json",
    "write_json_line",
    "write_lines",
]

#: The version of every ``--json`` document and audit record (the ``schema`` key).
SCHEMA = 1

#: Decimal (SI) units, as registries and ``docker images`` report sizes.
_UNITS = ("kB", "MB", "GB", "TB", "PB", "EB")


def human_size(n: int) -> str:
    """``12.3 MB``: decimal units with one decimal; below 1 kB the exact count (``512 B``)."""
    if n < 1000:
        return f"{n} B"
    value = float(n)
    for unit in _UNITS:
        value /= 1000
        if value < 999.95:
            return f"{value:.1f} {unit}"
    return f"{value:.1f} {_UNITS[-1]}"


def size_text(n: int, *, exact: bool = False) -> str:
    """``12.3 MB (12,345,678 bytes)``, or the bare integer when ``exact`` (``--bytes``)."""
    return str(n) if exact else f"{human_size(n)} ({n:,} bytes)"


def table(rows: Iterable[Sequence[str]], *, indent: str = "") -> list[str]:
    """Lines of left-aligned columns two spaces apart; the last column is not padded. Cells are
    escaped for a terminal (:func:`~regimage.cli.terminal.terminal_text`) before they are measured."""
    materialised = [[terminal_text(cell) for cell in row] for row in rows]
    if not materialised:
        return []
    widths = [
        max(len(row[i]) for row in materialised if i < len(row))
        for i in range(len(materialised[0]))
    ]
    lines = []
    for row in materialised:
        cells = [cell.ljust(widths[i]) for i, cell in enumerate(row[:-1])] + [row[-1]]
        lines.append(indent + "  ".join(cells).rstrip())
    return lines


def write_lines(stream: TextIO, lines: Iterable[str]) -> None:
    """Human lines, each escaped for a terminal: a line never becomes two, nor acts on the screen."""
    stream.write("".join(f"{terminal_text(line)}\n" for line in lines))


#: Every character that is not ASCII, or DEL: the candidates for :func:`_json_escape` (JSON
#: already escapes C0 controls, and structure is ASCII, so these only occur inside strings).
_BEYOND_ASCII = re.compile("[\x7f-\U0010ffff]")


def json_text(value: Any, *, indent: int | None = None) -> str:
    """``value`` as JSON that parses back to the same value, safe to show on a terminal.

    Text stays readable (``ensure_ascii=False``: ``café``, ``日本``), but the characters a
    terminal would act on (:data:`~regimage.cli.terminal.ESCAPED_CATEGORIES`: C1 controls, DEL,
    bidi overrides, …) are written as ``\\uXXXX`` escapes, which JSON reads back as the same
    characters. A lone surrogate (a byte that was not UTF-8, or a ``\\ud800`` a registry sent) has
    no place in UTF-8 JSON: it is written as U+FFFD, the replacement character.
    """
    separators = (",", ": ") if indent is not None else (",", ":")
    text = json.dumps(value, indent=indent, ensure_ascii=False, separators=separators)
    return _BEYOND_ASCII.sub(_json_escape, text)


def _json_escape(match: re.Match[str]) -> str:
    char = match.group()
    category = unicodedata.category(char)
    if category not in ESCAPED_CATEGORIES:
        return char
    if category == "Cs":
        return "\ufffd"
    code = ord(char)
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    code -= 0x10000  # a UTF-16 surrogate pair, as JSON writes characters beyond the BMP
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"


def write_json(stream: TextIO, document: dict[str, Any]) -> None:
    """One pretty JSON document (``--json``), ``schema`` first (:func:`json_text`)."""
    stream.write(json_text({"schema": SCHEMA, **document}, indent=2) + "\n")


def write_json_line(stream: TextIO, record: dict[str, Any]) -> None:
    """One compact JSON Lines record (``audit``), ``schema`` first (:func:`json_text`)."""
    stream.write(json_text({"schema": SCHEMA, **record}) + "\n")


def write_bytes(stream: TextIO, data: bytes) -> None:
    """Write ``data`` unchanged: to the binary buffer under a text stream when it has one."""
    buffer = getattr(stream, "buffer", None)
    if buffer is None:
        stream.write(data.decode("utf-8", "surrogateescape"))
        return
    stream.flush()
    buffer.write(data)
    buffer.flush()
