"""Image references: distribution/reference's own test tables, then regimage's properties.

``vectors/reference_cases.json`` holds upstream's cases as data (see ``vectors/README.md``); each
``api`` is run through the function of this module that mirrors it, and every case that carries a
``derived_normalized`` block is run once more through :meth:`Reference.parse`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import FrozenInstanceError
from pathlib import Path
from typing import Any, cast

import pytest
from hypothesis import example, given, strategies as st

from regimage.errors import InvalidReference
from regimage.model.digest import Digest
from regimage.model.host import is_loopback_host, split_host
from regimage.model.reference import (
    DEFAULT_TAG,
    Reference,
    _parse,
    _parse_any_reference,
    _parse_named,
    _parse_normalized_named,
    _with_name,
)
from regimage.model.reference_grammar import (
    ANCHORED_IDENTIFIER_RE,
    ANCHORED_NAME_RE,
    DOMAIN_AND_PORT_RE,
    REFERENCE_RE,
)

Case = dict[str, Any]

_VECTORS = json.loads(
    (Path(__file__).parent.parent / "vectors" / "reference_cases.json").read_text(encoding="utf-8")
)
CASES: list[Case] = _VECTORS["cases"]
DERIVED: list[Case] = [case for case in CASES if "derived_normalized" in case]

SHA256 = "sha256:" + "ab" * 32
SHA512 = "sha512:" + "cd" * 64

#: For each upstream error kind, a word regimage's message must contain.
KIND_WORDS = {
    "invalid_reference_format": "",
    "invalid_tag_format": "tag",
    "invalid_digest_format": "digest",
    "digest_invalid_format": "digest",
    "digest_invalid_length": "digest",
    "digest_unsupported": "digest",
    "name_contains_uppercase": "lowercase",
    "name_empty": "empty",
    "name_too_long": "255",
    "name_not_canonical": "canonical",
    "name_is_64_hex_identifier": "hexadecimal",
}


def _case_id(case: Case) -> str:
    api = re.sub(r"[^A-Za-z0-9+:]+", "-", case["api"]).strip("-")
    return f"{case['id']}-{api}"


def assert_informative(error: InvalidReference, offending: str, kind: str | None = None) -> None:
    """The message quotes the input or a part of it (or says it is empty), and names the kind."""
    message = str(error)
    quoted = re.findall(r"'([^']*)'", message) + re.findall(r'"([^"]*)"', message)
    if offending:
        assert any(part and part in offending for part in quoted), message
    else:
        assert "empty" in message, message
    if kind is not None:
        assert KIND_WORDS[kind] in message, message


def go_path_match(pattern: str, name: str) -> bool:
    """Go's ``path.Match``: ``*`` and ``?`` never cross ``/``; ``[...]`` with ``^`` to negate."""
    regex, i = [], 0
    while i < len(pattern):
        char = pattern[i]
        if char == "*":
            regex.append("[^/]*")
        elif char == "?":
            regex.append("[^/]")
        elif char == "[":
            end = pattern.index("]", i + 2)
            body = pattern[i + 1 : end]
            negate = body.startswith("^")
            chars = "".join(c if c == "-" else re.escape(c) for c in body.removeprefix("^"))
            regex.append(f"[{'^' if negate else ''}{chars}]")
            i = end
        elif char == "\\":
            i += 1
            regex.append(re.escape(pattern[i]))
        else:
            regex.append(re.escape(char))
        i += 1
    return re.fullmatch("".join(regex), name) is not None


# ── Checkers, one per upstream API ────────────────────────────────────────────────────────────


def check_reference_fields(ref: Reference, case: Case) -> None:
    """Every field the case records (upstream's ``asserted`` ones and those it filled in)."""
    actual = {
        "name": ref.name,
        "normalized_name": ref.name,
        "domain": ref.domain,
        "path": ref.path,
        "string": str(ref),
        "familiar": ref.familiar,
        "familiar_name": ref.familiar_name,
    }
    for field, value in actual.items():
        if field in case:
            assert value == case[field], field
    # Absent tag and digest mean "none": upstream's tests assert the empty value.
    assert ref.tag == case.get("tag")
    assert (str(ref.digest) if ref.digest else None) == case.get("digest")


