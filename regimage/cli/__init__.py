"""The command line: a thin layer on the public API (``regimage.cli.core`` holds the entry point)."""

from __future__ import annotations

from regimage.cli.core import main, run

__all__ = ["main", "run"]
