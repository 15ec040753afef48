"""The benchmark's jobs, one per process: ``python scripts/bench_jobs.py JOB [options]``.

Run by ``scripts/bench.py`` in the benchmark's own venv, where the peers are installed. Each job
does one thing through the public API of one client (regimage's root names) and prints one JSON
line: ``wall`` and ``cpu`` (seconds, of the job itself: imports and interpreter start excluded;
the caller measures the whole process tree too), ``ok`` (references answered), ``errors`` (the
first few messages).

Jobs: ``regimage-batch`` (the library: ``authorize`` then ``Image.resolve`` + ``size`` for every
reference, all at once), ``drca-batch`` (docker-registry-client-async: ``get_manifest`` for every
reference, one unbounded ``asyncio.gather``), ``dxf-batch`` (python-dxf: one ``DXF`` per reference,
``get_manifest_and_response``, in a thread pool), ``dxf-size`` (python-dxf: the layer sizes of one
reference, ``get_alias(sizes=True)``, as a command line tool would). The peers are imported by
name at run time: they are untyped, and absent from the project's own venv.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import resource
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

#: Error messages kept per job.
_KEEP_ERRORS = 3


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _refs(path: Path) -> list[str]:
    return [line.strip() for line in path.read_text().splitlines() if line.strip()]


def _split(ref: str) -> tuple[str, str, str]:
    """``host:port/repo/name:tag`` → (host:port, repo/name, tag)."""
    host, _, rest = ref.partition("/")
    repository, _, tag = rest.rpartition(":")
    return host, repository, tag


# ── regimage ───────────────────────────────────────────────────────────────────────────────────────


def regimage_batch(args: argparse.Namespace) -> dict[str, Any]:
    import anyio

    from regimage import Image, RegistryProvider

    refs = _refs(args.refs)
    result: dict[str, Any] = {"ok": 0, "errors": []}

    async def job() -> None:
        started = time.perf_counter()
        options: dict[str, Any] = {}
        if args.connections:
            options["max_connections_per_host"] = args.connections
        async with RegistryProvider(
            ca_file=args.ca, plain_http=args.plain_http, **options
        ) as registry:
            await registry.authorize(refs)
            result["authorized_after"] = round(time.perf_counter() - started, 4)

            async def one(ref: str) -> None:
                try:
                    image = await Image.resolve(ref, registry)
                    await image.size()
                except Exception as exc:  # a benchmark counts failures, it does not stop
                    if len(result["errors"]) < _KEEP_ERRORS:
                        result["errors"].append(f"{type(exc).__name__}: {exc}")
                else:
                    result["ok"] += 1

            async with anyio.create_task_group() as group:
                for ref in refs:
                    group.start_soon(one, ref)
            result["done_after"] = round(time.perf_counter() - started, 4)
            result["requests"] = registry.stats.as_dict()
            pool = registry.pool
            if pool is not None:
                result["pool"] = {
                    "opened": pool.stats.opened,
                    "preconnected": pool.stats.preconnected,
                    "failed": pool.stats.failed,
                    "reused": pool.stats.reused,
                    "waited": pool.stats.waited,
                    "peak": pool.stats.peak,
                }

    def run() -> None:
        anyio.run(job, backend=args.backend)

    _measure(run, result, args.profile)
    return result


# ── docker-registry-client-async ───────────────────────────────────────────────────────────────────


def drca_batch(args: argparse.Namespace) -> dict[str, Any]:
    import asyncio
    import ssl

    drca = importlib.import_module("docker_registry_client_async")
    refs = _refs(args.refs)
    result: dict[str, Any] = {"ok": 0, "errors": []}
    protocol = "http" if args.plain_http else "https"

    async def job() -> None:
        context = ssl.create_default_context(cafile=str(args.ca)) if args.ca else None
        async with drca.DockerRegistryClientAsync(ssl=context) as client:

            async def one(ref: str) -> None:
                try:
                    await client.get_manifest(drca.ImageName.parse(ref), protocol=protocol)
                except Exception as exc:  # counted, not fatal
                    if len(result["errors"]) < _KEEP_ERRORS:
                        result["errors"].append(f"{type(exc).__name__}: {exc}")
                else:
                    result["ok"] += 1

            await asyncio.gather(*(one(ref) for ref in refs))

    _measure(lambda: asyncio.run(job()), result, args.profile)
    return result


# ── python-dxf ─────────────────────────────────────────────────────────────────────────────────────


def _dxf_client(ref: str, args: argparse.Namespace) -> tuple[Any, str]:
    dxf = importlib.import_module("dxf")
    host, repository, tag = _split(ref)

    def auth(client: Any, response: Any) -> None:
        client.authenticate(response=response)

    client = dxf.DXF(
        host,
        repository,
        auth=None if args.plain_http else auth,
        insecure=args.plain_http,
        tlsverify=str(args.ca) if args.ca else True,
    )
    return client, tag


def dxf_batch(args: argparse.Namespace) -> dict[str, Any]:
    refs = _refs(args.refs)
    result: dict[str, Any] = {"ok": 0, "errors": []}

    def one(ref: str) -> None:
        try:
            client, tag = _dxf_client(ref, args)
            with client:
                client.get_manifest_and_response(tag)
        except Exception as exc:  # counted, not fatal
            if len(result["errors"]) < _KEEP_ERRORS:
                result["errors"].append(f"{type(exc).__name__}: {exc}")
        else:
            result["ok"] += 1

    def run() -> None:
        with ThreadPoolExecutor(args.threads) as pool:
            list(pool.map(one, refs))

    _measure(run, result, args.profile)
    return result


def dxf_size(args: argparse.Namespace) -> dict[str, Any]:
    result: dict[str, Any] = {"ok": 0, "errors": []}

    def run() -> None:
        client, tag = _dxf_client(args.ref, args)
        with client:
            found = client.get_alias(tag, sizes=True, platform=args.platform)
        result["size"] = sum(size for _, size in found)
        result["ok"] = 1

    _measure(run, result, None)
    return result


# ── measuring ──────────────────────────────────────────────────────────────────────────────────────


def _measure(run: Callable[[], None], result: dict[str, Any], profile: Path | None) -> None:
    profiler: Any = None
    if profile is not None:
        import cProfile

        profiler = cProfile.Profile(time.process_time)  # CPU, not waiting
        profiler.enable()
    cpu, wall = _cpu(), time.perf_counter()
    try:
        run()
    finally:
        result["wall"] = time.perf_counter() - wall
        result["cpu"] = _cpu() - cpu
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(str(profile))


JOBS: dict[str, Callable[[argparse.Namespace], dict[str, Any]]] = {
    "regimage-batch": regimage_batch,
    "drca-batch": drca_batch,
    "dxf-batch": dxf_batch,
    "dxf-size": dxf_size,
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench_jobs.py")
    parser.add_argument("job", choices=sorted(JOBS))
    parser.add_argument("--refs", type=Path, help="a file of references, one per line")
    parser.add_argument("--ref", help="one reference (dxf-size)")
    parser.add_argument("--ca", type=Path, help="the CA to trust")
    parser.add_argument("--plain-http", action="store_true")
    parser.add_argument("--backend", default="asyncio", choices=["asyncio", "trio"])
    parser.add_argument("--threads", type=int, default=32)
    parser.add_argument("--connections", type=int, default=0, help="regimage: per host")
    parser.add_argument("--platform", default=None)
    parser.add_argument("--profile", type=Path, help="write cProfile stats here")
    args = parser.parse_args(argv)
    if os.environ.get("BENCH_DEBUG"):
        import logging

        logging.basicConfig(level=logging.DEBUG, format="%(relativeCreated)7.0f %(message)s")
    result = JOBS[args.job](args)
    result["maxrss_kb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    result["modules"] = len(sys.modules)
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()
    # No interpreter teardown in the process's numbers, for every job alike (the comparisons
    # use the job's own wall and CPU; the process's are recorded too).
    os._exit(0)


if __name__ == "__main__":
    raise SystemExit(main())
