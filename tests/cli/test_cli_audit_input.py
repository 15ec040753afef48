"""``regimage audit`` input that is not clean UTF-8 text (issue #17, item 8).

Every record line must be valid JSON in UTF-8, whatever the input holds: a line that is not UTF-8
gets an error record of its own and the run goes on; a UTF-8 BOM on the first line is accepted;
NUL bytes, CRLF, Latin-1 bytes, a BOM in the middle, escape sequences and overlong lines each end
as that line's record (or in a comment, as nothing). Run against a small registry of ours over real
sockets, on asyncio and on trio, from a file, from a stdin read by the audit's thread, and from a
real process's piped stdin.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import subprocess
import sys
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from regimage.cli.audit.source import MAX_LINE_BYTES, Lines, first_reference
from regimage.cli.core import main
from regimage.cli.status import ExitStatus
from tests.faults.documents import MiniRegistry, config_blob, manifest_blob
from tests.faults.server import ScriptedServer

UNSAFE = {"Cc", "Cf", "Cs", "Zl", "Zp"}
OVERLONG = 100_000


@pytest.fixture(params=["asyncio", "trio"])
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    monkeypatch.setenv("REGIMAGE_BACKEND", request.param)
    for name in ("REGIMAGE_USERNAME", "REGIMAGE_PASSWORD", "REGISTRY_AUTH_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "run"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return str(request.param)


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    script = MiniRegistry()
    script.add(manifest_blob(script.add(config_blob())), tag="v1")
    with ScriptedServer(script) as serving:
        yield serving


def hostile_input(good: bytes) -> tuple[bytes, list[bool]]:
    """An input file and, per record it must give, whether that record is ok."""
    lines = [
        (b"\xef\xbb\xbf" + good + b"\r\n", True),  # a BOM first, and CRLF
        (b"caf\xe9.example/app:v1\n", False),  # Latin-1: not UTF-8
        (good + b"  # caf\xe9, in a comment only\n", True),
        (b"# caf\xe9 \xff\xfe a comment line that is not UTF-8\n", None),
        (b"\n", None),
        (b"ok\x00/app:v1\n", False),  # NUL
        (b"\xef\xbb\xbf" + good + b"\n", False),  # a BOM in the middle
        (b"x" * OVERLONG + b"\n", False),  # an overlong line
        (good + b" # " + b"y" * OVERLONG + b"\n", True),  # an overlong comment
        (b"\xff\xfe\n", False),
        (b"\xc3\n", False),  # a sequence cut short
        (b"\xed\xa0\x80/app:v1\n", False),  # an encoded surrogate (CESU): not UTF-8
        (b"\x1b[2J\x1b]0;pwned\x07/x:1\n", False),  # escape sequences
        (b"\xe2\x80\xae" + good + b"\n", False),  # a bidi override before the reference
        (good, True),  # no newline at the end
    ]
    data = b"".join(line for line, _ in lines)
    return data, [ok for _, ok in lines if ok is not None]


def check_records(raw: bytes, expected: list[bool]) -> list[dict[str, Any]]:
    """Each line valid UTF-8 and JSON, with nothing a terminal would act on; ok as expected."""
    records = []
    for line in raw.split(b"\n")[:-1]:
        text = line.decode("utf-8")  # strict
        assert not [c for c in text if unicodedata.category(c) in UNSAFE], text
        record = json.loads(text)
        json.dumps(record, ensure_ascii=False).encode("utf-8")  # no lone surrogates inside
        assert len(line) < 20_000  # an overlong line does not become an overlong record
        records.append(record)
    assert raw.endswith(b"\n")
    assert [r["ok"] for r in records] == expected, records
    assert [r["index"] for r in records] == list(range(len(expected)))
    failed = [r for r in records if not r["ok"]]
    assert {(r["error"]["kind"], r["error"]["exitCode"]) for r in failed} == {
        ("InvalidReference", 3)
    }
    assert "not UTF-8" in records[1]["error"]["message"], records[1]
    return records


def run(argv: list[str], stdin: io.TextIOBase) -> tuple[int, bytes, str]:
    stdout = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", newline="")
    stderr = io.StringIO()
    status = main(argv, stdout=stdout, stderr=stderr, stdin=stdin)  # type: ignore[arg-type]
    stdout.flush()
    raw = stdout.buffer.getvalue()
    assert "Traceback" not in stderr.getvalue()
    return status, raw, stderr.getvalue()


def test_audit_file_that_is_not_utf8(backend: str, server: ScriptedServer, tmp_path: Path) -> None:
    data, expected = hostile_input(server.ref("evil/app:v1").encode())
    refs = tmp_path / "refs.txt"
    refs.write_bytes(data)
    status, raw, err = run(["audit", "--no-cache", "--file", str(refs)], io.StringIO())
    check_records(raw, expected)
    assert status == ExitStatus.INVALID_REFERENCE, err
    assert f"{len(expected)} references: {expected.count(True)} ok" in err


def test_audit_stdin_that_is_not_utf8(backend: str, server: ScriptedServer) -> None:
    data, expected = hostile_input(server.ref("evil/app:v1").encode())
    stdin = io.TextIOWrapper(io.BytesIO(data), encoding="utf-8")  # as sys.stdin: text over bytes
    status, raw, err = run(["audit", "--no-cache"], stdin)
    check_records(raw, expected)
    assert status == ExitStatus.INVALID_REFERENCE, err


def test_audit_csv_of_input_that_is_not_utf8(
    backend: str, server: ScriptedServer, tmp_path: Path
) -> None:
    data, expected = hostile_input(server.ref("evil/app:v1").encode())
    refs = tmp_path / "refs.txt"
    refs.write_bytes(data)
    status, raw, _ = run(["audit", "--no-cache", "--csv", "--file", str(refs)], io.StringIO())
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8"))))
    assert [row["ok"] == "true" for row in rows] == expected
    for row in rows:
        for value in row.values():
            assert not [c for c in value if unicodedata.category(c) in UNSAFE], value
    assert status == ExitStatus.INVALID_REFERENCE


def test_audit_piped_stdin_of_a_real_process(
    backend: str, server: ScriptedServer, tmp_path: Path
) -> None:
    data, expected = hostile_input(server.ref("evil/app:v1").encode())
    env = {k: v for k, v in os.environ.items() if not k.startswith("LC_")}
    env.update(LANG="C.UTF-8", PYTHONWARNINGS="error")
    done = subprocess.run(
        [sys.executable, "-m", "regimage", "audit", "--no-cache"],
        input=data,
        capture_output=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert b"Traceback" not in done.stderr, done.stderr.decode("utf-8", "replace")
    check_records(done.stdout, expected)
    assert done.returncode == ExitStatus.INVALID_REFERENCE


def test_a_bom_alone_on_the_first_line_and_an_empty_input(
    backend: str, server: ScriptedServer, tmp_path: Path
) -> None:
    refs = tmp_path / "refs.txt"
    refs.write_bytes(b"\xef\xbb\xbf\n" + server.ref("evil/app:v1").encode() + b"\n")
    status, raw, _ = run(["audit", "--no-cache", "--file", str(refs)], io.StringIO())
    assert [json.loads(line)["ok"] for line in raw.splitlines()] == [True]
    assert status == 0
    refs.write_bytes(b"")
    status, raw, err = run(["audit", "--no-cache", "--file", str(refs)], io.StringIO())
    assert (status, raw) == (0, b"")
    assert "audited 0 references" in err


def test_the_start_up_names_the_first_reference_of_such_a_file(tmp_path: Path) -> None:
    """The start-up connection's reference (regimage.cli.preconnect) is read the same way: the
    first line's BOM is not part of the host, a comment that is not UTF-8 is no matter."""
    refs = tmp_path / "refs.txt"
    refs.write_bytes(b"\xef\xbb\xbfghcr.io/acme/api:1.4  # caf\xe9\r\nquay.io/x/y:1\n")
    assert first_reference(argparse.Namespace(refs=[], file=str(refs))) == "ghcr.io/acme/api:1.4"


@pytest.mark.parametrize(
    ("data", "lines"),
    [
        (b"\xef\xbb\xbfa\r\nb\n", ["a\r\n", "b\n"]),
        (b"\xef\xbb\xbf", ["\n"]),  # a BOM alone: a blank line
        (b"a\xef\xbb\xbf\n\xef\xbb\xbfb", ["a\ufeff\n", "\ufeffb"]),  # only the first is dropped
        (b"caf\xe9\n\xc3\xa9\n", ["caf\udce9\n", "\u00e9\n"]),
        (b"x" * (MAX_LINE_BYTES + 10) + b"\nnext\n", ["x" * MAX_LINE_BYTES, "next\n"]),
        # a line cut inside a character loses that character, not a byte of it
        (b"x" * (MAX_LINE_BYTES - 1) + "\u00e9".encode() + b"\n", ["x" * (MAX_LINE_BYTES - 1)]),
    ],
)
def test_lines(data: bytes, lines: list[str]) -> None:
    for stream in (io.BytesIO(data), io.TextIOWrapper(io.BytesIO(data), encoding="utf-8")):
        source = Lines(stream)
        read = []
        while line := source.readline():
            read.append(line)
        assert read == lines
