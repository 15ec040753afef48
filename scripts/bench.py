"""regimage against its peers, in one run: wall time and CPU at 0 ms and 50 ms round trip, over TLS.

Run it with ``scripts/bench`` (which makes the benchmark's own venv with the peers). What a user
feels is wall time at a real round-trip time, and CPU when many images are resolved at once; both
are measured, at every round-trip time of ``--rtt-ms`` (default 0 and 50), on the same path: the
registry lab (started or reused in ``.bench/lab``) and, per round-trip time, a token registry of
the benchmark's own whose token realm, like the registry itself, is reached through a delaying
proxy that terminates TLS (:mod:`tests.lab.delay_proxy`, loopback only; half the RTT each way, a
new connection pays its TCP and TLS handshakes). At each round-trip time:

1. one CLI process: ``regimage size`` of a single-platform tag and of an index, cold and with a
   warm disk cache, against ``skopeo inspect --no-tags`` and python-dxf.
2. batch: 200 images in 200 repositories, and 200 tags of one repository: ``regimage audit``
   (asyncio and trio), the library (asyncio and trio), docker-registry-client-async (one
   unbounded gather, ``get_manifest``), python-dxf (a thread pool), a skopeo loop (over a sample,
   scaled to 200). Requests per image; at a non-zero RTT, the floor of 5 round trips.

Then, once: 3. start-up: ``regimage --version``, ``import regimage``, and ``size`` with plain HTTP
straight to the lab against python-dxf; 4. peak RSS of a 10,000-reference audit; 5. where the
library batch spends its CPU (cProfile).

Every measure is the median of ``--runs`` runs, taken round-robin with the tools it is compared
with. Wall is elapsed time; CPU is user + system seconds of the process tree (``wait4``: the
process and every child it waited for). The library jobs also report their own wall and CPU,
interpreter start and imports excluded, and the library rows compare those. The CPU the answering
side (registry, token server, proxies) spent is recorded apart: it shares the machine's cores.

It prints the ratios (regimage ÷ peer: below 1 is better) as one matrix, wall and CPU at each
round-trip time, and writes ``.bench/results.json``. ``--instructions`` adds the instructions a
start-up executes (callgrind; needs valgrind): a diagnostic that no neighbour's load changes, not
a target. ``--dry-run`` starts nothing: it prints every command it would measure, and the matrix
with placeholder numbers. Peers only ever see the lab's anonymous and token registries.
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

from tests.lab import corpus as corpus_module  # noqa: E402
from tests.lab.expected import ExpectedImage  # noqa: E402
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
DEFAULT_RTTS_MS = (0.0, 50.0)
STEPS = ("cold", "batch", "startup", "rss", "profile")
BATCH_TASKS = ("200 repositories", "200 tags, 1 repository")
DRCA = "docker-registry-client-async"
#: The audit recording into an audit database (``--db``).
AUDIT_DB = "regimage audit --db"
DXF_THREADS = "python-dxf (32 threads)"
#: What a dry run's every process "measures": all ratios come out 1.
PLACEHOLDER_SECONDS = 1.0


@dataclass
class Run:
    """One measured process: wall, CPU (of the process tree) and peak RSS from the kernel
    (``wait4``), and what the job said about itself (its own wall and CPU, imports excluded)."""

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
    """Median over runs of one tool on one task, at one round-trip time (None: not through the
    delaying proxies, e.g. start-up straight to the lab)."""

    tool: str
    task: str
    runs: list[Run]
    per: int = 1  # images per run (requests are reported per image)
    scale: float = 1.0  # a sample run scaled to the whole task (the skopeo loop)
    rtt_ms: float | None = None

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
            "rtt_ms": self.rtt_ms,
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


# ── processes ──────────────────────────────────────────────────────────────────────────────────────


def run_measured(
    argv: Sequence[str], env: dict[str, str], *, stdin: Path | None = None, timeout: float = 600.0
) -> tuple[Run, str]:
    """Run ``argv`` and reap it with ``wait4``: exact CPU (the process and the children it
    waited for: its process tree) and peak RSS of that child alone."""
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
class Network:
    """The bench token registry at one round-trip time: a Distribution registry whose token realm
    is the lab's token server, each behind a delaying proxy that terminates TLS. In a dry run
    nothing is started: the processes are None, and every count and CPU figure is 0."""

    rtt_ms: float
    registry_proxy: ProxyProcess | None = None
    token_proxy: ProxyProcess | None = None
    registry_process: ManagedProcess | None = None
    token_server_pids: tuple[int, ...] = ()

    @property
    def label(self) -> str:
        return f"{self.rtt_ms:g} ms RTT"

    @property
    def token_host(self) -> str:
        """The bench token registry through its proxy (TLS, delayed)."""
        if self.registry_proxy is None:
            return f"rtt-{self.rtt_ms:g}ms.invalid"
        return f"127.0.0.1:{self.registry_proxy.routes['registry']}"

    def reset(self) -> None:
        for proxy in (self.token_proxy, self.registry_proxy):
            if proxy is not None:
                proxy.call("reset")

    def counts(self) -> tuple[int, int, int]:
        """(registry requests, token requests, connections) since the last reset."""
        if self.registry_proxy is None or self.token_proxy is None:
            return 0, 0, 0
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
        if self.registry_proxy is None or self.token_proxy is None:
            return {}
        parts = {
            "registry": _process_cpu(self.registry_process.pid) if self.registry_process else 0.0,
            "registry proxy": _process_cpu(self.registry_proxy.process.pid),
            "token proxy": _process_cpu(self.token_proxy.process.pid),
        }
        parts["token server"] = sum(_process_cpu(pid) for pid in self.token_server_pids)
        return parts

    def stop(self) -> None:
        for proxy in (self.registry_proxy, self.token_proxy):
            if proxy is not None:
                proxy.stop()
        if self.registry_process is not None:
            stop_process(self.registry_process)


@dataclass
class Setup:
    """The lab (None in a dry run) and one :class:`Network` per round-trip time."""

    work: Path
    ca: Path
    cert_dir: Path
    networks: list[Network]
    lab: Lab | None = None

    @property
    def corpus(self) -> dict[str, ExpectedImage]:
        return corpus_module.corpus().images

    @property
    def batch_images(self) -> list[ExpectedImage]:
        """``batch-000``…``batch-199``: one image per repository."""
        return list(corpus_module.batch()[0].images.values())

    @property
    def many_tags(self) -> list[ExpectedImage]:
        """``public/many-tags``: one image per tag."""
        return list(corpus_module.batch()[1].images.values())

    @property
    def anonymous_host(self) -> str:
        """The lab's anonymous registry, directly (plain HTTP, no delay)."""
        return self.lab.anonymous.host if self.lab else "lab-anonymous.invalid"

    @property
    def direct_token_host(self) -> str:
        """The lab's token registry, directly (plain HTTP, no delay)."""
        return self.lab.token.host if self.lab else "lab-token.invalid"

    def stop(self) -> None:
        for network in self.networks:
            network.stop()


