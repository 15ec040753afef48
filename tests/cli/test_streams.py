"""The console script's standard streams as a shell leaves them (issue #17): a reader that left
(``| head -1``), a closed stdout (``>&-``), a full disk (``>/dev/full``), a closed or full stderr.

Real subprocesses (``python -m regimage``) on an OCI layout, so no network; with Python's output
buffered (the failure comes when it is flushed) and unbuffered (at the write). The rule, for every
command (:mod:`regimage.cli.streams`): the reader gone ends the command quietly with 141; a stdout
that cannot be written is one ``regimage: error:`` line and 1; what stderr cannot take is dropped
and the exit status stands. Never a traceback, never "Exception ignored" at the interpreter's exit.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO

import pytest

from regimage.cli.status import ExitStatus
from tests.cli.test_cli import write_layout

#: A bound on every wait: a regression fails rather than hangs.
TIMEOUT = 60

BUFFERING = pytest.mark.parametrize("unbuffered", [False, True], ids=["buffered", "unbuffered"])
DEV_FULL = pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full")

FULL = b"regimage: error: cannot write to standard output: No space left on device\n"
CLOSED = b"regimage: error: cannot write to standard output: Bad file descriptor\n"


@pytest.fixture
def layout(tmp_path: Path) -> Path:
    """An OCI layout of three corpus images (test_cli.py's)."""
    return write_layout(tmp_path)


def environment(unbuffered: bool) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    if unbuffered:
        env["PYTHONUNBUFFERED"] = "1"
    env["REGIMAGE_PRECONNECT"] = "0"
    return env


def regimage(*args: str) -> list[str]:
    return [sys.executable, "-m", "regimage", *args]


def shell(redirections: str, argv: Sequence[str]) -> list[str]:
    """``argv`` run by sh with ``redirections`` as a user types them (``>&-``, ``2>&-``)."""
    return ["/bin/sh", "-c", f'exec "$@" {redirections}', "sh", *argv]


def commands(layout: Path) -> dict[str, list[str]]:
    """One command of each kind of output."""
    return {
        "text": ["tags", f"oci:{layout}"],
        "bytes": ["manifest", f"oci:{layout}:many-layers"],
        "help": ["--help"],
        "version": ["--version"],
        "audit": ["audit", *[f"oci:{layout}:many-layers"] * 3],
    }


KINDS = ("text", "bytes", "help", "version", "audit")


def finished(process: subprocess.Popen[bytes]) -> tuple[int, bytes]:
    _, err = process.communicate(timeout=TIMEOUT)
    return process.returncode, err


def with_a_reader_that_left(argv: Sequence[str], unbuffered: bool) -> tuple[int, bytes]:
    """Run ``argv`` with stdout a pipe whose reader has gone: every write meets EPIPE."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        process = subprocess.Popen(
            argv, stdout=write_end, stderr=subprocess.PIPE, env=environment(unbuffered)
        )
    finally:
        os.close(write_end)
    return finished(process)


# ── stdout ────────────────────────────────────────────────────────────────────────────────────────


@BUFFERING
@pytest.mark.parametrize("kind", KINDS)
def test_a_reader_that_left_ends_every_command_quietly(
    layout: Path, kind: str, unbuffered: bool
) -> None:
    status, err = with_a_reader_that_left(regimage(*commands(layout)[kind]), unbuffered)
    assert (status, err) == (ExitStatus.BROKEN_PIPE, b"")


@BUFFERING
@pytest.mark.parametrize("kind", KINDS)
def test_a_closed_stdout_is_one_error_line(layout: Path, kind: str, unbuffered: bool) -> None:
    argv = shell(">&-", regimage(*commands(layout)[kind]))
    process = subprocess.Popen(argv, stderr=subprocess.PIPE, env=environment(unbuffered))
    assert finished(process) == (ExitStatus.ERROR, CLOSED)


@DEV_FULL
@BUFFERING
@pytest.mark.parametrize("kind", KINDS)
def test_a_full_disk_is_one_error_line(layout: Path, kind: str, unbuffered: bool) -> None:
    with open("/dev/full", "wb") as full:
        process = subprocess.Popen(
            regimage(*commands(layout)[kind]),
            stdout=full,
            stderr=subprocess.PIPE,
            env=environment(unbuffered),
        )
    assert finished(process) == (ExitStatus.ERROR, FULL)


def test_a_command_that_writes_nothing_is_not_hurt_by_a_closed_stdout(layout: Path) -> None:
    argv = shell(">&-", regimage("size", f"oci:{layout}:nope"))
    process = subprocess.Popen(argv, stderr=subprocess.PIPE, env=environment(False))
    status, err = finished(process)
    assert status == ExitStatus.NOT_FOUND
    assert err.startswith(b"regimage: error: no image tagged 'nope'")


# ── stderr ────────────────────────────────────────────────────────────────────────────────────────


def failing_stderr_runs(layout: Path) -> Iterator[tuple[list[str], ExitStatus]]:
    """Commands that write to stderr (an error, a traceback, a usage message, a warning, audit's
    summary) and the status each must keep."""
    yield ["size", f"oci:{layout}:nope"], ExitStatus.NOT_FOUND
    yield ["--debug", "size", f"oci:{layout}:nope"], ExitStatus.NOT_FOUND
    yield ["size", "--frobnicate"], ExitStatus.USAGE
    yield ["--insecure", "digest", f"oci:{layout}:many-layers"], ExitStatus.OK
    yield ["audit", f"oci:{layout}:many-layers"], ExitStatus.OK


@BUFFERING
@pytest.mark.parametrize("redirection", ["2>&-", "2>/dev/full", "2>&- >&-"])
def test_a_stderr_that_cannot_be_written_keeps_the_exit_status(
    layout: Path, redirection: str, unbuffered: bool
) -> None:
    if "/dev/full" in redirection and not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full")
    for args, expected in failing_stderr_runs(layout):
        if ">&-" in redirection.replace("2>&-", "") and expected == ExitStatus.OK:
            expected = ExitStatus.ERROR  # these write an answer: to a closed stdout
        argv = shell(redirection, regimage(*args))
        process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, env=environment(unbuffered))
        assert process.wait(timeout=TIMEOUT) == expected, args


@BUFFERING
def test_a_stderr_whose_reader_left_keeps_the_exit_status(layout: Path, unbuffered: bool) -> None:
    for args, expected in failing_stderr_runs(layout):
        read_end, write_end = os.pipe()
        os.close(read_end)
        try:
            process = subprocess.Popen(
                regimage(*args),
                stdout=subprocess.DEVNULL,
                stderr=write_end,
                env=environment(unbuffered),
            )
        finally:
            os.close(write_end)
        assert process.wait(timeout=TIMEOUT) == expected, args


# ── an audit whose reader leaves in the middle ────────────────────────────────────────────────────


def _read_one_line_then_leave(process: subprocess.Popen[bytes]) -> bytes:
    assert process.stdout is not None
    first = process.stdout.readline()
    process.stdout.close()
    return first


def test_an_audit_of_many_references_stops_at_once_when_its_reader_leaves(
    layout: Path, tmp_path: Path
) -> None:
    listed = tmp_path / "refs.txt"
    listed.write_text(f"oci:{layout}:many-layers\n" * 5000)
    process = subprocess.Popen(
        regimage("audit", "--file", str(listed)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=environment(False),
    )
    assert b'"index":0' in _read_one_line_then_leave(process)
    assert finished(process) == (ExitStatus.BROKEN_PIPE, b"")


def test_an_audit_reading_a_pipe_that_stays_open_stops_when_its_reader_leaves(
    layout: Path,
) -> None:
    """References arrive on stdin from a producer that has not finished: the audit still ends
    (141, quietly) when its own reader leaves, without waiting for the end of its input."""
    process = subprocess.Popen(
        regimage("audit"),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=environment(False),
    )
    stdin: IO[bytes] | None = process.stdin
    assert stdin is not None
    done = threading.Event()

    def produce() -> None:  # a producer that keeps its end open until the audit has gone
        line = f"oci:{layout}:many-layers\n".encode()
        try:
            while not done.is_set():
                stdin.write(line * 50)
                stdin.flush()
        except (BrokenPipeError, ValueError):
            pass

    producer = threading.Thread(target=produce, daemon=True)
    producer.start()
    try:
        assert b'"index":0' in _read_one_line_then_leave(process)
        assert process.wait(timeout=TIMEOUT) == ExitStatus.BROKEN_PIPE
        assert process.stderr is not None
        assert process.stderr.read() == b""
    finally:
        done.set()
        process.kill()
        producer.join(timeout=TIMEOUT)
        for stream in (stdin, process.stderr):
            if stream is not None:
                with contextlib.suppress(OSError):  # what the producer left in its buffer
                    stream.close()
