"""Platforms (os/architecture/variant) and the matchers that choose among them.

A port of containerd/platforms: the specifier syntax, its normalization table, the ``Only``
fallback ladders, the Windows ``os.version`` compatibility rules and the ``Less`` orderings.

Specifier grammar (``Platform.parse``)::

    specifier  = os-part [ "/" component [ "/" component ] ]      ; at most 3 components
    os-part    = os-name [ "(" [ option ] *( "+" option ) ")" ]   ; os version, then features
    os-name    = 1*( ALPHA / DIGIT / "_" / "-" )
    option     = 1*( ALPHA / DIGIT / "_" / "." / "-" / "%" )       ; percent-encoded
    component  = 1*( ALPHA / DIGIT / "_" / "." / "-" )

A lone component is an OS name when it is a known one (the architecture is then this machine's),
otherwise an architecture (the OS is then this machine's). ``*`` is refused: wildcards are
unsupported. See https://github.com/containerd/platforms (platforms.go, database.go, compare.go).

Matchers are objects with ``match(p) -> bool`` and ``less(a, b) -> bool`` (``a`` is preferred to
``b``); ``sort_platforms`` and ``best_match`` apply them.
"""

from __future__ import annotations

import functools
import os
import re
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeAlias, TypeVar, overload, runtime_checkable

from regimage.errors import InvalidPlatform

__all__ = [
    "AllMatcher",
    "AnyMatcher",
    "OSMatcher",
    "OrderedMatcher",
    "Platform",
    "PlatformMatcher",
    "PlatformSpec",
    "all_platforms",
    "any_of",
    "best_match",
    "default_matcher",
    "matcher_for",
    "only",
    "only_os",
    "only_strict",
    "ordered",
    "sort_platforms",
]

_T = TypeVar("_T")

# ── grammar atoms ───────────────────────────────────────────────────────────────────────────────
# An OS name as Go spells GOOS values (any case here; lower-cased by normalization).
_OS_NAME = r"[A-Za-z0-9_-]+"
# One character of an OS option (version or feature); '%' introduces a percent-escape.
_OS_OPTION_CHAR = r"[A-Za-z0-9_.%-]"
# os-part: the name, then optionally "(version+feature+feature)".
_OS_PART_RE = re.compile(
    rf"({_OS_NAME})(?:\(({_OS_OPTION_CHAR}*)((?:\+{_OS_OPTION_CHAR}+)*)\))?", re.ASCII
)
# An architecture or variant component.
_COMPONENT_RE = re.compile(r"[A-Za-z0-9_.-]+", re.ASCII)
# A well-formed percent-encoded option: every '%' is followed by two hex digits.
_PERCENT_ENCODED_RE = re.compile(r"(?:[^%]|%[0-9A-Fa-f]{2})*", re.ASCII)
_PERCENT_ESCAPE_RE = re.compile(rb"%([0-9A-Fa-f]{2})")
# Characters that an encoded OS option keeps as they are; everything else is %XX (UTF-8).
_OPTION_SAFE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-")
# Numbers are at most 9 digits: int() refuses (ValueError) past 4,300, and a variant or an
# os.version read from an index is the registry's to choose.
_DIGITS_RE = re.compile(r"[0-9]{1,9}", re.ASCII)
_DOTTED_NUMBERS_RE = re.compile(r"[0-9]{1,9}(?:\.[0-9]{1,9})*", re.ASCII)
_VERSION_VARIANT_RE = re.compile(r"v([0-9]{1,9})(?:\.([0-9]{1,9}))?", re.ASCII)

MAX_COMPONENTS = 3
"""``os/arch/variant``: a specifier with more '/'-separated components is refused."""

# From Go's go/build/syslist.go, as containerd/platforms database.go lists them.
# fmt: off
_KNOWN_OS = frozenset({
    "aix", "android", "darwin", "dragonfly", "freebsd", "hurd", "illumos", "ios", "js", "linux",
    "nacl", "netbsd", "openbsd", "plan9", "solaris", "windows", "zos",
})
_KNOWN_ARCH = frozenset({
    "386", "amd64", "amd64p32", "arm", "armbe", "arm64", "arm64be", "ppc64", "ppc64le", "loong64",
    "mips", "mipsle", "mips64", "mips64le", "mips64p32", "mips64p32le", "ppc", "riscv", "riscv64",
    "s390", "s390x", "sparc", "sparc64", "wasm",
})
# fmt: on

