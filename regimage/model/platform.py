"""Platforms (os/architecture/variant): the value, its specifier syntax and its JSON form.

A port of containerd/platforms' ``Platform`` handling (platforms.go): what a specifier is, how it
parses and prints, and how an index entry or image config spells one. The normalization it applies
and this machine's platform are in :mod:`regimage.model.platform_rules`; choosing among platforms
is :mod:`regimage.model.platform_match`'s.

Specifier grammar (``Platform.parse``)::

    specifier  = os-part [ "/" component [ "/" component ] ]      ; at most 3 components
    os-part    = os-name [ "(" [ option ] *( "+" option ) ")" ]   ; os version, then features
    os-name    = 1*( ALPHA / DIGIT / "_" / "-" )
    option     = 1*( ALPHA / DIGIT / "_" / "." / "-" / "%" )       ; percent-encoded
    component  = 1*( ALPHA / DIGIT / "_" / "." / "-" )

A lone component is an OS name when it is a known one (the architecture is then this machine's),
otherwise an architecture (the OS is then this machine's). ``*`` is refused: wildcards are
unsupported. See https://github.com/containerd/platforms (platforms.go, database.go).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from regimage.errors import InvalidPlatform
from regimage.model.platform_rules import (
    KNOWN_ARCH,
    KNOWN_OS,
    host_fields,
    normalize_arch,
    normalize_os,
)

__all__ = ["MAX_COMPONENTS", "OS_NAME_RE", "Platform"]

# ── grammar atoms ───────────────────────────────────────────────────────────────────────────────
# An OS name as Go spells GOOS values (any case here; lower-cased by normalization).
_OS_NAME = r"[A-Za-z0-9_-]+"
OS_NAME_RE = re.compile(_OS_NAME, re.ASCII)  # a bare OS name, as only_os takes one
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

MAX_COMPONENTS = 3
"""``os/arch/variant``: a specifier with more '/'-separated components is refused."""


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
        os_ = normalize_os(os_match[1])
        os_version = _decode_option(os_match[2] or "", text, "OS version")
        raw_features = os_match[3] or ""
        features = tuple(
            _decode_option(f, text, "OS feature") for f in raw_features[1:].split("+") if f
        )

        if len(parts) == 1:
            host = host if host is not None else Platform.host()
            if os_ in KNOWN_OS:
                variant = host.variant if host.architecture == "arm" else ""
                if variant == "v7":
                    variant = ""
                return cls(os_, host.architecture, variant, os_version, features)
            arch, variant = normalize_arch(parts[0], "")
            if arch == "arm" and variant == "v7":
                variant = ""
            if arch in KNOWN_ARCH:
                return cls(host.os, arch, variant)
            raise InvalidPlatform(f"unknown operating system or architecture: {text!r}")
        if len(parts) == 2:
            arch, variant = normalize_arch(parts[1], "")
            if arch == "arm" and variant == "v7":
                variant = ""
            return cls(os_, arch, variant, os_version, features)
        arch, variant = normalize_arch(parts[1], parts[2])
        if arch == "arm64" and variant == "":
            variant = "v8"
        return cls(os_, arch, variant, os_version, features)

    @classmethod
    def host(cls) -> Platform:
        """This machine's platform, normalized (e.g. ``linux/amd64``; Windows adds its build)."""
        return Platform(*host_fields())

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
        arch, variant = normalize_arch(self.architecture, self.variant)
        features = tuple(sorted(set(self.os_features)))
        return Platform(normalize_os(self.os), arch, variant, self.os_version, features)

    def __str__(self) -> str:
        return self.format()

    def __repr__(self) -> str:
        return f"<Platform({self.format_all()!r})>"


# ── specifier options and JSON fields ───────────────────────────────────────────────────────────
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