def run_parser(parser: Callable[[str], Reference]) -> Callable[[Case], None]:
    def check(case: Case) -> None:
        if case["valid"]:
            check_reference_fields(parser(case["input"]), case)
        else:
            with pytest.raises(InvalidReference) as info:
                parser(case["input"])
            assert_informative(info.value, case["input"], case.get("error_kind"))

    return check


def check_with_tag_or_digest(case: Case) -> None:
    """``WithName`` then ``WithDigest``/``WithTag`` in the order the API names."""
    ref = _with_name(case["input"])
    steps = case["api"].split("+")[1:]
    for step in steps:
        if step == "WithTag" and "with_tag" in case:
            ref = ref.with_tag(case["with_tag"])
        if step == "WithDigest" and "with_digest" in case:
            # Upstream's test converts the string without checking it (digest.Digest("…")):
            # build the value the same way, so that only with_digest's own check applies.
            algorithm, _, encoded = case["with_digest"].partition(":")
            ref = ref.with_digest(Digest(algorithm, encoded))
    assert str(ref) == case["string"]


def check_normalized_then_invalid(case: Case) -> None:
    ref = _parse_normalized_named(case["input"])
    assert not case["valid"]
    if "with_tag" in case:
        value: str = case["with_tag"]
        attach: Callable[[str], Reference] = ref.with_tag
    else:
        value, attach = case["with_digest"], ref.with_digest
    with pytest.raises(InvalidReference) as info:
        attach(value)
    assert_informative(info.value, value)


def check_parse_any(case: Case) -> None:
    result = _parse_any_reference(case["input"])
    assert str(result) == case["string"]
    kind = "digest-only" if isinstance(result, Digest) else "named"
    assert kind == case["reference_kind"]
    if "digest" in case:
        assert isinstance(result, Digest)
        assert str(result) == case["digest"]


def check_familiar_match(case: Case) -> None:
    """Upstream ``FamiliarMatch``: the pattern against the familiar string, then the name."""
    ref = _parse_any_reference(case["input"])
    assert isinstance(ref, Reference)
    pattern = case["pattern"]
    matched = go_path_match(pattern, ref.familiar) or go_path_match(pattern, ref.familiar_name)
    assert matched is case["match"]


def check_docker_ref(case: Case) -> None:
    """Upstream ``ParseDockerRef``: what is fetched, the digest winning over the tag."""
    ref = Reference.parse(case["input"])
    separator = "@" if ref.digest else ":"
    assert f"{ref.name}{separator}{ref.identifier}" == case["string"]


def run_regexp(pattern: re.Pattern[str], groups: tuple[str, ...]) -> Callable[[Case], None]:
    def check(case: Case) -> None:
        match = pattern.fullmatch(case["input"])
        assert (match is not None) is case["match"]
        if match is not None and "subs" in case:
            assert [match[group] or "" for group in groups] == case["subs"]

    return check


CHECKERS: dict[str, Callable[[Case], None]] = {
    "Parse": run_parser(_parse),
    "Field.UnmarshalText (Parse)": run_parser(_parse),
    "WithName": run_parser(_with_name),
    "ParseNamed": run_parser(_parse_named),
    "ParseNormalizedNamed": run_parser(_parse_normalized_named),
    "ParseNormalizedNamed+WithTag": check_normalized_then_invalid,
    "ParseNormalizedNamed+WithDigest": check_normalized_then_invalid,
    "WithName+WithDigest+WithTag": check_with_tag_or_digest,
    "WithName+WithTag+WithDigest": check_with_tag_or_digest,
    "ParseAnyReference": check_parse_any,
    "ParseAnyReference+FamiliarMatch": check_familiar_match,
    "ParseDockerRef": check_docker_ref,
    "regexp:^domainAndPort$": run_regexp(DOMAIN_AND_PORT_RE, ()),
    "regexp:anchoredNameRegexp (groups: domain, remote-name)": run_regexp(
        ANCHORED_NAME_RE, ("domain", "path")
    ),
    "regexp:referenceRegexp (groups: name, tag, digest)": run_regexp(
        REFERENCE_RE, ("name", "tag", "digest")
    ),
    "regexp:anchoredIdentifierRegexp (64 lowercase hex)": run_regexp(ANCHORED_IDENTIFIER_RE, ()),
}