# Windows builds (https://learn.microsoft.com/en-us/windows/release-health/windows-server-release-info).
WINDOWS_LTSC2019_BUILD = 17763
WINDOWS_LTSC2022_BUILD = 20348
WINDOWS_LTSC2025_BUILD = 26100
# Stable-ABI LTSC releases, ascending: a host from one of them on runs containers from the one before.
_WINDOWS_COMPAT_LTSC = (WINDOWS_LTSC2022_BUILD, WINDOWS_LTSC2025_BUILD)

# Armv9.N carries the baseline of Armv8.(N+5); Armv8 stops at .9.
_ARM64_MAX_V8_MINOR = 9
# The highest level each fallback ladder steps down from: none higher exists, and an absurd
# variant (``amd64/v99999999``) must not build a ladder of that many platforms.
_AMD64_MAX_LEVEL = 4
_ARM_MAX_LEVEL = 8
_ARM64_MAX_V9_MINOR = 9


# ── the value ───────────────────────────────────────────────────────────────────────────────────
@dataclass(frozen=True, slots=True, repr=False)
class Platform:
    """A platform as OCI describes it; ``str()`` is the ``os/arch[/variant]`` specifier.

    Fields hold what was parsed or decoded (lower-cased by ``parse``); ``normalized()`` gives the
    canonical form that matchers compare (``aarch64`` → ``arm64``, ``arm`` → ``arm/v7``, …).
    """

    os: str
    architecture: str
    variant: str = ""
    os_version: str = ""
    os_features: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # Accept any iterable of strings for os_features, store a tuple (hashable, immutable).
        object.__setattr__(self, "os_features", tuple(self.os_features))

    @classmethod
    def parse(cls, text: str, *, host: Platform | None = None) -> Platform:
        """Parse a specifier such as ``linux/arm64/v8``, ``windows(10.0.17763)`` or ``arm64``.

        Names are lower-cased and aliases resolved (``x86_64`` → ``amd64``), but the result is
        not fully normalized: ``linux/arm64/v8`` keeps its ``v8`` (``normalized()`` drops it), and
        ``linux/armhf`` parses as ``linux/arm``. One-component specifiers take the missing part
        from ``host`` (default: this machine). Raises InvalidPlatform naming the bad part.
        """
        if "*" in text:
            raise InvalidPlatform(f"wildcards are not supported in platform specifiers: {text!r}")
        parts = text.split("/", MAX_COMPONENTS)
        if len(parts) > MAX_COMPONENTS:
            raise InvalidPlatform(
                f"too many '/'-separated components in platform specifier {text!r}"
                " (expected os[/arch[/variant]])"
            )
        os_match = _OS_PART_RE.fullmatch(parts[0])
        if os_match is None:
            raise InvalidPlatform(
                f"invalid operating system {parts[0]!r} in platform specifier {text!r}:"
                " expected a name of letters, digits, '_' or '-', optionally followed by"
                " '(version+feature…)'"
            )
        for part in parts[1:]:
            if _COMPONENT_RE.fullmatch(part) is None:
                raise InvalidPlatform(
                    f"invalid component {part!r} in platform specifier {text!r}:"
                    " expected letters, digits, '_', '.' or '-'"
                )
        os_ = _normalize_os(os_match[1])
        os_version = _decode_option(os_match[2] or "", text, "OS version")
        raw_features = os_match[3] or ""
        features = tuple(
            _decode_option(f, text, "OS feature") for f in raw_features[1:].split("+") if f
        )

        if len(parts) == 1:
            host = host if host is not None else Platform.host()
            if os_ in _KNOWN_OS:
                variant = host.variant if host.architecture == "arm" else ""
                if variant == "v7":
                    variant = ""
                return cls(os_, host.architecture, variant, os_version, features)
            arch, variant = _normalize_arch(parts[0], "")
            if arch == "arm" and variant == "v7":
                variant = ""
            if arch in _KNOWN_ARCH:
                return cls(host.os, arch, variant)
            raise InvalidPlatform(f"unknown operating system or architecture: {text!r}")
        if len(parts) == 2:
            arch, variant = _normalize_arch(parts[1], "")
            if arch == "arm" and variant == "v7":
                variant = ""
            return cls(os_, arch, variant, os_version, features)
        arch, variant = _normalize_arch(parts[1], parts[2])
        if arch == "arm64" and variant == "":
            variant = "v8"
        return cls(os_, arch, variant, os_version, features)

    @classmethod
    def host(cls) -> Platform:
        """This machine's platform, normalized (e.g. ``linux/amd64``; Windows adds its build)."""
        return _host_platform()

    @classmethod
    def from_dict(cls, obj: object) -> Platform:
        """Decode the ``platform`` object of an index entry (OCI field names, types checked)."""
        return _decode_fields(obj, "platform")

    @classmethod
    def from_config(cls, config: Mapping[str, object]) -> Platform:
        """Read ``os``, ``architecture``, ``variant``, ``os.version``, ``os.features`` of a config."""
        return _decode_fields(config, "image config")

    def to_dict(self) -> dict[str, object]:
        """The OCI JSON form, omitting empty optional fields."""
        out: dict[str, object] = {"architecture": self.architecture, "os": self.os}
        if self.os_version:
            out["os.version"] = self.os_version
        if self.os_features:
            out["os.features"] = list(self.os_features)
        if self.variant:
            out["variant"] = self.variant
        return out

    def format(self) -> str:
        """``os/arch[/variant]`` (``unknown`` when the OS is empty), as containerd's Format."""
        if not self.os:
            return "unknown"
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)

    def format_all(self) -> str:
        """Like ``format()`` plus ``(os_version+feature…)``, percent-encoded so ``parse`` reverses it.

        Features are written sorted and empty ones skipped, as containerd's FormatAll does.
        """
        if not self.os:
            return "unknown"
        options = _encode_option(self.os_version) + "".join(
            "+" + _encode_option(f) for f in sorted(self.os_features) if f
        )
        os_part = f"{self.os}({options})" if options else self.os
        return "/".join(p for p in (os_part, self.architecture, self.variant) if p)

    def normalized(self) -> Platform:
        """The canonical form matchers compare: lower-case, aliases resolved, default variants.

        ``amd64/v1`` → ``amd64``, ``arm64/v8`` → ``arm64``, ``arm`` → ``arm/v7``, ``macos`` →
        ``darwin``; features sorted and de-duplicated. An empty OS becomes this machine's.
        """
        arch, variant = _normalize_arch(self.architecture, self.variant)
        features = tuple(sorted(set(self.os_features)))
        return Platform(_normalize_os(self.os), arch, variant, self.os_version, features)

    def __str__(self) -> str:
        return self.format()

    def __repr__(self) -> str:
        return f"<Platform({self.format_all()!r})>"