def set_up(rtts_ms: Sequence[float], work: Path) -> Setup:
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
    token_pids = tuple(p.pid for p in lab.processes if p.name == "token server")
    setup = Setup(work, pki / "ca.crt", cert_dir, [], lab)
    try:
        token_proxies = [
            start_proxy(
                work, f"token-proxy-{rtt:g}ms", rtt / 2, [f"token=127.0.0.1:{token_port}:tls"], pki
            )
            for rtt in rtts_ms
        ]
        specs = [
            RegistrySpec(
                f"bench token registry {rtt:g} ms",
                work / f"registry-{rtt:g}ms",
                storage=lab.storage_root / "token",
                quiet=True,  # a remote registry's logging costs the client's machine nothing
                auth={
                    "token": {
                        "realm": f"https://127.0.0.1:{proxy.routes['token']}/token",
                        "service": TOKEN_SERVICE,
                        "issuer": TOKEN_ISSUER,
                        "rootcertbundle": str(pki / "token-root.crt"),
                    }
                },
            )
            for rtt, proxy in zip(rtts_ms, token_proxies, strict=True)
        ]
        setup.networks = [
            Network(rtt, token_proxy=proxy, token_server_pids=token_pids)
            for rtt, proxy in zip(rtts_ms, token_proxies, strict=True)
        ]
        registries = start_registries(specs)
        for network, (process, port) in zip(setup.networks, registries, strict=True):
            network.registry_process = process
            network.registry_proxy = start_proxy(
                work,
                f"registry-proxy-{network.rtt_ms:g}ms",
                network.rtt_ms / 2,
                [f"registry=127.0.0.1:{port}:tls"],
                pki,
            )
    except BaseException:
        setup.stop()
        raise
    return setup


def plan(rtts_ms: Sequence[float], work: Path) -> Setup:
    """A dry run's set-up: nothing started, placeholder hosts."""
    ca = work / "certs" / "ca.crt"
    return Setup(work, ca, ca.parent, [Network(rtt) for rtt in rtts_ms])


# ── the benchmark ──────────────────────────────────────────────────────────────────────────────────


