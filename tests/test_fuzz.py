"""The cross-parser fuzz matrix: every input family, valid and mutated, into every parser.

Input families: references, platforms, challenges, digests, manifests, indexes, configs,
schema1 manifests, registry error bodies, random text and random bytes, each drawn valid and then
mutated (characters and bytes inserted, dropped, replaced; JSON subtrees replaced, keys dropped or
repeated, values nested deep). Every parser receives every family, in the form it takes (text,
bytes, or decoded JSON), and may only answer or raise a :class:`~regimage.errors.RegImageError`
subclass: never ``IndexError``, ``KeyError``, ``TypeError``, ``UnicodeDecodeError``,
``RecursionError`` or anything else. A valid input of a parser's own family must parse.

The per-module property tests (test_reference, test_platforms, test_manifest, test_json,
test_challenge…) check each parser's semantics; this module is the robustness net over all of
them. Profiles: ``REGIMAGE_FUZZ=1`` (``scripts/fuzz``) runs 10,000 examples per parser; the
default (CI) runs 200.
"""

from __future__ import annotations

import json
import os
import string
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from regimage.errors import RegImageError
from regimage.http.error_body import parse_error_body
from regimage.http.redaction import redact_url
from regimage.http.status import parse_retry_after_seconds
from regimage.model import mediatypes
from regimage.model._json import loads_object
from regimage.model.challenge import parse_challenges
from regimage.model.descriptor import Descriptor
from regimage.model.digest import Digest
from regimage.model.image_config import ImageConfig
from regimage.model.manifest import Index, Manifest, Schema1Manifest, parse_document
from regimage.model.platform import Platform
from regimage.model.platform_match import matcher_for
from regimage.model.reference import Reference
from regimage.registry.scopes import scopes_for_path

FUZZ = os.environ.get("REGIMAGE_FUZZ", "") not in ("", "0")
#: Examples each parser gets: in the fuzz profile (scripts/fuzz) and in the default (CI) one.
FUZZ_EXAMPLES_PER_PARSER = 10_000
CI_EXAMPLES_PER_PARSER = 200

HOST = Platform("linux", "amd64")

# ── valid inputs ───────────────────────────────────────────────────────────────────────────────────

_lower = string.ascii_lowercase + string.digits
components = st.text(_lower, min_size=1, max_size=8).map(lambda s: s if s[0].isalnum() else "a" + s)
separators = st.sampled_from([".", "_", "__", "-", "--"])
path_component = st.builds(
    lambda a, sep, b: a if b is None else f"{a}{sep}{b}",
    components,
    separators,
    st.none() | components,
)
domains = st.sampled_from(
    ["", "docker.io/", "ghcr.io/", "localhost:5000/", "127.0.0.1:8080/", "registry.example.com/"]
)
tags = st.text(string.ascii_letters + string.digits + "_.-", min_size=1, max_size=20).filter(
    lambda t: t[0] not in ".-"
)
hex64 = st.text("0123456789abcdef", min_size=64, max_size=64)
digests = hex64.map(lambda h: f"sha256:{h}")

