"""What a hostile registry's text does to the terminal: nothing (issue #17, item 7).

Labels, env, history, platforms, tags, artifact types and error messages come from the registry. A
small hostile registry of ours (:class:`~tests.faults.server.ScriptedServer`) serves them full of
escape sequences, C1 controls, DEL, a lone CR, bidi overrides and other format characters; the
command line runs in process, on asyncio and on trio, against it over real sockets. Human output
and error lines must show those characters as escapes; ``--json`` must stay exact JSON (the same
values), with the dangerous characters written as ``\\u`` escapes.
"""

from __future__ import annotations

import io
import json
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from regimage.cli.core import main
from regimage.cli.output import json_text, table
from regimage.cli.terminal import terminal_text
from regimage.model import mediatypes
from tests.faults.documents import Blob, MiniRegistry, index_blob, json_bytes, sha256
from tests.faults.server import Reply, ScriptedServer

#: Everything a terminal acts on or that changes how the text around it reads: an OSC window
#: title, a screen clear, SGR colour, a lone CR, a C1 CSI (0x9b), DEL, the bidi override U+202E, an
#: isolate, a zero-width space, a line separator, a BOM, a tag character, NUL, a tab, a newline.
EVIL = (
    "\x1b]0;pwned\x07\x1b[2J\x1b[31mred\rover\x9b31m\x7f\u202eevil\u2066\u200b\u2028"
    "\ufeff\U000e0041\x00\ttab\nnewline"
)
#: The escaped form of each dangerous character, as the human output shows it.
SHOWN = [
    "\\x1b]0;pwned\\x07",
    "\\x1b[2J",
    "\\x1b[31mred\\rover",
    "\\x9b31m",
    "\\x7f",
    "\\u202eevil",
    "\\u2066",
    "\\u200b",
    "\\u2028",
    "\\ufeff",
    "\\U000e0041",
    "\\x00",
    "\\ttab",
]
UNSAFE = {"Cc", "Cf", "Cs", "Zl", "Zp"}


def unsafe(text: str) -> list[str]:
    """The characters of ``text`` a terminal must never receive raw (line breaks aside)."""
    return [c for c in text if c != "\n" and unicodedata.category(c) in UNSAFE]


# ── the helpers ───────────────────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("plain ascii", "plain ascii"),
        (
            "caf\u00e9 \u65e5\u672c \U0001f600 a\u00a0b",
            "caf\u00e9 \u65e5\u672c \U0001f600 a\u00a0b",
        ),
        ("\x1b[31m", "\\x1b[31m"),
        ("a\rb", "a\\rb"),
        ("a\nb\tc", "a\\nb\\tc"),
        ("\x9b\x85\x7f", "\\x9b\\x85\\x7f"),
        ("\u202e\u2066\u2069\u200e\u061c\u00ad", "\\u202e\\u2066\\u2069\\u200e\\u061c\\xad"),
        ("\u2028\u2029", "\\u2028\\u2029"),
        ("\U000e0001\U000e007f", "\\U000e0001\\U000e007f"),
        ("caf\udce9", "caf\\xe9"),  # a byte that was not UTF-8 (surrogateescape)
        ("\ud800", "\\ud800"),  # a lone surrogate from a JSON \\u escape
        ("back\\slash \\x1b", "back\\slash \\x1b"),  # already printable: left as it is
    ],
)
def test_terminal_text(text: str, shown: str) -> None:
    assert terminal_text(text) == shown
    assert terminal_text(shown) == shown  # escaping twice changes nothing
    assert not unsafe(terminal_text(text))


def test_table_aligns_the_escaped_cells() -> None:
    assert table([["a\x1b", "x"], ["bbbbbb", "y\r"]]) == ["a\\x1b   x", "bbbbbb  y\\r"]


@pytest.mark.parametrize("value", [EVIL, "caf\u00e9", "\ud800", "plain", "\U000e0041\u202e"])
def test_json_text_is_exact_and_safe(value: str) -> None:
    document = {"k\x1b": value, "list": [value], "n": 1}
    for indent in (None, 2):
        text = json_text(document, indent=indent)
        assert not unsafe(text)
        assert text.encode("utf-8")  # lone surrogates never reach the output
        if "\ud800" in value:
            assert json.loads(text)["list"] == [value.replace("\ud800", "\ufffd")]
        else:
            assert json.loads(text) == document  # exact: the same values
    assert "caf\u00e9" in json_text({"a": "caf\u00e9"})  # ordinary text stays readable


