"""Platforms: parse, format, normalize, match and order, checked against containerd/platforms.

The tables come from ``tests/vectors/platform_cases.json`` (data taken from containerd/platforms'
own tests at 09756f59, plus values derived by running it on linux/amd64). Every case group is
parametrized here; hand-written tests cover the API regimage adds (decoding, ``matcher_for``,
``best_match``) and hypothesis checks the parsers never fail with anything but InvalidPlatform.
"""

from __future__ import annotations

import json
import platform as stdlib_platform
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, strategies as st

from regimage.errors import InvalidPlatform
from regimage.model.platform import Platform
from regimage.model.platform_match import (
    AllMatcher,
    OrderedMatcher,
    OSMatcher,
    PlatformMatcher,
    all_platforms,
    any_of,
    best_match,
    default_matcher,
    matcher_for,
    only,
    only_os,
    only_strict,
    ordered,
    sort_platforms,
)
from regimage.model.platform_rules import (
    cpu_variant_number,
    host_arch,
    host_os,
    windows_host_runs,
    windows_version,
)

VECTORS_DIR = Path(__file__).parent.parent / "vectors"
VECTORS: dict[str, Any] = json.loads((VECTORS_DIR / "platform_cases.json").read_text("utf-8"))
HELLO_WORLD_LIST = (
    VECTORS_DIR
    / "real_manifests"
    / "sha256_faa03e786c97f07ef34423fccceeec2398ec8a5759259f94d99078f264e9d7af.json"
)

# The vectors' derived values were computed on linux/amd64; parse() takes that host explicitly.
LINUX_AMD64 = Platform("linux", "amd64")
ON_LINUX_AMD64 = sys.platform.startswith("linux") and stdlib_platform.machine().lower() in (
    "x86_64",
    "amd64",
)
# Windows-only upstream tests read the host build from the running OS; we simulate such hosts.
SIMULATED_WINDOWS_BUILDS = ["10.0.17763", "10.0.20348"]


def cases(group: str) -> list[dict[str, Any]]:
    return list(VECTORS[group])


def case_id(case: Mapping[str, Any]) -> str:
    return str(case["id"])


def platform_from(obj: Mapping[str, Any]) -> Platform:
    """A Platform from the vectors' snake_case dicts (no normalization)."""
    return Platform(
        obj["os"],
        obj["architecture"],
        obj.get("variant", ""),
        obj.get("os_version", ""),
        tuple(obj.get("os_features", ())),
    )


def as_platform(value: str | Mapping[str, Any], host: Platform = LINUX_AMD64) -> Platform:
    return Platform.parse(value, host=host) if isinstance(value, str) else platform_from(value)


def vector_of(matcher: OrderedMatcher) -> list[Platform]:
    return list(matcher.platforms)


def normalized_list(specifiers: list[str]) -> list[Platform]:
    return [Platform.parse(s, host=LINUX_AMD64).normalized() for s in specifiers]


def matcher_named(name: str, host: Platform) -> PlatformMatcher:
    factories: dict[str, PlatformMatcher] = {
        "Only": only(host),
        "OnlyStrict": only_strict(host),
        "NewMatcher": only_strict(host),
        "OnlyOS": only_os(host),
        "Ordered": ordered(host),
        "Any": any_of(host),
    }
    return factories[name]


# ── parse_cases ─────────────────────────────────────────────────────────────────────────────────
VALID_PARSE = [c for c in cases("parse_cases") if c["valid"]]
INVALID_PARSE = [c for c in cases("parse_cases") if not c["valid"]]

# Upstream error text → the phrase our message must carry for the same failure.
ERROR_PHRASES = {
    "wildcards not yet supported": "wildcards are not supported",
    "invalid OS component": "invalid operating system",
    "is an invalid component": "invalid component",
    "cannot parse platform specifier": "too many '/'-separated components",
}


