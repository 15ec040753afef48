"""Where the mirror configuration is read from: Podman's and containerd's places, under a root."""

from __future__ import annotations

from pathlib import Path

import pytest

from regimage.errors import InvalidConfiguration
from regimage.model.reference import Reference
from regimage.registry.mirror_files import load_mirrors, read_registries_conf


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def table(location: str, mirror: str) -> str:
    return f'[[registry]]\nlocation = "{location}"\n[[registry.mirror]]\nlocation = "{mirror}"\n'


def mirror_of(root: Path, environ: dict[str, str], location: str) -> str | None:
    found = read_registries_conf(environ=environ, root=root).find(f"{location}/app")
    return found.mirrors[0].location if found is not None and found.mirrors else None


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "root"


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


def test_nothing_to_read_is_no_configuration(root: Path, home: Path) -> None:
    mirrors = load_mirrors(environ={"HOME": str(home)}, root=root)
    assert not mirrors


def test_system_file_then_system_and_user_drop_ins_in_name_order(root: Path, home: Path) -> None:
    write(
        root / "etc/containers/registries.conf",
        table("a.example", "system") + table("b.example", "system"),
    )
    write(root / "etc/containers/registries.conf.d/20-b.conf", table("b.example", "drop-in-20"))
    write(root / "etc/containers/registries.conf.d/10-b.conf", table("b.example", "drop-in-10"))
    write(root / "etc/containers/registries.conf.d/30-c.conf.disabled", table("c.example", "no"))
    write(home / ".config/containers/registries.conf.d/00-c.conf", table("c.example", "user"))
    environ = {"HOME": str(home)}
    assert mirror_of(root, environ, "a.example") == "system"
    assert mirror_of(root, environ, "b.example") == "drop-in-20"
    assert mirror_of(root, environ, "c.example") == "user"


def test_the_users_file_replaces_the_systems_and_its_drop_ins(root: Path, home: Path) -> None:
    write(root / "etc/containers/registries.conf", table("a.example", "system"))
    write(root / "etc/containers/registries.conf.d/10.conf", table("b.example", "system"))
    write(home / ".config/containers/registries.conf", table("c.example", "user"))
    environ = {"HOME": str(home)}
    assert mirror_of(root, environ, "a.example") is None
    assert mirror_of(root, environ, "b.example") is None
    assert mirror_of(root, environ, "c.example") == "user"


def test_containers_registries_conf_names_the_file(root: Path, home: Path, tmp_path: Path) -> None:
    write(home / ".config/containers/registries.conf", table("a.example", "user"))
    chosen = write(tmp_path / "chosen.conf", table("a.example", "chosen"))
    write(root / "etc/containers/registries.conf.d/10.conf", table("b.example", "drop-in"))
    environ = {"HOME": str(home), "CONTAINERS_REGISTRIES_CONF": str(chosen)}
    assert mirror_of(root, environ, "a.example") == "chosen"
    assert mirror_of(root, environ, "b.example") == "drop-in"
    missing = {"CONTAINERS_REGISTRIES_CONF": str(tmp_path / "missing.conf")}
    with pytest.raises(InvalidConfiguration, match=r"missing\.conf does not exist"):
        read_registries_conf(environ=missing, root=root)


def test_hosts_directories(root: Path) -> None:
    certs = root / "etc/containerd/certs.d"
    write(certs / "docker.io/hosts.toml", '[host."https://hub.mirror"]\ncapabilities = ["pull"]\n')
    write(certs / "registry.example:5000/ca.crt", "-----BEGIN CERTIFICATE-----\n")
    (certs / "empty.example").mkdir()
    write(certs / "not-a-directory", "")
    mirrors = load_mirrors(environ={}, root=root)
    assert {h.namespace for h in mirrors.hosts} == {"docker.io", "registry.example:5000"}
    route = mirrors.route(Reference.parse("alpine"))
    assert [s.host for s in route.candidates(by_digest=True)] == [
        "hub.mirror",
        "registry-1.docker.io",
    ]
    tls = mirrors.host_tls("registry.example:5000")
    assert tls is not None
    assert tls.ca_files == (str(certs / "registry.example:5000/ca.crt"),)


def test_the_first_hosts_directory_wins(tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    write(first / "docker.io/hosts.toml", '[host."https://first.mirror"]\n')
    write(second / "docker.io/hosts.toml", '[host."https://second.mirror"]\n')
    write(second / "ghcr.io/hosts.toml", '[host."https://ghcr.mirror"]\n')
    mirrors = load_mirrors(environ={}, root=tmp_path, hosts_directories=[first, second])
    assert [h.hosts[0].host for h in mirrors.hosts] == ["first.mirror", "ghcr.mirror"]


def test_mirrors_named_by_a_program_come_without_files(root: Path) -> None:
    write(
        root / "etc/containers/registries.conf",
        '[[registry]]\nprefix = "x.example"\nblocked = true',
    )
    mirrors = load_mirrors(["docker.io=mirror.example"], files=False, root=root)
    assert [str(m) for m in mirrors.mirrors] == ["docker.io=mirror.example"]
    assert not mirrors.registries_conf.registries
    assert mirrors.route(Reference.parse("x.example/app:1"))  # not blocked: the file was not read


@pytest.mark.parametrize(
    ("path", "text", "message"),
    [
        ("etc/containers/registries.conf", "[[registry]\n", "not valid TOML"),
        (
            "etc/containers/registries.conf.d/1.conf",
            "[registries.block]\nregistries=[]\n",
            "drop-in",
        ),
        ("etc/containerd/certs.d/docker.io/hosts.toml", "server = 1\n", "server must be a string"),
    ],
)
def test_a_broken_file_is_an_error_naming_it(
    root: Path, path: str, text: str, message: str
) -> None:
    broken = write(root / path, text)
    with pytest.raises(InvalidConfiguration, match=message) as caught:
        load_mirrors(environ={}, root=root)
    assert caught.value.path == str(broken)


def test_a_file_that_is_not_text_is_an_error(root: Path) -> None:
    broken = root / "etc/containers/registries.conf"
    broken.parent.mkdir(parents=True)
    broken.write_bytes(b"\xff\xfe[[registry]]")
    with pytest.raises(InvalidConfiguration, match="cannot read") as caught:
        load_mirrors(environ={}, root=root)
    assert caught.value.path == str(broken)
