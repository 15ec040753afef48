"""Start and stop the lab's processes: CNCF Distribution (``docker-registry serve``) and the token server.

Every process listens on 127.0.0.1 on a port picked for it (never 5000, never the system
registry), logs to its own file, and is stopped by process id only. When the lab belongs to a test
session, the kernel also stops the children if the session dies (``PR_SET_PDEATHSIG``).
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

__all__ = [
    "LabStartError",
    "ManagedProcess",
    "RegistrySpec",
    "free_port",
    "log_tail",
    "render_yaml",
    "start_registries",
    "start_token_server",
    "stop_process",
]

DISTRIBUTION = "docker-registry"
#: How long a registry or the token server may take to answer its first request.
READY_TIMEOUT_SECONDS = 20.0
#: How long a process gets between SIGTERM and SIGKILL.
STOP_GRACE_SECONDS = 5.0
PORT_ATTEMPTS = 5
_PR_SET_PDEATHSIG = 1


class LabStartError(RuntimeError):
    """A lab process did not come up; the message carries the tail of its log."""


@dataclass(frozen=True, slots=True)
class ManagedProcess:
    """A lab process, identified by pid and by a marker that its command line must contain."""

    name: str
    pid: int
    marker: str  # e.g. the config path: proves a pid still belongs to us before we signal it
    log_file: Path

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "pid": self.pid,
            "marker": self.marker,
            "log_file": str(self.log_file),
        }

    @classmethod
    def from_dict(cls, obj: dict[str, Any]) -> ManagedProcess:
        return cls(str(obj["name"]), int(obj["pid"]), str(obj["marker"]), Path(obj["log_file"]))

    def is_ours(self) -> bool:
        """True while the pid is alive (not a zombie) and still runs our command line."""
        try:
            cmdline = Path(f"/proc/{self.pid}/cmdline").read_bytes()
            stat = Path(f"/proc/{self.pid}/stat").read_text()
        except OSError:
            return False
        state = stat.rpartition(")")[2].split()[0]
        return state != "Z" and self.marker.encode() in cmdline


#: Popen objects of processes this interpreter started, by pid (so that we reap them).
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


def free_port() -> int:
    """A port the kernel considers free on 127.0.0.1 right now (the caller retries on collision)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def log_tail(path: Path, lines: int = 25) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


def _die_with_parent() -> None:  # pragma: no cover  (runs in the child between fork and exec)
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _spawn(
    name: str, argv: list[str], log_file: Path, marker: str, *, detach: bool
) -> ManagedProcess:
    # A clean environment: no REGISTRY_* overrides, no proxies, no user configuration.
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(log_file.parent),
        "LANG": "C.UTF-8",
    }
    if "PYTHONPATH" in os.environ:
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    with log_file.open("ab") as log:
        popen = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=str(Path(__file__).resolve().parents[2]),  # the repo, for `python -m tests.lab…`
            start_new_session=True,  # a Ctrl-C at the terminal is ours to handle, not theirs
            preexec_fn=None if detach else _die_with_parent,
        )
    _CHILDREN[popen.pid] = popen
    return ManagedProcess(name, popen.pid, marker, log_file)


