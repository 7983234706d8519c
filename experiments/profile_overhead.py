"""Profile (py-spy): where the Flower-on-Ray side of bench_overhead.py spends its time, in every process.

Starts ``bench_overhead.py --sides flower --repeats 1`` and attaches one ``py-spy record`` to its
process (the ServerApp and Flower's simulation driver) and one to each Ray worker that runs clients as
it appears (py-spy's ``--subprocesses`` does not reach them: they are children of Ray's C++ raylet).
Ray's own C++ processes are not Python and are not sampled. Every sample is sorted into a category by
the frames on its stack, and experiments/results/profile.md is written. py-spy samples threads that are
running or waiting on a lock or I/O (not idle ones), without pausing the process (``--nonblocking``);
figures are samples / rate, per process: the two workers run at once, so the sums exceed wall time.

    pip install -e ".[profile]"    # py-spy
    python experiments/profile_overhead.py [--run-config "unlearn-rounds=10"]
    python experiments/profile_overhead.py --scale 1000    # bench_scale.py's run at 1,000 clients instead
"""

from __future__ import annotations

import argparse
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "experiments"))

from commands import MEASURED_NOTE  # noqa: E402

RATE = 50  # samples per second, per process

# A sample belongs to the first category with a pattern matching any frame of its stack: local training
# called from Flower's ClientApp is training, a model's forward pass inside it too.
CATEGORIES = (
    ("imports (each Ray worker imports torch, flwr and fedunlearn once)", (r"^_find_and_load ",)),
    ("local training (forward, backward, SGD step)", (r"^train \(fedunlearn/learning/training\.py",)),
    ("client scoring (predict: FUCRT relabelling, prototypes)", (r"^predict \(fedunlearn/learning/training\.py",)),
    ("central evaluation", (r"fedunlearn/evaluation/",)),
    ("data set, partition and request (per process, cached)", (r"fedunlearn/data/",)),
    ("configuration checks", (r"fedunlearn/config\.py",)),
    ("array (de)serialisation and copies", (r"\((flwr|ray)/.*(array|record|serde|inflatable|serializ)",
                                            r"pickle", r"to_torch_state_dict|from_torch_state_dict")),
    ("Flower's simulation engine scanning every node's queue every 0.1 s", (r"^add_messages_to_queue ",)),
    ("Flower runtime (grid, messages, simulation)", (r"\(flwr/",)),
    ("Ray runtime (workers, actors, scheduling)", (r"\(ray/",)),
    ("fedunlearn other (strategies, methods, handlers)", (r"\((strategies|clients|fedunlearn)/",)),
)


def categorise(stack: list[str]) -> str:
    """The category of one sample: the first of CATEGORIES with a pattern matching a frame of ``stack``."""
    for name, patterns in CATEGORIES:
        if any(re.search(p, frame) for p in patterns for frame in stack):
            return name
    return "other (Python stdlib, torch set-up, threads)"


