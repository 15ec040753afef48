"""Choosing platforms: the matchers that say which platforms run where, and in what order.

A port of containerd/platforms' matchers (platforms.go, compare.go): ``Only`` and its fallback
ladders, ``OnlyStrict``, ``OnlyOS``, ``Ordered``, ``Any``, ``All`` and the ``Less`` orderings.
Matchers are objects with ``match(p) -> bool`` and ``less(a, b) -> bool`` (``a`` is preferred to
``b``); :func:`sort_platforms` and :func:`best_match` apply them, and :func:`matcher_for` builds one
from what a user passes (a specifier, a Platform, a list of them).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeAlias, TypeVar, overload, runtime_checkable

from regimage.errors import InvalidPlatform
from regimage.model.platform import OS_NAME_RE, Platform
from regimage.model.platform_rules import (
    fallback_ladder,
    normalize_os,
    version_key,
    windows_version_match,
)

__all__ = [
    "AllMatcher",
    "AnyMatcher",
    "OSMatcher",
    "OrderedMatcher",
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
    if reference.os == "windows" and not windows_version_match(
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
        return version_key(a.os_version) > version_key(b.os_version)
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
        if self.platform.os == "windows" and not windows_version_match(
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


def only(platform: Platform) -> OrderedMatcher:
    """What runs on ``platform``: itself, then its fallback ladder (containerd's ``Only``).

    ``linux/amd64`` also accepts ``linux/386``; ``linux/arm64`` accepts ``linux/arm/v8`` … ``v5``;
    ``linux/arm/v7`` accepts ``v6`` and ``v5``. For Windows, ``os_version`` limits the builds.
    """
    normalized = platform.normalized()
    ladder = tuple(
        Platform(normalized.os, arch, variant, normalized.os_version, normalized.os_features)
        for arch, variant in fallback_ladder(normalized.architecture, normalized.variant)
    )
    return OrderedMatcher(ladder, label=normalized.format_all())


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
        name = normalize_os(os)
        if OS_NAME_RE.fullmatch(name) is None:
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