references = st.builds(
    lambda domain, path, tag, digest: (
        f"{domain}{'/'.join(path)}{':' + tag if tag else ''}{'@' + digest if digest else ''}"
    ),
    domains,
    st.lists(path_component, min_size=1, max_size=3),
    st.none() | tags,
    st.none() | digests,
)
repositories = st.builds(
    lambda domain, path: f"{domain}{'/'.join(path)}",
    domains,
    st.lists(path_component, min_size=1, max_size=3),
)
platform_texts = st.builds(
    lambda os_, arch, variant: "/".join(p for p in (os_, arch, variant) if p),
    st.sampled_from(["linux", "windows", "darwin", "freebsd"]),
    st.sampled_from(["amd64", "arm64", "arm", "386", "ppc64le", "s390x", "riscv64", "x86_64"]),
    st.sampled_from(["", "v6", "v7", "v8"]),
).filter(lambda text: not text.endswith(("amd64/v6", "386/v7")) or True)
_token = st.text(string.ascii_letters + string.digits + "-._~+", min_size=1, max_size=12)
challenge_texts = st.builds(
    lambda scheme, params: (
        scheme + (" " + ", ".join(f'{k}="{v}"' for k, v in params) if params else "")
    ),
    st.sampled_from(["Bearer", "Basic", "bearer", "Negotiate"]),
    st.lists(
        st.tuples(
            st.sampled_from(["realm", "service", "scope", "error", "charset"]),
            st.text(string.ascii_letters + string.digits + ":/._-,= ", max_size=30),
        ),
        max_size=4,
        unique_by=lambda kv: kv[0],
    ),
)

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
platform_objects = st.fixed_dictionaries(
    {
        "os": st.sampled_from(["linux", "windows"]),
        "architecture": st.sampled_from(["amd64", "arm64"]),
    },
    optional={
        "variant": st.sampled_from(["v7", "v8"]),
        "os.version": st.sampled_from(["10.0.17763.1", "6.1"]),
        "os.features": st.lists(st.sampled_from(["win32k", "sse4"]), max_size=2),
    },
)


def _descriptor(
    media_types: list[str], platform: bool = False
) -> st.SearchStrategy[dict[str, Any]]:
    optional: dict[str, st.SearchStrategy[Any]] = {
        "annotations": st.dictionaries(st.text(max_size=10), st.text(max_size=10), max_size=2),
        "urls": st.lists(st.just("https://example.com/blob"), max_size=1),
        "artifactType": st.just("application/vnd.example+json"),
    }
    if platform:
        optional["platform"] = platform_objects
    return st.fixed_dictionaries(
        {
            "mediaType": st.sampled_from(media_types),
            "digest": digests,
            "size": st.integers(0, 2**40),
        },
        optional=optional,
    )


config_descriptors = _descriptor([mediatypes.OCI_CONFIG, mediatypes.DOCKER_CONFIG])
layer_descriptors = _descriptor([mediatypes.OCI_LAYER_GZIP, mediatypes.DOCKER_LAYER])
manifest_objects = st.builds(
    lambda media_type, config, layers, annotations: {
        "schemaVersion": 2,
        "mediaType": media_type,
        "config": config,
        "layers": layers,
        **({"annotations": annotations} if annotations else {}),
    },
    st.sampled_from([mediatypes.OCI_MANIFEST, mediatypes.DOCKER_MANIFEST]),
    config_descriptors,
    st.lists(layer_descriptors, max_size=4),
    st.dictionaries(st.text(max_size=8), st.text(max_size=8), max_size=2),
)
index_objects = st.builds(
    lambda media_type, entries: {"schemaVersion": 2, "mediaType": media_type, "manifests": entries},
    st.sampled_from([mediatypes.OCI_INDEX, mediatypes.DOCKER_MANIFEST_LIST]),
    st.lists(
        _descriptor([mediatypes.OCI_MANIFEST, mediatypes.DOCKER_MANIFEST], platform=True),
        max_size=4,
    ),
)
config_objects = st.builds(
    lambda platform, diff_ids, history: {
        **platform,
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": history,
        "config": {"Env": ["PATH=/bin"], "Labels": {"a": "b"}},
    },
    platform_objects,
    st.lists(digests, max_size=4),
    st.lists(
        st.fixed_dictionaries(
            {},
            optional={
                "created": st.just("2024-01-01T00:00:00Z"),
                "created_by": st.text(max_size=10),
                "empty_layer": st.booleans(),
            },
        ),
        max_size=3,
    ),
)
schema1_objects = st.builds(
    lambda name, blobs: {
        "schemaVersion": 1,
        "name": name,
        "tag": "latest",
        "architecture": "amd64",
        "fsLayers": [{"blobSum": b} for b in blobs],
        "history": [{"v1Compatibility": "{}"} for _ in blobs],
    },
    path_component,
    st.lists(digests, max_size=3),
)
error_objects = st.builds(
    lambda entries: {"errors": entries},
    st.lists(
        st.fixed_dictionaries(
            {"code": st.sampled_from(["MANIFEST_UNKNOWN", "DENIED", "UNAUTHORIZED"])},
            optional={"message": st.text(max_size=20), "detail": json_values},
        ),
        max_size=3,
    ),
)

