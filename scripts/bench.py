"""regimage against its peers, in one run: round trips, batch throughput, start-up (issue #7).

Run it with ``scripts/bench`` (which makes the benchmark's own venv with the peers). It starts (or
reuses) the registry lab in ``.bench/lab``, a token registry of its own whose token realm is
reached through the delaying proxy (:mod:`tests.lab.delay_proxy`, loopback only), and measures:

1. one cold CLI process: ``regimage size`` of a single-platform tag and of an index on the token
   registry (TLS, behind the proxy), against ``skopeo inspect --no-tags`` and python-dxf; then
   regimage again with a warm disk cache. Median wall of ``--runs`` runs, requests per run.
2. batch: 200 images in 200 repositories, and 200 tags of one repository: ``regimage audit``
   (asyncio and trio), the library (asyncio and trio), docker-registry-client-async (one
   unbounded gather, ``get_manifest``), python-dxf (a thread pool), a skopeo loop (over a sample,
   scaled to 200). Wall, CPU, peak RSS, requests per image; the floor is 5 round trips.
3. start-up: ``regimage --version``, ``import regimage``, and ``size`` at 0 ms (the lab directly)
   against python-dxf, in wall time and (with valgrind) in instructions executed, which the
   machine's load does not change; peak RSS of a 10,000-reference audit.

It prints one table of ratios (regimage ÷ peer: below 1 is better) and writes ``.bench/results.json``.
The delay is one-way (default 25 ms, so 50 ms per round trip). Peers only ever see the anonymous
and token registries of the lab.
"""

from __future__ import annotations

import argparse
import compileall
import contextlib
import json
import os
import pstats
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.lab.lab import TOKEN_ISSUER, TOKEN_SERVICE, Lab, LabStartError  # noqa: E402
from tests.lab.registry import (  # noqa: E402
    ManagedProcess,
    RegistrySpec,
    start_registries,
    stop_process,
)

BENCH_DIR = ROOT / ".bench"
JOBS = ROOT / "scripts" / "bench_jobs.py"
#: A venv like a user's ``pip install regimage`` (no trio), with python-dxf: start-up measures.
STARTUP_VENV = BENCH_DIR / "venv-startup"
TRUST_STORE_VARIABLES = frozenset(
    {"SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"}
)
#: Round trips of the cheapest possible cold batch on a token registry: connect + 401, connect to
#: the token server + token, manifest (on a connection opened meanwhile).
FLOOR_ROUND_TRIPS = 5


@dataclass
class Run:
    """One measured process: wall, CPU and peak RSS from the kernel (``wait4``), and what the
    job said about itself (its own wall and CPU, imports excluded)."""

    wall: float
    cpu: float
    maxrss_mb: float
    rc: int
    requests: int = 0
    token_requests: int = 0
    connections: int = 0
    server_cpu: float = 0.0  # the registry's, its token server's and the delaying proxies'
    server_cpu_parts: dict[str, float] = field(default_factory=dict)  # the same, by process
    job: dict[str, Any] = field(default_factory=dict)
    stderr: str = ""


@dataclass
class Measure:
    """Median over runs of one tool on one task."""

    tool: str
    task: str
    runs: list[Run]
    per: int = 1  # images per run (requests are reported per image)
    scale: float = 1.0  # a sample run scaled to the whole task (the skopeo loop)

    def median(self, attribute: str) -> float:
        values = [float(getattr(run, attribute)) for run in self.runs]
        return statistics.median(values) * self.scale

    def server_part_medians(self) -> dict[str, float]:
        """The answering side's CPU by process (registry, token server, each proxy), medians."""
        names = sorted({name for run in self.runs for name in run.server_cpu_parts})
        return {
            name: statistics.median(run.server_cpu_parts.get(name, 0.0) for run in self.runs)
            * self.scale
            for name in names
        }

    def job_median(self, key: str) -> float:
        values = [float(run.job.get(key, 0.0)) for run in self.runs]
        return statistics.median(values) * self.scale

    @property
    def failures(self) -> int:
        return sum(run.rc != 0 for run in self.runs)

    def summary(self) -> dict[str, Any]:
        requests = statistics.median(r.requests + r.token_requests for r in self.runs)
        return {
            "tool": self.tool,
            "task": self.task,
            "runs": len(self.runs),
            "wall": round(self.median("wall"), 4),
            "cpu": round(self.median("cpu"), 4),
            "job_wall": round(self.job_median("wall"), 4) if self.runs[0].job else None,
            "job_cpu": round(self.job_median("cpu"), 4) if self.runs[0].job else None,
            "maxrss_mb": round(max(r.maxrss_mb for r in self.runs), 1),
            "requests": requests,
            "requests_per_image": round(requests / self.per, 3),
            "connections": statistics.median(r.connections for r in self.runs),
            "server_cpu": round(self.median("server_cpu"), 4),
            "server_cpu_parts": {k: round(v, 4) for k, v in self.server_part_medians().items()},
            "failures": self.failures,
            "scale": self.scale,
            "errors": [r.stderr[-300:] for r in self.runs if r.rc != 0][:2],
        }