# ── a hostile registry, through the command line ──────────────────────────────────────────────────


@dataclass(frozen=True, slots=True)
class Hostile:
    server: ScriptedServer
    config: dict[str, Any]
    evil_tag: str
    artifact_type: str

    def ref(self, tag: str = "v1") -> str:
        return self.server.ref(f"evil/app:{tag}")


def _hostile_registry() -> tuple[MiniRegistry, dict[str, Any], str, str]:
    script = MiniRegistry()
    config = {
        "architecture": "amd64",
        "os": "linux",
        "created": "2024-01-01T00:00:00Z" + EVIL,
        "config": {"Labels": {"evil" + EVIL: EVIL, "fine": "value"}, "Env": ["A=" + EVIL]},
        "history": [{"created_by": "/bin/sh -c " + EVIL}],
        "rootfs": {"type": "layers", "diff_ids": [sha256(b"layer")]},
    }
    config_blob = script.add(Blob(mediatypes.OCI_CONFIG, json_bytes(config)))
    layer = {"mediaType": mediatypes.OCI_LAYER_GZIP, "digest": sha256(b"gz"), "size": 10}
    manifest = script.add(
        Blob(
            mediatypes.OCI_MANIFEST,
            json_bytes(
                {
                    "schemaVersion": 2,
                    "mediaType": mediatypes.OCI_MANIFEST,
                    "config": config_blob.descriptor(),
                    "layers": [layer],
                }
            ),
        )
    )
    entries = [
        manifest.descriptor(platform={"os": "linux", "architecture": "amd64"}),
        manifest.descriptor(platform={"os": "linux", "architecture": "arm64" + EVIL}),
    ]
    index = script.add(index_blob(entries), tag="v1")
    evil_tag = "v2" + EVIL
    script.tags[evil_tag] = index.digest
    artifact_type = "application/vnd.evil" + EVIL
    referrer = {
        "mediaType": mediatypes.OCI_MANIFEST,
        "digest": sha256(b"referrer"),
        "size": 123,
        "artifactType": artifact_type,
    }
    script.overrides[f"/v2/evil/app/referrers/{index.digest}"] = lambda _: Reply(
        200,
        {"Content-Type": mediatypes.OCI_INDEX},
        json_bytes(
            {"schemaVersion": 2, "mediaType": mediatypes.OCI_INDEX, "manifests": [referrer]}
        ),
    )
    errors = {"errors": [{"code": "DENIED", "message": "go away" + EVIL}]}
    script.overrides["/v2/evil/app/manifests/denied"] = lambda _: Reply(
        403, {"Content-Type": "application/json"}, json_bytes(errors)
    )
    return script, config, evil_tag, artifact_type


