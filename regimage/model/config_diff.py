"""What changed between two image configs, in the fields that change how a container runs.

Compared: ``Entrypoint``, ``Cmd``, ``User``, ``WorkingDir``, ``created``, the platform (as
``os/arch[/variant]``), ``Env`` (by variable: added, removed, changed), ``Labels`` (by key) and
``ExposedPorts`` (added, removed). The layers are :mod:`regimage.image.diff`'s business.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field

from regimage.model.image_config import ImageConfig

__all__ = ["ConfigDiff", "FieldChange", "MappingDiff", "diff_configs"]

#: A compared value: a string, a list of words (Entrypoint, Cmd), or absent.
Value = str | tuple[str, ...] | None

#: The single-valued fields compared, in the order they are reported: (name, config key).
_FIELDS = (
    ("entrypoint", "Entrypoint"),
    ("cmd", "Cmd"),
    ("user", "User"),
    ("workingDir", "WorkingDir"),
)


@dataclass(frozen=True, slots=True)
class FieldChange:
    """One field's value before and after (None: absent or empty)."""

    name: str
    before: Value
    after: Value


@dataclass(frozen=True, slots=True)
class MappingDiff:
    """Keys added, removed, and changed (``key → (before, after)``) between two mappings."""

    added: Mapping[str, str] = field(default_factory=dict)
    removed: Mapping[str, str] = field(default_factory=dict)
    changed: Mapping[str, tuple[str, str]] = field(default_factory=dict)

    @classmethod
    def of(cls, before: Mapping[str, str], after: Mapping[str, str]) -> MappingDiff:
        return cls(
            {k: v for k, v in after.items() if k not in before},
            {k: v for k, v in before.items() if k not in after},
            {k: (before[k], v) for k, v in after.items() if k in before and before[k] != v},
        )

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.changed)


@dataclass(frozen=True, slots=True)
class ConfigDiff:
    """The changes from one config to another; empty (false) when nothing compared changed."""

    fields: tuple[FieldChange, ...] = ()
    env: MappingDiff = field(default_factory=MappingDiff)
    labels: MappingDiff = field(default_factory=MappingDiff)
    ports_added: tuple[str, ...] = ()
    ports_removed: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(
            self.fields or self.env or self.labels or self.ports_added or self.ports_removed
        )


def diff_configs(before: ImageConfig, after: ImageConfig) -> ConfigDiff:
    """What changed from ``before`` to ``after``."""
    fields = [
        FieldChange(name, old, new)
        for name, key in _FIELDS
        if (old := _value(before.config.get(key))) != (new := _value(after.config.get(key)))
    ]
    if before.created != after.created:
        fields.append(FieldChange("created", before.created, after.created))
    old_platform = None if before.platform is None else before.platform.format()
    new_platform = None if after.platform is None else after.platform.format()
    if old_platform != new_platform:
        fields.append(FieldChange("platform", old_platform, new_platform))
    old_ports, new_ports = _ports(before), _ports(after)
    return ConfigDiff(
        tuple(fields),
        MappingDiff.of(_env(before), _env(after)),
        MappingDiff.of(before.labels, after.labels),
        tuple(p for p in new_ports if p not in old_ports),
        tuple(p for p in old_ports if p not in new_ports),
    )


def _value(raw: object) -> Value:
    """A config value as compared: words for a list, a string, None for absent or empty."""
    if raw is None or raw == "" or raw == []:
        return None
    if isinstance(raw, str):
        return raw
    if isinstance(raw, list):
        return tuple(item if isinstance(item, str) else json.dumps(item) for item in raw)
    return json.dumps(raw, sort_keys=True)


def _env(config: ImageConfig) -> dict[str, str]:
    """``Env`` as a mapping (``KEY=value``; the last of a repeated key wins)."""
    return {entry.partition("=")[0]: entry.partition("=")[2] for entry in config.env}


def _ports(config: ImageConfig) -> tuple[str, ...]:
    """``ExposedPorts`` keys (``80/tcp``), sorted."""
    raw = config.config.get("ExposedPorts")
    if isinstance(raw, Mapping):
        return tuple(sorted(str(port) for port in raw))
    if isinstance(raw, list):
        return tuple(sorted(str(port) for port in raw))
    return ()
