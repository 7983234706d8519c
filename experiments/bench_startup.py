"""Benchmark: what a Flower-on-Ray run's start-up is made of, and what it is against a Ray cluster already up.

The start-up of ``bench_overhead.py`` (wall time outside the phases) is taken apart into what Ray and the
workers cost on their own, each measured in a fresh process, the median of ``--repeats``:

- ``ray.init`` with the arguments Flower's Ray backend passes (no dashboard, a runtime env that sets
  PYTHONPATH), then two actors of one CPU each answering a call (what Flower's actor pool starts on two cores),
  then ``ray.shutdown``;
- a fresh interpreter importing the ClientApp (torch, Flower and fedunlearn): what each actor does first;
- the Flower side of ``bench_overhead.py`` (the default experiment), once starting its own Ray and once
  connecting to a cluster started beforehand with ``ray start --head`` (``ray-address``).

Writes experiments/results/startup.md.

    python experiments/bench_startup.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "experiments"))

from commands import MEASURED_NOTE  # noqa: E402

from fedunlearn.runtime import environment  # noqa: E402

PYTHON = sys.executable
RAY = str(Path(sys.executable).parent / "ray")
PORT = 6391

RAY_ALONE = """
import os, sys, time
import ray
t0 = time.perf_counter()
ray.init(address="local", include_dashboard=False, logging_level="error", log_to_driver=False,
         runtime_env={"env_vars": {"PYTHONPATH": os.pathsep.join(sys.path)}})
t1 = time.perf_counter()

@ray.remote(num_cpus=1)
class Actor:
    def ping(self):
        return 1

actors = [Actor.remote() for _ in range(2)]
ray.get([a.ping.remote() for a in actors])
t2 = time.perf_counter()
ray.shutdown()
t3 = time.perf_counter()
print(f"{t1 - t0} {t2 - t1} {t3 - t2}")
"""


def ray_alone() -> tuple[float, float, float]:
    out = subprocess.run([PYTHON, "-c", RAY_ALONE], capture_output=True, text=True, check=True, cwd=ROOT)
    init, actors, shutdown = map(float, out.stdout.split()[-3:])
    return init, actors, shutdown


def client_imports() -> float:
    start = time.perf_counter()
    subprocess.run([PYTHON, "-c", "import fedunlearn.clients.client_app"], check=True, cwd=ROOT)
    return time.perf_counter() - start


def bare_interpreter() -> float:
    start = time.perf_counter()
    subprocess.run([PYTHON, "-c", "pass"], check=True, cwd=ROOT)
    return time.perf_counter() - start


def flower_startup(repeats: int, address: str = "") -> list[float]:
    """Start-up figures printed by ``bench_overhead.py --sides flower``, one per repeat."""
    run_config = "unlearn-rounds=10" + (f" ray-address='{address}'" if address else "")
    out = subprocess.run([PYTHON, str(ROOT / "experiments" / "bench_overhead.py"), "--sides", "flower", "--repeats",
                          str(repeats), "--run-config", run_config], capture_output=True, text=True, check=True,
                         cwd=ROOT)
    return [float(s) for s in re.findall(r"start-up\s+([0-9.]+) s", out.stdout)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    rays = [ray_alone() for _ in range(args.repeats)]
    imports = [client_imports() for _ in range(args.repeats)]
    bare = [bare_interpreter() for _ in range(args.repeats)]
    own = flower_startup(args.repeats)
    subprocess.run([RAY, "start", "--head", f"--port={PORT}", "--num-cpus=2", "--include-dashboard=false",
                    "--disable-usage-stats"], check=True, capture_output=True, cwd=ROOT,
                   env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        existing = flower_startup(args.repeats, f"127.0.0.1:{PORT}")
    finally:
        subprocess.run([RAY, "stop", "--force"], capture_output=True)
    med = statistics.median

    def spread(values: list[float]) -> str:
        return f"{min(values):.1f} / {med(values):.1f} / {max(values):.1f}"

    rows = [
        ("`ray.init` as Flower's backend calls it (GCS, raylet and Ray's Python helpers start)",
         spread([r[0] for r in rays])),
        ("two actors answer a first call (two Ray worker processes start)", spread([r[1] for r in rays])),
        ("`ray.shutdown`", spread([r[2] for r in rays])),
        ("a fresh interpreter imports the ClientApp (torch, Flower, fedunlearn; each actor does it once)",
         spread(imports)),
        ("of which the bare interpreter", spread(bare)),
        ("**start-up of the Flower side of `bench_overhead.py`, Ray started by the run**", spread(own)),
        ("**the same, connecting to a Ray cluster already running** (`ray-address`)", spread(existing)),
    ]
    lines = [
        "# Start-up: what a Flower-on-Ray run pays before its first round",
        "",
        MEASURED_NOTE,
        "",
        "Written by `python experiments/bench_startup.py`; seconds, min / median / max over "
        f"{args.repeats} fresh processes each. The last two rows are the start-up of `experiments/bench_overhead.py "
        "--sides flower` on the default experiment (its wall time outside the phases: Ray and actor start, "
        "identifying the clients, the shutdown), once with a Ray of its own and once against a cluster started "
        f"beforehand with `ray start --head --num-cpus=2` (port {PORT}).",
        "",
        f"- Machine: {platform.platform()}, {psutil.cpu_count()} CPUs, {psutil.virtual_memory().total / 2**30:.0f} GiB;"
        f" {environment.describe()}.",
        "",
        "| what | seconds |",
        "|---|---|",
        *(f"| {what} | {value} |" for what, value in rows),
        "",
    ]
    page = ROOT / "experiments" / "results" / "startup.md"
    page.write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