@pytest.mark.parametrize("case", VALID_PARSE, ids=case_id)
def test_parse_vectors_resolved_on_linux_amd64(case: dict[str, Any]) -> None:
    resolved = case["resolved_on_linux_amd64"]
    parsed = Platform.parse(case["input"], host=LINUX_AMD64)
    assert parsed == platform_from(resolved["platform"])
    assert parsed.format() == str(parsed) == resolved["format"]
    assert parsed.format_all() == resolved["format_all"]
    assert parsed.normalized() == platform_from(resolved["normalized"])
    assert vector_of(only(parsed)) == normalized_list(resolved["only_vector"])
    # NewMatcher(parsed) matches the expected platform and every entry of "matches".
    matcher = only_strict(parsed)
    assert matcher.match(platform_from(resolved["platform"]))
    for other in case.get("matches", []):
        assert matcher.match(platform_from(other)), other


def substitute_host(value: str, host: Platform) -> str:
    variant = host.variant if host.architecture == "arm" and host.variant != "v7" else ""
    value = value.replace("<host-os>", host.os).replace("<host-arch>", host.architecture)
    return value.replace("<host-variant>", variant)


@pytest.mark.parametrize("case", VALID_PARSE, ids=case_id)
def test_parse_vectors_on_this_host(case: dict[str, Any]) -> None:
    """The upstream assertions with <host-*> placeholders resolved from this machine."""
    host = Platform.host()
    expected = {
        k: substitute_host(v, host) if isinstance(v, str) else v
        for k, v in case["platform"].items()
    }
    parsed = Platform.parse(case["input"])
    assert parsed == platform_from(expected)
    formatted = "/".join(p for p in substitute_host(case["formatted"], host).split("/") if p)
    rendered = parsed.format_all() if case["format_fn"] == "FormatAll" else parsed.format()
    assert rendered == formatted


@pytest.mark.parametrize("case", INVALID_PARSE, ids=case_id)
def test_parse_vectors_invalid(case: dict[str, Any]) -> None:
    with pytest.raises(InvalidPlatform) as info:
        Platform.parse(case["input"], host=LINUX_AMD64)
    message = str(info.value)
    assert repr(case["input"]) in message
    upstream = case["resolved_on_linux_amd64"]["error"]
    phrases = [ours for theirs, ours in ERROR_PHRASES.items() if theirs in upstream]
    assert phrases, upstream
    assert phrases[0] in message


# ── format_cases ────────────────────────────────────────────────────────────────────────────────
@pytest.mark.parametrize("case", cases("format_cases"), ids=case_id)
def test_format_all_vectors(case: dict[str, Any]) -> None:
    platform = platform_from(case["platform"])
    assert platform.format_all() == case["expected"]
    if "roundtrip" in case:
        back = Platform.parse(case["expected"], host=LINUX_AMD64)
        assert back.os_version == platform.os_version
        assert back.os_features == platform.os_features
        assert (back.os, back.architecture) == (platform.os, platform.architecture)


# ── match_cases ─────────────────────────────────────────────────────────────────────────────────
HOST_INDEPENDENT_MATCH = [c for c in cases("match_cases") if not c.get("host_dependent")]
WINDOWS_HOST_MATCH = [c for c in cases("match_cases") if c.get("host_dependent")]


@pytest.mark.parametrize("case", HOST_INDEPENDENT_MATCH, ids=case_id)
def test_match_vectors(case: dict[str, Any]) -> None:
    host = as_platform(case["host"])
    candidate = as_platform(case["candidate"])
    matcher = matcher_named(case["matcher"], host)
    assert matcher.match(candidate) is case["match"]


def resolve_windows_placeholder(value: str | Mapping[str, Any], build: str) -> Platform:
    windows_host = Platform("windows", "amd64", os_version=build)
    if isinstance(value, str):
        assert value.startswith(("<host windows platform", "<host default platform"))
        return windows_host
    obj = dict(value)
    version = obj.get("os_version", "")
    if version.startswith("<host major.minor.build>"):
        obj["os_version"] = build + version.split('"')[1]  # '<…> + ".2"' → build + ".2"
    return platform_from(obj)


