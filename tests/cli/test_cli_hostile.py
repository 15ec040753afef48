"""The command line against what a hostile registry serves and what a careless user sets up.

In process (``main()``), with the real RegistryProvider against a scripted loopback registry
(:class:`~tests.faults.server.ScriptedServer`) on asyncio and on trio, and with real OCI layouts
and cache directories on disk: an index with nothing for this machine, image names with colons in
a layout (skopeo reads them), a config whose diff IDs do not pair with the layers, a cache
directory the user cannot use.
"""

from __future__ import annotations

import builtins
import io
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from regimage.cli.core import main
from regimage.cli.status import ExitStatus
from regimage.model import mediatypes
from regimage.model.platform import Platform
from regimage.model.platform_match import default_matcher
from tests.faults.documents import Blob, MiniRegistry, config_blob, index_blob, manifest_blob
from tests.faults.server import ScriptedServer
from tests.lab import skopeo

#: Platforms this machine does not run (what an index built for other machines offers).
FOREIGN = [
    p
    for p in ("linux/s390x", "linux/ppc64le", "linux/riscv64", "windows/arm64")
    if not default_matcher().match(Platform.parse(p))
][:2]


@pytest.fixture(params=["asyncio", "trio"])
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """The command line's event loop (REGIMAGE_BACKEND), each test on both."""
    monkeypatch.setenv("REGIMAGE_BACKEND", str(request.param))
    return str(request.param)


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A cache directory of the test's own, and no credentials from the environment."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv("REGISTRY_AUTH_FILE", raising=False)
    monkeypatch.delenv("REGIMAGE_USERNAME", raising=False)
    monkeypatch.delenv("REGIMAGE_PASSWORD", raising=False)
    return tmp_path / "cache"


@dataclass
class Result:
    status: int
    out: str
    err: str

    @property
    def lines(self) -> list[str]:
        return self.out.splitlines()

    @property
    def json(self) -> Any:
        return json.loads(self.out)

    @property
    def warnings(self) -> list[str]:
        return [line for line in self.err.splitlines() if line.startswith("regimage: warning: ")]


def run(*argv: str) -> Result:
    stdout, stderr = io.StringIO(), io.StringIO()
    status = main(list(argv), stdout=stdout, stderr=stderr, stdin=io.StringIO())
    return Result(status, stdout.getvalue(), stderr.getvalue())


def assert_error(result: Result, status: ExitStatus, *parts: str) -> str:
    """Exit ``status``, nothing on stdout, one ``regimage: error:`` line holding ``parts``."""
    assert result.status == status, result.err
    assert result.out == ""
    lines = result.err.splitlines()
    assert len(lines) == 1, result.err
    assert lines[0].startswith("regimage: error: ")
    for part in parts:
        assert part in lines[0], lines[0]
    assert "Traceback" not in result.err
    return lines[0]


@pytest.fixture
def registry() -> Iterator[tuple[MiniRegistry, ScriptedServer]]:
    script = MiniRegistry()
    with ScriptedServer(script) as server:
        yield script, server


def add_platform_image(script: MiniRegistry, platform: str, layers: int = 1) -> dict[str, Any]:
    """An image for ``platform`` and its index entry."""
    p = Platform.parse(platform)
    config = script.add(config_blob(p.architecture, p.os, layers=layers))
    manifest = script.add(manifest_blob(config, layers=layers))
    return manifest.descriptor(platform={"os": p.os, "architecture": p.architecture})


# ── size --all-platforms of an index with nothing for this machine ───────────────────────────────