# ── mutations ──────────────────────────────────────────────────────────────────────────────────────

#: Mutated inputs are cut to this many characters (bytes): long enough for every cap that
#: matters to a parser (nesting 64, 40-digit integers), short enough to keep runs fast.
MAX_INPUT = 16 * 1024
_NASTY_TEXT = [
    "",
    "\x00",
    "\udcff",
    "\u202e",
    "é",
    "💥",
    "\n",
    "\r\n",
    " ",
    '"',
    "\\",
    "/",
    ":",
    "@",
    "*",
]
_NASTY_BYTES = [
    b"\x00",
    b"\xff",
    b"\xc3",
    b"\xed\xa0\x80",
    b"\xef\xbb\xbf",
    b"[" * 80,
    b'"',
    b"\\u",
]


@st.composite
def mutated_text(draw: st.DrawFn, base: st.SearchStrategy[str]) -> str:
    text = draw(base)
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(text)))
        action = draw(st.sampled_from(["insert", "delete", "replace", "repeat", "truncate"]))
        piece = draw(st.sampled_from(_NASTY_TEXT) | st.text(max_size=3))
        if action == "insert":
            text = text[:at] + piece + text[at:]
        elif action == "delete":
            text = text[:at] + text[at + draw(st.integers(1, 4)) :]
        elif action == "replace":
            text = text[:at] + piece + text[at + 1 :]
        elif action == "repeat":
            text = text[:at] + text[at:] * draw(st.integers(2, 40))
        else:
            text = text[:at]
        text = text[:MAX_INPUT]  # repeats compound: keep inputs (and the run's memory) bounded
    return text


@st.composite
def mutated_bytes(draw: st.DrawFn, base: st.SearchStrategy[bytes]) -> bytes:
    data = draw(base)
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(data)))
        action = draw(st.sampled_from(["insert", "delete", "flip", "truncate"]))
        if action == "insert":
            data = (
                data[:at] + draw(st.sampled_from(_NASTY_BYTES) | st.binary(max_size=4)) + data[at:]
            )
        elif action == "delete":
            data = data[:at] + data[at + draw(st.integers(1, 8)) :]
        elif action == "flip" and at < len(data):
            data = data[:at] + bytes([data[at] ^ draw(st.integers(1, 255))]) + data[at + 1 :]
        else:
            data = data[:at]
        data = data[:MAX_INPUT]
    return data


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            found += _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for i, child in enumerate(value):
            found += _paths(child, (*prefix, i))
    return found


