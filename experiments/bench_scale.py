"""Benchmark: does a round cost what the sampled clients cost, whatever the number of clients?

Runs the same experiment with 10, 100, 1,000 and 10,000 simulated clients, sampling 10 clients per round
(`fraction-train` = 10 / N), each client holding the same amount of data (synthetic, 160 training
samples per client, so the data set itself grows with N). For each N it records, from the report,
the round times of the original training and of the unlearning rounds of FUCRT and NoT (min / median
/ max over rounds 2..R of every repeat), FUCRT's selection round (which asks every client, as in the
paper) and a variant that asks a sample of 100, and the peak resident memory of the whole process tree
(Ray's workers included), sampled every 250 ms (min / median / max over repeats). Above 1,000 clients
the all-client selection runs on its own, from the cached original model, and is stopped after
``--selection-cap`` seconds. Writes experiments/results/scale.md.

    python experiments/bench_scale.py [--clients 10,100,1000,10000] [--repeats 3] [--large-repeats 1]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from statistics import median

import psutil
from memory import PeakMemory  # the same memory sampler as bench_overhead.py

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "experiments"))

from commands import MEASURED_NOTE  # noqa: E402

from fedunlearn.runtime import environment  # noqa: E402

SAMPLED = 10
PER_CLIENT = 200  # samples per client before the 80/20 train/test split


SELECTION_SAMPLE = 100  # clients the sampled FUCRT selection asks
CONTROL_MAX = 1000  # the control row holds the data of at most this many clients (10 clients of 10,000's would be slow)


def sampled_fucrt(n: int) -> str:
    return f"fucrt[fucrt-select-fraction={min(1.0, SELECTION_SAMPLE / n)}]"


MIA_SAMPLES = 2000  # SalUn's attack fits SVMs on every test sample by default: O(n^2) in the data, not the clients


def overrides(n: int, samples: int | None = None, methods: str | None = None, cache: str = "",
              client_cpus: float = 1.0) -> str:
    """The run's keys. ``methods`` defaults to all three (FUCRT asking every client, FUCRT asking a sample, NoT);
    ``cache`` is the original model's cache folder ('' = none)."""
    return (f"dataset='synthetic' synthetic-samples={samples or PER_CLIENT * n} model='mlp' num-clients={n} "
            f"partitioner='iid' "
            f"fraction-train={SAMPLED / n} num-server-rounds=6 local-epochs=1 forget-class=3 "
            f"unlearn-methods='{methods or f'fucrt,{sampled_fucrt(n)},not'}' unlearn-rounds=4 "
            f"mia-samples={MIA_SAMPLES} cache-dir='{cache}'"
            + (f" client-cpus={client_cpus}" if client_cpus != 1.0 else ""))



def spread(values: list[float], digits: int = 3) -> str:
    return " / ".join(f"{v:.{digits}f}" for v in (min(values), statistics.median(values), max(values)))


