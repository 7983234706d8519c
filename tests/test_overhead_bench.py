"""The overhead yardstick does the same work on both sides: the plain loop and the Flower-on-Ray run of
experiments/bench_overhead.py end every phase (FedAvg, NoT, FUCRT) at the same weights."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.e2e
@pytest.mark.timeout(300)
def test_plain_loop_and_flower_end_each_phase_at_the_same_weights(tmp_path):
    out = tmp_path / "overhead.md"
    small = ("model='mlp' num-clients=3 partitioner='iid' num-server-rounds=3 local-epochs=1 unlearn-rounds=2 "
             "fucrt-min-samples=3")
    subprocess.run([sys.executable, str(ROOT / "experiments" / "bench_overhead.py"), "--repeats", "1",
                    "--run-config", small, "--out", str(out)], check=True, cwd=tmp_path, timeout=280)
    text = out.read_text()
    diffs = dict(re.findall(r"(original|not|fucrt) ([0-9.]+e[+-][0-9]+)", text.split("final weights:")[1]))
    assert set(diffs) == {"original", "not", "fucrt"}
    assert all(float(d) < 1e-6 for d in diffs.values()), diffs
    for measure in ("original: steady-state round", "NoT: steady-state round", "FUCRT: steady-state round",
                    "start-up"):
        assert f"| {measure}" in text
