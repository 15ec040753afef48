"""``regimage report`` on a database of 10,000 references: the target is an answer in under 1 s.

Run it with ``.venv/bin/python scripts/bench_report.py``. It writes a synthetic audit database in
the real schema (:func:`tests.cli.report_database.synthetic`: ``--references`` references in
``--repositories`` repositories, two runs, multi-platform indexes with attestations on a few
shared bases, ``latest`` tags, some failures), then runs the command line as a user would (a new
process each time: interpreter start and imports included), ``--runs`` times per form: the text
report, ``--json``, ``--html FILE``, and ``--built-on`` a base. It prints the median wall time and
peak RSS of each, and exits 1 when a median is over the target.

Not a test: wall time depends on the machine and on what else runs on it.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.cli.report_database import synthetic  # noqa: E402

#: The issue's target: ``report`` on 10,000 references answers in under a second.
TARGET_SECONDS = 1.0


def measure(argv: Sequence[str]) -> tuple[float, int]:
    """Wall seconds and peak RSS (KiB) of one process (and its children)."""
    started = time.perf_counter()
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        assert process.stderr is not None
        raise SystemExit(f"{' '.join(argv)} exited {process.returncode}: {process.stderr.read()!r}")
    return wall, usage.ru_maxrss


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--references", type=int, default=10_000)
    parser.add_argument("--repositories", type=int, default=500)
    parser.add_argument("--runs", type=int, default=5, help="runs per form (the median counts)")
    args = parser.parse_args(argv)
    regimage = [sys.executable, "-m", "regimage", "report"]
    with tempfile.TemporaryDirectory(prefix="bench-report-") as work:
        database = Path(work) / "audit.db"
        started = time.perf_counter()
        synthetic(database, references=args.references, repositories=args.repositories)
        print(
            f"database: {args.references:,} references in {args.repositories:,} repositories, "
            f"{database.stat().st_size / 1e6:.1f} MB, written in "
            f"{time.perf_counter() - started:.1f} s"
        )
        base = "registry.example/team0/service-0000:v1"
        forms = {
            "report": [*regimage, str(database)],
            "report --json": [*regimage, "--json", str(database)],
            "report --html": [*regimage, "--html", str(Path(work) / "report.html"), str(database)],
            "report --built-on": [*regimage, "--built-on", base, str(database)],
        }
        missed = False
        for name, command in forms.items():
            runs = [measure(command) for _ in range(args.runs)]
            wall = statistics.median(w for w, _ in runs)
            rss = max(r for _, r in runs) / 1024
            verdict = "ok" if wall < TARGET_SECONDS else "OVER THE TARGET"
            missed |= wall >= TARGET_SECONDS
            print(
                f"{name:<18} median {wall:.3f} s (min {min(w for w, _ in runs):.3f} s), "
                f"peak RSS {rss:.0f} MiB: {verdict} (< {TARGET_SECONDS:g} s)"
            )
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
