"""regimage: resolve container images remotely, without pulling a layer."""

from __future__ import annotations

from regimage._version import __version__

__all__ = ["__version__"]
