"""diff_configs: the fields that change how a container runs, compared one by one."""

from __future__ import annotations

import json
from typing import Any

import pytest

from regimage.model.config_diff import ConfigDiff, FieldChange, MappingDiff, diff_configs
from regimage.model.image_config import ImageConfig


def config(runtime: dict[str, Any] | None = None, **top: Any) -> ImageConfig:
    obj = {
        "architecture": "amd64",
        "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": []},
        "config": runtime or {},
        **top,
    }
    return ImageConfig.parse(json.dumps(obj).encode())


def test_identical_configs_differ_in_nothing() -> None:
    same = config({"Env": ["A=1"], "Cmd": ["sh"], "Labels": {"a": "b"}})
    assert diff_configs(same, same) == ConfigDiff()
    assert not diff_configs(same, same)


@pytest.mark.parametrize(
    ("before", "after", "change"),
    [
        (
            {"Cmd": ["sh"]},
            {"Cmd": ["sh", "-c", "x"]},
            FieldChange("cmd", ("sh",), ("sh", "-c", "x")),
        ),
        ({}, {"Entrypoint": ["/app"]}, FieldChange("entrypoint", None, ("/app",))),
        (
            {"Entrypoint": ["/app"]},
            {"Entrypoint": None},
            FieldChange("entrypoint", ("/app",), None),
        ),
        ({"User": ""}, {"User": "app"}, FieldChange("user", None, "app")),
        ({"WorkingDir": "/"}, {"WorkingDir": "/srv"}, FieldChange("workingDir", "/", "/srv")),
        ({"Cmd": "sh -c x"}, {"Cmd": ["sh"]}, FieldChange("cmd", "sh -c x", ("sh",))),
    ],
)
def test_single_fields(before: dict[str, Any], after: dict[str, Any], change: FieldChange) -> None:
    assert diff_configs(config(before), config(after)).fields == (change,)


def test_an_empty_list_is_no_value() -> None:
    assert not diff_configs(config({"Cmd": []}), config({}))


def test_env_by_variable() -> None:
    before = config({"Env": ["PATH=/bin", "A=1", "B=2", "EMPTY"]})
    after = config({"Env": ["PATH=/usr/bin:/bin", "A=1", "C=3=4", "EMPTY"]})
    assert diff_configs(before, after).env == MappingDiff(
        added={"C": "3=4"}, removed={"B": "2"}, changed={"PATH": ("/bin", "/usr/bin:/bin")}
    )


def test_labels_ports_created_and_platform() -> None:
    before = config(
        {"Labels": {"v": "1", "gone": "x"}, "ExposedPorts": {"80/tcp": {}, "53/udp": {}}},
        created="2023-01-01T00:00:00Z",
    )
    after = config(
        {"Labels": {"v": "2", "new": "y"}, "ExposedPorts": {"80/tcp": {}, "443/tcp": {}}},
        created="2024-01-01T00:00:00Z",
        architecture="arm64",
    )
    found = diff_configs(before, after)
    assert found.labels == MappingDiff({"new": "y"}, {"gone": "x"}, {"v": ("1", "2")})
    assert (found.ports_added, found.ports_removed) == (("443/tcp",), ("53/udp",))
    assert found.fields == (
        FieldChange("created", "2023-01-01T00:00:00Z", "2024-01-01T00:00:00Z"),
        FieldChange("platform", "linux/amd64", "linux/arm64"),
    )
    assert found