def _replace(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        return {**value, head: _replace(value[head], rest, new)}
    copy = list(value)
    copy[head] = _replace(copy[head], rest, new)
    return copy


def _delete(value: Any, path: tuple[Any, ...]) -> Any:
    if len(path) == 1:
        if isinstance(value, dict):
            return {k: v for k, v in value.items() if k != path[0]}
        return [v for i, v in enumerate(value) if i != path[0]]
    return (
        {**value, path[0]: _delete(value[path[0]], path[1:])}
        if isinstance(value, dict)
        else [_delete(v, path[1:]) if i == path[0] else v for i, v in enumerate(value)]
    )


@st.composite
def mutated_json(draw: st.DrawFn, base: st.SearchStrategy[dict[str, Any]]) -> bytes:
    """A valid document changed at the JSON level, serialized (maybe with a repeated key)."""
    obj: Any = draw(base)
    duplicate = False
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(obj)
        path = draw(st.sampled_from(paths))
        action = draw(st.sampled_from(["replace", "delete", "nest", "duplicate", "retype"]))
        if action == "replace":
            obj = _replace(obj, path, draw(json_values))
        elif action == "delete" and path:
            obj = _delete(obj, path)
        elif action == "nest":
            depth = draw(st.sampled_from([2, 63, 64, 65, 1000]))
            nested: Any = 0
            for _ in range(depth):
                nested = [nested]
            obj = _replace(obj, path, nested)
        elif action == "retype":
            obj = _replace(
                obj, path, draw(st.sampled_from([None, True, 1.5, -1, 2**70, "", [], {}]))
            )
        else:
            duplicate = True
    data = json.dumps(obj, separators=(",", ":")).encode()
    if duplicate and data.startswith(b"{") and len(data) > 2:
        # repeat the first member: {"a":1,...} -> {"a":1,"a":1,...}
        first_end = data.find(b',"', 1)
        member = data[1:first_end] if first_end > 0 else data[1:-1]
        data = b"{" + member + b"," + data[1:]
    return data


# ── samples: one input, in the forms the parsers take ─────────────────────────────────────────────


@dataclass(frozen=True)
class Sample:
    family: str
    valid: bool
    data: bytes

    @property
    def text(self) -> str:
        return self.data.decode("utf-8", "surrogateescape")

    @property
    def obj(self) -> Any:
        try:
            return json.loads(self.data)
        except (ValueError, RecursionError):
            return self.text


def _texts(family: str, valid: st.SearchStrategy[str]) -> st.SearchStrategy[Sample]:
    return st.builds(
        lambda t: Sample(family, True, t.encode("utf-8", "surrogateescape")), valid
    ) | st.builds(
        lambda t: Sample(family, False, t.encode("utf-8", "surrogateescape")), mutated_text(valid)
    )


def _documents(family: str, valid: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[Sample]:
    as_bytes = valid.map(lambda obj: json.dumps(obj, separators=(",", ":")).encode())
    return (
        st.builds(lambda d: Sample(family, True, d), as_bytes)
        | st.builds(lambda d: Sample(family, False, d), mutated_json(valid))
        | st.builds(lambda d: Sample(family, False, d), mutated_bytes(as_bytes))
    )


FAMILIES: dict[str, st.SearchStrategy[Sample]] = {
    "reference": _texts("reference", references),
    "repository": _texts("repository", repositories),
    "platform": _texts("platform", platform_texts),
    "challenge": _texts("challenge", challenge_texts),
    "digest": _texts("digest", digests),
    "manifest": _documents("manifest", manifest_objects),
    "index": _documents("index", index_objects),
    "config": _documents("config", config_objects),
    "schema1": _documents("schema1", schema1_objects),
    "error": _documents("error", error_objects),
    "descriptor": _documents("descriptor", config_descriptors),
    "platform-object": _documents("platform-object", platform_objects),
    "random": st.builds(
        lambda t: Sample("random", False, t.encode("utf-8", "surrogateescape")), st.text()
    )
    | st.builds(lambda b: Sample("random", False, b), st.binary()),
}
samples = st.one_of(*FAMILIES.values())

# Every example of a family runs every parser, so a parser's examples are the families' sum.
settings.register_profile(
    "regimage-fuzz",
    max_examples=-(-FUZZ_EXAMPLES_PER_PARSER // len(FAMILIES)),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "regimage-ci",
    max_examples=-(-CI_EXAMPLES_PER_PARSER // len(FAMILIES)),
    derandomize=True,  # the same examples on every CI run: a failure there is never flaky
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
#: Applied per test (never loaded globally: other modules keep their own settings).
PROFILE = settings.get_profile("regimage-fuzz" if FUZZ else "regimage-ci")

MEDIA_TYPES = st.sampled_from(
    [
        None,
        "",
        "application/json",
        "text/plain",
        mediatypes.OCI_MANIFEST,
        mediatypes.OCI_INDEX,
        mediatypes.DOCKER_MANIFEST,
        mediatypes.DOCKER_MANIFEST_LIST,
        mediatypes.DOCKER_SCHEMA1_SIGNED_MANIFEST,
        mediatypes.OCI_CONFIG,
        "application/vnd.oci.image.manifest.v1+json; charset=utf-8",
        "text/html",
        "\x00",
    ]
)

# ── parsers ────────────────────────────────────────────────────────────────────────────────────────


@dataclass(frozen=True)
class Parser:
    name: str
    call: Callable[[Sample, Any], object]
    family: str | None = None  # valid samples of this family must parse
    never_raises: bool = False  # answers something for any input
    typed: bool = False  # takes the declared media type (a valid document may disagree with it)


def _reference(sample: Sample, _: Any) -> object:
    ref = Reference.parse(sample.text)
    assert Reference.parse(str(ref)) == ref  # what it prints, it reads back
    return ref


def _platform(sample: Sample, _: Any) -> object:
    platform = Platform.parse(sample.text, host=HOST)
    platform.normalized()
    return platform.format_all()


def _matcher(sample: Sample, _: Any) -> object:
    return matcher_for(sample.text).match(HOST)


def _challenges(sample: Sample, _: Any) -> object:
    found = parse_challenges([sample.text, sample.text])
    return [(c.realm, c.service, c.scope, c.error, str(c)) for c in found]


def _digest(sample: Sample, _: Any) -> object:
    digest = Digest.parse(sample.text)
    assert Digest.parse(str(digest)) == digest
    return digest


def _json(sample: Sample, _: Any) -> object:
    return loads_object(sample.data, what="document")


def _document(sample: Sample, media_type: Any) -> object:
    return parse_document(sample.data, media_type)


def _manifest(sample: Sample, media_type: Any) -> object:
    declared = media_type if media_type and "manifest.v" in media_type else None
    manifest = Manifest.parse(sample.data, declared)
    return manifest.to_dict(), manifest.is_artifact


def _index(sample: Sample, media_type: Any) -> object:
    declared = (
        media_type if media_type and ("index" in media_type or "list" in media_type) else None
    )
    return Index.parse(sample.data, declared).to_dict()


def _schema1(sample: Sample, _: Any) -> object:
    Schema1Manifest.payload(sample.data)
    return Schema1Manifest.parse(sample.data)


def _config(sample: Sample, media_type: Any) -> object:
    config = ImageConfig.parse(
        sample.data, mediatypes.DOCKER_CONFIG if media_type == "" else mediatypes.OCI_CONFIG
    )
    return config.chain_ids, config.labels, config.env


def _descriptor_parse(sample: Sample, _: Any) -> object:
    return Descriptor.from_dict(sample.obj).to_dict()


def _platform_object(sample: Sample, _: Any) -> object:
    obj = sample.obj
    platform = Platform.from_dict(obj)
    if isinstance(obj, dict):
        Platform.from_config(obj)
    return platform.format_all()


def _error_body(sample: Sample, _: Any) -> object:
    return [str(e) for e in parse_error_body(sample.data)]


def _retry_after(sample: Sample, _: Any) -> object:
    seconds = parse_retry_after_seconds(sample.text, 1_700_000_000.0)
    assert seconds is None or seconds >= 0
    return seconds


def _scopes(sample: Sample, _: Any) -> object:
    return scopes_for_path("/v2/" + sample.text)


def _redact(sample: Sample, _: Any) -> object:
    shown = redact_url(f"https://user:s3cret-pw@r.test/v2/?sig=s3cret-sig&{sample.text}")
    assert "s3cret" not in shown
    return shown


PARSERS = [
    Parser("Reference.parse", _reference, "reference"),
    Parser(
        "Reference.parse_repository", lambda s, _: Reference.parse_repository(s.text), "repository"
    ),
    Parser("Platform.parse", _platform, "platform"),
    Parser("matcher_for", _matcher, "platform"),
    Parser("parse_challenges", _challenges, "challenge"),
    Parser("Digest.parse", _digest, "digest"),
    Parser("loads_object", _json, "manifest"),
    Parser("parse_document", _document, "manifest", typed=True),
    Parser("Manifest.parse", _manifest, "manifest", typed=True),
    Parser("Index.parse", _index, "index", typed=True),
    Parser("Schema1Manifest", _schema1, "schema1"),
    Parser("ImageConfig.parse", _config, "config"),
    Parser("Descriptor.from_dict", _descriptor_parse, "descriptor"),
    Parser("Platform.from_dict", _platform_object, "platform-object"),
    Parser("parse_error_body", _error_body, never_raises=True),
    Parser("parse_retry_after_seconds", _retry_after, never_raises=True),
    Parser("scopes_for_path", _scopes, never_raises=True),
    Parser("redact_url", _redact, never_raises=True),
]


def _check(parser: Parser, sample: Sample, media_type: Any) -> None:
    """Run one parser: only a RegImageError may come out, and not for what it must accept."""
    refused: RegImageError | None = None
    try:
        parser.call(sample, media_type)
    except RegImageError as exc:
        refused = exc
    if refused is None:
        return
    assert not parser.never_raises, f"{parser.name} must answer, raised {refused!r}"
    own = sample.valid and sample.family == parser.family
    assert not (own and (media_type is None or not parser.typed)), (
        f"{parser.name} refused a valid {sample.family}: {refused}"
    )
    assert str(refused), f"{parser.name} raised {type(refused).__name__} without a message"


@pytest.mark.parametrize("family", sorted(FAMILIES))
@PROFILE
@given(data=st.data())
def test_every_parser_takes_every_input(family: str, data: st.DataObject) -> None:
    """One family's samples through every parser; each parser sees every family this way."""
    sample = data.draw(FAMILIES[family], label="sample")
    media_type = data.draw(MEDIA_TYPES, label="media_type")
    for parser in PARSERS:
        _check(parser, sample, media_type)


# ── what the matrix found, pinned ──────────────────────────────────────────────────────────────────


@pytest.mark.parametrize(
    "spec",
    [
        "linux/amd64/v2000",
        "linux/arm/v2000",
        "linux/arm64/v8.2000",
        "linux/arm64/v9.2000",
    ],
)
def test_an_absurd_variant_builds_a_short_fallback_ladder(spec: str) -> None:
    """``only()`` stepped down one level at a time from any number: ``amd64/v99999999`` built a
    hundred million platforms (minutes, gigabytes). No ladder is longer than the known levels."""
    matcher = matcher_for(spec)
    assert len(getattr(matcher, "platforms", ())) <= 32  # arm64/v9.9: 25, the longest
    assert matcher.match(Platform.parse(spec))


@pytest.mark.parametrize(
    "spec",
    [
        "linux/amd64/v" + "9" * 5000,
        "linux/arm64/v8." + "9" * 5000,
        "windows(10.0." + "9" * 5000 + ")/amd64",
    ],
)
def test_a_huge_number_in_a_platform_is_not_a_value_error(spec: str) -> None:
    """int() refuses more than 4,300 digits with ValueError: it must not escape."""
    try:
        matcher = matcher_for(spec)
    except RegImageError:
        return
    windows = Platform("windows", "amd64", os_version="10.0.17763.1")
    matcher.match(windows)
    matcher.less(windows, Platform("windows", "amd64", os_version="10.0.20348.1"))


def test_a_huge_os_version_from_an_index_is_not_a_value_error() -> None:
    """os.version comes from the registry: comparing it must not raise ValueError."""
    matcher = matcher_for("windows(10.0.17763)/amd64")
    hostile = Platform("windows", "amd64", os_version="10.0." + "9" * 5000)
    plain = Platform("windows", "amd64", os_version="10.0.17763.1")
    assert matcher.match(plain)
    assert not matcher.match(hostile)
    assert matcher.less(plain, hostile) in (True, False)
    assert matcher.less(hostile, plain) in (True, False)
