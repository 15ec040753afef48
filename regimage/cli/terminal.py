"""Text for a terminal: the characters it would act on, or that change how the text around them
reads, written as escapes.

Much of what the command line shows is the registry's text: labels, env, history, platforms, tags,
artifact types, error messages. Written raw, an escape sequence could clear the screen, retitle the
window or rewrite what was printed before; a lone CR could overwrite a line; a bidi override
(U+202E) could make ``evil.sh`` read as ``hs.live``; a zero-width or tag character could hide text.
So every human line goes through :func:`terminal_text`, which writes those characters as the
escapes Python uses: ``\\x1b``, ``\\r``, ``\\u202e``, ``\\U000e0041``; a byte that was not UTF-8
(``surrogateescape``) as ``\\xe9``. What is escaped is each character of the Unicode categories
Cc (C0 and C1 controls, DEL; tab and newline too), Cf (format: bidi overrides and isolates,
zero-width characters, BOM, tag characters), Zl and Zp (line and paragraph separators) and Cs
(lone surrogates); every other character, accents, scripts and emoji included, is written as it is.
``--json`` output keeps exact values instead (:func:`regimage.cli.output.json_text`).

Light on purpose (only :mod:`unicodedata`): diagnostics written while the command line starts may
use it.
"""

from __future__ import annotations

import unicodedata

__all__ = ["ESCAPED_CATEGORIES", "terminal_text"]

#: The Unicode general categories written as escapes.
ESCAPED_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs"})

_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
#: Where :mod:`codecs`' ``surrogateescape`` puts an undecodable byte: U+DC80 to U+DCFF.
_ESCAPED_BYTES = range(0xDC80, 0xDD00)


def terminal_text(text: str) -> str:
    """``text`` with every character a terminal would act on written as an escape (see above).

    Idempotent: the escapes themselves are printable, and a backslash is left as it is.
    """
    if text.isprintable():  # nothing to escape: no printable character is in those categories
        return text
    return "".join(
        _escape(char) if unicodedata.category(char) in ESCAPED_CATEGORIES else char for char in text
    )


def _escape(char: str) -> str:
    named = _NAMED.get(char)
    if named is not None:
        return named
    code = ord(char)
    if code in _ESCAPED_BYTES:
        return f"\\x{code - 0xDC00:02x}"
    if code <= 0xFF:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"
