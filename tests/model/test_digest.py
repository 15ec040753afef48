"""regimage.model.digest: parse, compute and verify content digests."""

from __future__ import annotations

import hashlib
import itertools

import pytest
from hypothesis import given, settings, strategies as st

from regimage.errors import DigestMismatch, InvalidDigest
from regimage.model.digest import Digest, DigestVerifier

EMPTY_SHA256 = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
EMPTY_SHA512 = (
    "sha512:cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce"
    "47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e"
)
BRACES_SHA256 = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
HEX64 = "0123456789abcdef" * 4

VALID = [
    (EMPTY_SHA256, "sha256", EMPTY_SHA256[7:]),
    (EMPTY_SHA512, "sha512", EMPTY_SHA512[7:]),
    ("sha256:" + HEX64, "sha256", HEX64),
    # Well-formed but unregistered algorithms parse (OCI descriptor.md examples among them).
    ("sha256+b64u:LCa0a2j_xo_5m0U8HTBBNBNCLXBkg7-g-YpeiGJm564", "sha256+b64u", "LCa0a2j_xo_5m0U8HTBBNBNCLXBkg7-g-YpeiGJm564"),
    ("multihash+base58:QmRZxt2b1FVZPNqd8hsiykDL3TdBDeTSPX9Kv46HmX4Gx8", "multihash+base58", "QmRZxt2b1FVZPNqd8hsiykDL3TdBDeTSPX9Kv46HmX4Gx8"),
    ("blake3:" + "A" * 64, "blake3", "A" * 64),
    ("sha384:abc=", "sha384", "abc="),
    ("a.b_c-d:x", "a.b_c-d", "x"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "algorithm", "encoded"), VALID)
def test_parse_valid(text: str, algorithm: str, encoded: str) -> None:
    digest = Digest.parse(text)
    assert (digest.algorithm, digest.encoded) == (algorithm, encoded)
    assert str(digest) == text
    assert Digest.parse(str(digest)) == digest


INVALID: list[tuple[object, str]] = [
    ("", "digest must be 'algorithm:hex', got ''"),
    ("sha256", "digest must be 'algorithm:hex', got 'sha256'"),
    (HEX64, "digest must be 'algorithm:hex'"),
    (":" + HEX64, "invalid digest format"),
    ("sha256:", "invalid digest format: 'sha256:'"),
    ("SHA256:" + HEX64, "invalid digest format"),
    ("sha256:" + HEX64.upper(), "sha256 digest must be 64 lower-case hex characters"),
    ("sha256:" + HEX64[:-1], "sha256 digest must be 64 lower-case hex characters"),
    ("sha256:" + HEX64 + "0", "sha256 digest must be 64 lower-case hex characters"),
    ("sha256:" + "g" * 64, "sha256 digest must be 64 lower-case hex characters"),
    ("sha512:" + HEX64, "sha512 digest must be 128 lower-case hex characters"),
    ("sha512:" + (HEX64 * 2).upper(), "sha512 digest must be 128 lower-case hex characters"),
    (" sha256:" + HEX64, "invalid digest format"),
    ("sha256:" + HEX64 + "\n", "invalid digest format"),
    ("sha256::" + HEX64, "invalid digest format"),
    ("sha256:abc def", "invalid digest format"),
    ("sha256+:abc", "invalid digest format"),
    ("sha256:abc/def", "invalid digest format"),
    ("sha256:ab\u0660", "invalid digest format"),  # Arabic-Indic zero: re.ASCII keeps it out
    (None, "digest must be a string, not NoneType"),
    (EMPTY_SHA256.encode(), "digest must be a string, not bytes"),
]


