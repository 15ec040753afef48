"""``python -m tests.lab start|stop|status|env|seed [--state-dir DIR]``: the lab outside pytest.

``start`` runs the three registries and the token server detached (they outlive this command),
seeds the corpus (``--batch`` also seeds the benchmark batch) and writes ``state.json`` and
``expected.json`` into the state directory; a lab already running there is reused. Point the tests
at it with ``export REGIMAGE_LAB_STATE=DIR`` (``eval "$(python -m tests.lab env)"``).
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

from tests.lab.lab import Lab, LabStartError

DEFAULT_STATE_DIR = Path(__file__).resolve().parents[2] / ".lab"


def _describe(lab: Lab) -> str:
    lines = [f"regimage lab in {lab.state_dir}"]
    for registry in lab.registries:
        extra = f"  token realm {registry.token_realm}" if registry.token_realm else ""
        extra += f"  CA {registry.ca_file}" if registry.ca_file else ""
        lines.append(f"  {registry.flavour:<9} {registry.base_url}{extra}")
    return "\n".join(lines)


def _env_lines(lab: Lab) -> list[str]:
    values = {
        "REGIMAGE_LAB_STATE": str(lab.state_dir),
        "REGIMAGE_LAB_ANONYMOUS": lab.anonymous.host,
        "REGIMAGE_LAB_TOKEN": lab.token.host,
        "REGIMAGE_LAB_TLS": lab.tls.host,
        "REGIMAGE_LAB_CA": str(lab.tls.ca_file),
        "REGIMAGE_LAB_USERNAME": lab.username,
        "REGIMAGE_LAB_PASSWORD": lab.password,  # a throw-away password of this lab run
    }
    return [f"export {name}={shlex.quote(value)}" for name, value in values.items()]


def _start(state_dir: Path, *, batch: bool, seed: bool) -> int:
    try:
        lab = Lab.attach(state_dir)
        reused = True
    except LabStartError:
        Lab.stop_state_dir(state_dir)  # leftovers of a lab that died
        try:
            lab = Lab.start(state_dir, detach=True)
        except LabStartError as exc:
            print(f"lab: cannot start: {exc}", file=sys.stderr)
            return 1
        reused = False
    try:
        if seed:
            lab.seed()
        if batch:
            lab.seed(batch=True)
    except Exception as exc:
        print(f"lab: seeding failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print(_describe(lab))
    timings = ", ".join(f"{k} {v:.2f} s" for k, v in lab.timings.items())
    print(f"  {'reused' if reused else 'started'}; {timings}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.lab", description=__doc__.splitlines()[0]
    )
    parser.add_argument("command", choices=["start", "stop", "status", "env", "seed"])
    parser.add_argument(
        "--state-dir", type=Path, default=DEFAULT_STATE_DIR, help="default: %(default)s"
    )
    parser.add_argument(
        "--batch", action="store_true", help="start/seed: also seed the benchmark batch"
    )
    parser.add_argument("--no-seed", action="store_true", help="start: do not seed the corpus")
    parser.add_argument("--json", action="store_true", help="status: print the state as JSON")
    args = parser.parse_args(argv)
    state_dir: Path = args.state_dir.resolve()

    if args.command == "start":
        return _start(state_dir, batch=args.batch, seed=not args.no_seed)
    if args.command == "stop":
        stopped = Lab.stop_state_dir(state_dir)
        print("lab: stopped" if stopped else f"lab: no lab running in {state_dir}")
        return 0
    try:
        lab = Lab.attach(state_dir)
    except LabStartError as exc:
        print(f"lab: {exc}", file=sys.stderr)
        return 1
    if args.command == "status":
        if args.json:
            print(
                json.dumps(
                    {r.flavour: {"host": r.host, "base_url": r.base_url} for r in lab.registries}
                )
            )
        else:
            print(_describe(lab))
            print("  running")
    elif args.command == "env":
        print("\n".join(_env_lines(lab)))
    elif args.command == "seed":
        stats = lab.seed(batch=args.batch)
        print(f"lab: seeded ({stats.blobs_uploaded} blobs, {stats.manifests_put} manifests pushed)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
