"""How the CLI writes answers: human sizes, aligned tables, JSON documents and raw bytes.

Machinery for :mod:`regimage.cli.core`; nothing here imports httpx or anyio.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any, TextIO

__all__ = [
    "SCHEMA",
    "human_size",
    "size_text",
    "table",
    "write_bytes",
    "write_json",
    "write_json_line",
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
    """Lines of left-aligned columns two spaces apart; the last column is not padded."""
    materialised = [list(row) for row in rows]
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


def write_json(stream: TextIO, document: dict[str, Any]) -> None:
    """One pretty JSON document (``--json``), ``schema`` first."""
    stream.write(json.dumps({"schema": SCHEMA, **document}, indent=2, ensure_ascii=False) + "\n")


def write_json_line(stream: TextIO, record: dict[str, Any]) -> None:
    """One compact JSON Lines record (``audit``), ``schema`` first."""
    text = json.dumps({"schema": SCHEMA, **record}, ensure_ascii=False, separators=(",", ":"))
    stream.write(text + "\n")


def write_bytes(stream: TextIO, data: bytes) -> None:
    """Write ``data`` unchanged: to the binary buffer under a text stream when it has one."""
    buffer = getattr(stream, "buffer", None)
    if buffer is None:
        stream.write(data.decode("utf-8", "surrogateescape"))
        return
    stream.flush()
    buffer.write(data)
    buffer.flush()