def measure(n: int, out: Path, samples: int | None = None, cap: float | None = None, methods: str | None = None,
            cache: str = "", client_cpus: float = 1.0, env: dict | None = None) -> dict:
    """One run with N clients. With ``cap`` (seconds), a run still going then is stopped as a user would stop it
    (SIGINT: the run ends cleanly, its checkpoints kept) and reported as unfinished, with the last progress line
    it printed: where it was."""
    args = [str(Path(sys.executable).parent / "fedunlearn"), "run", "--run-config",
            overrides(n, samples, methods, cache, client_cpus), "--out", str(out)]
    print("$ fedunlearn run --run-config", f'"{args[3]}"', flush=True)
    log = out.with_suffix(".log")
    out.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    lines: list[tuple[float, str]] = []  # (seconds since start, line) as the run printed them
    with PeakMemory() as memory, log.open("w") as sink:
        proc = subprocess.Popen(args, cwd=ROOT, env={**os.environ, **(env or {})}, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True,
                                errors="replace")

        def read() -> None:
            for line in proc.stdout:
                lines.append((time.perf_counter() - start, line.strip()))
                sink.write(line)

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        try:
            proc.wait(timeout=cap)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=120)
            reader.join(timeout=10)
            progress = [line for _, line in lines
                        if ("round" in line or "selection" in line) and "--resume" not in line]
            return {"clients": n, "unfinished": True, "wall": time.perf_counter() - start,
                    "peak_gib": memory.peak / 2**30, "last": progress[-1] if progress else "no round reported",
                    "selection": selection_from_progress(lines)}
        reader.join(timeout=10)
    if proc.returncode != 0:
        raise SystemExit(f"N={n}: fedunlearn run exited with {proc.returncode}; its output is in {log}")
    wall = time.perf_counter() - start
    report = json.loads((out / "report.json").read_text())
    models = report["models"]

    def rounds(model: str) -> list[float]:
        history = models[model]["history"] if model in models else []
        return [h["round-seconds"] for h in history if h.get("round", 0) >= 2 and "round-seconds" in h]

    def selection(model: str) -> float | None:
        entry = models.get(model)
        if entry is None:
            return None
        return entry["cost"]["seconds"] - sum(h.get("round-seconds", 0.0) for h in entry["history"])

    fucrt = "fucrt" if "fucrt" in models else sampled_fucrt(n)  # the rounds after the selection are the same
    return {"clients": n, "wall": wall, "peak_gib": memory.peak / 2**30, "peak_rss_gib": memory.peak_rss / 2**30,
            "peak_workers_gib": [pss / 2**30 for pss in memory.peak_workers],
            "original": rounds("original"),
            "fucrt": rounds(fucrt), "not": rounds("not"), "selection": selection("fucrt"),
            "sampled_selection": selection(sampled_fucrt(n)),
            "client_rounds": models["original"]["cost"]["client_rounds"],
            "train_samples": report["data"]["train_samples"]}


def selection_from_progress(lines: list[tuple[float, str]]) -> float | None:
    """FUCRT's selection in seconds, from the times its two progress lines were printed (the request sent, the
    transformation classes chosen); None when the run did not get that far. For a run stopped before its report."""
    asked = [t for t, line in lines if "selection round, asking" in line]
    chosen = [t for t, line in lines if "transformation classes" in line]
    return chosen[0] - asked[0] if asked and chosen and chosen[0] > asked[0] else None


def pooled(repeats: list[dict]) -> dict:
    """One row from the repeats of one N: round times pooled, the other figures as lists over repeats (an
    unfinished run is its own row)."""
    row = dict(repeats[0])
    if row.get("unfinished"):
        return row
    for key in ("original", "fucrt", "not"):
        row[key] = [t for r in repeats for t in r[key]]
    for key in ("wall", "peak_gib", "selection", "sampled_selection"):
        row[key] = [r[key] for r in repeats if r[key] is not None]
    return row


def cell(values: list[float], digits: int = 3) -> str:
    return spread(values, digits) if values else "-"


def stopped(run: dict) -> str:
    return f"not finished: stopped (Ctrl-C) after {run['wall']:.0f} s; last progress line: `{run['last']}`"


def table_row(r: dict) -> str:
    if r.get("unfinished"):
        return (f"| {r['clients']} | {PER_CLIENT * r['clients'] * 4 // 5} | {stopped(r)} | - | - | - | - | "
                f"{r['peak_gib']:.2f} | {r['wall']:.0f} |")
    every = r.get("all_clients", {})
    if every.get("unfinished") and every.get("selection") is None:
        selection = stopped(every)
    elif every.get("unfinished"):
        selection = (f"{every['selection']:.2f} (from the times of its progress lines; the run was stopped after "
                     f"{every['wall']:.0f} s, past it)")
    else:
        selection = cell(r["selection"], 2)
    return (f"| {r['clients']} | {r['train_samples']} | {cell(r['original'])} | {cell(r['fucrt'])} | "
            f"{cell(r['not'])} | {selection} | {cell(r['sampled_selection'], 2)} | {cell(r['peak_gib'], 2)} | "
            f"{cell(r['wall'], 0)} |")