@dataclass
class _Spec:
    """A measure still to be run: what to run, how often, with what."""

    measure: Measure
    argv: list[str]
    runs: int
    env: dict[str, str] | None
    stdin: Path | None
    fresh_cache: bool
    json_out: bool


# ── processes ──────────────────────────────────────────────────────────────────────────────────────


def run_measured(
    argv: Sequence[str], env: dict[str, str], *, stdin: Path | None = None, timeout: float = 600.0
) -> tuple[Run, str]:
    """Run ``argv`` and reap it with ``wait4``: exact CPU and peak RSS of that child alone."""
    with tempfile.TemporaryFile() as out_file, tempfile.TemporaryFile() as err_file:
        source = open(stdin, "rb") if stdin is not None else subprocess.DEVNULL  # noqa: SIM115
        start = time.perf_counter()
        try:
            process = subprocess.Popen(
                list(argv), stdin=source, stdout=out_file, stderr=err_file, env=env, cwd=ROOT
            )
        finally:
            if not isinstance(source, int):
                source.close()
        deadline = start + timeout
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                process.kill()
                pid, status, usage = os.wait4(process.pid, 0)
                break
            time.sleep(0.001)
        wall = time.perf_counter() - start
        process.returncode = os.waitstatus_to_exitcode(status)
        out_file.seek(0)
        err_file.seek(0)
        out = out_file.read().decode(errors="replace")
        err = err_file.read().decode(errors="replace")
    run = Run(
        wall=wall,
        cpu=usage.ru_utime + usage.ru_stime,
        maxrss_mb=usage.ru_maxrss / 1024,
        rc=process.returncode,
        stderr=err,
    )
    return run, out


@dataclass
class ProxyProcess:
    process: subprocess.Popen[bytes]
    routes: dict[str, int]
    control: int

    def call(self, command: str) -> dict[str, Any]:
        with socket.create_connection(("127.0.0.1", self.control), timeout=10) as sock:
            sock.sendall(command.encode() + b"\n")
            data = b""
            while not data.endswith(b"\n"):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
        answer: dict[str, Any] = json.loads(data)
        return answer

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_proxy(
    directory: Path, name: str, delay_ms: float, routes: Sequence[str], pki: Path
) -> ProxyProcess:
    ready = directory / f"{name}.ready"
    ready.unlink(missing_ok=True)
    argv = [sys.executable, "-m", "tests.lab.delay_proxy", "--delay-ms", str(delay_ms)]
    argv += [
        "--ready",
        str(ready),
        "--cert",
        str(pki / "server.crt"),
        "--key",
        str(pki / "server.key"),
    ]
    for route in routes:
        argv += ["--route", route]
    log = open(directory / f"{name}.log", "wb")  # noqa: SIM115 - the process keeps it
    process = subprocess.Popen(argv, cwd=ROOT, stdout=log, stderr=log)
    deadline = time.monotonic() + 20
    while not ready.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the delay proxy did not start: see {directory / f'{name}.log'}")
        time.sleep(0.02)
    info = json.loads(ready.read_text())
    return ProxyProcess(process, info["routes"], info["control"])


def _process_cpu(pid: int) -> float:
    """User + system CPU seconds of a running process (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# ── the set-up ─────────────────────────────────────────────────────────────────────────────────────


@dataclass
class Setup:
    lab: Lab
    ca: Path
    cert_dir: Path
    token_proxy: ProxyProcess
    registry_proxy: ProxyProcess
    registry_process: ManagedProcess
    delay_ms: float
    work: Path

    @property
    def token_host(self) -> str:
        """The bench token registry through the proxy (TLS, delayed)."""
        return f"127.0.0.1:{self.registry_proxy.routes['registry']}"

    @property
    def anonymous_host(self) -> str:
        """The lab's anonymous registry through the proxy (plain HTTP, delayed)."""
        return f"127.0.0.1:{self.registry_proxy.routes['anonymous']}"

    def reset(self) -> None:
        self.token_proxy.call("reset")
        self.registry_proxy.call("reset")

    def counts(self) -> tuple[int, int, int]:
        """(registry requests, token requests, connections) since the last reset."""
        registry = self.registry_proxy.call("stats")
        token = self.token_proxy.call("stats")
        requests = sum(route["requests"] for route in registry.values())
        tokens = sum(route["requests"] for route in token.values())
        connections = sum(r["connections"] for r in [*registry.values(), *token.values()])
        return requests, tokens, connections

    def server_cpu(self) -> dict[str, float]:
        """CPU seconds spent so far by each process that answers (registry, token server and
        the two delaying proxies, which terminate TLS): they share this machine's cores with
        the client measured."""
        parts = {
            "registry": _process_cpu(self.registry_process.pid),
            "registry proxy": _process_cpu(self.registry_proxy.process.pid),
            "token proxy": _process_cpu(self.token_proxy.process.pid),
        }
        parts["token server"] = sum(
            _process_cpu(p.pid) for p in self.lab.processes if p.name == "token server"
        )
        return parts

    def stop(self) -> None:
        self.registry_proxy.stop()
        self.token_proxy.stop()
        stop_process(self.registry_process)


