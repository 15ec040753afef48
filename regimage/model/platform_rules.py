"""The rules behind platform names: normalization, fallbacks, this machine, Windows builds.

Ported from containerd/platforms (database.go, compare.go): which names are known and what their
aliases mean, which older architecture variants run on a newer one, how Python's view of the host
maps to Go's GOOS/GOARCH, and which Windows ``os.version`` a host runs. Plain strings in, plain
strings out: :mod:`regimage.model.platform` builds values with these rules and
:mod:`regimage.model.platform_match` matches with them.
"""

from __future__ import annotations

import functools
import platform
import re
import sys

from regimage.errors import InvalidPlatform

__all__ = [
    "KNOWN_ARCH",
    "KNOWN_OS",
    "WINDOWS_LTSC2019_BUILD",
    "WINDOWS_LTSC2022_BUILD",
    "WINDOWS_LTSC2025_BUILD",
    "cpu_variant_number",
    "fallback_ladder",
    "host_arch",
    "host_fields",
    "host_os",
    "normalize_arch",
    "normalize_os",
    "version_key",
    "windows_host_runs",
    "windows_version",
    "windows_version_match",
]

# From Go's go/build/syslist.go, as containerd/platforms database.go lists them.
# fmt: off
KNOWN_OS = frozenset({
    "aix", "android", "darwin", "dragonfly", "freebsd", "hurd", "illumos", "ios", "js", "linux",
    "nacl", "netbsd", "openbsd", "plan9", "solaris", "windows", "zos",
})
KNOWN_ARCH = frozenset({
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

# Numbers are at most 9 digits: int() refuses (ValueError) past 4,300, and a variant or an
# os.version read from an index is the registry's to choose.
_DIGITS_RE = re.compile(r"[0-9]{1,9}", re.ASCII)
_DOTTED_NUMBERS_RE = re.compile(r"[0-9]{1,9}(?:\.[0-9]{1,9})*", re.ASCII)
# An ``amd64``, ``arm`` or ``arm64`` variant level: ``v3``, ``v8.2``.
_VERSION_VARIANT_RE = re.compile(r"v([0-9]{1,9})(?:\.([0-9]{1,9}))?", re.ASCII)

# Armv9.N carries the baseline of Armv8.(N+5); Armv8 stops at .9.
_ARM64_MAX_V8_MINOR = 9
# The highest level each fallback ladder steps down from: none higher exists, and an absurd
# variant (``amd64/v99999999``) must not build a ladder of that many platforms.
_AMD64_MAX_LEVEL = 4
_ARM_MAX_LEVEL = 8
_ARM64_MAX_V9_MINOR = 9


# ── normalization and fallbacks ─────────────────────────────────────────────────────────────────
def normalize_os(os_: str) -> str:
    """Lower case, ``macos`` → ``darwin``; an empty OS is this machine's."""
    if not os_:
        return host_fields()[0]
    os_ = os_.lower()
    return "darwin" if os_ == "macos" else os_


def normalize_arch(arch: str, variant: str) -> tuple[str, str]:
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


def fallback_ladder(arch: str, variant: str) -> tuple[tuple[str, str], ...]:
    """The architectures and variants that run on a normalized ``arch``/``variant``, best first.

    The ladder of containerd's ``Only``, itself first: amd64/vN → amd64/v(N-1) … v1, then 386;
    arm/vN → arm/v(N-1) … v5; arm64/v8.x → v8.(x-1) … v8; arm64/v9.x → v9.(x-1) … v9,
    v8.(x+5, at most 9) … v8; every arm64 then arm/v8 … v5. Each step is normalized.
    """
    ladder = [(arch, variant)]
    if arch == "amd64":
        level = _VERSION_VARIANT_RE.fullmatch(variant)
        if level is not None and level[2] is None:
            top = min(int(level[1]) - 1, _AMD64_MAX_LEVEL)
            ladder += [normalize_arch("amd64", f"v{n}") for n in range(top, 0, -1)]
        ladder.append(normalize_arch("386", ""))
    elif arch == "arm":
        level = _VERSION_VARIANT_RE.fullmatch(variant)
        if level is not None and level[2] is None:
            top = min(int(level[1]) - 1, _ARM_MAX_LEVEL)
            ladder += [normalize_arch("arm", f"v{n}") for n in range(top, 4, -1)]
    elif arch == "arm64":
        level = _VERSION_VARIANT_RE.fullmatch(variant or "v8")
        if level is not None:
            major, minor = int(level[1]), int(level[2] or 0)
            if major == 9:
                top = min(minor - 1, _ARM64_MAX_V9_MINOR)
                ladder += [normalize_arch("arm64", f"v9.{n}") for n in range(top, -1, -1)]
                minor = min(minor + 5, _ARM64_MAX_V8_MINOR) + 1
            if major in (8, 9):
                top = min(minor - 1, _ARM64_MAX_V8_MINOR)
                ladder += [normalize_arch("arm64", f"v8.{n}") for n in range(top, -1, -1)]
        ladder += [normalize_arch("arm", f"v{n}") for n in range(8, 4, -1)]
    return tuple(dict.fromkeys(ladder))


# ── this machine ────────────────────────────────────────────────────────────────────────────────
def cpu_variant_number(machine: str) -> str:
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


def host_os(sys_platform: str) -> str:
    """Map ``sys.platform`` to Go's GOOS value."""
    aliases = {"win32": "windows", "cygwin": "windows", "msys": "windows", "emscripten": "js"}
    if sys_platform in aliases:
        return aliases[sys_platform]
    if sys_platform.startswith("sunos"):
        return "solaris"
    return sys_platform.rstrip("0123456789") or "unknown"


def host_arch(machine: str) -> tuple[str, str]:
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
            number = cpu_variant_number(machine)
        except InvalidPlatform:
            return "arm", ""
        return "arm", number if number == "unknown" else "v" + number
    if machine == "loongarch64":
        return "loong64", ""
    return machine or "unknown", ""


def _host_windows_version() -> str:
    version = platform.version()  # "10.0.17763" on Windows
    parts = version.split(".")[:3]
    if len(parts) == 3 and all(_DIGITS_RE.fullmatch(p) for p in parts):
        return ".".join(parts)
    return ""


@functools.cache
def host_fields() -> tuple[str, str, str, str]:
    """This machine's normalized os, architecture, variant and (on Windows) os.version."""
    os_ = normalize_os(host_os(sys.platform))
    arch, variant = normalize_arch(*host_arch(platform.machine()))
    os_version = _host_windows_version() if os_ == "windows" else ""
    return os_, arch, variant, os_version


# ── Windows os.version compatibility ────────────────────────────────────────────────────────────
def windows_version(text: str) -> tuple[int, int, int] | None:
    """``major.minor.build`` of a Windows version (revision ignored), None when unparsable."""
    parts = text.split(".")
    if len(parts) < 3 or not all(_DIGITS_RE.fullmatch(p) for p in parts[:3]):
        return None
    major, minor, build = int(parts[0]), int(parts[1]), int(parts[2])
    if major > 0xFF or minor > 0xFF or build > 0xFFFF:
        return None
    return major, minor, build


def windows_host_runs(host: tuple[int, int, int], container: tuple[int, int, int]) -> bool:
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


def windows_version_match(host_version: str, version: str) -> bool:
    """A missing (or unparsable) host version, or a missing candidate version, always matches."""
    host = windows_version(host_version)
    if host is None or host == (0, 0, 0) or not version:
        return True
    return windows_host_runs(host, windows_version(version) or (0, 0, 0))


def version_key(version: str) -> tuple[int, ...]:
    """Numeric sort key of a dotted version (``10.0.20348.3091``); () when not all numbers."""
    if _DOTTED_NUMBERS_RE.fullmatch(version) is None:
        return ()
    return tuple(int(p) for p in version.split("."))