def reading(rows: list[dict]) -> list[str]:
    """What the table says, in figures taken from it."""
    done = [r for r in rows[:-1] if not r.get("unfinished")]
    control, small, large = rows[-1], done[0], done[-1]
    lines = ["## Reading (this run)", ""]
    if len(done) > 1 and not control.get("unfinished"):
        lines.append(
            f"- **Round time follows the clients sampled, not the total.** The median round of the original training "
            f"is {median(small['original']):.3f} s at {small['clients']:,} clients and "
            f"{median(large['original']):.3f} s at {large['clients']:,}; NoT's {median(small['not']):.3f} s and "
            f"{median(large['not']):.3f} s. The control's rounds ({median(control['original']):.3f} s) are slower "
            f"because each of its {control['clients']} clients holds {control['train_samples'] // control['clients']:,}"
            f" training samples, not {small['train_samples'] // small['clients']:,}.")
        lines.append(
            f"- **Memory follows the data.** Peak memory is {median(small['peak_gib']):.2f} GiB at "
            f"{small['clients']:,} clients and {median(large['peak_gib']):.2f} GiB at {large['clients']:,}; the "
            f"control, {control['clients']} clients holding {control['train_samples']:,} training samples, peaks at "
            f"{median(control['peak_gib']):.2f} GiB. Each Ray worker holds the data set once and serves every client "
            "from it; the evaluator's outputs on the whole training set grow with the data too.")
    asked = [r for r in done if r["selection"]]
    if asked:
        lines.append(
            "- **FUCRT's selection asks every client**, as the paper's does: "
            + ", ".join(f"{median(r['selection']):.2f} s at {r['clients']:,}" for r in asked)
            + f" clients (medians). Asking a seeded sample of {SELECTION_SAMPLE} (`fucrt-select-fraction` = "
            f"{SELECTION_SAMPLE} / N) takes "
            + ", ".join(f"{median(r['sampled_selection']):.2f} s at {r['clients']:,}" for r in done
                        if r["sampled_selection"]) + " clients.")
        big = [r for r in asked if r["clients"] >= 1000]
        if big:
            per_client = [median(r["selection"]) / r["clients"] for r in big]
            growth = per_client[-1] / per_client[0]  # 1 when the selection grows with N, N-fold when with N^2
            why = ("a cost that grows with the clients and not with their square means the cost of each message, not "
                   "Flower's dispatch scan (docs/upstream.md), sets the time at this size" if growth < 2 else
                   f"{growth:.1f} times as much a client at {big[-1]['clients']:,} as at {big[0]['clients']:,}: the "
                   "quadratic dispatch scan of Flower's simulation engine (docs/upstream.md) shows at this size")
            lines.append(
                "- **Per client asked**, the all-client selection takes "
                + ", ".join(f"{1000 * t:.0f} ms at {r['clients']:,}" for t, r in zip(per_client, big))
                + f" clients: {why}.")
    for r in done:
        every = r.get("all_clients", {})
        if every.get("unfinished"):
            got = ("after its selection had finished" if every.get("selection") is not None else
                   "before its selection had finished")
            lines.append(
                f"- **At {r['clients']:,} clients** the run with the sampled selection finished in "
                f"{median(r['wall']):.0f} s; the run asking all {r['clients']:,} clients in FUCRT's selection, "
                f"started from the cached original and reference, was stopped after {every['wall']:.0f} s, {got} "
                f"(last progress line: `{every['last']}`). What a round asking every client waits for is below.")
    return [*lines, ""]


