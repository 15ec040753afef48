"""regimage.model._json.loads_object: strict JSON for documents read from the network."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from hypothesis import given, settings, strategies as st

from regimage.errors import InvalidDocument
from regimage.model._json import MAX_DEPTH, MAX_INT_DIGITS, json_type, loads_object

VALID: list[tuple[bytes, dict[str, Any]]] = [
    (b"{}", {}),
    (b' \n\t{"a": 1} \r\n', {"a": 1}),
    (b'{"a": [1, 2.5, -3, true, false, null, "x"]}', {"a": [1, 2.5, -3, True, False, None, "x"]}),
    ('{"é": "ü"}'.encode(), {"é": "ü"}),
    (b'{"emoji": "\\ud83d\\ude00"}', {"emoji": "\U0001f600"}),
    (b'{"a": "\\\\ud800"}', {"a": "\\ud800"}),  # an escaped backslash, then "ud800"
    (b'{"n": 9007199254740992}', {"n": 2**53}),
    (b'{"n": -1e400}', {"n": float("-inf")}),  # an overflowing literal is a number, not a constant
    (b'{"": ""}', {"": ""}),
    (b'{"a": {"a": 1}}', {"a": {"a": 1}}),  # the same key at different levels is no duplicate
    (b'{"n": 1.0e2, "m": -0}', {"n": 100.0, "m": 0}),
]


@pytest.mark.parametrize(("data", "expected"), VALID)
def test_valid(data: bytes, expected: dict[str, Any]) -> None:
    assert loads_object(data, what="manifest") == expected


def test_depth_limit_is_inclusive() -> None:
    deepest_ok = b'{"d":' + b"[" * (MAX_DEPTH - 1) + b"]" * (MAX_DEPTH - 1) + b"}"
    # The top-level object plus MAX_DEPTH - 1 arrays: exactly MAX_DEPTH containers deep.
    value = loads_object(deepest_ok, what="doc")
    assert str(value["d"]).count("[") == MAX_DEPTH - 1
    too_deep = b'{"d":' + b"[" * MAX_DEPTH + b"]" * MAX_DEPTH + b"}"
    with pytest.raises(InvalidDocument, match=f"nested deeper than {MAX_DEPTH} levels"):
        loads_object(too_deep, what="doc")


def test_accepts_bytearray_and_memoryview() -> None:
    assert loads_object(bytearray(b'{"a":1}'), what="x") == {"a": 1}
    assert loads_object(memoryview(b'{"a":1}'), what="x") == {"a": 1}


INVALID: list[tuple[object, str]] = [
    (b"", "manifest is not valid JSON: Expecting value at line 1 column 1"),
    (b"{", "manifest is not valid JSON"),
    (b'{"a":1} {}', "manifest is not valid JSON: Extra data"),
    (b"{'a': 1}", "manifest is not valid JSON"),
    (b'{"a": 1,}', "manifest is not valid JSON"),
    (b"[]", "manifest must be a JSON object, got array"),
    (b'"x"', "manifest must be a JSON object, got string"),
    (b"1", "manifest must be a JSON object, got number"),
    (b"null", "manifest must be a JSON object, got null"),
    (b"true", "manifest must be a JSON object, got boolean"),
    (b'{"a": 1, "a": 2}', "manifest has duplicate key 'a'"),
    (b'{"x": {"layers": [], "layers": []}}', "manifest has duplicate key 'layers'"),
    (b'{"a": NaN}', "manifest contains NaN, which is not valid JSON"),
    (b'{"a": Infinity}', "manifest contains Infinity"),
    (b'{"a": -Infinity}', "manifest contains -Infinity"),
    (b'{"a": "\xff"}', "manifest is not valid UTF-8: byte 0xff at byte offset 7"),
    (b'{"a": "\xc3"}', "manifest is not valid UTF-8: byte 0xc3 at byte offset 7"),
    (b"\xed\xa0\x80", "manifest is not valid UTF-8: byte 0xed at byte offset 0"),  # CESU surrogate
    (b"\xef\xbb\xbf{}", "manifest starts with a UTF-8 byte-order mark"),
    (b'{"a": "\\ud800"}', "manifest contains a lone UTF-16 surrogate escape"),
    (b'{"\\udfff": 1}', "manifest contains a lone UTF-16 surrogate escape"),
    (b'{"a": "\x01"}', "manifest is not valid JSON: Invalid control character"),
    (b'{"n": ' + b"9" * (MAX_INT_DIGITS + 1) + b"}", "integer longer than 40 digits"),
    (b'{"n": -' + b"9" * (MAX_INT_DIGITS + 1) + b"}", "integer longer than 40 digits"),
    ("{}", "manifest must be bytes, not str"),
    (None, "manifest must be bytes, not NoneType"),
]


@pytest.mark.parametrize(("data", "message"), INVALID)
def test_invalid(data: bytes, message: str) -> None:
    with pytest.raises(InvalidDocument) as info:
        loads_object(data, what="manifest")
    assert message in str(info.value)


def test_forty_digit_integers_still_parse() -> None:
    assert loads_object(b'{"n": ' + b"9" * MAX_INT_DIGITS + b"}", what="x") == {
        "n": int("9" * MAX_INT_DIGITS)
    }


@pytest.mark.parametrize(
    "data",
    [
        b"[" * 100_000,
        b'{"a":' * 100_000,
        b"[" * 100_000 + b"]" * 100_000,
        b'{"a":' + b"[" * 2_000_000,
    ],
    ids=["open-arrays", "open-objects", "balanced-arrays", "2M-deep"],
)
def test_absurd_nesting_is_refused_quickly(data: bytes) -> None:
    start = time.perf_counter()
    with pytest.raises(InvalidDocument, match="nested deeper than 64 levels"):
        loads_object(data, what="manifest")
    assert time.perf_counter() - start < 2.0


def test_what_names_the_document() -> None:
    with pytest.raises(InvalidDocument, match=r"^image config has duplicate key 'os'$"):
        loads_object(b'{"os": "linux", "os": "windows"}', what="image config")


def test_errors_do_not_chain_foreign_exceptions() -> None:
    with pytest.raises(InvalidDocument) as info:
        loads_object(b"\xff", what="x")
    assert info.value.__cause__ is None
    assert info.value.__suppress_context__


@pytest.mark.parametrize(
    ("value", "name"),
    [
        ({}, "object"),
        ([], "array"),
        ("", "string"),
        (1, "number"),
        (1.5, "number"),
        (True, "boolean"),
        (None, "null"),
    ],
)
def test_json_type(value: object, name: str) -> None:
    assert json_type(value) == name


#: Text without surrogate code points (lone surrogates are refused: see INVALID).
texts = st.text(st.characters(codec="utf-8"), max_size=20)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**64), 2**64)
    | st.floats(allow_nan=False, allow_infinity=False)
    | texts,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(texts, children, max_size=5),
    max_leaves=10,
)


@settings(max_examples=300, database=None, deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_raise_only_invalid_document(data: bytes) -> None:
    try:
        result = loads_object(data, what="doc")
    except InvalidDocument:
        return
    assert isinstance(result, dict)


@settings(max_examples=100, database=None, deadline=None)
@given(st.dictionaries(texts, json_values, max_size=6))
def test_round_trip_of_json_objects(value: dict[str, Any]) -> None:
    assert loads_object(json.dumps(value).encode(), what="doc") == value
    assert loads_object(json.dumps(value, ensure_ascii=False).encode(), what="doc") == value
