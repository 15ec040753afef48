"""pytest fixtures: ``lab`` (session: three registries + token server, corpus seeded),
``lab_batch`` (the same lab with the benchmark batch seeded too) and ``lab_mirror`` (a
pull-through cache of the anonymous registry, started on first use).

With ``REGIMAGE_LAB_STATE=DIR`` (a state directory of ``python -m tests.lab start``) the session
reuses that lab and leaves it running; otherwise it starts a private lab in its own temporary
directory on free ports (two sessions side by side do not collide) and stops it at the end. A lab
that cannot start fails the session's lab tests: they are never skipped.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.lab.lab import Lab, LabRegistry
from tests.lab.mirror import start_mirror
from tests.lab.registry import stop_process

__all__ = ["lab", "lab_batch", "lab_mirror"]

STATE_ENV = "REGIMAGE_LAB_STATE"


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """The registry lab, corpus seeded."""
    state = os.environ.get(STATE_ENV)
    the_lab = Lab.attach(Path(state)) if state else Lab.start(tmp_path_factory.mktemp("lab"))
    try:
        the_lab.seed()
        timings = ", ".join(f"{name} {seconds:.2f} s" for name, seconds in the_lab.timings.items())
        origin = "reused" if not the_lab.owned else "started"
        print(f"\nregimage lab {origin} in {the_lab.state_dir}: {timings}", file=sys.stderr)
        yield the_lab
    finally:
        if the_lab.owned:
            the_lab.stop()


@pytest.fixture(scope="session")
def lab_batch(lab: Lab) -> Lab:
    """The lab with ``public/batch-000``…``batch-199`` and ``public/many-tags`` seeded as well."""
    lab.seed(batch=True)
    print(
        f"\nregimage lab batch seeded: {lab.timings.get('seed_batch', 0.0):.2f} s", file=sys.stderr
    )
    return lab


@pytest.fixture(scope="session")
def lab_mirror(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabRegistry]:
    """A Distribution pull-through cache (``proxy: remoteurl:``) of ``lab.anonymous``, for this
    session only (also when the lab itself is reused)."""
    mirror, process = start_mirror(lab.anonymous, tmp_path_factory.mktemp("mirror"))
    print(f"\nregimage lab mirror of {lab.anonymous.host} at {mirror.host}", file=sys.stderr)
    try:
        yield mirror
    finally:
        stop_process(process)
