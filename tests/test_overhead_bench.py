"""The overhead yardstick does the same work on every side: the plain loop in one process, the plain loop on
every core and the Flower-on-Ray run of experiments/bench_overhead.py end every phase (FedAvg, NoT, FUCRT) at
the same weights, and the script ends with the two lines anyone can read the figures off."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.e2e
@pytest.mark.timeout(300)
def test_plain_loops_and_flower_end_each_phase_at_the_same_weights(tmp_path):
    out = tmp_path / "overhead.md"
    small = ("model='mlp' num-clients=3 partitioner='iid' num-server-rounds=3 local-epochs=1 unlearn-rounds=2 "
             "fucrt-min-samples=3")
    done = subprocess.run([sys.executable, str(ROOT / "experiments" / "bench_overhead.py"), "--repeats", "1",
                           "--run-config", small, "--out", str(out)], check=True, cwd=tmp_path, timeout=280,
                          capture_output=True, text=True)
    last = done.stdout.strip().splitlines()[-2:]
    assert re.fullmatch(r"round ratio, Flower / every-core plain loop: \d+\.\d\dx", last[0]), last
    assert re.fullmatch(r"start-up: \d+\.\d s", last[1]), last
    text = out.read_text()
    closing = text.split("final weights of either plain side and Flower's:")[1]
    diffs = dict(re.findall(r"(original|not|fucrt) ([0-9.]+e[+-][0-9]+)", closing))
    assert set(diffs) == {"original", "not", "fucrt"}
    assert all(float(d) < 1e-6 for d in diffs.values()), diffs
    for measure in ("original: steady-state round", "NoT: steady-state round", "FUCRT: steady-state round",
                    "start-up"):
        assert f"| {measure}" in text
    assert "plain loop, every core" in text and "Flower / every core" in text


def test_a_run_rewrites_its_own_section_of_the_page_and_keeps_the_others(tmp_path):
    sys.path.insert(0, str(ROOT / "experiments"))
    from bench_overhead import HEADER, write_section

    page = tmp_path / "overhead.md"
    write_section(page, "## a", ["## a", "", "first a"])
    write_section(page, "## b", ["## b", "", "first b"])
    write_section(page, "## a", ["## a", "", "second a"])
    text = page.read_text()
    assert text.startswith(HEADER[0] + "\n") and text.count("## a") == 1 and text.count("## b") == 1
    assert "second a" in text and "first a" not in text and "first b" in text
    assert text.index("## a") < text.index("## b")  # a section keeps its place


def test_sections_are_kept_apart_by_one_blank_line_and_a_page_may_have_its_own_header(tmp_path):
    sys.path.insert(0, str(ROOT / "experiments"))
    from bench_overhead import write_section

    page = tmp_path / "floor.md"
    header = ["# floor", ""]
    write_section(page, "## a", ["## a", "", "first a", ""], header)
    write_section(page, "## b", ["## b", "", "first b"], header)
    write_section(page, "## c", ["## c", "", "first c", "", ""], header)
    assert page.read_text() == "# floor\n\n## a\n\nfirst a\n\n## b\n\nfirst b\n\n## c\n\nfirst c\n"