@pytest.mark.parametrize("build", SIMULATED_WINDOWS_BUILDS)
@pytest.mark.parametrize("case", WINDOWS_HOST_MATCH, ids=case_id)
def test_match_vectors_on_simulated_windows_host(case: dict[str, Any], build: str) -> None:
    """Upstream runs these on a Windows host; any ltsc build gives the same answers."""
    host = resolve_windows_placeholder(case["host"], build)
    candidate = resolve_windows_placeholder(case["candidate"], build)
    assert only_strict(host).match(candidate) is case["match"]


# ── order_cases ─────────────────────────────────────────────────────────────────────────────────
UNSTABLE_ORDER = [c for c in cases("order_cases") if c["sort"].startswith("sort.Slice ")]
STABLE_ORDER = [c for c in cases("order_cases") if c["sort"] == "sort.SliceStable"]


def tied(matcher: PlatformMatcher, a: Platform, b: Platform) -> bool:
    return not matcher.less(a, b) and not matcher.less(b, a)


@pytest.mark.parametrize("case", UNSTABLE_ORDER, ids=case_id)
def test_order_vectors_preference_relations(case: dict[str, Any]) -> None:
    """Upstream sorts with sort.Slice: only the preference relations are meaningful."""
    matcher = matcher_named(case["matcher"], as_platform(case["host"]))
    candidates = [as_platform(c) for c in case["candidates"]]
    expected = [as_platform(c) for c in case["expected_order"]]
    assert sorted(candidates, key=repr) == sorted(expected, key=repr)
    for i, better in enumerate(expected):
        for worse in expected[i + 1 :]:
            assert not matcher.less(worse, better), (worse, better)
            if matcher.match(better) and not matcher.match(worse):
                assert matcher.less(better, worse), (better, worse)
    # Each upstream table ends with a platform strictly worse than the one it starts with.
    assert matcher.less(expected[0], expected[-1])
    result = sort_platforms(candidates, matcher)
    for got, want in zip(result, expected, strict=True):
        assert got == want or tied(matcher, got, want), (got, want)


@pytest.mark.parametrize("factory", [only, only_strict])
@pytest.mark.parametrize("case", STABLE_ORDER, ids=case_id)
def test_order_vectors_windows_builds(
    case: dict[str, Any], factory: Callable[[Platform], OrderedMatcher]
) -> None:
    matcher = factory(as_platform(case["host"]))
    candidates = [as_platform(c) for c in case["candidates"]]
    result = sort_platforms(candidates, matcher)
    assert result[0] == as_platform(case["expected_first"])
    assert result == [as_platform(c) for c in case["probe_full_order"]]
    assert best_match(candidates, matcher) == as_platform(case["expected_first"])


# ── windows_compat_cases ────────────────────────────────────────────────────────────────────────
@pytest.mark.parametrize("case", cases("windows_compat_cases"), ids=case_id)
def test_windows_compat_vectors(case: dict[str, Any]) -> None:
    host, container = windows_version(case["host"]), windows_version(case["container"])
    assert host is not None
    assert container is not None
    assert windows_host_runs(host, container) is case["compatible"]
    matcher = only(Platform("windows", "amd64", os_version=case["host"]))
    candidate = Platform("windows", "amd64", os_version=case["container"] + ".1234")
    assert matcher.match(candidate) is case["compatible"]


# ── cpu_variant_cases ───────────────────────────────────────────────────────────────────────────
@pytest.mark.parametrize("case", cases("cpu_variant_cases"), ids=case_id)
def test_cpu_variant_vectors(case: dict[str, Any]) -> None:
    if "error" in case:
        with pytest.raises(InvalidPlatform, match=repr(case["machine_arch"])):
            cpu_variant_number(case["machine_arch"])
    else:
        assert cpu_variant_number(case["machine_arch"]) == case["variant_number"]


