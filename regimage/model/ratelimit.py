"""A registry's request budget, as its ``RateLimit-*`` answer headers state it.

Docker Hub puts its pull budget on manifest answers, HEAD included (HEADs are not counted, GETs
are)::

    ratelimit-limit: 100;w=21600
    ratelimit-remaining: 76;w=21600
    docker-ratelimit-source: 192.0.2.1

``w`` is the window in seconds (6 h); the source is the client's IP (anonymous) or account id. No
such headers means no limit applies (paid plans, unlimited images). Sources: docker/docs
``content/manuals/docker-hub/usage/pulls.md`` and docker/docs#11707 (2020-2025). The same header
names come from the IETF draft "RateLimit header fields for HTTP" (draft-ietf-httpapi-ratelimit-
headers, versions 00-06), whose ``RateLimit-Reset`` (delta seconds) is read too; a limit may list
several policies (``10, 10;w=1, 50;w=60``): the first number is the one in force.

Pure: parsing and wording only, no I/O. :class:`RateLimits` keeps the last budget seen per host.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

__all__ = [
    "DOCKER_HUB_HOSTS",
    "HEAD_UNCOUNTED_HOSTS",
    "RateLimit",
    "RateLimits",
    "format_duration",
    "head_is_uncounted",
    "registry_display_name",
]

#: API hosts (and aliases) that mean Docker Hub; its budget counts pulls.
DOCKER_HUB_HOSTS = frozenset({"registry-1.docker.io", "docker.io", "index.docker.io"})

#: Registries known not to count manifest HEADs against their budget: Docker Hub ("Using GET
#: emulates a real pull and counts towards the limit. Using HEAD won't", docker/docs pulls.md).
HEAD_UNCOUNTED_HOSTS = DOCKER_HUB_HOSTS

_LIMIT = "ratelimit-limit"
_REMAINING = "ratelimit-remaining"
_RESET = "ratelimit-reset"
_SOURCE = "docker-ratelimit-source"
#: Longest header value read; anything longer is not a budget.
_MAX_VALUE = 256


def registry_display_name(host: str) -> str:
    """How messages name a registry: ``Docker Hub`` for its hosts, else the host itself."""
    return "Docker Hub" if host.lower() in DOCKER_HUB_HOSTS else host


def head_is_uncounted(host: str) -> bool:
    """Whether ``host`` is known to answer manifest HEADs without spending its pull budget."""
    return host.lower() in HEAD_UNCOUNTED_HOSTS


def format_duration(seconds: float) -> str:
    """``45 s``, ``41 min``, ``6 h``, ``2 h 30 min``: a wait or a window, for people."""
    total = max(0, round(seconds))
    if total < 120:
        return f"{total} s"
    minutes = round(total / 60)
    hours, rest = divmod(minutes, 60)
    if rest == 0:
        return f"{hours} h"
    if minutes < 120:
        return f"{minutes} min"
    return f"{hours} h {rest} min"


def _item(text: str) -> tuple[int, dict[str, str]] | None:
    """``"100;w=21600"`` → ``(100, {"w": "21600"})``; None when it does not parse."""
    number, *params = (part.strip() for part in text.split(";"))
    if not number.isdigit() or not number.isascii():
        return None
    parsed: dict[str, str] = {}
    for param in params:
        name, sep, value = param.partition("=")
        if sep:
            parsed[name.strip().lower()] = value.strip().strip('"')
    return int(number), parsed


def _items(value: str) -> list[tuple[int, dict[str, str]]] | None:
    """Every item of ``"10, 10;w=1, 50;w=60"``; None when the first does not parse."""
    if len(value) > _MAX_VALUE:
        return None
    first, *others = value.split(",")
    head = _item(first)
    if head is None:
        return None
    return [head, *(item for item in map(_item, others) if item is not None)]


def _window(items: list[tuple[int, dict[str, str]]]) -> int | None:
    """The first item's window, else that of a listed policy with the same quota."""
    quota = items[0][0]
    for number, params in items:
        text = params.get("w", "")
        if number == quota and text.isdigit() and text.isascii() and int(text) > 0:
            return int(text)
    return None


