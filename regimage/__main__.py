"""``python -m regimage``: the command line (see :mod:`regimage.cli`)."""

from __future__ import annotations

from regimage.cli import run

if __name__ == "__main__":
    run()
