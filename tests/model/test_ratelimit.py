"""RateLimit: a registry's budget from its RateLimit headers (Docker Hub's pull limit)."""

from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from regimage.model.ratelimit import (
    RateLimit,
    RateLimits,
    format_duration,
    registry_display_name,
)

HUB = "registry-1.docker.io"

#: Docker Hub's answer to a manifest HEAD, verbatim (docker/hub-feedback#2464, 2025).
HUB_EXHAUSTED = {
    "content-length": "527",
    "content-type": "application/vnd.docker.distribution.manifest.v2+json",
    "ratelimit-limit": "100;w=21600",
    "ratelimit-remaining": "0;w=21600",
    "docker-ratelimit-source": "2001:41d0:801:2000::",
}


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        pytest.param(
            {"ratelimit-limit": "100;w=21600", "ratelimit-remaining": "76;w=21600"},
            RateLimit(100, 76, window=21600, registry=HUB),
            id="docker-hub-docs-example",
        ),
        pytest.param(
            HUB_EXHAUSTED,
            RateLimit(100, 0, window=21600, source="2001:41d0:801:2000::", registry=HUB),
            id="docker-hub-exhausted",
        ),
        pytest.param(
            {"RateLimit-Limit": "200;w=21600", "RateLimit-Remaining": "199;w=21600"},
            RateLimit(200, 199, window=21600, registry=HUB),
            id="http1-capitalised",
        ),
        pytest.param(
            {"RateLimit-Limit": "10, 10;w=1, 50;w=60", "RateLimit-Remaining": "3"},
            RateLimit(10, 3, window=1, registry=HUB),
            id="ietf-draft-several-policies",
        ),
        pytest.param(
            {"RateLimit-Limit": "100", "RateLimit-Remaining": "5", "RateLimit-Reset": "2460"},
            RateLimit(100, 5, reset=2460, registry=HUB),
            id="ietf-draft-reset",
        ),
        pytest.param(
            {"ratelimit-limit": "100;w=21600", "ratelimit-remaining": "76;w=21600", "x": "y"},
            RateLimit(100, 76, window=21600, registry=HUB),
            id="other-headers-ignored",
        ),
    ],
)
def test_from_headers(headers: dict[str, str], expected: RateLimit) -> None:
    assert RateLimit.from_headers(headers, registry=HUB) == expected


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="no-headers-means-no-limit"),
        pytest.param({"ratelimit-limit": "100;w=21600"}, id="limit-without-remaining"),
        pytest.param({"ratelimit-remaining": "1"}, id="remaining-without-limit"),
        pytest.param({"ratelimit-limit": "lots", "ratelimit-remaining": "1"}, id="not-a-number"),
        pytest.param({"ratelimit-limit": "-1", "ratelimit-remaining": "1"}, id="negative"),
        pytest.param(
            {"ratelimit-limit": "１００", "ratelimit-remaining": "1"}, id="non-ascii-digits"
        ),
        pytest.param(
            {"ratelimit-limit": "1" * 300, "ratelimit-remaining": "1"}, id="absurdly-long"
        ),
    ],
)
def test_from_headers_without_a_budget(headers: dict[str, str]) -> None:
    assert RateLimit.from_headers(headers) is None


def test_from_headers_takes_pairs_and_the_first_of_repeated_headers() -> None:
    pairs = [
        ("RateLimit-Limit", "100;w=60"),
        ("ratelimit-remaining", "7"),
        ("RateLimit-Limit", "9"),
    ]
    assert RateLimit.from_headers(pairs) == RateLimit(100, 7, window=60)


@given(st.dictionaries(st.sampled_from(["ratelimit-limit", "ratelimit-remaining",
                                        "ratelimit-reset", "docker-ratelimit-source"]),
                       st.text(max_size=40)))  # fmt: skip
def test_from_headers_never_raises(headers: dict[str, str]) -> None:
    found = RateLimit.from_headers(headers)
    assert found is None or (found.limit >= 0 and found.remaining >= 0)


def test_wording() -> None:
    hub = RateLimit(100, 76, window=21600, source="192.0.2.1", registry=HUB)
    assert str(hub) == "Docker Hub: 76 of 100 pulls left in the 6 h window"
    assert repr(hub) == "<RateLimit('Docker Hub: 76 of 100 pulls left in the 6 h window')>"
    assert not hub.exhausted
    other = RateLimit(5000, 0, reset=2460, registry="registry.example.com")
    assert str(other) == "registry.example.com: 0 of 5000 requests left, resets in 41 min"
    assert other.exhausted
    assert str(RateLimit(1, 1)) == "the registry: 1 of 1 requests left"


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0 s"),
        (45, "45 s"),
        (119.4, "119 s"),
        (120, "2 min"),
        (2460, "41 min"),
        (3600, "1 h"),
        (5400, "90 min"),
        (9000, "2 h 30 min"),
        (21600, "6 h"),
        (86400, "24 h"),
        (-5, "0 s"),
    ],
)
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


def test_display_names() -> None:
    assert registry_display_name("registry-1.docker.io") == "Docker Hub"
    assert registry_display_name("docker.io") == "Docker Hub"
    assert registry_display_name("ghcr.io") == "ghcr.io"


def test_rate_limits_keep_the_last_budget_per_host() -> None:
    limits = RateLimits()
    assert limits.observe(HUB, {"content-type": "x"}) is None
    first = limits.observe(HUB, {"ratelimit-limit": "100;w=21600", "ratelimit-remaining": "76"})
    assert first == RateLimit(100, 76, window=21600, registry=HUB)
    # An answer without the headers (a blob, a 401) keeps what is known.
    assert limits.observe(HUB, {}) == first
    assert limits.observe(HUB, HUB_EXHAUSTED) == RateLimit(
        100, 0, window=21600, source="2001:41d0:801:2000::", registry=HUB
    )
    assert limits.get("ghcr.io") is None
    assert list(limits.as_dict()) == [HUB]
    assert len(limits) == 1
    assert "0 of 100 pulls" in repr(limits)
