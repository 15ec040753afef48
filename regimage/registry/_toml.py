"""TOML configuration files read strictly: the standard library's ``tomllib`` (Python 3.11+, its
backport ``tomli`` before), and typed access to their values.

registries.conf and hosts.toml are TOML. A value of the wrong type is an error that names the file
and the key, never a silent default: a mirror or a ``blocked = true`` that regimage misread would
send requests where the user did not want them.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any

from regimage.errors import InvalidConfiguration

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

__all__ = ["boolean", "load_toml", "string", "string_or_strings", "tables"]


def load_toml(text: str, *, origin: str) -> dict[str, Any]:
    """The document ``text`` (read from ``origin``, named in errors) as a dict."""
    try:
        document: dict[str, Any] = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InvalidConfiguration(f"{origin}: not valid TOML: {exc}", path=origin) from None
    return document


def _wrong(origin: str, where: str, key: str, wanted: str, value: object) -> InvalidConfiguration:
    return InvalidConfiguration(
        f"{origin}: {where}{key} must be {wanted}, not {type(value).__name__} {value!r}",
        path=origin,
    )


def boolean(table: Mapping[str, Any], key: str, *, origin: str, where: str = "") -> bool:
    """``table[key]`` as a boolean (False when absent)."""
    value = table.get(key, False)
    if not isinstance(value, bool):
        raise _wrong(origin, where, key, "true or false", value)
    return value


def string(table: Mapping[str, Any], key: str, *, origin: str, where: str = "") -> str:
    """``table[key]`` as a string (``""`` when absent)."""
    value = table.get(key, "")
    if not isinstance(value, str):
        raise _wrong(origin, where, key, "a string", value)
    return value


def string_or_strings(
    table: Mapping[str, Any], key: str, *, origin: str, where: str = ""
) -> tuple[str, ...]:
    """``table[key]`` as strings: one string, or an array of them (none when absent)."""
    value = table.get(key, ())
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise _wrong(origin, where, key, "a string or an array of strings", value)
    return tuple(value)


def tables(
    table: Mapping[str, Any], key: str, *, origin: str, where: str = ""
) -> tuple[dict[str, Any], ...]:
    """``table[key]`` as an array of tables (``[[key]]``; none when absent)."""
    value = table.get(key, ())
    if not isinstance(value, list | tuple) or not all(isinstance(v, dict) for v in value):
        raise _wrong(origin, where, key, "an array of tables", value)
    return tuple(value)