def test_all_platforms_lists_an_index_with_nothing_for_this_machine(
    backend: str, registry: tuple[MiniRegistry, ScriptedServer]
) -> None:
    script, server = registry
    entries = [add_platform_image(script, p) for p in FOREIGN]
    script.add(index_blob(entries), tag="v1")
    ref = server.ref("far/app:v1")

    result = run("size", "--all-platforms", "--bytes", ref)
    assert result.status == ExitStatus.OK, result.err
    assert result.err == ""
    assert result.lines[0].split() == ["PLATFORM", "MANIFEST", "SIZE"]
    rows = [line.split() for line in result.lines[1:-1]]
    assert [(row[0], row[1]) for row in rows] == [
        (p, e["digest"]) for p, e in zip(FOREIGN, entries, strict=True)
    ]
    assert result.lines[-1].split()[:2] == ["distinct", "total"]

    document = run("size", "--all-platforms", "--json", ref).json
    assert [e["platform"] for e in document["platforms"]] == FOREIGN
    # Nothing was selected for this machine: the selection's keys say so.
    assert document["platform"] is None
    assert document["manifestDigest"] is None
    assert document["size"] is None
    assert document["breakdown"] is None
    assert document["distinctSize"] > sum(e["size"] for e in entries)

    # A breakdown needs a platform: the table comes alone, and one warning says why.
    broken_down = run("size", "--all-platforms", "--breakdown", ref)
    assert broken_down.status == ExitStatus.OK, broken_down.err
    assert broken_down.lines[0].split() == ["PLATFORM", "MANIFEST", "SIZE"]
    assert len(broken_down.err.splitlines()) == 1
    assert broken_down.warnings[0].startswith(f"regimage: warning: {ref} has no manifest for ")
    assert "--platform" in broken_down.warnings[0]


def test_all_platforms_still_refuses_a_platform_asked_for_by_name(
    backend: str, registry: tuple[MiniRegistry, ScriptedServer]
) -> None:
    script, server = registry
    script.add(index_blob([add_platform_image(script, p) for p in FOREIGN]), tag="v1")
    ref = server.ref("far/app:v1")
    result = run("size", "--all-platforms", "--platform", "plan9/386", ref)
    assert_error(result, ExitStatus.NOT_FOUND, "no manifest for plan9/386", *FOREIGN)
    # Without --all-platforms nothing changed: this machine's size, or exit 4.
    assert_error(run("size", ref), ExitStatus.NOT_FOUND, "no manifest for", *FOREIGN)


def test_all_platforms_of_an_empty_index_and_of_attestations_only(
    backend: str, registry: tuple[MiniRegistry, ScriptedServer]
) -> None:
    script, server = registry
    empty = script.add(index_blob([]), tag="empty")
    result = run("size", "--all-platforms", "--json", server.ref("far/app:empty"))
    assert result.status == ExitStatus.OK, result.err
    assert result.json["platforms"] == []
    assert result.json["distinctSize"] == empty.size

    config = script.add(config_blob("unknown", "unknown"))
    attestation = script.add(manifest_blob(config)).descriptor(
        platform={"os": "unknown", "architecture": "unknown"},
        annotations={
            "vnd.docker.reference.type": "attestation-manifest",
            "vnd.docker.reference.digest": "sha256:" + "0" * 64,
        },
    )
    script.add(index_blob([attestation]), tag="attested")
    table = run("size", "--all-platforms", "--bytes", server.ref("far/app:attested"))
    assert table.status == ExitStatus.OK, table.err
    assert [line.split()[0] for line in table.lines] == [
        "PLATFORM",
        "attestations",
        "for",
        "distinct",
    ]


# ── OCI layouts: image names with colons, as skopeo reads them ──────────────────────────────────


def write_layout(directory: Path, blobs: list[Blob], entries: list[dict[str, Any]]) -> Path:
    directory.mkdir(parents=True)
    (directory / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}', encoding="utf-8")
    for blob in blobs:
        path = directory / "blobs" / "sha256" / blob.digest.removeprefix("sha256:")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(blob.data)
    index = {"schemaVersion": 2, "mediaType": mediatypes.OCI_INDEX, "manifests": entries}
    (directory / "index.json").write_text(json.dumps(index), encoding="utf-8")
    return directory


#: Names as tools write them in ``org.opencontainers.image.ref.name``: tags and full names.
LAYOUT_NAMES = ("docker.io/library/app:1.0", "localhost:5000/team/app:2", "v1", "team/app")


@pytest.fixture
def named_layout(tmp_path: Path) -> tuple[Path, dict[str, Blob]]:
    blobs: list[Blob] = []
    manifests: dict[str, Blob] = {}
    for i, name in enumerate(LAYOUT_NAMES):
        config = config_blob(("amd64", "arm64", "s390x", "386")[i])
        manifest = manifest_blob(config)
        blobs += [config, manifest]
        manifests[name] = manifest
    entries = [
        m.descriptor(annotations={"org.opencontainers.image.ref.name": name})
        for name, m in manifests.items()
    ]
    return write_layout(tmp_path / "layout", blobs, entries), manifests


