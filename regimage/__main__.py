"""``python -m regimage``: the command line (see :mod:`regimage.cli.core`)."""

from __future__ import annotations

from regimage.cli.core import run

if __name__ == "__main__":
    run()