# ── normalization ───────────────────────────────────────────────────────────────────────────────
def _normalize_os(os_: str) -> str:
    if not os_:
        return Platform.host().os
    os_ = os_.lower()
    return "darwin" if os_ == "macos" else os_


def _normalize_arch(arch: str, variant: str) -> tuple[str, str]:
    """containerd's normalizeArch: aliases and each architecture's canonical default variant."""
    arch, variant = arch.lower(), variant.lower()
    if arch == "i386":
        return "386", ""
    if arch in ("x86_64", "x86-64", "amd64"):
        return "amd64", "" if variant == "v1" else variant
    if arch in ("aarch64", "arm64"):
        if variant in ("8", "v8", "v8.0"):
            variant = ""
        elif variant in ("9", "9.0", "v9.0"):
            variant = "v9"
        return "arm64", variant
    if arch == "armhf":
        return "arm", "v7"
    if arch == "armel":
        return "arm", "v6"
    if arch == "arm":
        if variant in ("", "7"):
            variant = "v7"
        elif variant in ("5", "6", "8"):
            variant = "v" + variant
    return arch, variant


def _decode_option(raw: str, text: str, what: str) -> str:
    """Undo the percent-encoding of an OS version or feature (Go's url.PathUnescape, UTF-8)."""
    if "%" not in raw:
        return raw
    if _PERCENT_ENCODED_RE.fullmatch(raw) is None:
        raise InvalidPlatform(
            f"invalid percent-escape in {what} {raw!r} of platform specifier {text!r}"
        )
    try:
        return _PERCENT_ESCAPE_RE.sub(lambda m: bytes([int(m[1], 16)]), raw.encode()).decode()
    except UnicodeDecodeError as exc:
        raise InvalidPlatform(
            f"{what} {raw!r} of platform specifier {text!r} does not decode as UTF-8"
        ) from exc