def unfinished_lines(runs: list[dict]) -> list[str]:
    """Why a run did not finish: where the time goes at that size (docs/upstream.md has the measurement)."""
    stopped_runs = [r for r in runs if r.get("unfinished")]
    if not stopped_runs:
        return []
    sizes = ", ".join(f"{r['clients']:,}" for r in stopped_runs)
    return [f"Runs with {sizes} clients did not finish within the cap. A round that asks every client (FUCRT's "
            "selection, and the server's `query.identify` before the first round) puts N messages in Flower's "
            "simulation engine, which walks every stored message for every node on each 0.1 s scan "
            "(`InMemoryLinkState.get_message_ins`): N x N checks per scan, on top of each message's own cost. "
            "docs/upstream.md has what was measured of both and the text of an issue for Flower.", ""]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", default="10,100,1000,10000")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--large-repeats", type=int, default=1,
                        help=f"repeats of the runs with more than {CONTROL_MAX} clients (minutes each)")
    parser.add_argument("--large-cap", type=float, default=900.0,
                        help=f"seconds after which a run with more than {CONTROL_MAX} clients is stopped (Ctrl-C) and "
                             "reported as unfinished")
    parser.add_argument("--memory", type=int, metavar="N",
                        help="only the memory section: N clients with 2 and 8 workers, data copied or shared")
    parser.add_argument("--client-cpus", type=float, default=1.0,
                        help="CPUs Ray reserves per client: 0.25 runs four workers per core (eight on two cores)")
    parser.add_argument("--selection-cap", type=float, default=900.0,
                        help=f"seconds after which the all-client FUCRT selection above {CONTROL_MAX} clients is "
                             "stopped")
    args = parser.parse_args()
    if args.memory:
        return memory(args.memory)
    counts = [int(c) for c in args.clients.split(",")]
    rows = []
    control = max(c for c in counts if c <= CONTROL_MAX)
    runs = [(n, None) for n in counts] + [(min(counts), PER_CLIENT * control)]  # control: much data, few clients
    with tempfile.TemporaryDirectory() as tmp:
        for n, samples in runs:
            large = n > CONTROL_MAX
            # Above CONTROL_MAX the all-client selection gets a run of its own, from the original model cached
            # by the first run, so that the rest of the row does not wait for it.
            cache = str(Path(tmp) / f"cache-{n}") if large else ""
            methods = f"{sampled_fucrt(n)},not" if large else None
            repeats = []
            for repeat in range(args.large_repeats if large else args.repeats):
                repeats.append(measure(n, Path(tmp) / f"n{n}-{samples}-{repeat}", samples,
                                       cap=args.large_cap if large else None, methods=methods, cache=cache,
                                       client_cpus=args.client_cpus))
                r = repeats[-1]
                if r.get("unfinished"):
                    print(f"N={n}: stopped after {r['wall']:.0f} s, last progress: {r['last']}", flush=True)
                    break
                print(f"N={n} (repeat {repeat + 1}): original round {cell(r['original'])} s, fucrt "
                      f"{cell(r['fucrt'])} s, not {cell(r['not'])} s, selection {r['selection'] or 0:.2f} s, "
                      f"sampled selection {r['sampled_selection']:.2f} s, peak {r['peak_gib']:.2f} GiB, "
                      f"wall {r['wall']:.0f} s", flush=True)
            rows.append(pooled(repeats))
            if large and not rows[-1].get("unfinished"):
                every = measure(n, Path(tmp) / f"n{n}-all", cap=args.selection_cap, methods="fucrt", cache=cache,
                                client_cpus=args.client_cpus)
                rows[-1]["all_clients"] = every
                if every.get("unfinished"):
                    print(f"N={n}, all-client selection: stopped after {every['wall']:.0f} s, last progress: "
                          f"{every['last']}", flush=True)
                if every["selection"] is not None:
                    rows[-1]["selection"] = [every["selection"]]
                    print(f"N={n}, all-client selection {every['selection']:.2f} s", flush=True)
    lines = [
        f"# Scale: {', '.join(f'{c:,}' for c in counts)} clients, 10 sampled per round",
        "",
        MEASURED_NOTE,
        "",
        "Written by `python experiments/bench_scale.py`. Each client holds 200 synthetic samples (160 for training), "
        "so the data set grows with the number of clients N; each round samples 10 clients (`fraction-train` = "
        "10 / N). The last row is a control: the data set of the largest N held by the smallest number of clients, "
        "so that what grows with the data and what grows with the clients can be told apart. Round times are min / "
        f"median / max over rounds 2 and later of {args.repeats} runs ({args.large_repeats} above {CONTROL_MAX:,} "
        "clients), in seconds; FUCRT's selection, peak memory and wall time are min / median / max over the runs. "
        "Peak memory is the summed proportional set size (PSS) of the whole process tree (the CLI, Ray's processes "
        f"and its workers; a page shared by k processes counts 1/k in each), sampled every {PeakMemory.INTERVAL:g} s. "
        "The evaluator scores every model on the whole training set, so its time and memory grow with the data; "
        f"its SalUn attack sees at most {MIA_SAMPLES:,} members and "
        f"non-members (`mia-samples` = {MIA_SAMPLES}, as in the Fashion-MNIST suite): with every test sample, "
        "its SVM fits grow with the square of the data and made most of the wall time at 1,000 clients.",
        "",
        f"- Machine: {platform.platform()}, {psutil.cpu_count()} CPUs, {psutil.virtual_memory().total / 2**30:.0f} GiB;"
        f" {environment.describe()}.",
        f"- Command: `python experiments/bench_scale.py --clients {args.clients} --repeats {args.repeats} "
        f"--large-repeats {args.large_repeats} --large-cap {args.large_cap:g} --selection-cap "
        f"{args.selection_cap:g}" + (f" --client-cpus {args.client_cpus:g}" if args.client_cpus != 1.0 else "")
        + f"`; per N: `fedunlearn run --run-config \"{overrides(1000, client_cpus=args.client_cpus)}\"` "
        "(with N = 1000 there). "
        f"The variant `fucrt-select-fraction` = {SELECTION_SAMPLE} / N asks a seeded sample of {SELECTION_SAMPLE} "
        f"clients in FUCRT's selection instead of all N. Above {CONTROL_MAX:,} clients the row's run has "
        f"`unlearn-methods='{sampled_fucrt(10 * CONTROL_MAX)},not'` (N = {10 * CONTROL_MAX:,} there) and caches its "
        "original model; a second run, `unlearn-methods='fucrt'` from that cache, measures the all-client selection, "
        f"stopped after {args.selection_cap:g} s.",
        "",
        "| clients N | training samples | original round | FUCRT round | NoT round | FUCRT selection (all N clients) "
        f"| FUCRT selection ({SELECTION_SAMPLE} sampled) | peak memory (GiB) | wall (s) |",
        "|---|---|---|---|---|---|---|---|---|",
        *(table_row(r) for r in rows),
        "",
        *reading(rows),
        *unfinished_lines([r.get("all_clients", r) for r in rows]),
    ]
    page = ROOT / "experiments" / "results" / "scale.md"
    page.write_text("\n".join([*lines, *memory_sections(page)]), encoding="utf-8")
    print("wrote experiments/results/scale.md")
    return 0