@dataclass
class _Spec:
    """A measure still to be run: what to run, how often, with what, through which network."""

    measure: Measure
    argv: list[str]
    runs: int
    env: dict[str, str] | None
    stdin: Path | None
    fresh_cache: bool
    json_out: bool
    network: Network | None


class Bench:
    def __init__(self, setup: Setup, args: argparse.Namespace) -> None:
        self.setup = setup
        self.args = args
        self.dry_run: bool = args.dry_run
        self.venv = Path(sys.executable).parent
        self.python = sys.executable
        self.regimage = str(self.venv / "regimage")
        self.measures: list[Measure] = []
        self._queue: list[_Spec] | None = None  # measures waiting for interleaved rounds
        self.extra: dict[str, Any] = {}
        self.home = setup.work / "home"
        self.home.mkdir(parents=True, exist_ok=True)

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

    def execute(
        self, argv: Sequence[str], env: dict[str, str], *, stdin: Path | None = None
    ) -> tuple[Run, str]:
        """:func:`run_measured`; in a dry run, a placeholder run of nothing."""
        if self.dry_run:
            return Run(PLACEHOLDER_SECONDS, PLACEHOLDER_SECONDS, 0.0, 0), ""
        return run_measured(argv, env, stdin=stdin)

    def measure(
        self,
        tool: str,
        task: str,
        argv: Sequence[str],
        *,
        runs: int,
        network: Network | None = None,
        per: int = 1,
        env: dict[str, str] | None = None,
        stdin: Path | None = None,
        fresh_cache: bool = False,
        json_out: bool = False,
    ) -> Measure:
        """Measure ``argv`` ``runs`` times; inside :meth:`interleaved`, later, round-robin."""
        measure = Measure(tool, task, [], per, rtt_ms=network.rtt_ms if network else None)
        self.measures.append(measure)
        spec = _Spec(measure, list(argv), runs, env, stdin, fresh_cache, json_out, network)
        if self.dry_run:
            print(f"  {task:<22} {tool:<26} {runs} × {' '.join(argv)}", flush=True)
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
        network = spec.network
        if network is not None:
            network.reset()
        server_before = network.server_cpu() if network is not None else {}
        run, out = self.execute(spec.argv, run_env, stdin=spec.stdin)
        if network is not None:
            server_after = network.server_cpu()
            run.server_cpu_parts = {k: server_after[k] - server_before[k] for k in server_after}
            run.server_cpu = sum(run.server_cpu_parts.values())
            run.requests, run.token_requests, run.connections = network.counts()
        if spec.json_out and out.strip():
            with contextlib.suppress(ValueError):
                run.job = json.loads(out.strip().splitlines()[-1])
        per = spec.measure.per
        if run.job.get("ok") is not None and run.job["ok"] != per:
            run.rc = run.rc or 99
            run.stderr += f"\nanswered {run.job['ok']} of {per}: {run.job.get('errors')}"
        return run

    def _report(self, measure: Measure) -> None:
        if self.dry_run:
            return
        note = f" ({measure.failures} failed)" if measure.failures else ""
        print(
            f"  {measure.task:<22} {measure.tool:<26} wall {measure.median('wall'):7.3f} s  "
            f"cpu {measure.median('cpu'):6.3f} s  server cpu {measure.median('server_cpu'):6.3f} s  "
            f"requests {measure.summary()['requests']}{note}",
            flush=True,
        )

    # 1. one CLI process
    def cold_cli(self, network: Network) -> None:
        print(
            f"\n1. one CLI process, size of one reference, {network.label} (TLS, token auth)",
            flush=True,
        )
        runs = self.args.runs
        ca = str(self.setup.ca)
        for label, image in (
            ("single", self.setup.corpus["oci-single"]),
            ("index", self.setup.corpus["oci-index"]),
        ):
            with self.interleaved():
                ref = f"{network.token_host}/{image.reference}"
                task = f"size {label}"
                argv = [self.regimage, "size", "--ca-file", ca, ref]
                self.measure("regimage", task, argv, runs=runs, network=network, fresh_cache=True)
                self.measure("skopeo", task, self.skopeo_inspect(ref), runs=runs, network=network)
                platform = (
                    ["--platform", image.default_platform or "linux/amd64"]
                    if image.is_index
                    else []
                )
                self.measure(
                    "python-dxf",
                    task,
                    [self.python, str(JOBS), "dxf-size", "--ref", ref, "--ca", ca, *platform],
                    runs=runs,
                    network=network,
                    json_out=True,
                )
                warm = Path(tempfile.mkdtemp(dir=self.setup.work, prefix="warm-"))
                self.execute(argv, self.env(warm))  # fills the cache
                self.measure(
                    "regimage warm", task, argv, runs=runs, network=network, env=self.env(warm)
                )

    # 2. batch
    def refs_file(self, task: str, network: Network) -> Path:
        kind = "tags" if "tags" in task else "repositories"
        return self.setup.work / f"refs-{kind}-{network.rtt_ms:g}ms.txt"

    def batch(self, network: Network) -> None:
        host = network.token_host
        n = self.args.batch
        tasks = {
            BATCH_TASKS[0]: [f"{host}/{i.reference}" for i in self.setup.batch_images[:n]],
            BATCH_TASKS[1]: [f"{host}/{i.reference}" for i in self.setup.many_tags[:n]],
        }
        print(f"\n2. batch of {n}, {network.label} (TLS, token auth)", flush=True)
        ca = str(self.setup.ca)
        for task, refs in tasks.items():
            refs_file = self.refs_file(task, network)
            refs_file.write_text("\n".join(refs) + "\n")
            runs = self.args.batch_runs
            with self.interleaved():
                for backend in ("asyncio", "trio"):
                    self.measure(
                        f"regimage audit ({backend})",
                        task,
                        [self.regimage, "audit", "--ca-file", ca, "--file", str(refs_file)],
                        runs=runs,
                        network=network,
                        per=len(refs),
                        fresh_cache=True,
                        env=self.env(REGIMAGE_BACKEND=backend),
                    )
                # The same audit recording into an audit database (issue #19: at most 1.1x the
                # wall time without it). The file is kept from run to run, as users keep it.
                database = refs_file.with_suffix(".db")
                file_args = ["--file", str(refs_file)]
                self.measure(
                    AUDIT_DB,
                    task,
                    [self.regimage, "audit", "--ca-file", ca, "--db", str(database), *file_args],
                    runs=runs,
                    network=network,
                    per=len(refs),
                    fresh_cache=True,
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
                        network=network,
                        per=len(refs),
                        fresh_cache=True,
                    )
                for backend in ("asyncio", "trio"):
                    self.measure(
                        f"regimage library ({backend})",
                        task,
                        self.batch_job("regimage-batch", refs_file, "--backend", backend),
                        runs=runs,
                        network=network,
                        per=len(refs),
                        json_out=True,
                    )
                for peer, job in ((DRCA, "drca-batch"), (DXF_THREADS, "dxf-batch")):
                    self.measure(
                        peer,
                        task,
                        self.batch_job(job, refs_file),
                        runs=runs,
                        network=network,
                        per=len(refs),
                        json_out=True,
                    )
            self.skopeo_loop(task, refs, network)

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

    def skopeo_loop(self, task: str, refs: list[str], network: Network) -> None:
        sample = refs[: self.args.skopeo_sample]
        if self.dry_run:
            print(
                f"  {task:<22} {'skopeo loop':<26} {len(sample)} × "
                f"{' '.join(self.skopeo_inspect(sample[0]))} …",
                flush=True,
            )
        total = Run(0.0, 0.0, 0.0, 0)
        network.reset()
        for ref in sample:
            run, _ = self.execute(self.skopeo_inspect(ref), self.env())
            total.wall += run.wall
            total.cpu += run.cpu
            total.maxrss_mb = max(total.maxrss_mb, run.maxrss_mb)
            total.rc = total.rc or run.rc
            total.stderr = total.stderr or run.stderr
        total.requests, total.token_requests, total.connections = network.counts()
        measure = Measure(
            "skopeo loop",
            task,
            [total],
            per=len(sample),
            scale=len(refs) / len(sample),
            rtt_ms=network.rtt_ms,
        )
        self.measures.append(measure)
        if not self.dry_run:
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
        print(f"\n3. start-up{label} (0 ms, plain HTTP: the lab directly)", flush=True)
        runs = max(self.args.runs, 10)
        python, regimage = str(venv / "python"), str(venv / "regimage")
        task = f"start-up{label}"
        # What any client on regimage's stack (httpx on anyio's asyncio backend) pays to start.
        stack = "import httpx, anyio, anyio._backends._asyncio, h11"
        direct = self.setup.anonymous_host
        ref = f"{direct}/{self.setup.corpus['oci-single'].reference}"
        size = [regimage, "size", "--plain-http", "--no-cache", ref]
        dxf_size = [python, str(JOBS), "dxf-size", "--ref", ref, "--plain-http"]
        with self.interleaved():
            self.measure("python -c pass", task, [python, "-c", "pass"], runs=runs)
            self.measure("regimage --version", task, [regimage, "--version"], runs=runs)
            self.measure("import regimage", task, [python, "-c", "import regimage"], runs=runs)
            self.measure("import httpx + anyio", task, [python, "-c", stack], runs=runs)
            self.extra[f"version_imports{label}"] = self._version_imports(python)
            self.measure("regimage", f"size at 0 ms{label}", size, runs=runs)
            self.measure("python-dxf", f"size at 0 ms{label}", dxf_size, runs=runs, json_out=True)
        if label and self.args.instructions:  # the user-like install
            self.extra["instructions"] = self.instructions(
                {
                    "python -c pass": [python, "-c", "pass"],
                    "import httpx + anyio": [python, "-c", stack],
                    "regimage size": size,
                    "python-dxf size": dxf_size,
                }
            )

    def _version_imports(self, python: str) -> str:
        """Which of httpx, httpcore and anyio ``regimage --version`` imports (none, we hope)."""
        check = (
            "import sys; from regimage.cli.core import main; main(['--version']); "
            "print(sorted(m for m in ('httpx', 'httpcore', 'anyio') if m in sys.modules))"
        )
        if self.dry_run:
            return "(dry run)"
        found = subprocess.run(
            [python, "-c", check], capture_output=True, text=True, check=False, env=self.env()
        )
        lines = found.stdout.strip().splitlines()
        return lines[-1] if lines else f"(failed: {found.stderr.strip()[-200:]})"

    def instructions(self, argvs: dict[str, list[str]]) -> dict[str, int]:
        """Instructions each command executes, counted by ``valgrind --tool=callgrind`` (the
        same count whatever else the machine does; a run takes about 30 times longer). A
        diagnostic, for finding where start-up goes: not a target."""
        print("\n  instructions executed (callgrind): a diagnostic, not a target", flush=True)
        valgrind = shutil.which("valgrind")
        if self.dry_run:
            for name, argv in argvs.items():
                print(f"  {name:<26} valgrind --tool=callgrind {' '.join(argv)}", flush=True)
            return {}
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
                print(f"  {name:<26} {counts[name] / 1e6:7.0f} M", flush=True)
        return counts

    # 4. peak RSS
    def rss(self) -> None:
        count = self.args.rss_refs
        host = self.setup.direct_token_host
        base = [f"{host}/{i.reference}" for i in self.setup.batch_images]
        base += [f"{host}/{i.reference}" for i in self.setup.many_tags]
        refs = [base[i % len(base)] for i in range(count)]
        refs_file = self.setup.work / "refs-rss.txt"
        refs_file.write_text("\n".join(refs) + "\n")
        print(f"\n4. peak RSS of a {count}-reference audit (0 ms, plain HTTP)", flush=True)
        measure = self.measure(
            "regimage audit",
            f"audit of {count}",
            [self.regimage, "audit", "--no-cache", "--plain-http", "--file", str(refs_file)],
            runs=1,
            per=count,
        )
        self.extra["rss_audit_summary"] = measure.runs[0].stderr.strip().splitlines()[-1:]
        database = self.setup.work / "audit-rss.db"
        file = ["--file", str(refs_file)]
        measure = self.measure(
            AUDIT_DB,
            f"audit of {count}",
            [self.regimage, "audit", "--no-cache", "--plain-http", "--db", str(database), *file],
            runs=1,
            per=count,
        )
        self.extra["rss_audit_db_summary"] = measure.runs[0].stderr.strip().splitlines()[-1:]
        if database.exists():
            self.extra["rss_audit_db_bytes"] = database.stat().st_size

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

    # 5. where the CPU goes
    def profile(self) -> None:
        """cProfile of the library batch of 200 repositories (asyncio), at the largest RTT."""
        network = max(self.setup.networks, key=lambda n: n.rtt_ms)
        refs_file = self.refs_file(BATCH_TASKS[0], network)
        if not refs_file.exists():
            return
        out = self.setup.work / "regimage-batch.prof"
        argv = self.batch_job("regimage-batch", refs_file, "--profile", str(out))
        print(
            f"\n5. where the CPU goes (cProfile, library batch of 200 repositories, asyncio, "
            f"{network.label})"
        )
        if self.dry_run:
            print(f"  1 × {' '.join(argv)}", flush=True)
            return
        run_measured(argv, self.env())
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
        for package, seconds in list(self.extra["profile"]["by_package"].items())[:12]:
            print(f"  {package:<16} {seconds:6.3f} s  {100 * seconds / total:5.1f} %")

    # the ratios
    def table(self) -> list[dict[str, Any]]:
        """Every ratio regimage ÷ peer, wall and CPU, at each round-trip time. Targets (where
        issue #7 set one) are on the measure a user feels: wall, and CPU in batches."""
        found = {(m.tool, m.task, m.rtt_ms): m for m in self.measures}
        rows: list[dict[str, Any]] = []

        def ratio(
            task: str,
            rtt: float | None,
            ours: str,
            peer: str,
            metric: str,
            target: float | None = None,
        ) -> None:
            a, b = found.get((ours, task, rtt)), found.get((peer, task, rtt))
            if a is None or b is None:
                return
            job = metric.startswith("job_")
            key = metric.removeprefix("job_")
            va = a.job_median(key) if job and a.runs[0].job else a.median(key)
            vb = b.job_median(key) if job and b.runs[0].job else b.median(key)
            failed = bool(a.failures or b.failures)  # a failed run is no time to compare
            rows.append(
                {
                    "task": task,
                    "rtt_ms": rtt,
                    "ours": ours,
                    "peer": peer,
                    "metric": metric,
                    "ours_value": round(va, 4),
                    "peer_value": round(vb, 4),
                    "ratio": round(va / vb, 3) if vb and not failed else None,
                    "target": target,
                    "failed": failed,
                }
            )

        audits = [
            "regimage audit (asyncio)",
            "regimage audit (trio)",
            *(f"regimage audit -j{j}" for j in self.args.audit_jobs),
        ]
        libraries = ["regimage library (asyncio)", "regimage library (trio)"]
        rtts = [network.rtt_ms for network in self.setup.networks]
        for task in ("size single", "size index"):
            for ours in ("regimage", "regimage warm"):
                for peer in ("skopeo", "python-dxf"):
                    for rtt in rtts:
                        ratio(task, rtt, ours, peer, "wall", _cli_target(ours, peer, rtt))
                        ratio(task, rtt, ours, peer, "cpu")
        for task in BATCH_TASKS:
            for ours in audits:
                for rtt in rtts:
                    ratio(task, rtt, ours, DRCA, "wall", 0.9)
                    ratio(task, rtt, ours, DRCA, "cpu", 1.1)
                for rtt in rtts:  # a hundred processes against one: round trips saved
                    ratio(task, rtt, ours, "skopeo loop", "wall", 0.01 if rtt > 0 else None)
                    ratio(task, rtt, ours, "skopeo loop", "cpu")
            for rtt in rtts:  # what --db costs: the same audit without it
                ratio(task, rtt, AUDIT_DB, "regimage audit (asyncio)", "wall", 1.1)
                ratio(task, rtt, AUDIT_DB, "regimage audit (asyncio)", "cpu")
            for ours in libraries:
                for rtt in rtts:
                    ratio(task, rtt, ours, DRCA, "job_wall", 0.9)
                    ratio(task, rtt, ours, DRCA, "job_cpu", 1.1)
                for rtt in rtts:
                    ratio(task, rtt, ours, DXF_THREADS, "job_wall")
                    ratio(task, rtt, ours, DXF_THREADS, "job_cpu")
                for rtt in rtts:
                    m = found.get((ours, task, rtt))
                    if m is None or rtt == 0:
                        continue
                    floor = FLOOR_ROUND_TRIPS * rtt / 1000
                    rows.append(
                        {
                            "task": task,
                            "rtt_ms": rtt,
                            "ours": ours,
                            "peer": f"floor ({FLOOR_ROUND_TRIPS} RTT)",
                            "metric": "job_wall",
                            "ours_value": round(m.job_median("wall"), 4),
                            "peer_value": round(floor, 4),
                            "ratio": None if m.failures else round(m.job_median("wall") / floor, 3),
                            "target": 2.5,
                            "failed": bool(m.failures),
                        }
                    )
        for task in ("size at 0 ms", "size at 0 ms (no trio)"):
            ratio(task, None, "regimage", "python-dxf", "wall", 1.0)
            ratio(task, None, "regimage", "python-dxf", "cpu")
        return rows


