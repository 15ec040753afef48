"""Seeding: push the corpus (or the benchmark batch) into every registry of a lab, once.

A marker beside each registry's storage records what was seeded (with a fingerprint of the
plans): a seeded registry costs nothing, a fresh one is pushed without HEAD checks, and one whose
last seeding was interrupted (or ``verify=True``) gets the idempotent pass: HEAD first, push only
what is missing. A file lock keeps two sessions that share a lab apart. Repositories are pushed
concurrently, each by one worker (Distribution 2.8 sometimes fails concurrent first pushes into
one repository, DESIGN.md §9).
"""

from __future__ import annotations

import fcntl
import hashlib
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

from tests.lab import corpus
from tests.lab.builder import Pusher, PushStats
from tests.lab.corpus import RepositoryPlan
from tests.lab.storage import SeedMarker

if TYPE_CHECKING:
    from tests.lab.lab import LabRegistry

__all__ = ["SEED_WORKERS", "plans_for", "seed_registries"]

#: Repositories pushed at once (over all registries).
SEED_WORKERS = 8


def plans_for(flavour: str, *, batch: bool) -> list[RepositoryPlan]:
    """The corpus (``private/secret`` too, except on the anonymous registry), or the batch."""
    if batch:
        singles, many_tags = corpus.batch()
        return [*many_tags.plans, *singles.plans]  # the long one first
    plans = list(corpus.corpus().plans)
    if flavour != "anonymous":
        plans += corpus.private().plans
    return plans


def _fingerprint(plans: Sequence[RepositoryPlan]) -> str:
    text = "\n".join(
        f"{plan.repository} {push.root.doc.digest} {','.join(push.tags)}"
        for plan in plans
        for push in plan.pushes
    )
    return hashlib.sha256(text.encode()).hexdigest()


def _push_plan(pusher: Pusher, plan: RepositoryPlan) -> None:
    for push in plan.pushes:
        pusher.push(plan.repository, push.root, push.tags)


def seed_registries(
    registries: Sequence[LabRegistry],
    storage_root: Path,
    *,
    batch: bool = False,
    verify: bool = False,
) -> PushStats:
    """Seed ``registries`` (whose storage lives under ``storage_root/<flavour>``)."""
    group = "batch" if batch else "corpus"
    stats = PushStats()
    storage_root.mkdir(parents=True, exist_ok=True)
    with (storage_root / "seed.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        jobs: list[tuple[LabRegistry, RepositoryPlan, bool]] = []
        pending: list[tuple[SeedMarker, str]] = []
        for registry in registries:
            plans = plans_for(registry.flavour, batch=batch)
            fingerprint = _fingerprint(plans)
            marker = SeedMarker.read(storage_root, registry.flavour)
            if marker.is_seeded(group, fingerprint) and not verify:
                continue
            fresh = not verify and marker.is_fresh(group, storage_root / registry.flavour)
            jobs.extend((registry, plan, fresh) for plan in plans)
            marker.begin(group)
            pending.append((marker, fingerprint))
        clients = {registry.flavour: registry.raw_client() for registry in registries}
        try:
            with ThreadPoolExecutor(SEED_WORKERS, thread_name_prefix="lab-seed") as pool:
                futures = [
                    pool.submit(_push_plan, Pusher(clients[r.flavour], stats, fresh=fresh), plan)
                    for r, plan, fresh in jobs
                ]
                for future in futures:
                    future.result()
        finally:
            for client in clients.values():
                client.close()
        for marker, fingerprint in pending:
            marker.done(group, fingerprint)
    return stats