def set_up(delay_ms: float, work: Path) -> Setup:
    state = BENCH_DIR / "lab"
    try:
        lab = Lab.attach(state)
    except LabStartError:
        Lab.stop_state_dir(state)
        lab = Lab.start(state)
    lab.seed()
    lab.seed(batch=True)
    pki = lab.state_dir / "pki"
    cert_dir = work / "certs"
    cert_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy(pki / "ca.crt", cert_dir / "ca.crt")
    token_port = int(lab.token_server.base_url.rsplit(":", 1)[1])
    token_proxy = start_proxy(
        work, "token-proxy", delay_ms, [f"token=127.0.0.1:{token_port}:tls"], pki
    )
    realm = f"https://127.0.0.1:{token_proxy.routes['token']}/token"
    spec = RegistrySpec(
        "bench token registry",
        work / "registry",
        storage=lab.storage_root / "token",
        quiet=True,  # a remote registry's logging costs the client's machine nothing
        auth={
            "token": {
                "realm": realm,
                "service": TOKEN_SERVICE,
                "issuer": TOKEN_ISSUER,
                "rootcertbundle": str(pki / "token-root.crt"),
            }
        },
    )
    ((registry_process, registry_port),) = start_registries([spec])
    anonymous_port = int(lab.anonymous.host.rsplit(":", 1)[1])
    registry_proxy = start_proxy(
        work,
        "registry-proxy",
        delay_ms,
        [f"registry=127.0.0.1:{registry_port}:tls", f"anonymous=127.0.0.1:{anonymous_port}"],
        pki,
    )
    return Setup(
        lab, pki / "ca.crt", cert_dir, token_proxy, registry_proxy, registry_process, delay_ms, work
    )


# ── the benchmark ──────────────────────────────────────────────────────────────────────────────────