def _cli_target(ours: str, peer: str, rtt: float) -> float | None:
    """The wall target of one CLI process (issue #7): at a real RTT, no slower than either peer
    cold, and 0.6 of it warm (round trips saved); at 0 ms, start-up no slower than python-dxf's."""
    if rtt > 0:
        return 0.6 if ours == "regimage warm" else 1.0
    return 1.0 if (ours, peer) == ("regimage", "python-dxf") else None


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


def _column(rtt: float | None) -> str:
    return "direct" if rtt is None else f"{rtt:g} ms"


def print_matrix(rows: list[dict[str, Any]], *, placeholders: bool = False) -> None:
    """The ratios as one matrix: a line per comparison, wall and CPU at each round-trip time.
    A ratio that misses its target is marked ``*`` and listed below (not in a dry run, whose
    numbers are placeholders)."""
    columns = list(dict.fromkeys(row["rtt_ms"] for row in rows))
    columns.sort(key=lambda rtt: float("inf") if rtt is None else rtt)  # "direct" last
    lines: dict[tuple[str, str, str], dict[tuple[float | None, str], dict[str, Any]]] = {}
    for row in rows:
        kind = row["metric"].removeprefix("job_")
        lines.setdefault((row["task"], row["ours"], row["peer"]), {})[(row["rtt_ms"], kind)] = row
    print(
        "\nratios: regimage ÷ peer (below 1: regimage is better); wall: elapsed; cpu: user + system"
        "\nof the process tree; library rows: the job itself, start-up excluded; direct: plain HTTP"
        "\nstraight to the lab (start-up); * missed its target; failed: a run of either side failed"
    )
    head = "".join(f"{_column(rtt) + ' wall':>13}{'cpu':>8}" for rtt in columns)
    print(f"  {'task':<24}{'regimage':<28}{'peer':<30}{head}")
    missed = []
    for (task, ours, peer), cells in lines.items():
        text = ""
        for rtt in columns:
            for kind, width in (("wall", 13), ("cpu", 8)):
                cell = cells.get((rtt, kind))
                if cell is None or cell["ratio"] is None:
                    failed = cell is not None and cell.get("failed")
                    text += f"{'failed' if failed else '—':>{width}}"
                    continue
                mark = " "
                target = cell["target"]
                if target is not None and cell["ratio"] > target and not placeholders:
                    mark = "*"
                    missed.append(cell)
                text += f"{cell['ratio']:>{width - 1}.3f}{mark}"
        print(f"  {task:<24}{ours:<28}{peer:<30}{text}")
    targets = sum(row["target"] is not None and row["ratio"] is not None for row in rows)
    if placeholders:
        print(f"\n  targets: {targets} (not checked: placeholder numbers)")
        return
    print(f"\n  targets met: {targets - len(missed)} of {targets}")
    for row in missed:
        print(
            f"  MISSED: {row['task']}, {_column(row['rtt_ms'])}, {row['ours']} ÷ {row['peer']}, "
            f"{row['metric']}: {row['ratio']:.3f} (target ≤ {row['target']})"
        )


