"""Shared fixtures: every async test runs on asyncio and on trio; the registry lab is session-wide."""

from __future__ import annotations

import pytest

from tests.lab.fixtures import lab, lab_batch  # noqa: F401  (session fixtures: the lab, seeded)


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """Run each ``@pytest.mark.anyio`` test under both event loops."""
    return str(request.param)
