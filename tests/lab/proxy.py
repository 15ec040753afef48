"""A real forward proxy for the lab: tinyproxy (Debian's), on loopback, with or without Basic auth.

tinyproxy is the lighter of the two Debian proxies that do what users' proxies do for registry
clients: ``CONNECT`` tunnels (for HTTPS) and absolute-form requests (for plain HTTP), Basic proxy
authentication (``BasicAuth``). Each one listens on 127.0.0.1 on a port picked for it, allows only
127.0.0.1, logs every request line (``LogLevel Connect``: ``CONNECT 127.0.0.1:PORT HTTP/1.1``,
never a header) to its own file, and is stopped by process id. ``scripts/_env.sh`` installs it.

Fixtures (session-scoped, started on first use): ``forward_proxy`` (no auth) and ``auth_proxy``
(Basic auth, user ``regimage``, a random password).
"""

from __future__ import annotations

import ctypes
import secrets
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.lab.registry import LabStartError, free_port, log_tail

__all__ = ["ForwardProxy", "auth_proxy", "forward_proxy", "start_proxy"]

TINYPROXY = "tinyproxy"
#: How long tinyproxy may take to listen.
READY_TIMEOUT_SECONDS = 10.0
PORT_ATTEMPTS = 5
_PR_SET_PDEATHSIG = 1


@dataclass(slots=True)
class ForwardProxy:
    """A running tinyproxy: where it listens, its credentials (if any), its request log."""

    port: int
    log_file: Path
    process: subprocess.Popen[bytes]
    username: str | None = None
    password: str | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``: without credentials."""
        return f"http://127.0.0.1:{self.port}"

    def url_with(self, username: str | None = None, password: str | None = None) -> str:
        """The proxy URL carrying ``username:password`` (its own credentials by default)."""
        user = self.username if username is None else username
        secret = self.password if password is None else password
        return f"http://{user}:{secret}@127.0.0.1:{self.port}"

    def mark(self) -> int:
        """Where the log ends now: :meth:`requests` since then."""
        try:
            return self.log_file.stat().st_size
        except FileNotFoundError:
            return 0

    def requests(self, since: int = 0) -> list[str]:
        """The request lines the proxy logged after ``since`` (``CONNECT 127.0.0.1:5000 HTTP/1.1``,
        ``GET http://127.0.0.1:5000/v2/ HTTP/1.1``)."""
        with self.log_file.open("rb") as log:
            log.seek(since)
            text = log.read().decode("utf-8", "replace")
        marker = "): "
        return [
            line.split(marker, 1)[1].strip()
            for line in text.splitlines()
            if "Request (file descriptor" in line and marker in line
        ]

    def stop(self) -> None:
        """SIGTERM, then SIGKILL; by process id (ours) only."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5.0)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5.0)


def _die_with_parent() -> None:  # pragma: no cover  (runs in the child between fork and exec)
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _config(port: int, log_file: Path, auth: tuple[str, str] | None) -> str:
    lines = [
        "Listen 127.0.0.1",
        f"Port {port}",
        "Timeout 30",
        f'LogFile "{log_file}"',
        "LogLevel Connect",
        "MaxClients 64",
        "Allow 127.0.0.1",
        "DisableViaHeader Yes",
    ]
    if auth is not None:
        lines.append(f"BasicAuth {auth[0]} {auth[1]}")
    return "\n".join(lines) + "\n"


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def start_proxy(directory: Path, *, auth: bool = False) -> ForwardProxy:
    """Start tinyproxy in ``directory`` (its config and logs go there); with ``auth``, Basic
    auth is required. Raises :class:`LabStartError` when it does not come up."""
    binary = shutil.which(TINYPROXY)
    if binary is None:
        raise LabStartError("tinyproxy is not installed: run scripts/test (scripts/_env.sh)")
    directory.mkdir(parents=True, exist_ok=True)
    credentials = ("regimage", secrets.token_urlsafe(12)) if auth else None
    last = "no attempt"
    for _ in range(PORT_ATTEMPTS):
        port = free_port()
        log_file = directory / f"tinyproxy-{port}.log"
        config = directory / f"tinyproxy-{port}.conf"
        config.write_text(_config(port, log_file, credentials))
        output = directory / f"tinyproxy-{port}.out"
        with output.open("ab") as out:
            process = subprocess.Popen(
                [binary, "-d", "-c", str(config)],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"},
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        proxy = ForwardProxy(
            port,
            log_file,
            process,
            credentials[0] if credentials else None,
            credentials[1] if credentials else None,
        )
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while time.monotonic() < deadline and process.poll() is None:
            if _listening(port):
                return proxy
            time.sleep(0.02)
        proxy.stop()
        last = log_tail(output)
    raise LabStartError(f"tinyproxy did not start; its output:\n{last}")


@pytest.fixture(scope="session")
def forward_proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ForwardProxy]:
    """tinyproxy on loopback, no authentication."""
    proxy = start_proxy(tmp_path_factory.mktemp("proxy"))
    try:
        yield proxy
    finally:
        proxy.stop()


@pytest.fixture(scope="session")
def auth_proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ForwardProxy]:
    """tinyproxy on loopback that wants Basic proxy authentication (``auth_proxy.url_with()``)."""
    proxy = start_proxy(tmp_path_factory.mktemp("auth-proxy"), auth=True)
    try:
        yield proxy
    finally:
        proxy.stop()