def record(py_spy: str, pid: int, output: Path) -> subprocess.Popen:
    return subprocess.Popen([py_spy, "record", "--pid", str(pid), "--format", "raw", "--rate", str(RATE),
                             "--nonblocking", "--output", str(output)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def profile(py_spy: str, command: list[str], folder: Path) -> dict[str, list[Path]]:
    """Run ``command`` with py-spy on its process and on every Ray client worker: {process kind: files}."""
    target = subprocess.Popen(command)
    files: dict[str, list[Path]] = {"server (ServerApp, Flower's simulation driver)": [folder / "server.txt"]}
    recorders = [record(py_spy, target.pid, folder / "server.txt")]
    seen: set[int] = set()
    parent = psutil.Process(target.pid)
    while target.poll() is None:
        try:
            children = parent.children(recursive=True)
        except psutil.Error:
            break
        for child in children:
            try:
                name = " ".join(child.cmdline())
            except psutil.Error:
                continue
            if child.pid not in seen and "ClientAppActor" in name:
                seen.add(child.pid)
                path = folder / f"worker-{child.pid}.txt"
                files.setdefault("Ray workers (clients), summed", []).append(path)
                recorders.append(record(py_spy, child.pid, path))
        time.sleep(0.2)
    for recorder in recorders:
        recorder.wait(timeout=60)
    if target.returncode:
        raise SystemExit(f"profile_overhead: {' '.join(command)} exited with {target.returncode}")
    return files


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run-config", default="unlearn-rounds=10")
    parser.add_argument("--scale", type=int, default=0,
                        help="profile bench_scale.py's `fedunlearn run` with this many clients instead")
    parser.add_argument("--out", help="default: experiments/results/profile.md (--scale N: profile-N-clients.md)")
    args = parser.parse_args()
    results = ROOT / "experiments" / "results"
    args.out = args.out or str(results / (f"profile-{args.scale}-clients.md" if args.scale else "profile.md"))
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(py_spy).exists():
        print("profile_overhead: py-spy is not installed; pip install -e '.[profile]'", file=sys.stderr)
        return 2
    by_category: Counter = Counter()
    by_process: dict[str, Counter] = defaultdict(Counter)
    leaves: Counter = Counter()
    run_dir = Path(tempfile.mkdtemp())  # the profiled run's report (scale: fedunlearn run --out), removed after
    if args.scale:
        from bench_scale import overrides

        command = [str(Path(sys.executable).parent / "fedunlearn"), "run", "--run-config", overrides(args.scale),
                   "--out", str(run_dir / "run")]
        what = (f"`fedunlearn run --run-config \"{overrides(args.scale)}\"` (bench_scale.py's run at {args.scale} "
                "clients, 10 sampled per round)")
        invocation = f"python experiments/profile_overhead.py --scale {args.scale}"
    else:
        command = [sys.executable, str(ROOT / "experiments" / "bench_overhead.py"), "--sides", "flower",
                   "--repeats", "1", "--run-config", args.run_config]
        what = ("`experiments/bench_overhead.py --sides flower --repeats 1` (the default experiment: original "
                "training, NoT and FUCRT)")
        invocation = f"python experiments/profile_overhead.py --run-config \"{args.run_config}\""
    with tempfile.TemporaryDirectory() as tmp:
        for kind, paths in profile(py_spy, command, Path(tmp)).items():
            for path in paths:
                for line in path.read_text(encoding="utf-8", errors="replace").splitlines() if path.exists() else []:
                    stack_text, _, count = line.rpartition(" ")
                    if not count.isdigit():
                        continue
                    frames = stack_text.split(";")[1:]  # the first names the process
                    category = categorise(frames)
                    by_category[category] += int(count)
                    by_process[kind][category] += int(count)
                    if category.startswith(("Flower", "Ray", "array", "other")) and frames:
                        leaves[re.sub(r":\d+\)", ")", frames[-1])] += int(count)
    shutil.rmtree(run_dir, ignore_errors=True)
    total = sum(by_category.values())
    seconds = lambda n: n / RATE  # noqa: E731
    out = [
        "# Profile: where the Flower-on-Ray run spends its time",
        "",
        MEASURED_NOTE,
        "",
        f"Written by `{invocation}`: py-spy ({RATE} Hz per process, `--nonblocking`) over {what}. "
        "Seconds are samples / rate, summed over the "
        "server process (the ServerApp and Flower's simulation engine) and the Ray workers that run the clients "
        "(two at once on this machine); idle threads "
        "are not sampled. A sample counts in the first category (in the order of the script's CATEGORIES) that "
        "one of its frames names: training called through Flower's ClientApp is training.",
        "",
        f"- Machine: {platform.platform()}, Python {platform.python_version()}",
        f"- Samples: {total} ({seconds(total):.1f} s of running Python over all processes)",
        "",
        "| category | seconds | share |",
        "|---|---|---|",
        *(f"| {name} | {seconds(n):.1f} | {n / total:.0%} |" for name, n in by_category.most_common()),
        "",
        "| process | " + " | ".join(name for name, _ in by_category.most_common()) + " |",
        "|---|" + "---|" * len(by_category),
        *(f"| {kind} | " + " | ".join(f"{seconds(c[name]):.1f}" for name, _ in by_category.most_common()) + " |"
          for kind, c in sorted(by_process.items())),
        "",
        "Innermost frames of the samples outside our code (Flower, Ray, serialisation, other), top 15:",
        "",
        "| frame | seconds |",
        "|---|---|",
        *(f"| `{frame}` | {seconds(n):.1f} |" for frame, n in leaves.most_common(15)),
        "",
    ]
    Path(args.out).write_text("\n".join(out), encoding="utf-8")
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