def _encode_option(value: str) -> str:
    return "".join(
        c if c in _OPTION_SAFE else "".join(f"%{b:02X}" for b in c.encode("utf-8", "surrogatepass"))
        for c in value
    )


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "array"
    if isinstance(value, Mapping):
        return "object"
    return type(value).__name__


def _decode_fields(obj: object, what: str) -> Platform:
    if not isinstance(obj, Mapping):
        raise InvalidPlatform(f"{what} must be a JSON object, got {_json_type(obj)}")

    def required(key: str) -> str:
        value = obj.get(key)
        if not isinstance(value, str) or not value:
            got = "an empty string" if value == "" else _json_type(value)
            raise InvalidPlatform(f"{what} field {key!r} must be a non-empty string, got {got}")
        return value

    def optional(key: str) -> str:
        value = obj.get(key)
        if value is None:
            return ""
        if not isinstance(value, str):
            raise InvalidPlatform(f"{what} field {key!r} must be a string, got {_json_type(value)}")
        return value

    os_, arch = required("os"), required("architecture")
    raw_features = obj.get("os.features")
    features: tuple[str, ...] = ()
    if raw_features is not None:
        if not isinstance(raw_features, list) or not all(isinstance(f, str) for f in raw_features):
            raise InvalidPlatform(
                f"{what} field 'os.features' must be an array of strings,"
                f" got {_json_type(raw_features)}"
            )
        features = tuple(raw_features)
    return Platform(os_, arch, optional("variant"), optional("os.version"), features)


# ── this machine ────────────────────────────────────────────────────────────────────────────────
def _cpu_variant_number(machine: str) -> str:
    """The ARM variant number from a uname machine name (containerd getCPUVariantFromArch).

    ``aarch64`` → ``8``, ``armv7l`` → ``7`` (3 to 8), any other ``armv…`` → ``unknown``.
    """
    machine = machine.lower()
    if machine == "aarch64":
        return "8"
    if machine.startswith("armv") and len(machine) >= len("armvN"):
        digit = machine[4]
        return digit if digit in "345678" else "unknown"
    raise InvalidPlatform(f"cannot tell the ARM variant of machine architecture {machine!r}")


def _host_os(sys_platform: str) -> str:
    """Map ``sys.platform`` to Go's GOOS value."""
    aliases = {"win32": "windows", "cygwin": "windows", "msys": "windows", "emscripten": "js"}
    if sys_platform in aliases:
        return aliases[sys_platform]
    if sys_platform.startswith("sunos"):
        return "solaris"
    return sys_platform.rstrip("0123456789") or "unknown"


def _host_arch(machine: str) -> tuple[str, str]:
    """Map ``platform.machine()`` to Go's GOARCH value and, for 32-bit ARM, its variant."""
    machine = machine.lower()
    if machine in ("x86_64", "amd64", "x64"):
        return "amd64", ""
    if machine in ("i386", "i486", "i586", "i686", "x86"):
        return "386", ""
    if machine in ("aarch64", "arm64", "armv8b", "aarch64_be"):
        return "arm64", ""
    if machine.startswith("arm"):
        try:
            number = _cpu_variant_number(machine)
        except InvalidPlatform:
            return "arm", ""
        return "arm", number if number == "unknown" else "v" + number
    if machine == "loongarch64":
        return "loong64", ""
    return machine or "unknown", ""


