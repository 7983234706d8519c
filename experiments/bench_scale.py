"""Benchmark: does a round cost what the sampled clients cost, whatever the number of clients?

Runs the same experiment with 10, 100 and 1,000 simulated clients, sampling 10 clients per round
(`fraction-train` = 10 / N), each client holding the same amount of data (synthetic, 160 training
samples per client, so the data set itself grows with N). For each N it records, from the report,
the round times of the original training and of the unlearning rounds of FUCRT and NoT (min / median
/ max over rounds 2..R of every repeat), FUCRT's selection round (which asks every client, as in the
paper), and the peak resident memory of the whole process tree (Ray's workers included), sampled every
250 ms (min / median / max over repeats). Writes experiments/results/scale.md.

    python experiments/bench_scale.py [--clients 10,100,1000,2000] [--repeats 3] [--large-repeats 1]
"""

from __future__ import annotations

import argparse
import json
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

from bench_overhead import PeakMemory  # the same memory sampler

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from fedunlearn import environment  # noqa: E402
SAMPLED = 10
PER_CLIENT = 200  # samples per client before the 80/20 train/test split


SELECTION_SAMPLE = 100  # clients the sampled FUCRT selection asks
CONTROL_MAX = 1000  # the control row holds the data of at most this many clients (10 clients of 10,000's would be slow)


def sampled_fucrt(n: int) -> str:
    return f"fucrt[fucrt-select-fraction={min(1.0, SELECTION_SAMPLE / n)}]"


def overrides(n: int, samples: int | None = None) -> str:
    return (f"dataset='synthetic' synthetic-samples={samples or PER_CLIENT * n} model='mlp' num-clients={n} "
            f"partitioner='iid' "
            f"fraction-train={SAMPLED / n} num-server-rounds=6 local-epochs=1 forget-class=3 "
            f"unlearn-methods='fucrt,{sampled_fucrt(n)},not' unlearn-rounds=4 cache-dir=''")


def spread(values: list[float], digits: int = 3) -> str:
    return " / ".join(f"{v:.{digits}f}" for v in (min(values), statistics.median(values), max(values)))


def measure(n: int, out: Path, samples: int | None = None, cap: float | None = None) -> dict:
    """One run with N clients. With ``cap`` (seconds), a run still going then is stopped as a user would stop it
    (SIGINT: the run ends cleanly, its checkpoints kept) and reported as unfinished, with the last progress line
    it printed: where it was."""
    args = [str(Path(sys.executable).parent / "fedunlearn"), "run", "--run-config", overrides(n, samples), "--out",
            str(out)]
    print("$ fedunlearn run --run-config", f'"{args[3]}"', flush=True)
    log = out.with_suffix(".log")
    out.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    with PeakMemory() as memory, log.open("w") as sink:
        proc = subprocess.Popen(args, cwd=ROOT, stdout=sink, stderr=subprocess.STDOUT)
        try:
            proc.wait(timeout=cap)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=120)
            lines = [line.strip() for line in log.read_text(errors="replace").splitlines() if line.strip()]
            progress = [line for line in lines if "round" in line and "--resume" not in line]
            return {"clients": n, "unfinished": True, "wall": time.perf_counter() - start,
                    "peak_gib": memory.peak / 2**30, "last": progress[-1] if progress else "no round reported"}
    if proc.returncode != 0:
        raise SystemExit(f"N={n}: fedunlearn run exited with {proc.returncode}; its output is in {log}")
    wall = time.perf_counter() - start
    report = json.loads((out / "report.json").read_text())
    models = report["models"]

    def rounds(model: str) -> list[float]:
        return [h["round-seconds"] for h in models[model]["history"] if h.get("round", 0) >= 2 and "round-seconds" in h]

    def selection(model: str) -> float:
        entry = models[model]
        return entry["cost"]["seconds"] - sum(h.get("round-seconds", 0.0) for h in entry["history"])

    return {"clients": n, "wall": wall, "peak_gib": memory.peak / 2**30, "original": rounds("original"),
            "fucrt": rounds("fucrt"), "not": rounds("not"), "selection": selection("fucrt"),
            "sampled_selection": selection(sampled_fucrt(n)),
            "client_rounds": models["original"]["cost"]["client_rounds"],
            "train_samples": report["data"]["train_samples"]}


def pooled(repeats: list[dict]) -> dict:
    """One row from the repeats of one N: round times pooled, the other figures as lists over repeats (an
    unfinished run is its own row)."""
    row = dict(repeats[0])
    if row.get("unfinished"):
        return row
    for key in ("original", "fucrt", "not"):
        row[key] = [t for r in repeats for t in r[key]]
    for key in ("wall", "peak_gib", "selection", "sampled_selection"):
        row[key] = [r[key] for r in repeats]
    return row