# ── derived_parse_cases ─────────────────────────────────────────────────────────────────────────
@pytest.mark.parametrize("case", cases("derived_parse_cases"), ids=case_id)
def test_derived_parse_vectors(case: dict[str, Any]) -> None:
    parsed = Platform.parse(case["input"], host=LINUX_AMD64)
    assert parsed == platform_from(case["platform"])
    assert parsed.format() == case["format"]
    assert parsed.format_all() == case["format_all"]
    assert parsed.normalized() == platform_from(case["normalized"])
    want = normalized_list(case["only_vector"])
    assert vector_of(only(parsed)) == want
    assert sort_platforms(reversed(want), only(parsed)) == want


# ── derived_preference_vectors ──────────────────────────────────────────────────────────────────
@pytest.mark.parametrize("case", cases("derived_preference_vectors"), ids=lambda c: str(c["host"]))
def test_derived_preference_vectors(case: dict[str, Any]) -> None:
    host = Platform.parse(case["host"], host=LINUX_AMD64)
    assert host == platform_from(case["host_parsed"])
    matcher = only(host)
    want = normalized_list(case["only_preference_order"])
    assert vector_of(matcher) == want
    assert all(matcher.match(p) for p in want)
    shuffled = want[1::2] + want[::2]
    assert sort_platforms(shuffled, matcher) == want
    assert best_match(shuffled, matcher) == want[0]
    # Nothing beyond the ladder: the same OS on another architecture family is refused.
    assert not matcher.match(Platform(host.os, "s390x" if host.architecture != "s390x" else "386"))


def test_only_arm64_v9_ladder_stops_at_v8_9() -> None:
    """Armv9.N carries Armv8.(N+5); there is no Armv8.10, so v9.5 and up fall back from v8.9."""
    ladder = [p.variant for p in only(Platform("linux", "arm64", "v9.6")).platforms]
    assert ladder[:8] == ["v9.6", "v9.5", "v9.4", "v9.3", "v9.2", "v9.1", "v9", "v8.9"]
    assert ladder[8:] == [
        "v8.8",
        "v8.7",
        "v8.6",
        "v8.5",
        "v8.4",
        "v8.3",
        "v8.2",
        "v8.1",
        "",
        *(f"v{n}" for n in range(8, 4, -1)),
    ]


# ── real data: the hello-world manifest list (Docker Hub, 11 entries, 2 Windows builds) ────────
HELLO_WORLD = [
    Platform.from_dict(m["platform"])
    for m in json.loads(HELLO_WORLD_LIST.read_text("utf-8"))["manifests"]
]


@pytest.mark.parametrize(
    ("wanted", "index"),
    [
        ("linux/amd64", 0),
        ("linux/arm64", 3),
        ("linux/arm64/v8", 3),
        ("linux/arm/v6", 1),  # arm/v5 is the only thing an arm/v6 host runs here
        ("linux/arm/v7", 2),
        ("linux/arm/v8", 2),  # v7 before v5
        ("linux/386", 4),
        ("linux/riscv64", 7),
        ("windows(10.0.20348)/amd64", 9),
        ("windows(10.0.26100)/amd64", 9),  # ltsc2025 runs ltsc2022 images
        ("windows(10.0.17763)/amd64", 10),
        ("windows/amd64", 9),  # no host build: both match, the newer build first
        ("windows(10.0.14393)/amd64", None),
        ("darwin/arm64", None),
    ],
)
def test_best_match_in_real_manifest_list(wanted: str, index: int | None) -> None:
    chosen = best_match(HELLO_WORLD, only(Platform.parse(wanted)))
    assert chosen == (None if index is None else HELLO_WORLD[index])


# ── Platform value: decoding, encoding, repr ────────────────────────────────────────────────────
def test_from_dict_reads_every_oci_field() -> None:
    obj = {
        "architecture": "amd64",
        "os": "windows",
        "os.version": "10.0.20348.1249",
        "os.features": ["win32k"],
        "variant": "",
    }
    platform = Platform.from_dict(obj)
    assert platform == Platform("windows", "amd64", "", "10.0.20348.1249", ("win32k",))
    assert platform.to_dict() == {k: v for k, v in obj.items() if v}
    assert Platform.from_dict(platform.to_dict()) == platform