def _host_windows_version() -> str:
    import platform  # costs milliseconds at start-up: only Windows hosts need it

    version = platform.version()  # "10.0.17763" on Windows
    parts = version.split(".")[:3]
    if len(parts) == 3 and all(_DIGITS_RE.fullmatch(p) for p in parts):
        return ".".join(parts)
    return ""


def _host_machine() -> str:
    """``platform.machine()``, without importing :mod:`platform` (milliseconds of start-up) where
    ``os.uname`` answers the same."""
    if hasattr(os, "uname"):
        return os.uname().machine
    import platform

    return platform.machine()


@functools.cache
def _host_platform() -> Platform:
    os_ = _host_os(sys.platform)
    arch, variant = _host_arch(_host_machine())
    os_version = _host_windows_version() if os_ == "windows" else ""
    return Platform(os_, arch, variant, os_version).normalized()


# ── Windows os.version compatibility ────────────────────────────────────────────────────────────
def _windows_version(text: str) -> tuple[int, int, int] | None:
    """``major.minor.build`` of a Windows version (revision ignored), None when unparsable."""
    parts = text.split(".")
    if len(parts) < 3 or not all(_DIGITS_RE.fullmatch(p) for p in parts[:3]):
        return None
    major, minor, build = int(parts[0]), int(parts[1]), int(parts[2])
    if major > 0xFF or minor > 0xFF or build > 0xFFFF:
        return None
    return major, minor, build


def _windows_host_runs(host: tuple[int, int, int], container: tuple[int, int, int]) -> bool:
    """Whether a Windows host runs a process-isolated container of the given version.

    Major.minor must match. Before ltsc2022 the build must be equal. From ltsc2022 on (stable
    ABI), a host runs containers from the LTSC before its own generation up to its own build:
    ltsc2022 itself runs only 20348, 22621 runs 20348–22621, ltsc2025 runs 20348–26100. (Later
    containerd reads a host past the newest LTSC the same way: a 26200 host still runs 20348.)
    """
    if host[:2] != container[:2]:
        return False
    host_build, build = host[2], container[2]
    if host_build < WINDOWS_LTSC2022_BUILD:
        return build == host_build
    floor = WINDOWS_LTSC2022_BUILD
    for i in reversed(range(len(_WINDOWS_COMPAT_LTSC))):
        if host_build >= _WINDOWS_COMPAT_LTSC[i]:
            floor = _WINDOWS_COMPAT_LTSC[max(i - 1, 0)]
            break
    return floor <= build <= host_build


def _windows_version_match(host_version: str, version: str) -> bool:
    """A missing (or unparsable) host version, or a missing candidate version, always matches."""
    host = _windows_version(host_version)
    if host is None or host == (0, 0, 0) or not version:
        return True
    return _windows_host_runs(host, _windows_version(version) or (0, 0, 0))


def _version_key(version: str) -> tuple[int, ...]:
    """Numeric sort key of a dotted version (``10.0.20348.3091``); () when not all numbers."""
    if _DOTTED_NUMBERS_RE.fullmatch(version) is None:
        return ()
    return tuple(int(p) for p in version.split("."))


# ── matching ────────────────────────────────────────────────────────────────────────────────────
@runtime_checkable
class PlatformMatcher(Protocol):
    """What selects platforms: ``match`` says yes or no, ``less(a, b)`` says ``a`` is preferred."""

    def match(self, platform: Platform, /) -> bool: ...

    def less(self, a: Platform, b: Platform, /) -> bool: ...


def _matches(reference: Platform, candidate: Platform, normalized: Platform) -> bool:
    """containerd's NewMatcher: same normalized os/arch/variant, features a subset, Windows build.

    ``reference`` is normalized already; ``normalized`` is ``candidate.normalized()``.
    """
    if (reference.os, reference.architecture, reference.variant) != (
        normalized.os,
        normalized.architecture,
        normalized.variant,
    ):
        return False
    if reference.os == "windows" and not _windows_version_match(
        reference.os_version, candidate.os_version
    ):
        return False
    return set(normalized.os_features) <= set(reference.os_features)


