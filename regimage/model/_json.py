"""Strict JSON decoding for documents read from the network.

``json.loads`` alone is too forgiving for bytes that decide what we fetch next: it accepts
duplicate keys (the last one silently wins, so two readers can see two different documents),
``NaN``/``Infinity``, lone UTF-16 surrogates and integers of any length, and it raises
``RecursionError`` or ``UnicodeDecodeError`` rather than a parse error. :func:`loads_object` closes
each of those doors and reports every failure as :class:`~regimage.errors.InvalidDocument`.
"""

from __future__ import annotations

import json
import re
from typing import Any

from regimage.errors import InvalidDocument

__all__ = ["MAX_DEPTH", "MAX_INT_DIGITS", "json_type", "loads_object"]

#: The deepest nesting of arrays and objects accepted; real manifests and configs stay under 10.
MAX_DEPTH = 64

#: The longest integer literal accepted (sizes stay below 2**53, which has 16 digits). Python's
#: int() is quadratic in the number of digits, so a huge literal is refused before conversion.
MAX_INT_DIGITS = 40

#: A surrogate code point left in a decoded string: JSON's ``\ud800`` escapes that were not part
#: of a valid pair. Paired escapes decode to one astral character, so anything matching is lone.
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
#: The escape that can produce one (``\uD800``–``\uDFFF``), looked for in the raw text first.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


class _Refused(Exception):
    """Raised from inside the json hooks; turned into InvalidDocument with the document's name."""


def loads_object(data: bytes | bytearray | memoryview, *, what: str) -> dict[str, Any]:
    """Decode ``data`` as one JSON object, strictly; ``what`` names the document in errors.

    Refused, each with :class:`InvalidDocument`: bytes that are not UTF-8 (the byte offset is
    named), a byte-order mark, duplicate keys in any object (the key is named), ``NaN`` and
    ``Infinity``, integer literals longer than :data:`MAX_INT_DIGITS` digits, lone surrogate
    escapes, nesting deeper than :data:`MAX_DEPTH`, and a top level that is not an object.
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise InvalidDocument(f"{what} must be bytes, not {type(data).__name__}")
    raw = bytes(data)
    if raw.startswith(b"\xef\xbb\xbf"):
        raise InvalidDocument(f"{what} starts with a UTF-8 byte-order mark, which JSON forbids")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidDocument(
            f"{what} is not valid UTF-8: byte 0x{raw[exc.start]:02x} at byte offset {exc.start}"
        ) from None
    try:
        value = json.loads(
            text,
            object_pairs_hook=_unique_object,
            parse_constant=_refuse_constant,
            parse_int=_bounded_int,
        )
    except _Refused as exc:
        raise InvalidDocument(f"{what} {exc}") from None
    except json.JSONDecodeError as exc:
        raise InvalidDocument(
            f"{what} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    except RecursionError:
        # The C scanner recurses once per level and gives up at the interpreter's recursion
        # limit, long before the stack is at risk; anything that deep is over MAX_DEPTH anyway.
        raise InvalidDocument(f"{what} is nested deeper than {MAX_DEPTH} levels") from None
    except ValueError as exc:  # pragma: no cover - int() limits; parse_int bounds digits first
        raise InvalidDocument(f"{what} is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise InvalidDocument(f"{what} must be a JSON object, got {json_type(value)}")
    _check_depth(value, what)
    # Text decoded strictly from UTF-8 holds no surrogates: only \uD800-style escapes make them,
    # so the (slower) walk over every string is needed only when the text has such an escape.
    if _SURROGATE_ESCAPE.search(text) is not None:
        _check_surrogates(value, what)
    return value


def json_type(value: object) -> str:
    """The JSON name of a decoded value's type, for messages (``object``, ``array``, …)."""
    if isinstance(value, bool):
        return "boolean"
    if value is None:
        return "null"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    return "number"


def _unique_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _Refused(f"has duplicate key {key!r}")
            seen.add(key)
    return obj


def _refuse_constant(name: str) -> Any:
    raise _Refused(f"contains {name}, which is not valid JSON")


def _bounded_int(literal: str) -> int:
    if len(literal.lstrip("-")) > MAX_INT_DIGITS:
        raise _Refused(f"contains an integer longer than {MAX_INT_DIGITS} digits")
    return int(literal)


def _check_depth(root: dict[str, Any], what: str) -> None:
    """Refuse nesting deeper than MAX_DEPTH, walking the containers level by level."""
    level: list[Any] = [root]
    depth = 1
    while level:
        if depth > MAX_DEPTH:
            raise InvalidDocument(f"{what} is nested deeper than {MAX_DEPTH} levels")
        deeper: list[Any] = []
        keep = deeper.append
        for container in level:
            for item in container.values() if type(container) is dict else container:
                if type(item) is dict or type(item) is list:
                    keep(item)
        level = deeper
        depth += 1


def _check_surrogates(root: dict[str, Any], what: str) -> None:
    """Refuse strings (keys included) that hold a lone surrogate."""
    stack: list[Any] = [root]
    while stack:
        value = stack.pop()
        if type(value) is dict:
            stack.extend(value.keys())
            stack.extend(value.values())
        elif type(value) is list:
            stack.extend(value)
        elif type(value) is str and _LONE_SURROGATE.search(value) is not None:
            raise InvalidDocument(f"{what} contains a lone UTF-16 surrogate escape")