MEMORY_TITLE = "## Memory: workers and a shared data set"
WORKERS = ((2, 1.0), (8, 0.25))  # (Ray workers on this 2-core machine, client-cpus)
DATA = (("a copy in every worker (FEDUNLEARN_MAP_DATASETS=off)", "off"), ("mapped from the array cache", ""))


def memory_sections(page: Path) -> list[str]:
    """The page's memory section as it stands (``--memory`` writes it; the main run keeps it)."""
    if not page.is_file():
        return []
    text = page.read_text(encoding="utf-8").split("\n")
    start = next((i for i, line in enumerate(text) if line == MEMORY_TITLE), None)
    return ["", *text[start:]] if start is not None else []


# What a client worker imports before it holds any data: the interpreter, torch, Ray and Flower's client app.
WORKER_IMPORTS = "import ray, torch; import clients.client_app"


def interpreter_mib() -> float:
    """Private (anonymous) memory of a fresh Python process that has imported what a Ray client worker imports, in
    MiB: what every further worker costs whatever the data set (read from the process's own smaps_rollup)."""
    code = (f"{WORKER_IMPORTS}\n"
            "print(next(int(l.split()[1]) for l in open('/proc/self/smaps_rollup') if l.startswith('Anonymous:')))")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    return int(done.stdout.split()[-1]) / 1024


def _each(values: list[float]) -> str:
    return f"{min(values) * 1024:.0f} to {max(values) * 1024:.0f}" if values else "none"