def _without_features(p: Platform) -> Platform:
    return Platform(p.os, p.architecture, p.variant, p.os_version)


def _tie_break(a: Platform, b: Platform) -> bool:
    """Among equally good matches: more OS features first, then the newer Windows build."""
    fa, fb = len(set(a.os_features)), len(set(b.os_features))
    if fa != fb:
        return fa > fb
    if a.os.lower() == b.os.lower() == "windows":
        return _version_key(a.os_version) > _version_key(b.os_version)
    return False


@dataclass(frozen=True, slots=True)
class OrderedMatcher:
    """Matches any of ``platforms`` (each compared exactly, after normalization); earlier wins.

    ``only``, ``only_strict`` and ``ordered`` build it; ``platforms`` is the preference ladder.
    """

    platforms: tuple[Platform, ...]
    label: str = field(default="", compare=False)

    def rank(self, platform: Platform) -> int | None:
        """Index of the first of ``platforms`` that ``platform`` matches, None if none does."""
        normalized = platform.normalized()
        for i, reference in enumerate(self.platforms):
            if _matches(reference, platform, normalized):
                return i
        return None

    def match(self, platform: Platform, /) -> bool:
        return self.rank(platform) is not None

    def less(self, a: Platform, b: Platform, /) -> bool:
        ra, rb = self.rank(a), self.rank(b)
        if ra is not None and rb is not None:
            return ra < rb or (ra == rb and _tie_break(a, b))
        if ra is not None or rb is not None:
            return ra is not None
        # Neither matches: rank them as if they declared no OS features (containerd does too).
        if a.os_features or b.os_features:
            return self.less(_without_features(a), _without_features(b))
        return False

    def __str__(self) -> str:
        return self.label or ", ".join(p.format_all() for p in self.platforms)


@dataclass(frozen=True, slots=True)
class AnyMatcher:
    """Matches any of ``platforms`` with no preference among them (containerd's ``Any``)."""

    platforms: tuple[Platform, ...]

    def match(self, platform: Platform, /) -> bool:
        normalized = platform.normalized()
        return any(_matches(r, platform, normalized) for r in self.platforms)

    def less(self, a: Platform, b: Platform, /) -> bool:
        ma, mb = self.match(a), self.match(b)
        if ma and mb:
            return _tie_break(a, b)
        if not ma and not mb and (a.os_features or b.os_features):
            return self.less(_without_features(a), _without_features(b))
        return ma and not mb

    def __str__(self) -> str:
        return " | ".join(p.format_all() for p in self.platforms)


@dataclass(frozen=True, slots=True)
class OSMatcher:
    """Matches every architecture of one OS (containerd's ``OnlyOS``).

    A candidate matches when its OS equals ``platform.os``, its Windows build is compatible with
    ``platform.os_version`` (when both are set) and its OS features are a subset of
    ``platform.os_features``. Among matches, ``platform``'s own architecture comes first; the
    other architectures are equally good.
    """

    platform: Platform

    def match(self, platform: Platform, /) -> bool:
        normalized = platform.normalized()
        if normalized.os != self.platform.os:
            return False
        if self.platform.os == "windows" and not _windows_version_match(
            self.platform.os_version, platform.os_version
        ):
            return False
        return set(normalized.os_features) <= set(self.platform.os_features)

    def less(self, a: Platform, b: Platform, /) -> bool:
        ma, mb = self.match(a), self.match(b)
        if ma != mb:
            return ma
        if not ma:
            return False
        return OrderedMatcher((self.platform,)).less(a, b)

    def __str__(self) -> str:
        return f"{self.platform.os} (any architecture)"


@dataclass(frozen=True, slots=True)
class AllMatcher:
    """Matches every platform, preferring none."""

    def match(self, platform: Platform, /) -> bool:
        return True

    def less(self, a: Platform, b: Platform, /) -> bool:
        return False

    def __str__(self) -> str:
        return "all platforms"