def stop_process(process: ManagedProcess, grace: float = STOP_GRACE_SECONDS) -> None:
    """SIGTERM, then SIGKILL after ``grace`` seconds; only if the pid is still ours."""
    popen = _CHILDREN.pop(process.pid, None)
    if popen is not None:
        if popen.poll() is None:
            popen.terminate()
            try:
                popen.wait(grace)
            except subprocess.TimeoutExpired:
                popen.kill()
                popen.wait(grace)
        return
    if not process.is_ours():
        return
    os.kill(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if not process.is_ours():
            return
        time.sleep(0.02)
    if process.is_ours():
        os.kill(process.pid, signal.SIGKILL)


def _exited(process: ManagedProcess) -> bool:
    popen = _CHILDREN.get(process.pid)
    if popen is not None:
        return popen.poll() is not None
    return not process.is_ours()


def _wait_http(process: ManagedProcess, url: str, verify: ssl.SSLContext | bool) -> None:
    """Wait until ``url`` answers 200 or 401; raise LabStartError with the log tail otherwise."""
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    last_error = "no answer"
    with httpx.Client(verify=verify, trust_env=False, timeout=2.0) as client:
        while time.monotonic() < deadline:
            if _exited(process):
                raise LabStartError(
                    f"{process.name} exited during start-up; log {process.log_file}:\n"
                    f"{log_tail(process.log_file)}"
                )
            try:
                status = client.get(url).status_code
            except httpx.TransportError as exc:
                last_error = f"{type(exc).__name__}: {exc}"
            else:
                if status in (200, 401):
                    return
                last_error = f"HTTP {status}"
            time.sleep(0.02)
    stop_process(process)
    raise LabStartError(
        f"{process.name} did not answer {url} within {READY_TIMEOUT_SECONDS:.0f} s ({last_error}); "
        f"log {process.log_file}:\n{log_tail(process.log_file)}"
    )


# ── Distribution ───────────────────────────────────────────────────────────────────────────────────


def _yaml_scalar(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return json.dumps(str(value))  # a JSON string is a valid YAML double-quoted scalar


def render_yaml(obj: dict[str, Any], indent: int = 0) -> str:
    """Block-style YAML for nested dicts/lists of scalars (all Distribution's config needs)."""
    lines: list[str] = []
    pad = "  " * indent
    for key, value in obj.items():
        if isinstance(value, dict):
            lines.append(f"{pad}{key}:")
            lines.append(render_yaml(value, indent + 1))
        elif isinstance(value, list):
            lines.append(f"{pad}{key}:")
            lines.extend(f"{pad}  - {_yaml_scalar(item)}" for item in value)
        else:
            lines.append(f"{pad}{key}: {_yaml_scalar(value)}")
    return "\n".join(lines)


def registry_config(
    *,
    port: int,
    storage: Path,
    secret: str,
    auth: dict[str, Any] | None = None,
    tls: tuple[Path, Path] | None = None,
    relative_urls: bool = False,
    quiet: bool = False,
    proxy: str | None = None,
) -> dict[str, Any]:
    """Distribution 2.8's configuration for one lab registry; ``quiet`` logs errors only (no
    access log), so that a benchmark's registry spends this machine's CPU on answers alone;
    ``proxy`` (a registry URL) makes it a pull-through cache of that registry."""
    http: dict[str, Any] = {
        "addr": f"127.0.0.1:{port}",
        "secret": secret,
        "relativeurls": relative_urls,
        "headers": {"X-Content-Type-Options": ["nosniff"]},
    }
    if tls is not None:
        http["tls"] = {"certificate": str(tls[0]), "key": str(tls[1])}
    config: dict[str, Any] = {
        "version": 0.1,
        "log": {
            "level": "error" if quiet else "info",
            "formatter": "text",
            "accesslog": {"disabled": quiet},
        },
        "storage": {
            "filesystem": {"rootdirectory": str(storage)},
            "delete": {"enabled": True},
            "cache": {"blobdescriptor": "inmemory"},
            "maintenance": {"uploadpurging": {"enabled": False}},
        },
        "http": http,
        "health": {"storagedriver": {"enabled": False}},
    }
    if auth is not None:
        config["auth"] = auth
    if proxy is not None:
        config["proxy"] = {"remoteurl": proxy}
    return config


@dataclass(frozen=True, slots=True)
class RegistrySpec:
    """How to run one lab registry (everything but the port, which is picked at launch)."""

    name: str
    directory: Path
    auth: dict[str, Any] | None = None
    tls: tuple[Path, Path] | None = None  # certificate, key
    ca_file: Path | None = None
    relative_urls: bool = False
    storage: Path | None = None  # default: DIRECTORY/storage
    quiet: bool = False  # errors only, no access log (the benchmark's registry)
    proxy: str | None = None  # a pull-through cache of the registry at this URL

    @property
    def config_file(self) -> Path:
        return self.directory / "config.yml"

    @property
    def log_file(self) -> Path:
        return self.directory / "registry.log"


def _launch(spec: RegistrySpec, *, detach: bool) -> tuple[ManagedProcess, int]:
    spec.directory.mkdir(parents=True, exist_ok=True)
    port = free_port()
    config = registry_config(
        port=port,
        storage=spec.storage or spec.directory / "storage",
        secret=os.urandom(16).hex(),
        auth=spec.auth,
        tls=spec.tls,
        relative_urls=spec.relative_urls,
        quiet=spec.quiet,
        proxy=spec.proxy,
    )
    spec.config_file.write_text(render_yaml(config) + "\n")
    argv = [DISTRIBUTION, "serve", str(spec.config_file)]
    return _spawn(spec.name, argv, spec.log_file, str(spec.config_file), detach=detach), port


def _wait_registry(spec: RegistrySpec, process: ManagedProcess, port: int) -> None:
    verify: ssl.SSLContext | bool = False
    if spec.ca_file is not None:
        verify = ssl.create_default_context(cafile=str(spec.ca_file))
    scheme = "https" if spec.tls is not None else "http"
    _wait_http(process, f"{scheme}://127.0.0.1:{port}/v2/", verify)


def start_registries(
    specs: list[RegistrySpec], *, detach: bool = False
) -> list[tuple[ManagedProcess, int]]:
    """Start every registry on a free port, then wait until each answers ``/v2/``.

    Processes are spawned from the calling thread (``PR_SET_PDEATHSIG`` is tied to it); a registry
    that lost its port to someone else between pick and bind is started again on another.
    """
    started = [_launch(spec, detach=detach) for spec in specs]
    try:
        for i, spec in enumerate(specs):
            for attempt in range(PORT_ATTEMPTS):
                process, port = started[i]
                try:
                    _wait_registry(spec, process, port)
                except LabStartError:
                    if attempt + 1 < PORT_ATTEMPTS and "address already in use" in log_tail(
                        spec.log_file
                    ):
                        stop_process(process)
                        started[i] = _launch(spec, detach=detach)
                        continue
                    raise
                break
    except BaseException:
        for process, _ in started:
            stop_process(process)
        raise
    return started


def start_token_server(
    config: dict[str, Any], directory: Path, *, detach: bool = False
) -> tuple[ManagedProcess, int]:
    """Start the token server process; it binds a port itself and reports it in a ready file."""
    directory.mkdir(parents=True, exist_ok=True)
    config_file = directory / "token-server.json"
    ready_file = directory / "token-server.ready"
    ready_file.unlink(missing_ok=True)
    config_file.write_text(json.dumps({**config, "ready_file": str(ready_file)}))
    config_file.chmod(0o600)
    log_file = directory / "token-server.log"
    process = _spawn(
        "token server",
        [sys.executable, "-m", "tests.lab.token_server", str(config_file)],
        log_file,
        str(config_file),
        detach=detach,
    )
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while not ready_file.exists():
        if _exited(process) or time.monotonic() > deadline:
            with contextlib.suppress(Exception):
                stop_process(process)
            raise LabStartError(
                f"the token server did not start; log {log_file}:\n{log_tail(log_file)}"
            )
        time.sleep(0.01)
    port = int(json.loads(ready_file.read_text())["port"])
    _wait_http(process, f"http://127.0.0.1:{port}/token", False)
    return process, port
