"""Platforms (os/architecture/variant) and matchers that choose among them.

STUB: the platforms helper replaces this module with the full implementation (parse, normalize,
format, matchers, ordering, host default). The ``Platform`` dataclass shape below is the contract
the rest of the code relies on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from regimage.errors import InvalidPlatform

__all__ = ["Platform"]


@dataclass(frozen=True, slots=True)
class Platform:
    """A platform as OCI describes it; ``str()`` is the ``os/arch[/variant]`` specifier."""

    os: str
    architecture: str
    variant: str = ""
    os_version: str = ""
    os_features: tuple[str, ...] = ()

    @classmethod
    def from_dict(cls, obj: object) -> Platform:
        """Decode the ``platform`` object of an index entry or the fields of an image config."""
        if not isinstance(obj, dict):
            raise InvalidPlatform("platform must be a JSON object")
        os_ = obj.get("os")
        arch = obj.get("architecture")
        if not isinstance(os_, str) or not isinstance(arch, str):
            raise InvalidPlatform("platform needs string fields 'os' and 'architecture'")
        return cls(os_, arch, str(obj.get("variant") or ""), str(obj.get("os.version") or ""))

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"architecture": self.architecture, "os": self.os}
        if self.os_version:
            out["os.version"] = self.os_version
        if self.os_features:
            out["os.features"] = list(self.os_features)
        if self.variant:
            out["variant"] = self.variant
        return out

    def __str__(self) -> str:
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)
