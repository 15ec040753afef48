"""The registry lab: three Distribution registries on loopback, a token server, and the corpus.

- ``anonymous``: plain HTTP, no auth (upload ``Location``s are relative: ``http.relativeurls``);
- ``token``: plain HTTP, Docker token auth against the lab's token server (anonymous pull of
  ``public/*``; credentials for ``private/*`` and for any push);
- ``tls``: HTTPS with a per-run CA, htpasswd (bcrypt) Basic auth.

``Lab.start(state_dir)`` runs them, ``Lab.attach(state_dir)`` reuses a lab that
``python -m tests.lab start`` left running; ``state.json`` (mode 0600: it holds the lab password and
the token server's admin key) describes it and ``expected.json`` holds the corpus' answers.
"""

from __future__ import annotations

import atexit
import json
import os
import secrets
import ssl
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.lab import corpus as corpus_module
from tests.lab.builder import PushStats
from tests.lab.client import make_client
from tests.lab.expected import ExpectedImage
from tests.lab.rawhttp import RawClient
from tests.lab.registry import (
    LabStartError,
    ManagedProcess,
    RegistrySpec,
    start_registries,
    start_token_server,
    stop_process,
)
from tests.lab.seed import seed_registries
from tests.lab.storage import claim_storage, release_storage, write_owner
from tests.lab.tls import create_pki
from tests.lab.token_server import TokenServerControl

__all__ = ["FLAVOURS", "Lab", "LabRegistry", "LabStartError"]

FLAVOURS = ("anonymous", "token", "tls")
USERNAME = "regimage"
TOKEN_SERVICE = "regimage-lab"
TOKEN_ISSUER = "regimage-lab-token-issuer"
STATE_FILE = "state.json"
EXPECTED_FILE = "expected.json"
TIMINGS_FILE = "timings.json"


@dataclass(frozen=True, slots=True)
class LabRegistry:
    """One running lab registry and how to reach it."""

    flavour: str  # "anonymous" | "token" | "tls"
    host: str  # "127.0.0.1:PORT"
    base_url: str  # "http://127.0.0.1:PORT" or "https://…"
    plain_http: bool
    ca_file: Path | None  # the CA to trust (tls only)
    username: str | None  # credentials for private/* and push (None on the anonymous registry)
    password: str | None = field(repr=False)
    token_realm: str | None  # the token server URL (token only)
    log_file: Path
    service: str | None = None  # the token `service` (token only)

    def ref(self, repo_tag: str) -> str:
        """``public/x:v1`` → ``127.0.0.1:PORT/public/x:v1``."""
        return f"{self.host}/{repo_tag}"

    def client(self, *, authenticated: bool = True) -> httpx.Client:
        """A plain httpx client for this registry (Basic or Bearer as the registry asks)."""
        return make_client(
            self.base_url,
            ca_file=self.ca_file,
            username=self.username if authenticated else None,
            password=self.password if authenticated else None,
            basic_up_front=self.flavour == "tls",
        )

    def raw_client(self) -> RawClient:
        """The cheaper http.client-based client seeding uses (credentials included)."""
        context = ssl.create_default_context(cafile=str(self.ca_file)) if self.ca_file else None
        return RawClient(
            self.base_url,
            ssl_context=context,
            username=self.username,
            password=self.password,
            basic_up_front=self.flavour == "tls",
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "flavour": self.flavour,
            "host": self.host,
            "base_url": self.base_url,
            "plain_http": self.plain_http,
            "ca_file": str(self.ca_file) if self.ca_file else None,
            "username": self.username,
            "password": self.password,
            "token_realm": self.token_realm,
            "log_file": str(self.log_file),
            "service": self.service,
        }

    @classmethod
    def from_dict(cls, obj: dict[str, Any]) -> LabRegistry:
        return cls(
            flavour=obj["flavour"],
            host=obj["host"],
            base_url=obj["base_url"],
            plain_http=obj["plain_http"],
            ca_file=Path(obj["ca_file"]) if obj["ca_file"] else None,
            username=obj["username"],
            password=obj["password"],
            token_realm=obj["token_realm"],
            log_file=Path(obj["log_file"]),
            service=obj.get("service"),
        )


