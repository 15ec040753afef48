"""Which modules a piece of code imports, seen from a fresh interpreter (start-up tests)."""

from __future__ import annotations

import ast
import subprocess
import sys


def imported_by(code: str, *packages: str) -> list[str]:
    """Run ``code`` in a new interpreter; the modules of ``packages`` it left imported, sorted."""
    report = (
        f"{code}\nimport sys as _sys\n"
        f"print(sorted(m for m in _sys.modules if m.split('.')[0] in {packages!r}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", report], capture_output=True, text=True, check=True, timeout=60
    )
    found = ast.literal_eval(out.stdout.strip().splitlines()[-1])
    assert isinstance(found, list)
    return [str(name) for name in found]