class Bench:
    def __init__(self, setup: Setup, args: argparse.Namespace) -> None:
        self.setup = setup
        self.args = args
        self.venv = Path(sys.executable).parent
        self.python = sys.executable
        self.regimage = str(self.venv / "regimage")
        self.measures: list[Measure] = []
        self._queue: list[_Spec] | None = None  # measures waiting for interleaved rounds
        self.extra: dict[str, Any] = {}
        self.home = setup.work / "home"
        self.home.mkdir(exist_ok=True)

    def env(self, cache: Path | None = None, **extra: str) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("REGIMAGE_", "DOCKER_", "DRCA_", "XDG_", "REGISTRY_AUTH"))
            # A user's default trust store: each tool is given the lab's CA explicitly, and
            # these (set on our build machines) would make every tool parse a whole bundle.
            and k not in TRUST_STORE_VARIABLES
        }
        env.update(
            HOME=str(self.home),
            XDG_CACHE_HOME=str(cache or (self.setup.work / "no-cache")),
            PATH=f"{self.venv}{os.pathsep}{env.get('PATH', '')}",
        )
        env.pop("PYTHONDONTWRITEBYTECODE", None)  # start-up as installed: bytecode compiled
        env.update(extra)
        return env

    def measure(
        self,
        tool: str,
        task: str,
        argv: Sequence[str],
        *,
        runs: int,
        per: int = 1,
        env: dict[str, str] | None = None,
        stdin: Path | None = None,
        fresh_cache: bool = False,
        json_out: bool = False,
    ) -> Measure:
        """Measure ``argv`` ``runs`` times; inside :meth:`interleaved`, later, round-robin."""
        measure = Measure(tool, task, [], per)
        self.measures.append(measure)
        spec = _Spec(measure, list(argv), runs, env, stdin, fresh_cache, json_out)
        if self._queue is not None:
            self._queue.append(spec)
            return measure
        for _ in range(runs):
            measure.runs.append(self._run_once(spec))
        self._report(measure)
        return measure

    @contextlib.contextmanager
    def interleaved(self) -> Iterator[None]:
        """Measures registered inside run round-robin, one run of each per round, starting each
        round one tool further: a machine whose speed drifts (ours: ±30 % from one minute to the
        next) then slows every tool alike, and the ratios stay fair."""
        self._queue = []
        try:
            yield
            queue = self._queue
        finally:
            self._queue = None
        for round_ in range(max((spec.runs for spec in queue), default=0)):
            shift = round_ % len(queue)
            for spec in queue[shift:] + queue[:shift]:
                if len(spec.measure.runs) < spec.runs:
                    spec.measure.runs.append(self._run_once(spec))
        for spec in queue:
            self._report(spec.measure)

    def _run_once(self, spec: _Spec) -> Run:
        run_env = spec.env or self.env()
        if spec.fresh_cache:
            cache = Path(tempfile.mkdtemp(dir=self.setup.work, prefix="cache-"))
            run_env = {**run_env, "XDG_CACHE_HOME": str(cache)}
        self.setup.reset()
        server_before = self.setup.server_cpu()
        run, out = run_measured(spec.argv, run_env, stdin=spec.stdin)
        server_after = self.setup.server_cpu()
        run.server_cpu_parts = {k: server_after[k] - server_before[k] for k in server_after}
        run.server_cpu = sum(run.server_cpu_parts.values())
        run.requests, run.token_requests, run.connections = self.setup.counts()
        if spec.json_out and out.strip():
            with contextlib.suppress(ValueError):
                run.job = json.loads(out.strip().splitlines()[-1])
        per = spec.measure.per
        if run.job.get("ok") is not None and run.job["ok"] != per:
            run.rc = run.rc or 99
            run.stderr += f"\nanswered {run.job['ok']} of {per}: {run.job.get('errors')}"
        return run

    @staticmethod
    def _report(measure: Measure) -> None:
        note = f" ({measure.failures} failed)" if measure.failures else ""
        print(
            f"  {measure.task:<22} {measure.tool:<26} wall {measure.median('wall'):7.3f} s  "
            f"cpu {measure.median('cpu'):6.3f} s  server cpu {measure.median('server_cpu'):6.3f} s  "
            f"requests {measure.summary()['requests']}{note}",
            flush=True,
        )

    # 1. one cold CLI process
    def cold_cli(self) -> None:
        print(
            f"\n1. one CLI process, size of one reference, {2 * self.setup.delay_ms:.0f} ms RTT",
            flush=True,
        )
        runs = self.args.runs
        lab = self.setup.lab
        for label, image in (
            ("single", lab.corpus["oci-single"]),
            ("index", lab.corpus["oci-index"]),
        ):
            with self.interleaved():
                ref = f"{self.setup.token_host}/{image.reference}"
                task = f"size {label}"
                self.measure(
                    "regimage",
                    task,
                    [self.regimage, "size", "--ca-file", str(self.setup.ca), ref],
                    runs=runs,
                    fresh_cache=True,
                )
                self.measure(
                    "skopeo",
                    task,
                    self.skopeo_inspect(ref),
                    runs=runs,
                )
                platform = (
                    ["--platform", image.default_platform or "linux/amd64"]
                    if image.is_index
                    else []
                )
                self.measure(
                    "python-dxf",
                    task,
                    [
                        self.python,
                        str(JOBS),
                        "dxf-size",
                        "--ref",
                        ref,
                        "--ca",
                        str(self.setup.ca),
                        *platform,
                    ],
                    runs=runs,
                    json_out=True,
                )
                warm = Path(tempfile.mkdtemp(dir=self.setup.work, prefix="warm-"))
                argv = [self.regimage, "size", "--ca-file", str(self.setup.ca), ref]
                run_measured(argv, self.env(warm))  # fills the cache
                self.measure("regimage warm", task, argv, runs=runs, env=self.env(warm))

    # 2. batch
    def batch(self) -> None:
        lab = self.setup.lab
        host = self.setup.token_host
        n = self.args.batch
        tasks = {
            "200 repositories": [f"{host}/{i.reference}" for i in list(lab.batch.values())[:n]],
            "200 tags, 1 repository": [
                f"{host}/{i.reference}" for i in list(lab.many_tags.values())[:n]
            ],
        }
        print(
            f"\n2. batch of {n}, {2 * self.setup.delay_ms:.0f} ms RTT (TLS, token auth)", flush=True
        )
        ca = str(self.setup.ca)
        for task, refs in tasks.items():
            refs_file = self.setup.work / f"refs-{'tags' if 'tags' in task else 'repositories'}.txt"
            refs_file.write_text("\n".join(refs) + "\n")
            runs = self.args.batch_runs
            with self.interleaved():
                for backend in ("asyncio", "trio"):
                    self.measure(
                        f"regimage audit ({backend})",
                        task,
                        [self.regimage, "audit", "--ca-file", ca, "--file", str(refs_file)],
                        runs=runs,
                        per=len(refs),
                        fresh_cache=True,
                        env=self.env(REGIMAGE_BACKEND=backend),
                    )
                for jobs in self.args.audit_jobs:
                    self.measure(
                        f"regimage audit -j{jobs}",
                        task,
                        [
                            self.regimage,
                            "audit",
                            "--jobs",
                            str(jobs),
                            "--ca-file",
                            ca,
                            "--file",
                            str(refs_file),
                        ],
                        runs=runs,
                        per=len(refs),
                        fresh_cache=True,
                    )
                for backend in ("asyncio", "trio"):
                    self.measure(
                        f"regimage library ({backend})",
                        task,
                        self.batch_job("regimage-batch", refs_file, "--backend", backend),
                        runs=runs,
                        per=len(refs),
                        json_out=True,
                    )
                for peer, job in (
                    ("docker-registry-client-async", "drca-batch"),
                    ("python-dxf (32 threads)", "dxf-batch"),
                ):
                    self.measure(
                        peer,
                        task,
                        self.batch_job(job, refs_file),
                        runs=runs,
                        per=len(refs),
                        json_out=True,
                    )
            self.skopeo_loop(task, refs)

    def skopeo_inspect(self, ref: str) -> list[str]:
        """skopeo's answer to "what is this image" (config and size), without listing tags."""
        return [
            "skopeo",
            "inspect",
            "--no-tags",
            "--cert-dir",
            str(self.setup.cert_dir),
            f"docker://{ref}",
        ]

    def skopeo_loop(self, task: str, refs: list[str]) -> None:
        sample = refs[: self.args.skopeo_sample]
        total = Run(0.0, 0.0, 0.0, 0)
        self.setup.reset()
        for ref in sample:
            run, _ = run_measured(
                self.skopeo_inspect(ref),
                self.env(),
            )
            total.wall += run.wall
            total.cpu += run.cpu
            total.maxrss_mb = max(total.maxrss_mb, run.maxrss_mb)
            total.rc = total.rc or run.rc
            total.stderr = total.stderr or run.stderr
        total.requests, total.token_requests, total.connections = self.setup.counts()
        measure = Measure(
            "skopeo loop", task, [total], per=len(sample), scale=len(refs) / len(sample)
        )
        self.measures.append(measure)
        print(
            f"  {task:<22} {'skopeo loop':<26} wall {measure.median('wall'):7.3f} s  "
            f"cpu {measure.median('cpu'):6.3f} s  (a sample of {len(sample)}, scaled)",
            flush=True,
        )

    # 3. start-up
    def startup(self) -> None:
        for venv, label in ((self.venv, ""), (STARTUP_VENV / "bin", " (no trio)")):
            if (venv / "python").exists():
                self._startup(venv, label)

    def _startup(self, venv: Path, label: str) -> None:
        """Start-up in ``venv``. The benchmark's venv has the test extras and the peers (more
        ``.pth`` files for every interpreter to read); the start-up venv is a user's
        ``pip install regimage`` plus python-dxf."""
        print(f"\n3. start-up{label} (0 ms: the lab directly)", flush=True)
        runs = max(self.args.runs, 10)
        python, regimage = str(venv / "python"), str(venv / "regimage")
        task = f"start-up{label}"
        with self.interleaved():
            self.measure("python -c pass", task, [python, "-c", "pass"], runs=runs)
            self.measure("regimage --version", task, [regimage, "--version"], runs=runs)
            self.measure("import regimage", task, [python, "-c", "import regimage"], runs=runs)
            # What any client on regimage's stack (httpx on anyio's asyncio backend) pays to start.
            stack = "import httpx, anyio, anyio._backends._asyncio, h11"
            self.measure("import httpx + anyio", task, [python, "-c", stack], runs=runs)
            check = (
                "import sys; from regimage import cli; cli.main(['--version']); "
                "print(sorted(m for m in ('httpx', 'httpcore', 'anyio') if m in sys.modules))"
            )
            found = subprocess.run(
                [python, "-c", check], capture_output=True, text=True, check=False, env=self.env()
            )
            self.extra[f"version_imports{label}"] = found.stdout.strip().splitlines()[-1]
            direct = self.setup.lab.anonymous.host
            ref = f"{direct}/{self.setup.lab.corpus['oci-single'].reference}"
            self.measure(
                "regimage",
                f"size at 0 ms{label}",
                [regimage, "size", "--plain-http", "--no-cache", ref],
                runs=runs,
            )
            self.measure(
                "python-dxf",
                f"size at 0 ms{label}",
                [python, str(JOBS), "dxf-size", "--ref", ref, "--plain-http"],
                runs=runs,
                json_out=True,
            )
        if label:  # the user-like install: instructions, which no neighbour's load changes
            self.extra["instructions"] = self.instructions(
                {
                    "python -c pass": [python, "-c", "pass"],
                    # leaving as regimage's console script does, without Python's shutdown
                    "import httpx + anyio": [python, "-c", f"{stack}; import os; os._exit(0)"],
                    "regimage size": [regimage, "size", "--plain-http", "--no-cache", ref],
                    "python-dxf size": [
                        python,
                        str(JOBS),
                        "dxf-size",
                        "--ref",
                        ref,
                        "--plain-http",
                    ],
                }
            )

    def instructions(self, argvs: dict[str, list[str]]) -> dict[str, int]:
        """Instructions each command executes, counted by ``valgrind --tool=callgrind`` (the
        same count whatever else the machine does; a run takes about 30 times longer)."""
        valgrind = shutil.which("valgrind")
        if valgrind is None:
            print("  (no valgrind: instruction counts skipped)", flush=True)
            return {}
        counts: dict[str, int] = {}
        for name, argv in argvs.items():
            result = subprocess.run(
                [valgrind, "--tool=callgrind", "--callgrind-out-file=/dev/null", *argv],
                capture_output=True,
                text=True,
                env=self.env(),
                cwd=ROOT,
                timeout=600,
                check=False,
            )
            found = re.search(r"Collected : (\d+)", result.stderr)
            if found is not None:
                counts[name] = int(found.group(1))
                print(
                    f"  instructions           {name:<26} {counts[name] / 1e6:7.0f} M", flush=True
                )
        return counts

    def rss(self) -> None:
        count = self.args.rss_refs
        lab = self.setup.lab
        base = [f"{lab.token.host}/{i.reference}" for i in lab.batch.values()]
        base += [f"{lab.token.host}/{i.reference}" for i in lab.many_tags.values()]
        refs = [base[i % len(base)] for i in range(count)]
        refs_file = self.setup.work / "refs-rss.txt"
        refs_file.write_text("\n".join(refs) + "\n")
        print(f"\n4. peak RSS of a {count}-reference audit (0 ms)", flush=True)
        measure = self.measure(
            "regimage audit",
            f"audit of {count}",
            [self.regimage, "audit", "--no-cache", "--plain-http", "--file", str(refs_file)],
            runs=1,
            per=count,
        )
        self.extra["rss_audit_summary"] = measure.runs[0].stderr.strip().splitlines()[-1:]

    def batch_job(self, job: str, refs_file: Path, *extra: str) -> list[str]:
        """``bench_jobs.py JOB`` over the references in ``refs_file``, trusting the lab's CA."""
        return [
            self.python,
            str(JOBS),
            job,
            "--refs",
            str(refs_file),
            "--ca",
            str(self.setup.ca),
            *extra,
        ]

    def profile(self) -> None:
        refs_file = self.setup.work / "refs-repositories.txt"
        out = self.setup.work / "regimage-batch.prof"
        run_measured(self.batch_job("regimage-batch", refs_file, "--profile", str(out)), self.env())
        stats = pstats.Stats(str(out))
        by_package: dict[str, float] = {}
        rows = []
        total = 0.0
        for (filename, line, name), (_, _, tottime, _, _) in stats.stats.items():  # type: ignore[attr-defined]
            total += tottime
            package = _package(filename)
            by_package[package] = by_package.get(package, 0.0) + tottime
            rows.append((tottime, f"{package}:{Path(filename).name}:{line}({name})"))
        rows.sort(reverse=True)
        self.extra["profile"] = {
            "total_cpu_s": round(total, 4),
            "by_package": {
                k: round(v, 4) for k, v in sorted(by_package.items(), key=lambda kv: -kv[1])
            },
            "top_functions": [(round(t, 4), where) for t, where in rows[:15]],
        }
        print("\n5. where the CPU goes (cProfile, library batch of 200 repositories, asyncio)")
        for package, seconds in list(self.extra["profile"]["by_package"].items())[:12]:
            print(f"  {package:<16} {seconds:6.3f} s  {100 * seconds / total:5.1f} %")

    # the table
    def table(self) -> list[dict[str, Any]]:
        found = {(m.tool, m.task): m for m in self.measures}
        rtt = 2 * self.setup.delay_ms / 1000
        rows: list[dict[str, Any]] = []

        def ratio(
            task: str, ours: str, peer: str, metric: str = "wall", target: float | None = None
        ) -> None:
            a, b = found.get((ours, task)), found.get((peer, task))
            if a is None or b is None:
                return
            job = metric.startswith("job_")
            key = metric.removeprefix("job_")
            va = a.job_median(key) if job and a.runs[0].job else a.median(key)
            vb = b.job_median(key) if job and b.runs[0].job else b.median(key)
            rows.append(
                {
                    "task": task,
                    "ours": ours,
                    "peer": peer,
                    "metric": metric,
                    "ours_value": round(va, 4),
                    "peer_value": round(vb, 4),
                    "ratio": round(va / vb, 3) if vb else None,
                    "target": target,
                }
            )

        for task in ("size single", "size index"):
            for peer in ("skopeo", "python-dxf"):
                ratio(task, "regimage", peer, target=1.0)
                ratio(task, "regimage warm", peer, target=0.6)
        for task in ("200 repositories", "200 tags, 1 repository"):
            for ours in (
                "regimage audit (asyncio)",
                "regimage audit (trio)",
                *(f"regimage audit -j{j}" for j in self.args.audit_jobs),
            ):
                ratio(task, ours, "docker-registry-client-async", "wall", 0.9)
                ratio(task, ours, "docker-registry-client-async", "cpu", 1.1)
                ratio(task, ours, "skopeo loop", "wall", 0.01)
            for ours in ("regimage library (asyncio)", "regimage library (trio)"):
                ratio(task, ours, "docker-registry-client-async", "job_wall", 0.9)
                ratio(task, ours, "docker-registry-client-async", "job_cpu", 1.1)
                ratio(task, ours, "python-dxf (32 threads)", "job_wall")
                m = found.get((ours, task))
                if m is not None:
                    floor = FLOOR_ROUND_TRIPS * rtt
                    rows.append(
                        {
                            "task": task,
                            "ours": ours,
                            "peer": f"floor ({FLOOR_ROUND_TRIPS} RTT)",
                            "metric": "job_wall",
                            "ours_value": round(m.job_median("wall"), 4),
                            "peer_value": round(floor, 4),
                            "ratio": round(m.job_median("wall") / floor, 3),
                            "target": 2.5,
                        }
                    )
        ratio("size at 0 ms", "regimage", "python-dxf", "wall", 1.0)
        ratio("size at 0 ms (no trio)", "regimage", "python-dxf", "wall", 1.0)
        return rows