def _htpasswd(path: Path, username: str, password: str) -> None:
    """A bcrypt htpasswd file (Distribution accepts nothing else); cost 4 keeps requests cheap."""
    result = subprocess.run(
        ["htpasswd", "-niBC", "4", username],
        input=password + "\n",
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    path.write_text(result.stdout.strip() + "\n")
    path.chmod(0o600)


class Lab:
    """A running lab: registries, token server, corpus expectations."""

    def __init__(
        self,
        state_dir: Path,
        registries: dict[str, LabRegistry],
        token_server: TokenServerControl,
        processes: list[ManagedProcess],
        *,
        owned: bool,
        storage_root: Path,
    ) -> None:
        self.state_dir = state_dir
        self.storage_root = storage_root
        self._registries = registries
        self.token_server = token_server
        self.processes = processes
        self.owned = owned  # True when this object started the processes and must stop them
        self.timings: dict[str, float] = {}
        self._stopped = False

    def __repr__(self) -> str:
        hosts = ", ".join(f"{r.flavour}={r.host}" for r in self.registries)
        return f"<Lab({str(self.state_dir)!r}, {hosts})>"

    # -- registries and corpus ---------------------------------------------------------------------
    @property
    def anonymous(self) -> LabRegistry:
        return self._registries["anonymous"]

    @property
    def token(self) -> LabRegistry:
        return self._registries["token"]

    @property
    def tls(self) -> LabRegistry:
        return self._registries["tls"]

    @property
    def registries(self) -> tuple[LabRegistry, ...]:
        return tuple(self._registries[f] for f in FLAVOURS)

    def registry(self, flavour: str) -> LabRegistry:
        return self._registries[flavour]

    @property
    def username(self) -> str:
        return USERNAME

    @property
    def password(self) -> str:
        password = self.token.password
        assert password is not None
        return password

    @property
    def corpus(self) -> dict[str, ExpectedImage]:
        """The public corpus (on every registry), by name."""
        return corpus_module.corpus().images

    @property
    def private(self) -> dict[str, ExpectedImage]:
        """``private/secret`` (token and TLS registries; needs credentials)."""
        return corpus_module.private().images

    @property
    def batch(self) -> dict[str, ExpectedImage]:
        """``batch-000``…``batch-199`` (seeded by ``seed(batch=True)`` only)."""
        return corpus_module.batch()[0].images

    @property
    def many_tags(self) -> dict[str, ExpectedImage]:
        """``public/many-tags``: one image per tag (seeded by ``seed(batch=True)`` only)."""
        return corpus_module.batch()[1].images

    # -- life cycle --------------------------------------------------------------------------------
    @classmethod
    def start(cls, state_dir: Path, *, detach: bool = False) -> Lab:
        """Start a lab under ``state_dir``; ``detach`` lets it outlive this process (the CLI)."""
        begin = time.monotonic()
        state_dir.mkdir(parents=True, exist_ok=True)
        pki = create_pki(state_dir / "pki")
        password = secrets.token_urlsafe(12)
        _htpasswd(state_dir / "htpasswd", USERNAME, password)
        admin_key = secrets.token_urlsafe(16)
        storage = claim_storage(state_dir)
        processes: list[ManagedProcess] = []
        try:
            token_process, token_port = start_token_server(
                {
                    "service": TOKEN_SERVICE,
                    "issuer": TOKEN_ISSUER,
                    "users": {USERNAME: password},
                    "signing_key": str(pki.token_key),
                    "signing_cert": str(pki.token_cert),
                    "admin_key": admin_key,
                    "expires_in": 300,
                },
                state_dir / "token-server",
                detach=detach,
            )
            processes.append(token_process)
            token_url = f"http://127.0.0.1:{token_port}"
            specs = [
                RegistrySpec(
                    "anonymous registry",
                    state_dir / "anonymous",
                    relative_urls=True,
                    storage=storage / "anonymous",
                ),
                RegistrySpec(
                    "token registry",
                    state_dir / "token",
                    storage=storage / "token",
                    auth={
                        "token": {
                            "realm": f"{token_url}/token",
                            "service": TOKEN_SERVICE,
                            "issuer": TOKEN_ISSUER,
                            "rootcertbundle": str(pki.token_root),
                        }
                    },
                ),
                RegistrySpec(
                    "tls registry",
                    state_dir / "tls",
                    auth={
                        "htpasswd": {"realm": "regimage-lab", "path": str(state_dir / "htpasswd")}
                    },
                    tls=(pki.server_cert, pki.server_key),
                    ca_file=pki.ca_file,
                    storage=storage / "tls",
                ),
            ]
            started = start_registries(specs, detach=detach)
            processes.extend(process for process, _ in started)
        except BaseException:
            for process in processes:
                stop_process(process)
            release_storage(storage)
            raise
        write_owner(storage, state_dir, processes)
        ports = {flavour: port for flavour, (_, port) in zip(FLAVOURS, started, strict=True)}
        registries = {
            "anonymous": LabRegistry(
                flavour="anonymous",
                host=f"127.0.0.1:{ports['anonymous']}",
                base_url=f"http://127.0.0.1:{ports['anonymous']}",
                plain_http=True,
                ca_file=None,
                username=None,
                password=None,
                token_realm=None,
                log_file=specs[0].log_file,
            ),
            "token": LabRegistry(
                flavour="token",
                host=f"127.0.0.1:{ports['token']}",
                base_url=f"http://127.0.0.1:{ports['token']}",
                plain_http=True,
                ca_file=None,
                username=USERNAME,
                password=password,
                token_realm=f"{token_url}/token",
                log_file=specs[1].log_file,
                service=TOKEN_SERVICE,
            ),
            "tls": LabRegistry(
                flavour="tls",
                host=f"127.0.0.1:{ports['tls']}",
                base_url=f"https://127.0.0.1:{ports['tls']}",
                plain_http=False,
                ca_file=pki.ca_file,
                username=USERNAME,
                password=password,
                token_realm=None,
                log_file=specs[2].log_file,
            ),
        }
        control = TokenServerControl(token_url, admin_key)
        lab = cls(state_dir, registries, control, processes, owned=True, storage_root=storage)
        if not detach:
            atexit.register(lab.stop)
        lab._write_state()
        lab._write_expected(batch=False)
        lab.timings["start"] = time.monotonic() - begin
        lab._write_timings()
        return lab

    @classmethod
    def attach(cls, state_dir: Path) -> Lab:
        """Reuse a running lab from its ``state.json``; raise LabStartError if it is not running."""
        state_file = state_dir / STATE_FILE
        try:
            state = json.loads(state_file.read_text())
        except (OSError, ValueError) as exc:
            raise LabStartError(f"no lab state at {state_file}: {exc}") from exc
        registries = {f: LabRegistry.from_dict(state["registries"][f]) for f in FLAVOURS}
        control = TokenServerControl(
            state["token_server"]["url"], state["token_server"]["admin_key"]
        )
        processes = [ManagedProcess.from_dict(p) for p in state["processes"]]
        lab = cls(
            state_dir,
            registries,
            control,
            processes,
            owned=False,
            storage_root=Path(state["storage_root"]),
        )
        problems = lab.health()
        if problems:
            raise LabStartError(f"the lab at {state_dir} is not running: " + "; ".join(problems))
        return lab

    def health(self) -> list[str]:
        """What is wrong with the lab (empty when every registry and the token server answer)."""
        problems = []
        for registry in self.registries:
            try:
                with registry.client(authenticated=False) as client:
                    status = client.get("/v2/").status_code
            except httpx.HTTPError as exc:
                problems.append(
                    f"{registry.flavour} registry {registry.host}: {type(exc).__name__}: {exc}"
                )
                continue
            if status not in (200, 401):
                problems.append(f"{registry.flavour} registry {registry.host}: HTTP {status}")
        try:
            self.token_server.get_expires_in()
        except httpx.HTTPError as exc:
            problems.append(
                f"token server {self.token_server.base_url}: {type(exc).__name__}: {exc}"
            )
        return problems

    def stop(self) -> None:
        """Stop every process this lab started (by pid; SIGTERM then SIGKILL). Idempotent."""
        if self._stopped:
            return
        self._stopped = True
        for process in reversed(self.processes):
            stop_process(process)
        release_storage(self.storage_root)
        (self.state_dir / STATE_FILE).unlink(missing_ok=True)

    @classmethod
    def stop_state_dir(cls, state_dir: Path) -> bool:
        """Stop the detached lab described by ``state_dir``; False when there was none."""
        state_file = state_dir / STATE_FILE
        try:
            state = json.loads(state_file.read_text())
        except (OSError, ValueError):
            return False
        for obj in reversed(state["processes"]):
            stop_process(ManagedProcess.from_dict(obj))
        release_storage(Path(state["storage_root"]))
        state_file.unlink(missing_ok=True)
        return True

    # -- seeding -----------------------------------------------------------------------------------
    def seed(self, *, batch: bool = False, verify: bool = False) -> PushStats:
        """Push the corpus (or, with ``batch``, the benchmark batch) into every registry.

        Costs nothing when already done; ``verify=True`` re-checks every manifest and tag with a
        HEAD and pushes what is missing (see ``tests.lab.seed``).
        """
        begin = time.monotonic()
        stats = seed_registries(self.registries, self.storage_root, batch=batch, verify=verify)
        self.timings["seed_batch" if batch else "seed"] = time.monotonic() - begin
        if batch:
            self._write_expected(batch=True)
        self._write_timings()
        return stats

    # -- state files -------------------------------------------------------------------------------
    def _write_state(self) -> None:
        state = {
            "registries": {f: r.to_dict() for f, r in self._registries.items()},
            "token_server": {
                "url": self.token_server.base_url,
                "admin_key": self.token_server.admin_key,
            },
            "processes": [p.to_dict() for p in self.processes],
            "storage_root": str(self.storage_root),
            "pid": os.getpid(),
        }
        path = self.state_dir / STATE_FILE
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=2))
        tmp.chmod(0o600)
        tmp.replace(path)

    def expected(self, *, batch: bool = True) -> dict[str, dict[str, Any]]:
        """The expectations as ``expected.json`` holds them: groups ``corpus``, ``private`` and
        (when seeded) ``batch`` and ``many_tags`` (keyed by tag)."""
        groups: dict[str, Mapping[str, ExpectedImage]] = {
            "corpus": self.corpus,
            "private": self.private,
        }
        if batch:
            groups.update(batch=self.batch, many_tags=self.many_tags)
        return {
            group: {key: image.to_dict() for key, image in images.items()}
            for group, images in groups.items()
        }

    def _write_expected(self, *, batch: bool) -> None:
        path = self.state_dir / EXPECTED_FILE
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(self.expected(batch=batch), sort_keys=True))
        tmp.replace(path)

    def _write_timings(self) -> None:
        """Merge this object's timings into ``timings.json`` (a reused lab keeps its start-up time)."""
        path = self.state_dir / TIMINGS_FILE
        try:
            timings: dict[str, float] = json.loads(path.read_text())
        except (OSError, ValueError):
            timings = {}
        timings.update({k: round(v, 3) for k, v in self.timings.items()})
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(timings, indent=2))
        tmp.replace(path)


def load_expected(state_dir: Path) -> dict[str, dict[str, ExpectedImage]]:
    """Read ``expected.json`` back (for the demo, the benchmark and the CLI)."""
    raw = json.loads((state_dir / EXPECTED_FILE).read_text())
    return {
        group: {k: ExpectedImage.from_dict(v) for k, v in images.items()}
        for group, images in raw.items()
    }