@pytest.mark.parametrize("case", [pytest.param(c, id=_case_id(c)) for c in CASES])
def test_upstream_case(case: Case) -> None:
    CHECKERS[case["api"]](case)


@pytest.mark.parametrize("case", [pytest.param(c, id=_case_id(c)) for c in DERIVED])
def test_parse_normalizes_like_upstream(case: Case) -> None:
    """``Reference.parse`` = upstream ``ParseNormalizedNamed`` + the ``latest`` default."""
    expected = case["derived_normalized"]
    if not expected["valid"]:
        with pytest.raises(InvalidReference) as info:
            Reference.parse(case["input"])
        assert_informative(info.value, case["input"], expected["error_kind"])
        return
    ref = Reference.parse(case["input"])
    defaulted = "tag" not in expected and "digest" not in expected
    suffix = f":{DEFAULT_TAG}" if defaulted else ""
    assert ref.name == expected["normalized_name"]
    assert ref.domain == expected["domain"]
    assert ref.path == expected["path"]
    assert ref.tag == (DEFAULT_TAG if defaulted else expected.get("tag"))
    assert (str(ref.digest) if ref.digest else None) == expected.get("digest")
    assert str(ref) == expected["string"] + suffix
    assert ref.familiar == expected["familiar"] + suffix
    separator = "@" if ref.digest else ":"
    assert f"{ref.name}{separator}{ref.identifier}" == expected["docker_ref"]
    assert Reference.parse(str(ref)) == ref
    assert Reference.parse(ref.familiar) == ref


def test_vectors_cover_every_api() -> None:
    assert {case["api"] for case in CASES} <= set(CHECKERS)
    assert len({case["id"] for case in CASES}) == len(CASES) == 213


# ── regimage's own tables ─────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize(
    ("text", "full", "familiar"),
    [
        ("ubuntu", "docker.io/library/ubuntu:latest", "ubuntu:latest"),
        ("ubuntu:22.04", "docker.io/library/ubuntu:22.04", "ubuntu:22.04"),
        ("library/ubuntu", "docker.io/library/ubuntu:latest", "ubuntu:latest"),
        ("docker.io/ubuntu", "docker.io/library/ubuntu:latest", "ubuntu:latest"),
        ("index.docker.io/library/ubuntu", "docker.io/library/ubuntu:latest", "ubuntu:latest"),
        ("index.docker.io/acme/api:1", "docker.io/acme/api:1", "acme/api:1"),
        ("docker.io/library/a/b", "docker.io/library/a/b:latest", "library/a/b:latest"),
        ("ghcr.io/acme/api:1.4", "ghcr.io/acme/api:1.4", "ghcr.io/acme/api:1.4"),
        ("localhost/app", "localhost/app:latest", "localhost/app:latest"),
        ("localhost:5000", "docker.io/library/localhost:5000", "localhost:5000"),
        ("Registry/app", "Registry/app:latest", "Registry/app:latest"),
        # Upstream would print "foo.bar/app", which reads back as registry foo.bar: keep docker.io.
        ("docker.io/foo.bar/app", "docker.io/foo.bar/app:latest", "docker.io/foo.bar/app:latest"),
        (
            "docker.io/localhost/app",
            "docker.io/localhost/app:latest",
            "docker.io/localhost/app:latest",
        ),
        ("[::1]:5000/app@" + SHA256, "[::1]:5000/app@" + SHA256, "[::1]:5000/app@" + SHA256),
        (f"busybox:1@{SHA512}", f"docker.io/library/busybox:1@{SHA512}", f"busybox:1@{SHA512}"),
    ],
)
def test_str_and_familiar(text: str, full: str, familiar: str) -> None:
    ref = Reference.parse(text)
    assert str(ref) == full
    assert ref.familiar == familiar
    assert repr(ref) == f"<Reference({full!r})>"
    assert Reference.parse(full) == ref
    assert Reference.parse(familiar) == ref