@pytest.mark.parametrize(
    ("obj", "fragment"),
    [
        ([], "must be a JSON object, got array"),
        ({"architecture": "amd64"}, "'os' must be a non-empty string, got null"),
        ({"os": "linux", "architecture": ""}, "'architecture' must be a non-empty string"),
        ({"os": 1, "architecture": "amd64"}, "'os' must be a non-empty string, got number"),
        ({"os": "linux", "architecture": "arm", "variant": 7}, "'variant' must be a string"),
        ({"os": "l", "architecture": "a", "os.version": True}, "'os.version' must be a string"),
        ({"os": "l", "architecture": "a", "os.features": "gpu"}, "'os.features' must be an array"),
        ({"os": "l", "architecture": "a", "os.features": [1]}, "'os.features' must be an array"),
    ],
)
def test_from_dict_refuses_bad_fields(obj: object, fragment: str) -> None:
    with pytest.raises(InvalidPlatform) as info:
        Platform.from_dict(obj)
    assert fragment in str(info.value)


def test_from_config_reads_the_top_level_fields() -> None:
    config = {
        "architecture": "arm",
        "os": "linux",
        "variant": "v7",
        "rootfs": {"type": "layers", "diff_ids": []},
        "config": {"Env": ["PATH=/bin"]},
    }
    assert Platform.from_config(config) == Platform("linux", "arm", "v7")
    with pytest.raises(InvalidPlatform, match="image config field 'os'"):
        Platform.from_config({"architecture": "amd64"})


def test_str_repr_and_format() -> None:
    p = Platform("windows", "amd64", os_version="10.0.17763", os_features=("win32k",))
    assert str(p) == p.format() == "windows/amd64"
    assert repr(p) == "<Platform('windows(10.0.17763+win32k)/amd64')>"
    assert Platform("", "amd64").format() == "unknown"
    assert Platform("linux", "arm64", os_features=["b", "a"]).os_features == ("b", "a")  # type: ignore[arg-type]


def test_normalized_cases_and_aliases() -> None:
    assert Platform("MacOS", "AArch64", "V8").normalized() == Platform("darwin", "arm64")
    assert Platform("linux", "x86-64", "v1").normalized() == Platform("linux", "amd64")
    assert Platform("linux", "i386", "x").normalized() == Platform("linux", "386")
    assert Platform("linux", "arm").normalized() == Platform("linux", "arm", "v7")
    assert Platform("linux", "arm64", "9.0").normalized() == Platform("linux", "arm64", "v9")
    features = Platform("linux", "amd64", os_features=("b", "a", "b")).normalized().os_features
    assert features == ("a", "b")


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("linux(%zz)/amd64", "invalid percent-escape in OS version '%zz'"),
        ("linux(+%ff)/amd64", "OS feature '%ff'"),
        ("nosuchthing", "unknown operating system or architecture: 'nosuchthing'"),
        ("linux/abc/def/ghi", "'linux/abc/def/ghi'"),
        ("linux\n", "invalid operating system 'linux\\n'"),
    ],
)
def test_parse_errors_name_the_bad_part(text: str, fragment: str) -> None:
    with pytest.raises(InvalidPlatform) as info:
        Platform.parse(text, host=LINUX_AMD64)
    assert fragment in str(info.value)


def test_parse_one_component_on_an_arm_host() -> None:
    arm_v6 = Platform("linux", "arm", "v6")
    assert Platform.parse("linux", host=arm_v6) == arm_v6
    assert Platform.parse("linux", host=Platform("linux", "arm", "v7")) == Platform("linux", "arm")
    assert Platform.parse("arm64", host=Platform("freebsd", "amd64")) == Platform(
        "freebsd", "arm64"
    )


# ── this machine ────────────────────────────────────────────────────────────────────────────────
@pytest.mark.skipif(not ON_LINUX_AMD64, reason="the expected host platform is linux/amd64")
def test_host_is_linux_amd64_here() -> None:
    assert Platform.host() == LINUX_AMD64
    assert default_matcher() == only(LINUX_AMD64)
    assert Platform.parse("windows") == Platform("windows", "amd64")
    assert Platform.parse("arm64") == Platform("linux", "arm64")