def _memory_reading(rows: list[tuple], baseline: float) -> list[str]:
    """What the table says about the workers: with the data set mapped, what more workers add, against what each
    worker's interpreter costs before it holds any data."""
    mapped = {w: r for w, _, label, r in rows if label == DATA[1][0]}
    copied = {w: r for w, _, label, r in rows if label == DATA[0][0]}
    (few, many) = (WORKERS[0][0], WORKERS[-1][0])
    if few not in mapped or many not in mapped or few not in copied or many not in copied:
        return []
    added = mapped[many]["peak_gib"] - mapped[few]["peak_gib"]
    return [
        f"- **What more workers add.** From {few} to {many} workers the peak grows by "
        f"{copied[many]['peak_gib'] - copied[few]['peak_gib']:.2f} GiB with a copy of the data set in every worker "
        f"and by {added:.2f} GiB with it mapped, {added * 1024 / (many - few):.0f} MiB per further worker. A fresh "
        f"Python process that has imported what a client worker imports (`{WORKER_IMPORTS}`) holds "
        f"{baseline:.0f} MiB of private memory before it touches any data (measured in the same run): a Ray worker "
        "is a process of its own, so that cost comes with every worker however the data are shared.",
    ]


def memory(n: int) -> int:
    """``--memory N``: N clients (NoT only) with 2 and 8 Ray workers, the data set copied into every worker or
    mapped from the array cache; writes the memory section of scale.md, keeping the rest of the page."""
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for workers, cpus in WORKERS:
            for label, mapping in DATA:
                env = {"FEDUNLEARN_CACHE_DIR": str(Path(tmp) / "arrays"), "FEDUNLEARN_MAP_DATASETS": mapping}
                r = measure(n, Path(tmp) / f"mem-{workers}-{mapping}", methods="not", client_cpus=cpus, env=env)
                rows.append((workers, cpus, label, r))
                print(f"N={n}, {workers} workers, {label}: PSS {r['peak_gib']:.2f} GiB, RSS {r['peak_rss_gib']:.2f} "
                      f"GiB, wall {r['wall']:.0f} s", flush=True)
    baseline = interpreter_mib()
    page = ROOT / "experiments" / "results" / "scale.md"
    text = page.read_text(encoding="utf-8").split("\n") if page.is_file() else []
    start = next((i for i, line in enumerate(text) if line == MEMORY_TITLE), len(text))
    section = [
        MEMORY_TITLE, "",
        f"Written by `python experiments/bench_scale.py --memory {n}`: {n:,} clients, "
        f"`fedunlearn run --run-config \"{overrides(n, methods='not')}\"` with `client-cpus` 1 (2 Ray workers on "
        "this machine's 2 cores) and 0.25 (8 workers), the data set either loaded into every worker "
        "(`FEDUNLEARN_MAP_DATASETS=off`: each process holds its own copy, as before data sets were mapped) or mapped "
        "read-only from the array cache by all of them; the split and partitions come from the array cache in both. "
        "Peak memory of the whole process tree, one run each: PSS counts a page shared by k processes 1/k in each "
        "(what the processes take together); RSS counts it in every process that touched it.",
        "",
        f"- Machine: {platform.platform()}, {psutil.cpu_count()} CPUs, {psutil.virtual_memory().total / 2**30:.0f} GiB;"
        f" {environment.describe()}.",
        "",
        "| workers (client-cpus) | data set | peak PSS (GiB) | of it, Ray's worker processes (GiB) | "
        "each worker process (MiB) | peak RSS (GiB) | wall (s) |",
        "|---|---|---|---|---|---|---|",
        *(f"| {w} ({c:g}) | {label} | {r['peak_gib']:.2f} | {sum(r['peak_workers_gib']):.2f} "
          f"({len(r['peak_workers_gib'])} processes) | {_each(r['peak_workers_gib'])} | {r['peak_rss_gib']:.2f} | "
          f"{r['wall']:.0f} |" for w, c, label, r in rows),
        "",
        *_memory_reading(rows, baseline),
        "",
    ]
    page.write_text("\n".join([*text[:start], *section]).rstrip("\n") + "\n", encoding="utf-8")
    print(f"wrote the memory section of {page}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