def test_repr_and_value_semantics() -> None:
    ref = Reference.parse("ubuntu")
    assert repr(ref) == "<Reference('docker.io/library/ubuntu:latest')>"
    assert ref == Reference("docker.io", "library/ubuntu", "latest", None)
    assert hash(ref) == hash(Reference.parse("docker.io/library/ubuntu:latest"))
    assert ref != Reference.parse("ubuntu:latest@" + SHA256)
    with pytest.raises(FrozenInstanceError):
        ref.tag = "other"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("text", "api_host"),
    [
        ("ubuntu", "registry-1.docker.io"),
        ("docker.io/acme/api", "registry-1.docker.io"),
        ("index.docker.io/acme/api", "registry-1.docker.io"),
        ("ghcr.io/acme/api", "ghcr.io"),
        ("localhost:5000/app", "localhost:5000"),
        ("127.0.0.1:41235/public/oci-single:v1", "127.0.0.1:41235"),
        ("[2001:db8::1]:5000/app", "[2001:db8::1]:5000"),
        ("registry-1.docker.io/library/ubuntu", "registry-1.docker.io"),
    ],
)
def test_api_host(text: str, api_host: str) -> None:
    assert Reference.parse(text).api_host == api_host


@pytest.mark.parametrize(
    ("text", "loopback"),
    [
        ("localhost/app", True),
        ("localhost:5000/app", True),
        ("LOCALHOST:5000/app", True),
        ("127.0.0.1/app", True),
        ("127.0.0.1:5000/app", True),
        ("127.255.3.9:1/app", True),
        ("[::1]/app", True),
        ("[::1]:5000/app", True),
        ("[0:0:0:0:0:0:0:1]:5000/app", True),
        ("ubuntu", False),
        ("localhost", False),  # Docker Hub's library/localhost, not a host
        ("128.0.0.1/app", False),
        ("10.0.0.1:5000/app", False),
        ("192.168.1.1/app", False),
        ("[::2]:5000/app", False),
        ("[::ffff:7f00:1]:5000/app", False),  # IPv4-mapped: not trusted with plain HTTP
        ("localhost.example.com/app", False),
        ("mylocalhost:5000/app", False),
        ("ghcr.io/acme/api", False),
    ],
)
def test_is_loopback(text: str, loopback: bool) -> None:
    assert Reference.parse(text).is_loopback is loopback


@pytest.mark.parametrize(
    ("text", "actions", "scope"),
    [
        ("ubuntu", None, "repository:library/ubuntu:pull"),
        ("ghcr.io/acme/api:1", "pull", "repository:acme/api:pull"),
        ("ghcr.io/acme/api:1", ("pull", "push"), "repository:acme/api:pull,push"),
        ("localhost:5000/a/b/c", ["pull"], "repository:a/b/c:pull"),
        ("localhost:5000/a/b/c", "pull,push", "repository:a/b/c:pull,push"),
        ("acme/api", iter(["delete", "pull"]), "repository:acme/api:delete,pull"),
    ],
)
def test_scope(text: str, actions: Any, scope: str) -> None:
    ref = Reference.parse(text)
    assert (ref.scope() if actions is None else ref.scope(actions)) == scope


def test_identifier_is_what_gets_fetched() -> None:
    assert Reference.parse("ubuntu").identifier == "latest"
    assert Reference.parse("ubuntu:22.04").identifier == "22.04"
    assert Reference.parse(f"ubuntu@{SHA256}").identifier == SHA256
    both = Reference.parse(f"ubuntu:22.04@{SHA256}")
    assert (both.tag, both.identifier) == ("22.04", SHA256)
    with pytest.raises(InvalidReference, match="names a repository, not an image"):
        _ = Reference.parse_repository("ubuntu").identifier


def test_with_tag_refuses_non_string() -> None:
    with pytest.raises(InvalidReference, match="tag must be a string, not int"):
        Reference.parse("ubuntu").with_tag(cast(Any, 1))


def test_with_tag() -> None:
    ref = Reference.parse(f"ghcr.io/acme/api:1@{SHA256}")
    retagged = ref.with_tag("2")
    assert str(retagged) == f"ghcr.io/acme/api:2@{SHA256}"
    assert retagged.digest == ref.digest
    assert str(Reference.parse_repository("acme/api").with_tag("v1")) == "docker.io/acme/api:v1"
    assert ref.with_tag("x" * 128).tag == "x" * 128


