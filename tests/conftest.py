"""Shared fixtures: every async test runs on asyncio and on trio; the registry lab is session-wide."""

from __future__ import annotations

import pytest

from tests.lab.fixtures import lab  # noqa: F401  (session fixture: the three registries, seeded)


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """Run each ``@pytest.mark.anyio`` test under both event loops."""
    return str(request.param)