@pytest.fixture(params=["asyncio", "trio"])
def hostile(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    monkeypatch.setenv("REGIMAGE_BACKEND", request.param)
    for name in ("REGIMAGE_USERNAME", "REGIMAGE_PASSWORD", "REGISTRY_AUTH_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "run"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    script, config, evil_tag, artifact_type = _hostile_registry()
    with ScriptedServer(script) as server:
        yield Hostile(server, config, evil_tag, artifact_type)


@dataclass(frozen=True, slots=True)
class Run:
    status: int
    out: str
    err: str


def run(*argv: str) -> Run:
    """main() with strict UTF-8 streams: a character that cannot be encoded fails the test."""
    stdout = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", newline="")
    stderr = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", newline="")
    status = main(list(argv), stdout=stdout, stderr=stderr, stdin=io.StringIO())
    stdout.flush()
    stderr.flush()
    out = stdout.buffer.getvalue().decode("utf-8")
    err = stderr.buffer.getvalue().decode("utf-8")
    if "--debug" not in argv:
        assert "Traceback" not in err, err
    return Run(status, out, err)


def command(name: str, *argv: str) -> list[str]:
    return [name, "--timeout", "20", "--no-cache", *argv]


def test_inspect_shows_escapes_and_json_is_exact(hostile: Hostile) -> None:
    human = run(*command("inspect", "--platform", "linux/amd64", hostile.ref()))
    assert human.status == 0, human.err
    assert not unsafe(human.out), human.out
    assert not unsafe(human.err), human.err
    for shown in SHOWN:
        assert shown in human.out, shown
    assert "\\nnewline" in human.out  # a label's newline does not start a line of its own
    labels = [line for line in human.out.splitlines() if line.startswith("  evil")]
    assert len(labels) == 1, human.out

    exact = run(*command("inspect", "--json", "--platform", "linux/amd64", hostile.ref()))
    assert exact.status == 0, exact.err
    assert not unsafe(exact.out)
    document = json.loads(exact.out)
    assert document["labels"] == hostile.config["config"]["Labels"]
    assert document["env"] == hostile.config["config"]["Env"]
    assert document["created"] == hostile.config["created"]
    assert document["layers"][0]["createdBy"] == hostile.config["history"][0]["created_by"]


def test_config_is_exact_json_without_raw_controls(hostile: Hostile) -> None:
    result = run(*command("config", "--platform", "linux/amd64", hostile.ref()))
    assert result.status == 0, result.err
    assert not unsafe(result.out), result.out
    assert json.loads(result.out) == hostile.config


def test_manifest_pretty_is_exact_json_without_raw_controls(hostile: Hostile) -> None:
    result = run(*command("manifest", "--pretty", hostile.ref()))
    assert result.status == 0, result.err
    assert not unsafe(result.out), result.out
    assert json.loads(result.out)["manifests"][1]["platform"]["architecture"] == "arm64" + EVIL


def test_platforms_and_sizes_show_escapes(hostile: Hostile) -> None:
    listed = run(*command("platforms", hostile.ref()))
    assert listed.status == 0, listed.err
    assert not unsafe(listed.out), listed.out
    assert len(listed.out.splitlines()) == 2  # one line per platform, whatever the name holds
    assert "\\x1b[2J" in listed.out
    exact = run(*command("platforms", "--json", hostile.ref()))
    assert not unsafe(exact.out)
    assert json.loads(exact.out)["platforms"][1] == "linux/arm64" + EVIL

    sizes = run(*command("size", "--all-platforms", "--platform", "linux/amd64", hostile.ref()))
    assert sizes.status == 0, sizes.err
    assert not unsafe(sizes.out), sizes.out
    assert "\\u202eevil" in sizes.out


def test_tags_show_escapes(hostile: Hostile) -> None:
    listed = run(*command("tags", hostile.server.ref("evil/app")))
    assert listed.status == 0, listed.err
    assert not unsafe(listed.out), listed.out
    assert len(listed.out.splitlines()) == 2
    exact = run(*command("tags", "--json", hostile.server.ref("evil/app")))
    assert not unsafe(exact.out)
    assert set(json.loads(exact.out)["tags"]) == {"v1", hostile.evil_tag}


def test_referrers_show_escapes(hostile: Hostile) -> None:
    listed = run(*command("referrers", hostile.ref()))
    assert listed.status == 0, listed.err
    assert not unsafe(listed.out), listed.out
    assert "application/vnd.evil\\x1b]0;pwned\\x07" in listed.out
    exact = run(*command("referrers", "--json", hostile.ref()))
    assert json.loads(exact.out)["referrers"][0]["artifactType"] == hostile.artifact_type


def test_a_registrys_error_message_is_escaped_on_the_error_line(hostile: Hostile) -> None:
    result = run(*command("digest", hostile.ref("denied")))
    assert result.status == 5
    assert result.out == ""
    assert not unsafe(result.err), result.err
    lines = result.err.splitlines()
    assert len(lines) == 1, result.err
    assert lines[0].startswith("regimage: error: ")
    assert "\\x1b[2J" in lines[0]


def test_the_debug_traceback_is_escaped_too(hostile: Hostile) -> None:
    result = run(*command("digest", "--debug", hostile.ref("denied")))
    assert result.status == 5
    assert not unsafe(result.err), result.err
    assert result.err.splitlines()[-1].startswith("regimage: error: ")
