"""Shared fixtures: every async test runs on asyncio and on trio; the registry lab is session-wide."""

from __future__ import annotations

import pytest

from tests.lab.fixtures import (  # noqa: F401  (session fixtures: the lab, seeded, its mirror)
    lab,
    lab_batch,
    lab_mirror,
)
from tests.lab.proxy import auth_proxy, forward_proxy  # noqa: F401  (tinyproxy, on first use)


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """Run each ``@pytest.mark.anyio`` test under both event loops."""
    return str(request.param)


@pytest.fixture(autouse=True)
def no_early_connections(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI opens its registry's TCP connection at start-up (regimage.cli.preconnect). In-process
    CLI tests name fake and real-world hosts that must never be looked up: off, unless a test
    turns it back on (tests/registry/test_preconnect.py)."""
    monkeypatch.setenv("REGIMAGE_PRECONNECT", "0")
