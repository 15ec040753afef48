"""``python -m regimage``: the command line (see :mod:`regimage.cli`)."""

from __future__ import annotations

import sys

from regimage.cli import main

if __name__ == "__main__":
    sys.exit(main())
