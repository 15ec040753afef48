"""Where the lab's registries keep their bytes, and what has been seeded there.

Storage goes to tmpfs when there is one: Distribution fsyncs every file it writes (7 ms each on a
plain ext4 disk, measured 2026-11), which made seeding ten times slower. Each lab gets a private
``/dev/shm/regimage-lab-*`` directory, removed when the lab stops; one left behind by a lab whose
processes are all gone (a killed session) is removed by the next lab that starts.
``REGIMAGE_LAB_STORAGE=disk`` keeps storage in the state directory instead.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.lab.registry import ManagedProcess

__all__ = ["SeedMarker", "claim_storage", "release_storage", "write_owner"]

SHM = Path("/dev/shm")
STORAGE_PREFIX = "regimage-lab-"
OWNER_FILE = "lab-owner.json"
#: A storage directory without an owner file (its lab died while starting) is removed after this.
STALE_STORAGE_SECONDS = 3600.0


def _clean_stale_storage() -> None:
    for root in SHM.glob(f"{STORAGE_PREFIX}*"):
        try:
            owner = json.loads((root / OWNER_FILE).read_text())
            processes = [ManagedProcess.from_dict(p) for p in owner["processes"]]
        except (OSError, ValueError, KeyError, TypeError):
            try:
                stale = time.time() - root.stat().st_mtime > STALE_STORAGE_SECONDS
            except OSError:
                continue
        else:
            stale = not any(process.is_ours() for process in processes)
        if stale:
            shutil.rmtree(root, ignore_errors=True)


def claim_storage(state_dir: Path) -> Path:
    """A fresh storage root for a lab about to start."""
    if os.environ.get("REGIMAGE_LAB_STORAGE") == "disk" or not os.access(SHM, os.W_OK):
        root = state_dir / "storage"
        root.mkdir(parents=True, exist_ok=True)
        return root
    _clean_stale_storage()
    return Path(tempfile.mkdtemp(prefix=STORAGE_PREFIX, dir=SHM))


def write_owner(root: Path, state_dir: Path, processes: list[ManagedProcess]) -> None:
    """Record which processes use ``root`` (so that a dead lab's storage can be recognised)."""
    owner = {"state_dir": str(state_dir), "processes": [p.to_dict() for p in processes]}
    (root / OWNER_FILE).write_text(json.dumps(owner))


def release_storage(root: Path) -> None:
    """Remove a lab's tmpfs storage (storage kept in a state directory stays)."""
    if root.parent == SHM and root.name.startswith(STORAGE_PREFIX):
        shutil.rmtree(root, ignore_errors=True)


@dataclass(slots=True)
class SeedMarker:
    """What one registry's storage holds: ``seeded`` group → fingerprint, ``started`` groups
    whose seeding has not finished (interrupted, or running now)."""

    path: Path
    seeded: dict[str, str] = field(default_factory=dict)
    started: list[str] = field(default_factory=list)

    @classmethod
    def read(cls, root: Path, flavour: str) -> SeedMarker:
        path = root / f"{flavour}.seeded.json"
        try:
            obj: dict[str, Any] = json.loads(path.read_text())
            return cls(path, dict(obj["seeded"]), list(obj["started"]))
        except (OSError, ValueError, KeyError, TypeError):
            return cls(path)

    def write(self) -> None:
        tmp = self.path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"seeded": self.seeded, "started": self.started}))
        tmp.replace(self.path)

    def is_seeded(self, group: str, fingerprint: str) -> bool:
        return self.seeded.get(group) == fingerprint

    def is_fresh(self, group: str, registry_storage: Path) -> bool:
        """True when the repositories of ``group`` are certainly absent (push without HEADs)."""
        if self.started or group in self.seeded:
            return False
        # Either other groups were seeded cleanly, or nothing was ever pushed.
        return bool(self.seeded) or not (registry_storage / "docker").exists()

    def begin(self, group: str) -> None:
        self.started.append(group)
        self.write()

    def done(self, group: str, fingerprint: str) -> None:
        self.seeded[group] = fingerprint
        self.started = [g for g in self.started if g != group]
        self.write()