@pytest.mark.parametrize(
    ("machine", "expected"),
    [
        ("x86_64", ("amd64", "")),
        ("AMD64", ("amd64", "")),
        ("i686", ("386", "")),
        ("aarch64", ("arm64", "")),
        ("arm64", ("arm64", "")),
        ("armv7l", ("arm", "v7")),
        ("armv6l", ("arm", "v6")),
        ("armv9l", ("arm", "unknown")),
        ("ppc64le", ("ppc64le", "")),
        ("loongarch64", ("loong64", "")),
        ("", ("unknown", "")),
    ],
)
def test_host_arch_mapping(machine: str, expected: tuple[str, str]) -> None:
    assert host_arch(machine) == expected


@pytest.mark.parametrize(
    ("sys_platform", "expected"),
    [("linux", "linux"), ("darwin", "darwin"), ("win32", "windows"), ("freebsd14", "freebsd")],
)
def test_host_os_mapping(sys_platform: str, expected: str) -> None:
    assert host_os(sys_platform) == expected


# ── matchers and choosing ───────────────────────────────────────────────────────────────────────
def test_matcher_for_each_kind_of_spec() -> None:
    assert matcher_for(None) == default_matcher()
    assert matcher_for("linux/arm64") == only(Platform("linux", "arm64"))
    assert matcher_for(Platform("linux", "arm", "v7")) == only(Platform("linux", "arm", "v7"))
    custom = any_of(Platform("linux", "s390x"))
    assert matcher_for(custom) is custom
    listed = matcher_for(["linux/arm64", Platform("linux", "amd64")])
    assert listed == ordered(Platform("linux", "arm64"), Platform("linux", "amd64"))
    assert matcher_for("linux/arm64, linux/amd64") == listed
    assert isinstance(matcher_for(only_os("linux")), OSMatcher)


@pytest.mark.parametrize("spec", ["", "linux/*", ",", []])
def test_matcher_for_refuses_bad_specs(spec: str | list[str]) -> None:
    with pytest.raises(InvalidPlatform):
        matcher_for(spec)


def test_ordered_prefers_in_the_order_given() -> None:
    matcher = ordered(Platform("linux", "arm64"), Platform("linux", "amd64"))
    candidates = [
        Platform("linux", "amd64"),
        Platform("linux", "s390x"),
        Platform("linux", "aarch64"),
    ]
    assert sort_platforms(candidates, matcher) == [candidates[2], candidates[0], candidates[1]]
    assert best_match(candidates, matcher) == candidates[2]
    assert str(matcher) == "linux/arm64, linux/amd64"
    assert str(only(Platform("linux", "x86_64"))) == "linux/amd64"


def test_only_os_prefers_the_host_architecture() -> None:
    matcher = only_os("MacOS")
    host = Platform.host()
    assert matcher.platform.os == "darwin"
    assert matcher.platform.architecture == host.architecture
    assert matcher.match(Platform("darwin", "s390x"))
    assert not matcher.match(Platform("linux", host.architecture))
    best = best_match([Platform("darwin", "s390x"), Platform("darwin", host.architecture)], matcher)
    assert best == Platform("darwin", host.architecture)
    with pytest.raises(InvalidPlatform, match="invalid operating system name"):
        only_os("linux/amd64")


def test_all_platforms_matches_everything_without_preference() -> None:
    matcher = all_platforms()
    assert isinstance(matcher, AllMatcher)
    candidates = [Platform("linux", "s390x"), Platform("windows", "amd64")]
    assert all(matcher.match(p) for p in candidates)
    assert sort_platforms(candidates, matcher) == candidates


def test_sort_and_best_match_with_a_key() -> None:
    entries = [("a", Platform("linux", "386")), ("b", Platform("linux", "amd64")), ("c", None)]
    present = [(name, p) for name, p in entries if p is not None]
    matcher = only(LINUX_AMD64)
    assert [n for n, _ in sort_platforms(present, matcher, key=lambda e: e[1])] == ["b", "a"]
    assert best_match(present, matcher, key=lambda e: e[1]) == ("b", LINUX_AMD64)
    assert best_match(present, only(Platform("linux", "arm64")), key=lambda e: e[1]) is None
    with pytest.raises(TypeError, match="pass key="):
        sort_platforms(present, matcher)  # type: ignore[arg-type]