def _lower(headers: Mapping[str, str] | Iterable[tuple[str, str]]) -> dict[str, str]:
    """The first value of each header, by lower-case name."""
    items = headers.items() if isinstance(headers, Mapping) else headers
    found: dict[str, str] = {}
    for name, value in items:
        found.setdefault(name.lower(), value)
    return found


@dataclass(frozen=True, slots=True, repr=False)
class RateLimit:
    """What a registry said about its budget in one answer.

    ``limit`` requests (Docker Hub: manifest GETs, "pulls") per ``window`` seconds, ``remaining``
    of them left when it answered; ``reset`` seconds until the window frees up, when the registry
    says (Docker Hub does not); ``source`` what the budget is counted for (an IP or an account id);
    ``registry`` the API host that answered.
    """

    limit: int
    remaining: int
    window: int | None = None
    reset: int | None = None
    source: str | None = None
    registry: str = ""

    @classmethod
    def from_headers(
        cls, headers: Mapping[str, str] | Iterable[tuple[str, str]], *, registry: str = ""
    ) -> RateLimit | None:
        """The budget an answer's headers state, or None when they state none (or garble it).

        Header names are matched case-insensitively (Docker Hub answers over HTTP/2 in lower
        case). Never raises.
        """
        found = _lower(headers)
        if _LIMIT not in found or _REMAINING not in found:
            return None
        limit = _items(found[_LIMIT])
        remaining = _items(found[_REMAINING])
        if limit is None or remaining is None:
            return None
        window = _window(limit)
        reset_text = found.get(_RESET, "").strip()
        reset = int(reset_text) if reset_text.isdigit() and reset_text.isascii() else None
        source = found.get(_SOURCE, "").strip()[:_MAX_VALUE] or None
        return cls(
            limit=limit[0][0],
            remaining=remaining[0][0],
            window=window,
            reset=reset,
            source=source,
            registry=registry,
        )

    @property
    def exhausted(self) -> bool:
        """Nothing left: the next counted request will be refused (HTTP 429)."""
        return self.remaining <= 0

    @property
    def unit(self) -> str:
        """What the budget counts: ``pulls`` on Docker Hub, ``requests`` elsewhere."""
        return "pulls" if self.registry.lower() in DOCKER_HUB_HOSTS else "requests"

    @property
    def registry_name(self) -> str:
        """``Docker Hub`` or the host."""
        return registry_display_name(self.registry) if self.registry else "the registry"

    def summary(self) -> str:
        """``76 of 100 pulls left in the 6 h window`` (``, resets in 41 min`` when known)."""
        text = f"{self.remaining} of {self.limit} {self.unit} left"
        if self.window is not None:
            text += f" in the {format_duration(self.window)} window"
        if self.reset is not None:
            text += f", resets in {format_duration(self.reset)}"
        return text

    def __str__(self) -> str:
        return f"{self.registry_name}: {self.summary()}"

    def __repr__(self) -> str:
        return f"<RateLimit({str(self)!r})>"


class RateLimits:
    """The last budget each registry host stated; hosts that state none are not listed."""

    __slots__ = ("_by_host",)

    def __init__(self) -> None:
        self._by_host: dict[str, RateLimit] = {}

    def observe(
        self, host: str, headers: Mapping[str, str] | Iterable[tuple[str, str]]
    ) -> RateLimit | None:
        """Remember the budget in ``headers`` for ``host`` (if any); return ``host``'s budget."""
        found = RateLimit.from_headers(headers, registry=host)
        if found is not None:
            self._by_host[host] = found
        return self._by_host.get(host)

    def get(self, host: str) -> RateLimit | None:
        """The last budget ``host`` stated, or None."""
        return self._by_host.get(host)

    def as_dict(self) -> dict[str, RateLimit]:
        """Every known budget, by host, sorted."""
        return dict(sorted(self._by_host.items()))

    def __len__(self) -> int:
        return len(self._by_host)

    def __repr__(self) -> str:
        inner = ", ".join(str(v) for _, v in sorted(self._by_host.items()))
        return f"<RateLimits({inner})>"