def _package(filename: str) -> str:
    parts = Path(filename).parts
    for marker in ("site-packages", "regimage"):
        if marker in parts:
            index = parts.index(marker)
            if marker == "regimage":
                return "regimage"
            if index + 1 < len(parts):
                return parts[index + 1].split(".")[0]
    if filename.startswith("~") or filename.startswith("<"):
        return "builtins"
    if "python3" in filename:
        return "stdlib:" + Path(filename).stem
    return Path(filename).stem


def print_table(rows: list[dict[str, Any]], bench: Bench) -> None:
    print("\nratios: regimage ÷ peer (below 1: regimage is better); target in brackets")
    print(
        f"  {'task':<24}{'regimage':<28}{'peer':<30}{'metric':<10}{'ours':>9}{'peer':>9}{'ratio':>8}  target"
    )
    for row in rows:
        target = f"≤ {row['target']}" if row["target"] is not None else ""
        mark = ""
        if row["target"] is not None and row["ratio"] is not None:
            mark = "ok" if row["ratio"] <= row["target"] else "MISSED"
        print(
            f"  {row['task']:<24}{row['ours']:<28}{row['peer']:<30}{row['metric']:<10}"
            f"{row['ours_value']:>9.3f}{row['peer_value']:>9.3f}{row['ratio']:>8.3f}  {target} {mark}"
        )
    found = {(m.tool, m.task): m for m in bench.measures}
    for label in ("", " (no trio)"):
        task = f"start-up{label}"
        version = found.get(("regimage --version", task))
        imported = found.get(("import regimage", task))
        bare = found.get(("python -c pass", task))
        if version is None or imported is None or bare is None:
            continue
        stack = found.get(("import httpx + anyio", task))
        print(
            f"\n  {task}: regimage --version {1000 * version.median('wall'):.0f} ms (target ≤ 60 ms), "
            f"import regimage {1000 * imported.median('wall'):.0f} ms, bare interpreter "
            f"{1000 * bare.median('wall'):.0f} ms; --version imports "
            f"{bench.extra.get('version_imports' + label)}"
        )
        if stack is not None:
            print(
                f"  {task}: importing httpx + anyio (asyncio backend) alone takes "
                f"{1000 * stack.median('wall'):.0f} ms"
            )
    counts = bench.extra.get("instructions") or {}
    ours, dxf, stack = (
        counts.get(k) for k in ("regimage size", "python-dxf size", "import httpx + anyio")
    )
    if ours and dxf and stack:
        print(
            f"\n  size at 0 ms (no trio), in instructions (callgrind): regimage {ours / 1e6:.0f} M, "
            f"python-dxf {dxf / 1e6:.0f} M: ratio {ours / dxf:.2f} (target ≤ 1.0); importing "
            f"httpx + anyio alone takes {stack / 1e6:.0f} M, {stack / dxf:.2f}x python-dxf's "
            "whole run"
        )
    cores = os.cpu_count() or 1
    for m in bench.measures:
        if m.tool.startswith("regimage library") and m.median("server_cpu") > 0:
            server = m.median("server_cpu")
            requests = m.summary()["requests"] or 1
            print(
                f"  {m.task}, {m.tool}: the answering side (registry, token server, proxies) "
                f"spent {server:.2f} s CPU ({1000 * server / requests:.1f} ms a request) on "
                f"this machine's {cores} cores; with the client's {m.job_median('cpu'):.2f} s, "
                f"no schedule finishes in under {(server + m.job_median('cpu')) / cores:.2f} s"
            )
            parts = ", ".join(f"{k} {v:.2f} s" for k, v in m.server_part_medians().items())
            print(f"    answering side by process: {parts}")
    for m in bench.measures:
        if m.task.startswith("audit of"):
            print(
                f"  peak RSS, {m.task} references: {m.runs[0].maxrss_mb:.0f} MB (target ≤ 150 MB); "
                f"{bench.extra.get('rss_audit_summary')}"
            )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/bench", description=__doc__.splitlines()[0])
    parser.add_argument("--delay-ms", type=float, default=25.0, help="one-way delay (default 25)")
    parser.add_argument("--runs", type=int, default=5, help="runs of each cold CLI measure")
    parser.add_argument("--batch-runs", type=int, default=3, help="runs of each batch measure")
    parser.add_argument("--batch", type=int, default=200, help="images per batch")
    parser.add_argument("--skopeo-sample", type=int, default=20, help="skopeo loop: references run")
    parser.add_argument("--rss-refs", type=int, default=10_000, help="references of the RSS audit")
    parser.add_argument("--audit-jobs", type=int, nargs="*", default=[], help="extra --jobs runs")
    parser.add_argument("--quick", action="store_true", help="fewer runs and smaller samples")
    parser.add_argument("--only", nargs="*", default=[], help="cold, batch, startup, rss, profile")
    parser.add_argument("--output", type=Path, default=BENCH_DIR / "results.json")
    args = parser.parse_args(argv)
    if args.quick:
        args.runs, args.batch_runs, args.skopeo_sample, args.rss_refs = 3, 1, 5, 2000
    BENCH_DIR.mkdir(exist_ok=True)
    # An installed package has its bytecode compiled; an editable checkout may not (this machine
    # sets PYTHONDONTWRITEBYTECODE): compile it, or every run measures the compiler.
    for package in ("regimage", "scripts", "tests/lab"):
        compileall.compile_dir(ROOT / package, quiet=1, legacy=False)
    work = Path(tempfile.mkdtemp(dir=BENCH_DIR, prefix="run-"))
    started = time.monotonic()
    load = os.getloadavg()
    print(
        f"regimage benchmark: one-way delay {args.delay_ms} ms; load average {load[0]:.2f}",
        flush=True,
    )
    setup = set_up(args.delay_ms, work)
    try:
        bench = Bench(setup, args)
        steps = args.only or ["cold", "batch", "startup", "rss", "profile"]
        if "cold" in steps:
            bench.cold_cli()
        if "batch" in steps:
            bench.batch()
        if "startup" in steps:
            bench.startup()
        if "rss" in steps:
            bench.rss()
        if "profile" in steps and (work / "refs-repositories.txt").exists():
            bench.profile()
        rows = bench.table()
        print_table(rows, bench)
        result = {
            "delay_ms": args.delay_ms,
            "rtt_ms": 2 * args.delay_ms,
            "load_average": [load, os.getloadavg()],
            "seconds": round(time.monotonic() - started, 1),
            "measures": [m.summary() for m in bench.measures],
            "ratios": rows,
            **bench.extra,
        }
        args.output.write_text(json.dumps(result, indent=2))
        print(f"\nwrote {args.output} in {result['seconds']} s", flush=True)
    finally:
        setup.stop()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