@pytest.mark.parametrize(
    "tag", ["", "-foo", ".foo", "x" * 129, "a:b", "a/b", "a@b", "ta\u0261", "\u0663", "v1\n"]
)
def test_with_tag_refuses(tag: str) -> None:
    with pytest.raises(InvalidReference, match="invalid tag") as info:
        Reference.parse("ubuntu").with_tag(tag)
    assert "'docker.io/library/ubuntu:latest'" in str(info.value)


def test_with_digest() -> None:
    ref = Reference.parse("ghcr.io/acme/api:1")
    pinned = ref.with_digest(SHA256)
    assert str(pinned) == f"ghcr.io/acme/api:1@{SHA256}"
    assert pinned.digest == Digest.parse(SHA256)
    assert pinned.identifier == SHA256
    assert ref.with_digest(Digest.parse(SHA512)).digest == Digest.parse(SHA512)
    assert Reference.parse(str(pinned)) == pinned


@pytest.mark.parametrize(
    ("digest", "words"),
    [
        ("foo", "invalid digest"),
        ("sha256:abc", "64 lower-case hex"),
        ("sha256:" + "AB" * 32, "64 lower-case hex"),
        ("md5:" + "ab" * 16, "unsupported digest algorithm 'md5'"),
        (Digest("sha256", "not-hex"), "invalid digest 'sha256:not-hex'"),
        (cast(Any, 42), "invalid digest '42' for 'docker.io/library/ubuntu:latest'"),
    ],
)
def test_with_digest_refuses(digest: Digest | str, words: str) -> None:
    with pytest.raises(InvalidReference, match=re.escape(words)):
        Reference.parse("ubuntu").with_digest(digest)


def test_parse_repository() -> None:
    repo = Reference.parse_repository("ubuntu")
    assert (repo.domain, repo.path, repo.tag, repo.digest) == (
        "docker.io",
        "library/ubuntu",
        None,
        None,
    )
    assert str(repo) == "docker.io/library/ubuntu"
    assert repr(repo) == "<Reference('docker.io/library/ubuntu')>"
    assert Reference.parse_repository("localhost:5000/a/b").name == "localhost:5000/a/b"


@pytest.mark.parametrize(
    ("text", "part"),
    [
        ("ubuntu:latest", "':latest'"),
        ("localhost:5000", "':5000'"),
        (f"ubuntu@{SHA256}", f"'@{SHA256}'"),
        ("Ubuntu", "'Ubuntu'"),
    ],
)
def test_parse_repository_refuses(text: str, part: str) -> None:
    with pytest.raises(InvalidReference) as info:
        Reference.parse_repository(text)
    assert part in str(info.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("docker/Docker", "repository name must be lowercase: 'docker/Docker'"),
        ("Uppercase:tag", "repository name must be lowercase: 'Uppercase'"),
        ("ubuntu:-x", "invalid tag '-x' in reference 'ubuntu:-x'"),
        ("acme//api", "empty path component in 'acme//api'"),
        ("acme/-api", "path component '-api' must be lower-case"),
        ("foo_bar.com/app", "invalid registry host 'foo_bar.com'"),
        ("ubuntu@sha256:xyz", "invalid digest 'sha256:xyz' in reference"),
        ("ubuntu@sha256:" + "f" * 34, "sha256 digest must be 64 lower-case hex characters"),
        ("ubuntu@md5:" + "f" * 32, "unsupported digest algorithm 'md5'"),
        ("", "the reference is empty"),
        ("a" * 64, "64-character hexadecimal string is an image ID"),
        ("acme/" + "a" * 300, "must not be more than 255 characters"),
    ],
)
def test_error_messages_name_the_part(text: str, message: str) -> None:
    with pytest.raises(InvalidReference) as info:
        Reference.parse(text)
    assert message in str(info.value)
    assert len(str(info.value)) < 400  # long input is cut short in the message


