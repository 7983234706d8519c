"""Profile (py-spy): where the Flower-on-Ray side of bench_overhead.py spends its time, in every process.

Runs ``py-spy record --subprocesses`` over ``bench_overhead.py --sides flower --repeats 1`` (the server
process and every Ray worker that runs clients are sampled; Ray's own C++ processes are not Python and
are not sampled), sorts every sample into a category by the frames on its stack, and writes
experiments/results/profile.md. py-spy samples threads that are running or waiting on a lock or I/O
(not idle ones), at 100 Hz, and the figures are samples x 10 ms, summed over processes: with two
workers running at once they add up to more than the wall time.

    pip install -e ".[profile]"    # py-spy
    python experiments/profile_overhead.py [--run-config "unlearn-rounds=10"]
"""

from __future__ import annotations

import argparse
import platform
import re
import shutil
import subprocess
import sys
import tempfile
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RATE = 100  # samples per second

# First match wins, tested against the whole stack from the leaf up: the innermost known frame decides.
CATEGORIES = (
    ("local training (forward, backward, SGD step)", (r"\(fedunlearn/training\.py\).*\btrain\b", r"^train \(")),
    ("client scoring (predict: FUCRT relabelling, prototypes)", (r"^predict \(.*fedunlearn/training\.py",)),
    ("central evaluation", (r"fedunlearn/evaluator\.py",)),
    ("data set, partition and request (per process, cached)", (r"fedunlearn/(data|federation|partition|requests)\.py",)),
    ("configuration checks", (r"fedunlearn/config\.py",)),
    ("array (de)serialisation and copies", (r"flwr/.*(array|record|serde|inflatable)", r"ray/.*serializ",
                                            r"\b(pickle|cloudpickle)\b", r"to_torch_state_dict|from_torch")),
    ("imports", (r"^<module>|importlib|_find_and_load",)),
    ("Flower runtime (grid, messages, simulation)", (r"site-packages/flwr/",)),
    ("Ray runtime (workers, actors, scheduling)", (r"site-packages/ray/",)),
    ("fedunlearn other (strategies, methods, handlers)", (r"(strategies|clients|fedunlearn)/",)),
)


def categorise(stack: list[str]) -> str:
    """The category of one sample: the first category with a pattern matching a frame, leaf first."""
    for frame in reversed(stack):
        for name, patterns in CATEGORIES:
            if any(re.search(p, frame) for p in patterns):
                return name
    return "other (Python stdlib, torch set-up, threads)"


def process_kind(frame: str) -> str:
    if "default_worker.py" in frame or "ray::" in frame:
        return "Ray worker (clients)"
    if "bench_overhead.py" in frame:
        return "server (ServerApp, simulation driver)"
    return "other Python process (Ray's helpers)"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run-config", default="unlearn-rounds=10")
    parser.add_argument("--out", default=str(ROOT / "experiments" / "results" / "profile.md"))
    args = parser.parse_args()
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(py_spy).exists():
        print("profile_overhead: py-spy is not installed; pip install -e '.[profile]'", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "stacks.txt"
        command = [sys.executable, str(ROOT / "experiments" / "bench_overhead.py"), "--sides", "flower",
                   "--repeats", "1", "--run-config", args.run_config]
        subprocess.run([py_spy, "record", "--subprocesses", "--format", "raw", "--rate", str(RATE), "--output",
                        str(raw), "--", *command], check=True)
        lines = raw.read_text(encoding="utf-8", errors="replace").splitlines()

    by_category: Counter = Counter()
    by_process: dict[str, Counter] = defaultdict(Counter)
    leaves: Counter = Counter()
    for line in lines:
        stack_text, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        frames = stack_text.split(";")
        category = categorise(frames[1:])
        by_category[category] += int(count)
        by_process[process_kind(frames[0])][category] += int(count)
        if category.startswith(("Flower", "Ray", "array", "other")):
            leaves[re.sub(r":\d+\)", ")", frames[-1])] += int(count)
    total = sum(by_category.values())
    seconds = lambda n: n / RATE  # noqa: E731
    out = [
        "# Profile: where the Flower-on-Ray run spends its time",
        "",
        f"Written by `python experiments/profile_overhead.py --run-config \"{args.run_config}\"`: py-spy "
        f"({RATE} Hz, `--subprocesses`) over `experiments/bench_overhead.py --sides flower --repeats 1` (the "
        "default experiment: original training, NoT and FUCRT). Seconds are samples / rate, summed over the "
        "server process and the Ray workers; idle threads are not sampled. Each sample is put in the category "
        "of the innermost frame that names one.",
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
