"""Load under faults: 2,000 concurrent resolutions through the fault proxy, 10 % of requests broken.

Against the lab's token registry (token requests included), every resolution must end with the
correct descriptor or a typed error, within the timeouts; afterwards no task, socket or file
descriptor may be left behind. Part of the normal suite (never skipped): it takes seconds.
"""

from __future__ import annotations

import os
import sys
import time
from collections import Counter
from collections.abc import Iterator

import anyio
import pytest

from regimage.errors import (
    DigestMismatch,
    InvalidDocument,
    NetworkError,
    RateLimited,
    RegImageError,
    RegistryError,
    SizeMismatch,
)
from regimage.http.retry import RetryPolicy
from regimage.model.descriptor import Descriptor
from regimage.model.digest import Digest
from regimage.registry.client import RegistryProvider
from regimage.registry.credentials import CredentialStore
from tests.faults.proxy import FaultProxy, Rule
from tests.lab.lab import Lab

pytestmark = [pytest.mark.integration, pytest.mark.anyio]

RESOLUTIONS = 2_000
FAULT_RATE = 0.10
#: Socket timeout: stalled and hung answers end as NetworkError after this long.
TIMEOUT = 2.0
#: The whole run, faults and all, must end within this (it takes a few seconds).
BUDGET_SECONDS = 50.0

#: The faults mixed in, each about equally likely. (``swap_type`` is in the fault matrix.)
MIX = [
    Rule("status", options={"status": 503}),
    Rule("status", options={"status": 429, "retry_after": 1}),
    Rule("status", options={"status": 500}),
    Rule("html", options={"status": 502}),
    Rule("reset"),
    Rule("truncate"),
    Rule("corrupt"),
    Rule("length_short"),
    Rule("drop_digest"),
    Rule("stall", options={"interval": 3.0}),  # a byte every 3 s: the 2 s read timeout fires
    Rule("hang", options={"limit": 10.0}),
]
#: What a resolution may end with besides the right answer, given the faults above.
ALLOWED_ERRORS = (
    NetworkError,  # reset on every attempt, truncated, stalled, hung
    DigestMismatch,  # corrupted, or cut short with the Content-Length to match
    SizeMismatch,
    InvalidDocument,
    RegistryError,  # a 5xx on every attempt, an unreadable token answer
    RateLimited,  # a 429 on every attempt
)


def rules() -> list[Rule]:
    """Every request draws once: the first rule fires with p, the next with p of what is left…
    so that each fault is about equally likely and some fault hits ``FAULT_RATE`` of requests."""
    n = len(MIX)
    mixed = []
    for i, rule in enumerate(MIX):
        share = FAULT_RATE / n
        left = 1.0 - FAULT_RATE * i / n
        mixed.append(
            Rule(rule.fault, times=None, probability=share / left, options=dict(rule.options))
        )
    return mixed


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


async def no_sleep(delay: float) -> None:
    """The retry backoff, injected: never wait."""


@pytest.fixture
def proxy(lab: Lab) -> Iterator[FaultProxy]:
    with FaultProxy.for_lab(lab.token, seed=20_26) as running:
        yield running


async def test_two_thousand_resolutions_under_faults(lab: Lab, proxy: FaultProxy) -> None:
    corpus = list(lab.corpus.values())
    expected = {
        proxy.ref(image.reference): Descriptor(
            image.media_type, Digest.parse(image.digest), image.size
        )
        for image in corpus
    }
    refs = [proxy.ref(corpus[i % len(corpus)].reference) for i in range(RESOLUTIONS)]
    outcomes: Counter[str] = Counter()
    wrong: list[str] = []
    unexpected: list[str] = []
    tasks_before = len(anyio.get_running_tasks())
    fds_before = open_fds()
    proxy.set_rules(rules(), seed=20_26)

    async def resolve(registry: RegistryProvider, ref: str) -> None:
        try:
            found = await registry.resolve(ref)
        except ALLOWED_ERRORS as exc:
            outcomes[type(exc).__name__] += 1
        except RegImageError as exc:
            unexpected.append(f"{type(exc).__name__}: {exc}")
        except Exception as exc:  # the test reports it below: nothing may escape untyped
            unexpected.append(f"untyped {type(exc).__name__}: {exc}")
        else:
            if found == expected[ref]:
                outcomes["ok"] += 1
            else:
                wrong.append(f"{ref}: {found!r}")

    started = time.monotonic()
    with anyio.fail_after(BUDGET_SECONDS):
        async with RegistryProvider(
            credentials=CredentialStore(env={}, use_files=False),
            plain_http=True,
            retry=RetryPolicy(sleep=no_sleep),
            timeout=TIMEOUT,
        ) as registry:
            async with anyio.create_task_group() as group:
                for ref in refs:
                    group.start_soon(resolve, registry, ref)
            requests = registry.stats.total
    wall = time.monotonic() - started
    idle = proxy.wait_idle(10.0)
    fds_after = open_fds()
    tasks_after = len(anyio.get_running_tasks())
    injected = sum(proxy.injected.values())
    print(
        f"\nload: {RESOLUTIONS} resolutions, {requests} requests, {injected} faults injected "
        f"({dict(proxy.injected)}); outcomes {dict(outcomes)}; wall {wall:.1f} s; "
        f"fds {fds_before} → {fds_after}; tasks {tasks_before} → {tasks_after}",
        file=sys.stderr,
    )
    assert wrong == [], wrong[:5]
    assert unexpected == [], unexpected[:5]
    assert sum(outcomes.values()) == RESOLUTIONS
    # About a tenth of the requests were broken, and most of them were retried into answers.
    assert 0.05 * requests < injected < 0.15 * requests
    assert outcomes["ok"] > 0.9 * RESOLUTIONS
    assert RESOLUTIONS - outcomes["ok"] <= injected
    # Nothing left behind: connections, descriptors, tasks.
    assert idle, f"{proxy.listener.open_connections} proxy connections still open"
    assert fds_after == fds_before
    assert tasks_after == tasks_before
    assert wall < BUDGET_SECONDS