@pytest.mark.parametrize("value", [None, b"ubuntu", 42, ["ubuntu"]])
def test_non_string_input(value: object) -> None:
    for parse in (Reference.parse, Reference.parse_repository, _parse, _parse_any_reference):
        with pytest.raises(InvalidReference, match="must be a string"):
            parse(cast(Any, value))


@pytest.mark.parametrize(
    "text",
    [
        "ubuntu:\u0663",  # ARABIC-INDIC DIGIT THREE: \d and \w without re.ASCII
        "\u0660\u0661\u0662",
        "ubuntu:ta\u0261",  # LATIN SMALL LETTER SCRIPT G: \w without re.ASCII
        "ubuntu:tag\u0130",
        "\u212aubuntu",  # KELVIN SIGN, lower-cases to ASCII 'k'
        "ubunt\u00fc",
        "\uff41\uff42\uff43",  # fullwidth letters
        "ubuntu\n",  # "$" would accept a trailing newline; fullmatch does not
        "ubuntu:latest\n",
        "\u0661.\u0662.\u0663.\u0664:5000/app",
        "localhost:\u0665\u0660\u0660\u0660/app",
        "ubuntu@sha256:" + "\u0660" * 64,
        "ubuntu\u200b",
    ],
)
def test_unicode_is_refused(text: str) -> None:
    with pytest.raises(InvalidReference):
        Reference.parse(text)
    with pytest.raises(InvalidReference):
        _parse(text)


@pytest.mark.parametrize(
    "text",
    ["a" * 100_000 + "!", "a-" * 50_000, "a." * 50_000 + "/b", ("a" * 9 + "-") * 10_000 + "!"],
)
def test_long_input_is_refused_quickly(text: str) -> None:
    """The grammar has no nested ambiguity: a pathological input costs linear time."""
    with pytest.raises(InvalidReference) as info:
        Reference.parse(text)
    assert len(str(info.value)) < 400


# ── Properties ────────────────────────────────────────────────────────────────────────────────

_LOWER_ALNUM = "abcdefghijklmnopqrstuvwxyz0123456789"
_LABEL_CHARS = _LOWER_ALNUM + "ABCDEFGHIJKLMNOPQRSTUVWXYZ"

alnum = st.text(_LOWER_ALNUM, min_size=1, max_size=8)
separator = st.sampled_from([".", "_", "__", "-", "--", "---"])
component = st.builds(
    lambda first, rest: first + "".join(sep + part for sep, part in rest),
    alnum,
    st.lists(st.tuples(separator, alnum), max_size=3),
)
label = st.builds(
    lambda edge, middle, last: edge + middle + last if middle or last else edge,
    st.text(_LABEL_CHARS, min_size=1, max_size=1),
    st.text(_LABEL_CHARS + "-", max_size=6),
    st.text(_LABEL_CHARS, max_size=1),
).filter(lambda text: not text.endswith("-"))
# Ports a connection can use, without leading zeros; the others are tests/model/test_host.py's.
port = st.integers(min_value=1, max_value=65535).map(lambda number: f":{number}")
ipv6 = st.ip_addresses(v=6).map(lambda address: f"[{address.compressed}]")
ipv4 = st.ip_addresses(v=4).map(str)
# A name whose last label is a number is an IPv4 address, or invalid (tests/model/test_host.py).
_NUMBER_LABEL = re.compile(r"[0-9]+|0[xX][0-9a-fA-F]*")
last_label = label.filter(lambda text: not _NUMBER_LABEL.fullmatch(text))
domain = st.one_of(
    st.builds(
        lambda labels, last, p: ".".join([*labels, last]) + p,
        st.lists(label, min_size=1, max_size=3),
        last_label,
        port | st.just(""),
    ),
    st.builds(lambda name, p: name + p, last_label, port),
    st.builds(lambda host, p: host + p, ipv4 | ipv6 | st.just("localhost"), port | st.just("")),
    st.sampled_from(["docker.io", "index.docker.io", "registry-1.docker.io"]),
)
tag = st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}", fullmatch=True)
digest = st.binary(max_size=16).flatmap(
    lambda data: st.sampled_from([Digest.of(data), Digest.of(data, "sha512")])
)