def unfinished_lines(rows: list[dict]) -> list[str]:
    """Why a run did not finish: where the time goes at that size (docs/upstream.md has the measurement)."""
    stopped = [r for r in rows if r.get("unfinished")]
    if not stopped:
        return []
    sizes = ", ".join(f"{r['clients']:,}" for r in stopped)
    return [f"Runs with {sizes} clients did not finish within the "
            "cap. Before the first round the server asks every client which partition it holds (`query.identify`), "
            "and FUCRT's selection asks every client again; with N messages stored, Flower's simulation engine "
            "walks every stored message for every node on each 0.1 s scan (`InMemoryLinkState.get_message_ins`), "
            "N x N checks per scan. docs/upstream.md shows it and has the text of an issue for Flower.", ""]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", default="10,100,1000,2000")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--large-repeats", type=int, default=1,
                        help=f"repeats of the runs with more than {CONTROL_MAX} clients (minutes each)")
    parser.add_argument("--large-cap", type=float, default=300.0,
                        help=f"seconds after which a run with more than {CONTROL_MAX} clients is stopped (Ctrl-C) and "
                             "reported as unfinished")
    args = parser.parse_args()
    counts = [int(c) for c in args.clients.split(",")]
    rows = []
    control = max(c for c in counts if c <= CONTROL_MAX)
    runs = [(n, None) for n in counts] + [(min(counts), PER_CLIENT * control)]  # control: much data, few clients
    with tempfile.TemporaryDirectory() as tmp:
        for n, samples in runs:
            repeats = []
            for repeat in range(args.repeats if n <= CONTROL_MAX else args.large_repeats):
                repeats.append(measure(n, Path(tmp) / f"n{n}-{samples}-{repeat}", samples,
                                       cap=args.large_cap if n > CONTROL_MAX else None))
                r = repeats[-1]
                if r.get("unfinished"):
                    print(f"N={n}: stopped after {r['wall']:.0f} s, last progress: {r['last']}", flush=True)
                    break
                print(f"N={n} (repeat {repeat + 1}): original round {spread(r['original'])} s, fucrt "
                      f"{spread(r['fucrt'])} s, not {spread(r['not'])} s, selection {r['selection']:.2f} s, "
                      f"peak {r['peak_gib']:.2f} GiB, wall {r['wall']:.0f} s", flush=True)
            rows.append(pooled(repeats))
    lines = [
        f"# Scale: {', '.join(f'{c:,}' for c in counts)} clients, 10 sampled per round",
        "",
        "Written by `python experiments/bench_scale.py`. Each client holds 200 synthetic samples (160 for training), "
        "so the data set grows with the number of clients N; each round samples 10 clients (`fraction-train` = "
        "10 / N). The last row is a control: the data set of the largest N held by the smallest number of clients, "
        "so that what grows with the data and what grows with the clients can be told apart. Round times are min / "
        f"median / max over rounds 2 and later of {args.repeats} runs ({args.large_repeats} above {CONTROL_MAX:,} "
        "clients), in seconds; FUCRT's selection, peak memory and wall time are min / median / max over the runs. "
        "Peak memory is the summed resident memory of the whole process tree (the CLI, Ray's processes and its two "
        f"workers), sampled every {PeakMemory.INTERVAL:g} s. The evaluator scores every model on the whole training set, so its time and "
        "memory grow with the data.",
        "",
        f"- Machine: {platform.platform()}, {psutil.cpu_count()} CPUs, {psutil.virtual_memory().total / 2**30:.0f} GiB;"
        f" {environment.describe()}.",
        f"- Command: `python experiments/bench_scale.py --clients {args.clients} --repeats {args.repeats} "
        f"--large-repeats {args.large_repeats} --large-cap {args.large_cap:g}`; per N: "
        f"`fedunlearn run --run-config \"{overrides(1000)}\"` (with N = 1000 there). The variant "
        f"`fucrt-select-fraction` = {SELECTION_SAMPLE} / N asks a seeded sample of {SELECTION_SAMPLE} clients in FUCRT's "
        "selection instead of all N.",
        "",
        "| clients N | training samples | original round | FUCRT round | NoT round | FUCRT selection (all N clients) "
        f"| FUCRT selection ({SELECTION_SAMPLE} sampled) | peak memory (GiB) | wall (s) |",
        "|---|---|---|---|---|---|---|---|---|",
        *(f"| {r['clients']} | {r['train_samples']} | {spread(r['original'])} | {spread(r['fucrt'])} | "
          f"{spread(r['not'])} | {spread(r['selection'], 2)} | {spread(r['sampled_selection'], 2)} | "
          f"{spread(r['peak_gib'], 2)} | {spread(r['wall'], 0)} |" if not r.get("unfinished") else
          f"| {r['clients']} | {PER_CLIENT * r['clients'] * 4 // 5} | not finished: stopped (Ctrl-C) after "
          f"{r['wall']:.0f} s; last progress line: `{r['last']}` | - | - | - | - | {r['peak_gib']:.2f} | "
          f"{r['wall']:.0f} |" for r in rows),
        "",
        *unfinished_lines(rows),
    ]
    (ROOT / "experiments" / "results" / "scale.md").write_text("\n".join(lines), encoding="utf-8")
    print("wrote experiments/results/scale.md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