def print_details(bench: Bench) -> None:
    """Start-up, the answering side's CPU, peak RSS and (with ``--instructions``) the
    instruction counts, below the matrix."""
    found = {(m.tool, m.task): m for m in bench.measures if m.rtt_ms is None}
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
    ours, dxf, stack_count = (
        counts.get(k) for k in ("regimage size", "python-dxf size", "import httpx + anyio")
    )
    if ours and dxf and stack_count:
        print(
            f"\n  diagnostic, not a target: size at 0 ms (no trio) executes {ours / 1e6:.0f} M "
            f"instructions (callgrind), python-dxf {dxf / 1e6:.0f} M ({ours / dxf:.2f}x); "
            f"importing httpx + anyio alone executes {stack_count / 1e6:.0f} M, "
            f"{stack_count / dxf:.2f}x python-dxf's whole run"
        )
    cores = os.cpu_count() or 1
    for m in bench.measures:
        if m.tool.startswith("regimage library") and m.median("server_cpu") > 0:
            server = m.median("server_cpu")
            requests = m.summary()["requests"] or 1
            print(
                f"  {m.task}, {_column(m.rtt_ms)}, {m.tool}: the answering side (registry, token "
                f"server, proxies) spent {server:.2f} s CPU ({1000 * server / requests:.1f} ms a "
                f"request) on this machine's {cores} cores; with the client's "
                f"{m.job_median('cpu'):.2f} s, no schedule finishes in under "
                f"{(server + m.job_median('cpu')) / cores:.2f} s"
            )
            parts = ", ".join(f"{k} {v:.2f} s" for k, v in m.server_part_medians().items())
            print(f"    answering side by process: {parts}")
    for m in bench.measures:
        if m.task.startswith("audit of"):
            key = "rss_audit_db_summary" if m.tool == AUDIT_DB else "rss_audit_summary"
            size = bench.extra.get("rss_audit_db_bytes") if m.tool == AUDIT_DB else None
            on_disk = f"; the database: {size / 1e6:.1f} MB" if size else ""
            print(
                f"  peak RSS, {m.tool}, {m.task} references: {m.runs[0].maxrss_mb:.0f} MB "
                f"(target ≤ 150 MB); {bench.extra.get(key)}{on_disk}"
            )


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    doc = __doc__ or ""
    parser = argparse.ArgumentParser(
        prog="scripts/bench",
        description=doc.splitlines()[0],
        epilog="Not a test: its numbers depend on the machine. See docs/performance.md.",
    )
    parser.add_argument(
        "--rtt-ms",
        type=float,
        nargs="+",
        default=list(DEFAULT_RTTS_MS),
        metavar="RTT",
        help="round-trip times to measure at, each over TLS (default: 0 50)",
    )
    parser.add_argument(
        "--delay-ms",
        type=float,
        help="one-way delay D: the same as --rtt-ms 0 2D (kept for older command lines)",
    )
    parser.add_argument("--runs", type=int, default=5, help="runs of each CLI measure")
    parser.add_argument("--batch-runs", type=int, default=3, help="runs of each batch measure")
    parser.add_argument("--batch", type=int, default=200, help="images per batch")
    parser.add_argument("--skopeo-sample", type=int, default=20, help="skopeo loop: references run")
    parser.add_argument("--rss-refs", type=int, default=10_000, help="references of the RSS audit")
    parser.add_argument("--audit-jobs", type=int, nargs="*", default=[], help="extra --jobs runs")
    parser.add_argument("--quick", action="store_true", help="fewer runs and smaller samples")
    parser.add_argument(
        "--only", nargs="*", default=[], choices=STEPS, help="only these steps (default: all)"
    )
    parser.add_argument(
        "--instructions",
        action="store_true",
        help="also count the instructions start-up executes (callgrind, needs valgrind, slow): "
        "a diagnostic, not a target",
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="start nothing: print the commands each measure would run, and the matrix with "
        "placeholder numbers",
    )
    parser.add_argument("--output", type=Path, default=BENCH_DIR / "results.json")
    args = parser.parse_args(argv)
    if args.delay_ms is not None:
        args.rtt_ms = [0.0, 2 * args.delay_ms]
    args.rtt_ms = sorted(set(args.rtt_ms))
    if any(rtt < 0 for rtt in args.rtt_ms):
        parser.error("--rtt-ms: a round-trip time is 0 or more")
    if args.quick:
        args.runs, args.batch_runs, args.skopeo_sample, args.rss_refs = 3, 1, 5, 2000
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.monotonic()
    load = os.getloadavg()
    rtts = ", ".join(_column(rtt) for rtt in args.rtt_ms)
    print(
        f"regimage benchmark{' (dry run)' if args.dry_run else ''}: round-trip times {rtts} "
        f"(TLS); load average {load[0]:.2f}",
        flush=True,
    )
    if args.dry_run:
        work = Path(tempfile.mkdtemp(prefix="regimage-bench-dry-"))
        setup = plan(args.rtt_ms, work)
    else:
        BENCH_DIR.mkdir(exist_ok=True)
        # An installed package has its bytecode compiled; an editable checkout may not (this
        # machine sets PYTHONDONTWRITEBYTECODE): compile it, or every run measures the compiler.
        for package in ("regimage", "scripts", "tests/lab"):
            compileall.compile_dir(ROOT / package, quiet=1, legacy=False)
        work = Path(tempfile.mkdtemp(dir=BENCH_DIR, prefix="run-"))
        setup = set_up(args.rtt_ms, work)
    try:
        bench = Bench(setup, args)
        steps = args.only or list(STEPS)
        if "cold" in steps:
            for network in setup.networks:
                bench.cold_cli(network)
        if "batch" in steps:
            for network in setup.networks:
                bench.batch(network)
        if "startup" in steps:
            bench.startup()
        if "rss" in steps:
            bench.rss()
        if "profile" in steps:
            bench.profile()
        rows = bench.table()
        print_matrix(rows, placeholders=args.dry_run)
        print_details(bench)
        result = {
            "rtt_ms": args.rtt_ms,
            "delay_ms": [rtt / 2 for rtt in args.rtt_ms],  # one way
            "load_average": [load, os.getloadavg()],
            "seconds": round(time.monotonic() - started, 1),
            "measures": [m.summary() for m in bench.measures],
            "ratios": rows,
            **bench.extra,
        }
        if args.dry_run:
            print(
                "\ndry run: nothing was measured (every ratio is a placeholder 1), nothing written"
            )
        else:
            args.output.write_text(json.dumps(result, indent=2))
            print(f"\nwrote {args.output} in {result['seconds']} s", flush=True)
    finally:
        setup.stop()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
