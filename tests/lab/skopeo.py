"""skopeo as an independent oracle: what another client reads from the lab's registries.

Every call is isolated from the user's configuration (HOME, XDG directories, registries.conf,
auth files and registries.d point into a private temporary directory), uses fully-qualified
``docker://127.0.0.1:PORT/…`` references only (no short-name resolution, nothing off-machine),
passes ``--no-tags`` (skopeo lists every tag by default) and has a timeout.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tests.lab.lab import LabRegistry

__all__ = [
    "Call",
    "SkopeoError",
    "digest",
    "inspect",
    "inspect_config",
    "inspect_json",
    "inspect_layout",
    "platform_flags",
    "run",
    "run_all",
]

SKOPEO = "skopeo"
#: Per call; skopeo also gets it as --command-timeout.
TIMEOUT_SECONDS = 60

_HOME: Path | None = None
_HOME_LOCK = threading.Lock()


class SkopeoError(RuntimeError):
    """skopeo failed; the message holds its stderr (never a password: those go in argv only)."""

    def __init__(self, message: str, stderr: str) -> None:
        super().__init__(message)
        self.stderr = stderr


def _home() -> Path:
    """A private HOME (one per process) with an empty registries.conf: no mirrors, no aliases."""
    global _HOME
    with _HOME_LOCK:
        if _HOME is None or not _HOME.exists():
            home = Path(tempfile.mkdtemp(prefix="regimage-skopeo-"))
            (home / "registries.conf").write_text(
                'unqualified-search-registries = []\nshort-name-mode = "disabled"\n'
            )
            (home / "registries.d").mkdir()
            (home / "run").mkdir(mode=0o700)
            (home / "tmp").mkdir()
            (home / "policy.json").write_text(
                json.dumps({"default": [{"type": "insecureAcceptAnything"}]})
            )
            atexit.register(shutil.rmtree, home, True)
            _HOME = home
        return _HOME


def _env(home: Path) -> dict[str, str]:
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / "config"),
        "XDG_RUNTIME_DIR": str(home / "run"),
        "XDG_DATA_HOME": str(home / "data"),
        "XDG_CACHE_HOME": str(home / "cache"),
        "CONTAINERS_REGISTRIES_CONF": str(home / "registries.conf"),
        "REGISTRIES_CONFIG_PATH": str(home / "registries.conf"),
        "TMPDIR": str(home / "tmp"),
        "LANG": "C.UTF-8",
    }


def _cert_dir(registry: LabRegistry) -> Path:
    """skopeo's --cert-dir wants a directory holding ``ca.crt``; kept beside the CA and refreshed
    when a restarted lab (same state directory) made a new CA."""
    assert registry.ca_file is not None
    directory = registry.ca_file.parent / "skopeo-certs"
    target = directory / "ca.crt"
    ca = registry.ca_file.read_bytes()
    if not target.exists() or target.read_bytes() != ca:
        directory.mkdir(exist_ok=True)
        tmp = directory / f"ca.crt.{os.getpid()}.{threading.get_ident()}.tmp"
        tmp.write_bytes(ca)
        tmp.replace(target)
    return directory


def platform_flags(platform: str) -> list[str]:
    """``linux/arm/v7`` → ``--override-os linux --override-arch arm --override-variant v7``."""
    parts = platform.split("/")
    flags = ["--override-os", parts[0], "--override-arch", parts[1]]
    if len(parts) > 2:
        flags += ["--override-variant", parts[2]]
    return flags


def run(
    registry: LabRegistry,
    reference: str,
    *,
    raw: bool = False,
    config: bool = False,
    platform: str | None = None,
    credentials: bool | None = None,
    tls_verify: bool = True,
    cert_dir: bool = True,
) -> bytes:
    """Run ``skopeo inspect`` on ``registry.ref(reference)``; return its stdout.

    ``credentials``: None = the registry's own when it has any, else anonymous; ``tls_verify`` and
    ``cert_dir`` only matter for the TLS registry (turn them off to see skopeo refuse it).
    """
    home = _home()
    argv = [
        SKOPEO,
        "--registries.d",
        str(home / "registries.d"),
        "--policy",
        str(home / "policy.json"),
    ]
    argv += ["--tmpdir", str(home / "tmp"), "--command-timeout", f"{TIMEOUT_SECONDS}s"]
    if platform is not None:
        argv += platform_flags(platform)
    argv += ["inspect", "--no-tags", "--authfile", str(home / "auth.json")]
    if raw:
        argv.append("--raw")
    if config:
        argv.append("--config")
    if registry.plain_http:
        # As of skopeo 1.9.3 this tries TLS first, then falls back to plain HTTP (DESIGN.md §9).
        argv.append("--tls-verify=false")
    else:
        argv.append(f"--tls-verify={'true' if tls_verify else 'false'}")
        if cert_dir:
            argv += ["--cert-dir", str(_cert_dir(registry))]
    use_credentials = credentials if credentials is not None else registry.username is not None
    if use_credentials:
        argv += ["--creds", f"{registry.username}:{registry.password}"]
    else:
        argv.append("--no-creds")
    argv.append(f"docker://{registry.ref(reference)}")
    try:
        result = subprocess.run(
            argv, capture_output=True, timeout=TIMEOUT_SECONDS + 5, env=_env(home), check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise SkopeoError(f"skopeo inspect {registry.ref(reference)} timed out", "") from exc
    if result.returncode != 0:
        stderr = result.stderr.decode(errors="replace")
        if registry.password:
            stderr = stderr.replace(registry.password, "[secure]")
        raise SkopeoError(
            f"skopeo inspect {registry.ref(reference)} failed: {stderr.strip()}", stderr
        )
    return result.stdout


def inspect(registry: LabRegistry, reference: str, **kwargs: Any) -> bytes:
    """``skopeo inspect --raw``: the manifest (or index) bytes exactly as served."""
    return run(registry, reference, raw=True, **kwargs)


def inspect_config(registry: LabRegistry, reference: str, **kwargs: Any) -> bytes:
    """``skopeo inspect --config --raw``: the config blob of the (selected) image."""
    return run(registry, reference, raw=True, config=True, **kwargs)


def inspect_json(registry: LabRegistry, reference: str, **kwargs: Any) -> dict[str, Any]:
    """``skopeo inspect``: Digest (of the top document), Layers/LayersData of the selected image."""
    result: dict[str, Any] = json.loads(run(registry, reference, **kwargs))
    return result


def inspect_layout(reference: str) -> bytes:
    """``skopeo inspect --raw oci:DIR[:NAME]``: the manifest (or index) bytes in an OCI layout."""
    home = _home()
    argv = [SKOPEO, "--registries.d", str(home / "registries.d"), "--policy"]
    argv += [str(home / "policy.json"), "--tmpdir", str(home / "tmp"), "inspect", "--raw"]
    argv.append(reference)
    result = subprocess.run(
        argv, capture_output=True, timeout=TIMEOUT_SECONDS, env=_env(home), check=False
    )
    if result.returncode != 0:
        stderr = result.stderr.decode(errors="replace")
        raise SkopeoError(f"skopeo inspect {reference} failed: {stderr.strip()}", stderr)
    return result.stdout


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass(frozen=True, slots=True)
class Call:
    """One ``skopeo inspect`` invocation, as a key for ``run_all``."""

    registry: LabRegistry
    reference: str
    raw: bool = True
    config: bool = False
    platform: str | None = None
    credentials: bool | None = None

    def __call__(self) -> bytes:
        return run(
            self.registry,
            self.reference,
            raw=self.raw,
            config=self.config,
            platform=self.platform,
            credentials=self.credentials,
        )


def run_all(calls: Iterable[Call], workers: int = 8) -> dict[Call, bytes | SkopeoError]:
    """Run many inspections concurrently; each result is stdout or the SkopeoError it raised."""

    def one(call: Call) -> bytes | SkopeoError:
        try:
            return call()
        except SkopeoError as exc:
            return exc

    unique = list(dict.fromkeys(calls))
    with ThreadPoolExecutor(workers, thread_name_prefix="skopeo") as pool:
        return dict(zip(unique, pool.map(one, unique), strict=True))