def test_matchers_satisfy_the_protocol() -> None:
    for matcher in (only(LINUX_AMD64), any_of(LINUX_AMD64), only_os("linux"), all_platforms()):
        assert isinstance(matcher, PlatformMatcher)


# ── properties ──────────────────────────────────────────────────────────────────────────────────
OS_NAMES = st.from_regex(r"[a-z0-9_-]{1,12}", fullmatch=True)
COMPONENTS = st.from_regex(r"[A-Za-z0-9_.-]{1,12}", fullmatch=True)
ARCHES = st.one_of(
    st.sampled_from(["amd64", "x86_64", "i386", "arm", "armhf", "armel", "arm64", "aarch64"]),
    COMPONENTS,
)
VARIANTS = st.one_of(
    st.just(""),
    st.sampled_from(["v1", "v2", "v5", "7", "v8", "v8.0", "8", "9.0", "v9"]),
    COMPONENTS,
)


@given(os_=OS_NAMES, arch=ARCHES, variant=VARIANTS)
def test_parse_round_trips_normalized_platforms(os_: str, arch: str, variant: str) -> None:
    platform = Platform(os_, arch, variant).normalized()
    assert Platform.parse(str(platform), host=LINUX_AMD64) == platform


@given(
    os_=OS_NAMES,
    arch=ARCHES,
    variant=VARIANTS,
    os_version=st.text(max_size=20),
    features=st.lists(st.text(min_size=1, max_size=8), max_size=4),
)
def test_parse_round_trips_format_all(
    os_: str, arch: str, variant: str, os_version: str, features: list[str]
) -> None:
    platform = Platform(os_, arch, variant, os_version, tuple(features)).normalized()
    assert Platform.parse(platform.format_all(), host=LINUX_AMD64) == platform


@given(st.text())
def test_parse_raises_only_invalid_platform(text: str) -> None:
    try:
        parsed = Platform.parse(text, host=LINUX_AMD64)
    except InvalidPlatform:
        return
    assert parsed.os
    assert parsed.architecture


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)
PLATFORM_KEYS = st.sampled_from(["os", "architecture", "variant", "os.version", "os.features"])


@given(st.one_of(JSON_VALUES, st.dictionaries(PLATFORM_KEYS, JSON_VALUES)))
def test_from_dict_raises_only_invalid_platform(obj: object) -> None:
    try:
        decoded = Platform.from_dict(obj)
    except InvalidPlatform:
        return
    assert Platform.from_dict(decoded.to_dict()) == decoded


POOL = [
    Platform.parse(s, host=LINUX_AMD64)
    for s in [
        "linux/amd64",
        "linux/amd64/v3",
        "linux/386",
        "linux/arm64",
        "linux/arm/v7",
        "linux/arm/v5",
        "linux(+gpu)/amd64",
        "windows(10.0.20348.1)/amd64",
        "windows(10.0.26100.5)/amd64",
        "windows/amd64",
        "darwin/arm64",
    ]
]


@given(
    host=st.sampled_from(POOL),
    candidates=st.lists(st.sampled_from(POOL), max_size=8),
    kind=st.sampled_from([only, only_strict, ordered, any_of, only_os]),
)
def test_sorting_puts_matches_first_without_inversions(
    host: Platform, candidates: list[Platform], kind: Any
) -> None:
    matcher: PlatformMatcher = kind(host)
    result = sort_platforms(candidates, matcher)
    assert sorted(result, key=repr) == sorted(candidates, key=repr)
    flags = [matcher.match(p) for p in result]
    assert flags == sorted(flags, reverse=True)
    for i, better in enumerate(result):
        for worse in result[i + 1 :]:
            assert not matcher.less(worse, better)