@st.composite
def references(draw: st.DrawFn) -> tuple[str, bool]:
    """A reference text from the grammar, and whether its domain was written out."""
    components = draw(st.lists(component, min_size=1, max_size=4))
    host = draw(st.none() | domain)
    if host is None and len(components) > 1:
        # Without a domain, a first component with "." would be read as a registry host.
        components[0] = components[0].replace(".", "-")
    text = "/".join(components) if host is None else f"{host}/{'/'.join(components)}"
    if draw(st.booleans()):
        text += ":" + draw(tag)
    if draw(st.booleans()):
        text += f"@{draw(digest)}"
    return text, host is not None and "docker.io" not in host


@given(references())
@example(("ubuntu", False))
@example(("index.docker.io/ubuntu", False))
@example(("docker.io/0.0/0", False))
@example(("[::1]:5000/a/b:c@" + SHA256, True))
def test_parse_round_trips(generated: tuple[str, bool]) -> None:
    text, explicit_domain = generated
    ref = Reference.parse(text)
    assert Reference.parse(str(ref)) == ref
    assert Reference.parse(ref.familiar) == ref
    assert ref.tag is not None or ref.digest is not None
    if explicit_domain:
        untagged = ":" not in text.rpartition("/")[2] and "@" not in text
        assert str(ref) == (text + ":latest" if untagged else text)


@given(
    references(),
    st.characters(categories=("Lu", "Ll", "Lo", "Nd", "Nl", "No")).filter(
        lambda c: not c.isascii()
    ),
    st.data(),
)
def test_non_ascii_letter_or_digit_anywhere_is_refused(
    generated: tuple[str, bool], char: str, data: st.DataObject
) -> None:
    """The re.ASCII trap: a Unicode letter or digit inside any valid reference breaks it."""
    text = generated[0]
    at = data.draw(st.integers(min_value=0, max_value=len(text)))
    with pytest.raises(InvalidReference):
        Reference.parse(text[:at] + char + text[at:])


_TRICKY = [
    *"abcxyz019:/@._-ABZ[]%",
    "\u0660",
    "\u0663",
    "\u0130",
    "\u0131",
    "\u212a",
    "\u00df",
    "\uff41",
    "\n",
    "\x00",
    "sha256:",
    "localhost",
    "docker.io",
]


@given(st.text() | st.lists(st.sampled_from(_TRICKY), max_size=30).map("".join))
@example("")
@example("\u212a/x")
def test_parse_raises_only_invalid_reference(text: str) -> None:
    for parse in (Reference.parse, Reference.parse_repository, _parse, _parse_any_reference):
        try:
            result = parse(text)
        except InvalidReference:
            continue
        assert str(result).isascii()
        if isinstance(result, Reference) and parse is Reference.parse:
            assert Reference.parse(str(result)) == result
            assert Reference.parse(result.familiar) == result


# ── hosts ──────────────────────────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("localhost", True),
        ("localhost:5000", True),
        ("LOCALHOST", True),
        ("127.0.0.1", True),
        ("127.1.2.3:443", True),
        ("[::1]:5000", True),
        ("::1", True),
        ("10.0.0.1", False),
        ("registry.test", False),
        ("localhost.example.com", False),
        ("[::ffff:127.0.0.1]", False),
    ],
)
def test_is_loopback_host(host: str, loopback: bool) -> None:
    assert is_loopback_host(host) is loopback


@pytest.mark.parametrize(
    ("host", "split"),
    [
        ("registry.test", ("registry.test", None)),
        ("Registry.Test:5000", ("registry.test", 5000)),
        ("127.0.0.1:443", ("127.0.0.1", 443)),
        ("[::1]", ("::1", None)),
        ("[::1]:5000", ("::1", 5000)),
        ("localhost:0", ("localhost", 0)),
        ("localhost:65535", ("localhost", 65535)),
    ],
)
def test_split_host(host: str, split: tuple[str, int | None]) -> None:
    assert split_host(host) == split


@pytest.mark.parametrize(
    "host", ["r.test:65536", "r.test:99999", "r.test:+5", "r.test:٥", "[::1]:x"]
)
def test_split_host_refuses_what_is_no_port(host: str) -> None:
    with pytest.raises(ValueError, match="not a port"):
        split_host(host)
