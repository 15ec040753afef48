"""A real mirror for the lab: CNCF Distribution as a pull-through cache of a lab registry.

Distribution's ``proxy: remoteurl:`` mode is what most private mirrors of Docker Hub are: it
answers a tag by asking the registry behind it, and serves (and keeps) content by digest. It is
not part of the lab's default start (it costs a registry's start-up): the ``lab_mirror`` fixture
(:mod:`tests.lab.fixtures`) starts one on demand, for the tests that need it.
"""

from __future__ import annotations

from pathlib import Path

from tests.lab.lab import LabRegistry
from tests.lab.registry import ManagedProcess, RegistrySpec, start_registries

__all__ = ["start_mirror"]


def start_mirror(upstream: LabRegistry, directory: Path) -> tuple[LabRegistry, ManagedProcess]:
    """A pull-through cache of ``upstream`` (a plain-HTTP lab registry without credentials) on a
    free loopback port; the caller stops the process."""
    if not upstream.plain_http or upstream.username is not None:
        raise ValueError("the lab's mirror fronts a plain-HTTP registry without credentials")
    spec = RegistrySpec(f"mirror of {upstream.host}", directory, proxy=upstream.base_url)
    ((process, port),) = start_registries([spec])
    mirror = LabRegistry(
        flavour="mirror",
        host=f"127.0.0.1:{port}",
        base_url=f"http://127.0.0.1:{port}",
        plain_http=True,
        ca_file=None,
        username=None,
        password=None,
        token_realm=None,
        log_file=spec.log_file,
    )
    return mirror, process