def _fallbacks(platform: Platform) -> tuple[Platform, ...]:
    """The ladder ``only`` accepts for a normalized platform, most preferred first.

    amd64/vN → amd64/v(N-1) … v1, then 386; arm/vN → arm/v(N-1) … v5; arm64/v8.x → v8.(x-1) … v8;
    arm64/v9.x → v9.(x-1) … v9, v8.(x+5, at most 9) … v8; every arm64 then arm/v8 … v5.
    """

    def variant(arch: str, v: str) -> Platform:
        return Platform(
            platform.os, arch, v, platform.os_version, platform.os_features
        ).normalized()

    ladder = [platform]
    arch = platform.architecture
    if arch == "amd64":
        level = _VERSION_VARIANT_RE.fullmatch(platform.variant)
        if level is not None and level[2] is None:
            top = min(int(level[1]) - 1, _AMD64_MAX_LEVEL)
            ladder += [variant("amd64", f"v{n}") for n in range(top, 0, -1)]
        ladder.append(variant("386", ""))
    elif arch == "arm":
        level = _VERSION_VARIANT_RE.fullmatch(platform.variant)
        if level is not None and level[2] is None:
            top = min(int(level[1]) - 1, _ARM_MAX_LEVEL)
            ladder += [variant("arm", f"v{n}") for n in range(top, 4, -1)]
    elif arch == "arm64":
        level = _VERSION_VARIANT_RE.fullmatch(platform.variant or "v8")
        if level is not None:
            major, minor = int(level[1]), int(level[2] or 0)
            if major == 9:
                top = min(minor - 1, _ARM64_MAX_V9_MINOR)
                ladder += [variant("arm64", f"v9.{n}") for n in range(top, -1, -1)]
                minor = min(minor + 5, _ARM64_MAX_V8_MINOR) + 1
            if major in (8, 9):
                top = min(minor - 1, _ARM64_MAX_V8_MINOR)
                ladder += [variant("arm64", f"v8.{n}") for n in range(top, -1, -1)]
        ladder += [variant("arm", f"v{n}") for n in range(8, 4, -1)]
    unique: list[Platform] = []
    for p in ladder:
        if p not in unique:
            unique.append(p)
    return tuple(unique)


def only(platform: Platform) -> OrderedMatcher:
    """What runs on ``platform``: itself, then its fallback ladder (containerd's ``Only``).

    ``linux/amd64`` also accepts ``linux/386``; ``linux/arm64`` accepts ``linux/arm/v8`` … ``v5``;
    ``linux/arm/v7`` accepts ``v6`` and ``v5``. For Windows, ``os_version`` limits the builds.
    """
    normalized = platform.normalized()
    return OrderedMatcher(_fallbacks(normalized), label=normalized.format_all())


def only_strict(platform: Platform) -> OrderedMatcher:
    """Exactly ``platform`` after normalization, no fallbacks (containerd's ``OnlyStrict``)."""
    normalized = platform.normalized()
    return OrderedMatcher((normalized,), label=normalized.format_all())


def only_os(os: str | Platform) -> OSMatcher:
    """Any architecture of one OS; the given platform's (or this machine's) architecture first.

    A string is an OS name (``linux``, ``windows``; ``macos`` means ``darwin``); a Platform also
    brings its OS version and features, which candidates must be compatible with.
    """
    if isinstance(os, str):
        name = _normalize_os(os)
        if not name or _OS_PART_RE.fullmatch(name) is None or "(" in name:
            raise InvalidPlatform(f"invalid operating system name: {os!r}")
        host = Platform.host()
        reference = Platform(name, host.architecture, host.variant)
    else:
        reference = os
    return OSMatcher(reference.normalized())


def ordered(*platforms: Platform) -> OrderedMatcher:
    """Any of ``platforms`` (each exactly), preferring them in the order given."""
    return OrderedMatcher(tuple(p.normalized() for p in platforms))


def any_of(*platforms: Platform) -> AnyMatcher:
    """Any of ``platforms`` (each exactly), with no preference among them."""
    return AnyMatcher(tuple(p.normalized() for p in platforms))