def test_a_layout_image_named_with_colons(
    backend: str, named_layout: tuple[Path, dict[str, Blob]]
) -> None:
    layout, manifests = named_layout
    for name, manifest in manifests.items():
        ref = f"oci:{layout}:{name}"
        document = run("digest", "--json", ref)
        assert document.status == ExitStatus.OK, document.err
        assert document.json["digest"] == manifest.digest
        assert document.json["reference"] == ref
        size = run("size", "--json", ref).json
        assert size["manifestDigest"] == manifest.digest
    assert run("tags", f"oci:{layout}").lines == sorted(LAYOUT_NAMES)
    # The rule is skopeo's: the path ends at the first colon, so a colon cannot be in it.
    assert_error(
        run("size", f"oci:{layout}:docker.io/library/app:9"),
        ExitStatus.NOT_FOUND,
        "'docker.io/library/app:9'",
    )
    assert_error(
        run("size", f"oci:{layout}:team/app:-x"), ExitStatus.INVALID_REFERENCE, "'team/app:-x'"
    )
    # ``oci:DIR:`` names no image, as for skopeo: the layout holds four, so say which.
    assert_error(run("size", f"oci:{layout}:"), ExitStatus.INVALID_REFERENCE, "holds 4 images")


def test_skopeo_reads_the_same_layout_names(named_layout: tuple[Path, dict[str, Blob]]) -> None:
    layout, manifests = named_layout
    for name, manifest in manifests.items():
        ref = f"oci:{layout}:{name}"
        assert skopeo.digest(skopeo.inspect_layout(ref)) == manifest.digest, name
        assert run("digest", ref).out == f"{manifest.digest}\n"
    with pytest.raises(skopeo.SkopeoError, match="no descriptor found"):
        skopeo.inspect_layout(f"oci:{layout}:docker.io/library/app:9")
    with pytest.raises(skopeo.SkopeoError, match="Invalid image"):
        skopeo.inspect_layout(f"oci:{layout}:team/app:-x")


# ── a config whose diff IDs do not pair with the manifest's layers ───────────────────────────────


@pytest.mark.parametrize(("layers", "diff_ids"), [(3, 1), (1, 2)])
def test_a_config_that_disagrees_with_its_layers_is_refused(
    backend: str, registry: tuple[MiniRegistry, ScriptedServer], layers: int, diff_ids: int
) -> None:
    script, server = registry
    config = script.add(config_blob("amd64", layers=diff_ids))
    script.add(manifest_blob(config, layers=layers), tag="v1")
    ref = server.ref("evil/app:v1")
    for argv in (["rootfs"], ["chain-ids"], ["inspect"], ["inspect", "--json"], ["diff-ids"]):
        line = assert_error(
            run(*argv, ref),
            ExitStatus.UNSUPPORTED,
            f"lists {diff_ids} diff IDs for the {layers} layers",
            "containerd refuses to unpack it",
            "regimage config",
        )
        assert "diffID" not in line
    # What does not pair them still answers: the size (no config read) and the config itself.
    assert run("size", "--bytes", ref).status == ExitStatus.OK
    assert len(run("config", ref).json["rootfs"]["diff_ids"]) == diff_ids


# ── a cache directory the user cannot use ─────────────────────────────────────────────────────────


def served_image(script: MiniRegistry) -> Blob:
    config = script.add(config_blob("amd64", layers=2))
    return script.add(manifest_blob(config, layers=2), tag="v1")


def assert_one_cache_warning(result: Result, directory: Path) -> None:
    assert result.status == ExitStatus.OK, result.err
    assert len(result.err.splitlines()) == 1, result.err
    assert result.warnings[0].startswith(f"regimage: warning: cannot use the cache {directory}")
    assert "going on without it" in result.warnings[0]


def test_a_file_where_the_cache_directory_should_be(
    backend: str, registry: tuple[MiniRegistry, ScriptedServer], isolated: Path
) -> None:
    script, server = registry
    served_image(script)
    isolated.mkdir()
    (isolated / "regimage").write_text("not a directory\n")
    ref = server.ref("app/one:v1")
    for argv in (["size"], ["rootfs"], ["inspect"]):
        assert_one_cache_warning(run(*argv, ref), isolated / "regimage")
    assert (isolated / "regimage").read_text() == "not a directory\n"
    assert run("--no-cache", "size", ref).err == ""