@pytest.mark.parametrize(("text", "message"), INVALID)
def test_parse_invalid(text: object, message: str) -> None:
    with pytest.raises(InvalidDigest) as info:
        Digest.parse(text)  # type: ignore[arg-type]
    assert message in str(info.value)
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize(
    ("data", "algorithm", "expected"),
    [
        (b"", "sha256", EMPTY_SHA256),
        (b"", "sha512", EMPTY_SHA512),
        (b"{}", "sha256", BRACES_SHA256),
        (b"abc", "sha256", "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
    ],
)  # fmt: skip
def test_of(data: bytes, algorithm: str, expected: str) -> None:
    assert str(Digest.of(data, algorithm)) == expected


def test_of_defaults_to_sha256() -> None:
    assert Digest.of(b"") == Digest.parse(EMPTY_SHA256)
    assert Digest.SHA256 == "sha256"
    assert Digest.SHA512 == "sha512"


def test_of_refuses_unknown_algorithms() -> None:
    with pytest.raises(InvalidDigest, match="cannot verify digest algorithm 'md5'"):
        Digest.of(b"", "md5")


def test_verify() -> None:
    Digest.parse(BRACES_SHA256).verify(b"{}")
    Digest.parse(EMPTY_SHA512).verify(b"")


def test_verify_mismatch_names_both() -> None:
    with pytest.raises(DigestMismatch) as info:
        Digest.parse(EMPTY_SHA256).verify(b"{}")
    assert info.value.expected == EMPTY_SHA256
    assert info.value.actual == BRACES_SHA256
    assert str(info.value) == (
        f"content does not match its digest: expected {EMPTY_SHA256}, got {BRACES_SHA256}"
    )


@pytest.mark.parametrize(
    "text",
    ["blake3:" + "a" * 64, "sha384:" + "a" * 96, "sha256+b64u:LCa0a2j_xo_5m0U8HTBBNBNCLXBkg7"],
)
def test_unknown_algorithms_parse_but_never_verify(text: str) -> None:
    digest = Digest.parse(text)
    assert not digest.is_verifiable
    with pytest.raises(InvalidDigest, match="only sha256 and sha512 are supported"):
        digest.verify(b"anything")
    with pytest.raises(InvalidDigest):
        digest.verifier()


def test_is_verifiable() -> None:
    assert Digest.parse(EMPTY_SHA256).is_verifiable
    assert Digest.parse(EMPTY_SHA512).is_verifiable


def test_verifier_incremental() -> None:
    verifier = Digest.parse(BRACES_SHA256).verifier()
    assert isinstance(verifier, DigestVerifier)
    assert verifier.length == 0
    assert verifier.digest() == Digest.parse(EMPTY_SHA256)
    verifier.update(b"{")
    assert verifier.length == 1
    with pytest.raises(DigestMismatch) as info:
        verifier.verify()  # only half the content so far
    assert info.value.actual == str(Digest.of(b"{"))
    verifier.update(b"}")
    assert verifier.length == 2
    verifier.verify()
    assert verifier.digest() == Digest.parse(BRACES_SHA256)


def test_verifier_sha512() -> None:
    verifier = Digest.of(b"hello world", "sha512").verifier()
    for chunk in (b"hello", b" ", b"world"):
        verifier.update(chunk)
    verifier.verify()
    assert verifier.digest().algorithm == "sha512"


def test_repr_short_and_equality() -> None:
    digest = Digest.parse(BRACES_SHA256)
    assert repr(digest) == f"<Digest({BRACES_SHA256!r})>"
    assert digest.short == "44136fa355b3"
    assert digest == Digest("sha256", BRACES_SHA256[7:])
    assert digest != Digest.parse(EMPTY_SHA256)
    assert len({digest, Digest.parse(BRACES_SHA256)}) == 1
    with pytest.raises(AttributeError):
        digest.encoded = "x"  # type: ignore[misc]


@settings(max_examples=200, database=None, deadline=None)
@given(st.binary(max_size=512), st.sampled_from(["sha256", "sha512"]))
def test_of_matches_hashlib_and_round_trips(data: bytes, algorithm: str) -> None:
    digest = Digest.of(data, algorithm)
    assert digest.encoded == hashlib.new(algorithm, data).hexdigest()
    assert Digest.parse(str(digest)) == digest
    digest.verify(data)


@settings(max_examples=200, database=None, deadline=None)
@given(st.binary(min_size=1, max_size=256), st.lists(st.integers(0, 256), max_size=5))
def test_verifier_is_split_independent(data: bytes, cuts: list[int]) -> None:
    verifier = Digest.of(data).verifier()
    edges = sorted({0, len(data), *(c % (len(data) + 1) for c in cuts)})
    for start, end in itertools.pairwise(edges):
        verifier.update(data[start:end])
    assert verifier.length == len(data)
    verifier.verify()
    other = Digest.of(data[:-1]).verifier()
    other.update(data)
    with pytest.raises(DigestMismatch):
        other.verify()


@settings(max_examples=500, database=None, deadline=None)
@given(st.text(max_size=80))
def test_arbitrary_text_raises_only_invalid_digest(text: str) -> None:
    try:
        digest = Digest.parse(text)
    except InvalidDigest:
        return
    assert str(digest) == text