def all_platforms() -> AllMatcher:
    """Every platform, with no preference (for walking all of an index)."""
    return AllMatcher()


def default_matcher() -> OrderedMatcher:
    """``only(Platform.host())``: what this machine runs."""
    return only(Platform.host())


PlatformSpec: TypeAlias = "str | Platform | PlatformMatcher | Sequence[str | Platform] | None"
"""What callers may pass where a platform is wanted; ``matcher_for`` turns it into a matcher."""


def _as_platform(item: str | Platform) -> Platform:
    if isinstance(item, Platform):
        return item
    if isinstance(item, str):
        return Platform.parse(item.strip())
    raise TypeError(f"expected a platform specifier or a Platform, not {type(item).__name__}")


def matcher_for(spec: PlatformSpec) -> PlatformMatcher:
    """Build a matcher from what a user passes.

    * None → ``default_matcher()`` (this machine);
    * ``"linux/arm64"`` or a Platform → ``only(platform)`` (it and its fallbacks);
    * ``"linux/arm64,linux/amd64"`` or a sequence of specifiers/Platforms → ``ordered(...)``,
      first preferred, each matched exactly;
    * a PlatformMatcher → returned as is.

    Raises InvalidPlatform for a specifier that does not parse or an empty list.
    """
    if spec is None:
        return default_matcher()
    if isinstance(spec, str):
        if "," not in spec:
            return only(_as_platform(spec))
        return matcher_for([s for s in spec.split(",") if s.strip()] or [""])
    if isinstance(spec, Platform):
        return only(spec)
    if isinstance(spec, PlatformMatcher):
        return spec
    if isinstance(spec, Sequence):
        platforms = [_as_platform(item) for item in spec]
        if not platforms:
            raise InvalidPlatform("an empty list of platforms matches nothing")
        return ordered(*platforms)
    raise TypeError(f"cannot build a platform matcher from {type(spec).__name__}")


# ── choosing ────────────────────────────────────────────────────────────────────────────────────
@overload
def sort_platforms(candidates: Iterable[Platform], matcher: PlatformMatcher) -> list[Platform]: ...


@overload
def sort_platforms(
    candidates: Iterable[_T], matcher: PlatformMatcher, *, key: Callable[[_T], Platform]
) -> list[_T]: ...


def sort_platforms(
    candidates: Iterable[object],
    matcher: PlatformMatcher,
    *,
    key: Callable[[Any], Platform] | None = None,
) -> list[Any]:
    """``candidates`` best first by ``matcher.less``; a stable sort (equals keep their order).

    Nothing is removed: filter with ``matcher.match`` (non-matching platforms sort last with the
    built-in matchers). ``key`` extracts the platform of each item, e.g. of a descriptor.
    """
    items = list(candidates)
    platform_of: Callable[[object], Platform] = key if key is not None else _identity

    def compare(a: object, b: object) -> int:
        pa, pb = platform_of(a), platform_of(b)
        if matcher.less(pa, pb):
            return -1
        if matcher.less(pb, pa):
            return 1
        return 0

    items.sort(key=functools.cmp_to_key(compare))
    return items


def _identity(item: object) -> Platform:
    if not isinstance(item, Platform):
        raise TypeError(f"expected a Platform, not {type(item).__name__} (pass key=)")
    return item


@overload
def best_match(candidates: Iterable[Platform], matcher: PlatformMatcher) -> Platform | None: ...


@overload
def best_match(
    candidates: Iterable[_T], matcher: PlatformMatcher, *, key: Callable[[_T], Platform]
) -> _T | None: ...


def best_match(
    candidates: Iterable[object],
    matcher: PlatformMatcher,
    *,
    key: Callable[[Any], Platform] | None = None,
) -> Any:
    """The most preferred candidate that ``matcher`` matches (the first of equals), or None."""
    platform_of: Callable[[object], Platform] = key if key is not None else _identity
    matching = [c for c in candidates if matcher.match(platform_of(c))]
    if not matching:
        return None
    return sort_platforms(matching, matcher, key=platform_of)[0]