def test_a_cache_directory_that_refuses_the_user(
    backend: str,
    registry: tuple[MiniRegistry, ScriptedServer],
    isolated: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What a directory root made with the same HOME looks like to its user: every stat, open and
    mkdir inside it fails with EACCES (root itself is never refused, so the OS calls are)."""
    script, server = registry
    served_image(script)
    ref = server.ref("app/one:v1")
    assert run("rootfs", ref).status == ExitStatus.OK  # a warm cache: files in every directory
    refuse_under(isolated / "regimage", monkeypatch)
    for argv in (["size"], ["rootfs"], ["chain-ids"], ["inspect", "--json"]):
        assert_one_cache_warning(run(*argv, ref), isolated / "regimage")


def refuse_under(directory: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every OS call on a path inside ``directory`` raises PermissionError (EACCES)."""
    inside = str(directory) + os.sep

    def refusing(call: Callable[..., Any]) -> Callable[..., Any]:
        def refused(path: Any = ".", *args: Any, **kwargs: Any) -> Any:
            if isinstance(path, str | os.PathLike) and os.fspath(path).startswith(inside):
                raise PermissionError(13, "Permission denied", os.fspath(path))
            return call(path, *args, **kwargs)

        return refused

    for name in ("stat", "lstat", "open", "mkdir", "listdir", "scandir", "unlink", "chmod"):
        monkeypatch.setattr(os, name, refusing(getattr(os, name)))
    monkeypatch.setattr(builtins, "open", refusing(builtins.open))


def test_no_home_directory_at_all(
    backend: str, registry: tuple[MiniRegistry, ScriptedServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A user with no HOME and no passwd entry (a container run as an arbitrary uid)."""
    script, server = registry
    served_image(script)
    monkeypatch.delenv("XDG_CACHE_HOME")

    def no_home() -> Path:
        raise RuntimeError("Could not determine home directory.")

    monkeypatch.setattr(Path, "home", staticmethod(no_home))
    result = run("size", server.ref("app/one:v1"))
    assert result.status == ExitStatus.OK, result.err
    assert len(result.err.splitlines()) == 1, result.err
    assert result.warnings[0].startswith("regimage: warning: cannot use the cache: ")
    assert "XDG_CACHE_HOME" in result.warnings[0]


def test_a_cache_directory_root_wrote_into(
    registry: tuple[MiniRegistry, ScriptedServer], tmp_path: Path
) -> None:
    """The real thing, as a subprocess: the cache of a run as root (same HOME), read by a user.

    Root runs the same test with CAP_DAC_OVERRIDE (and its kin) dropped, so that the directory's
    owner and mode bind it as they bind any user."""
    script, server = registry
    manifest = served_image(script)
    home = tmp_path / "home"
    home.mkdir()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("REGIMAGE_", "XDG_"))},
        "HOME": str(home),
        "DOCKER_CONFIG": str(home / "docker"),
    }
    ref = server.ref("app/one:v1")

    def regimage(*args: str, prefix: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
        argv = [*prefix, sys.executable, "-m", "regimage", *args]
        return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)

    warm = regimage("rootfs", ref)
    assert warm.returncode == 0, warm.stderr
    cache = home / ".cache" / "regimage"
    assert any(cache.rglob(manifest.digest.removeprefix("sha256:")))
    prefix: tuple[str, ...] = ()
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("root needs setpriv (util-linux) to give up CAP_DAC_OVERRIDE")
        caps = "-dac_override,-dac_read_search,-fowner"
        prefix = (setpriv, f"--bounding-set={caps}", "--")
        for path in [cache, *cache.rglob("*")]:
            os.chown(path, 65534, 65534, follow_symlinks=False)
    else:
        cache.chmod(0)
    try:
        for command in ("size", "rootfs", "inspect"):
            result = regimage(command, ref, prefix=prefix)
            assert result.returncode == 0, result.stderr
            lines = result.stderr.splitlines()
            assert len(lines) == 1, result.stderr
            assert lines[0].startswith(f"regimage: warning: cannot use the cache {cache}")
    finally:
        cache.chmod(0o700)
