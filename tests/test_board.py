"""The leaderboard: its numbers are the json's, verdicts carry text, and in a real browser (Debian's headless
Chromium, when installed) every scenario and method shows, a header click sorts, and nothing is loaded."""

import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from fedunlearn.reporting.board import markdown_to_html, suite_board, verdict_class

RESULTS = Path(__file__).resolve().parents[1] / "experiments" / "results"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _model(mean, low, high, overall, gap=0.01):
    stats = {"metrics.forget_acc": {"mean": mean, "ci95": [low, high], "n": 3, "std": 0.1},
             "gap.forget_acc": {"mean": gap, "ci95": None, "n": 3}, "avg_gap": {"mean": gap, "ci95": None, "n": 3}}
    return {"stats": stats, "verdict": {"overall": overall}}


SUITE = {"suite": "tiny", "seeds": [0, 1, 2], "command": "fedunlearn bench tiny.toml", "machine": "a test",
         "scenarios": {
             "a": {"title": "A <b>", "seeds": [0, 1, 2], "models": {
                 "retrain": _model(0.0, 0.0, 0.0, "indistinguishable from retrain on these metrics"),
                 "not": _model(0.25, 0.1, 0.4, "differs from retrain on forget_acc", 0.25),
                 "x[k=1]": _model(0.125, 0.0, 0.3, "diverged 1/3; inconclusive on forget_acc", 0.125)},
                   "experiment": {"dataset": "d", "model": "m", "num-clients": 2, "partitioner": "iid",
                                  "num-server-rounds": 3, "unlearn-rounds": 1},
                   "noise_floor": {"forget_acc": {"mean": 0.004, "margin": 0.0123}}},
             "b": {"title": "B", "seeds": [0, 1, 2], "models": {
                 "retrain": _model(0.0, 0.0, 0.0, "no verdict: original did not learn")},
                   "experiment": {"dataset": "d", "model": "m", "num-clients": 2, "partitioner": "iid",
                                  "num-server-rounds": 3, "unlearn-rounds": 1}, "not_learned": ["original"]}}}


class Cells(HTMLParser):
    """Rows of every table: {table: [(model, {column id: (data-value, text)})]}, and every src/href."""

    def __init__(self):
        super().__init__()
        self.tables, self.links, self._table, self._row, self._cell, self._text = {}, [], None, None, None, ""
        self._headers, self._head = [], False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.links += [v for k, v in attrs if k in ("src", "href") and v]
        if tag == "table":
            self._table = a.get("data-scenario") or a.get("id") or f"t{len(self.tables)}"
            self.tables[self._table], self._headers = [], []
        elif tag == "thead":
            self._head = True
        elif tag == "tbody":
            self._head = False
        elif tag == "button" and self._head:
            self._headers.append(a.get("id"))
        elif tag == "tr" and not self._head and self._table:
            self._row = [a.get("data-model"), []]
        elif tag in ("td", "th") and self._row is not None:
            self._cell, self._text = a.get("data-value"), ""

    def handle_data(self, data):
        self._text += data

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._row is not None:
            self._row[1].append((self._cell, self._text.strip()))
        elif tag == "tr" and self._row is not None:
            self.tables[self._table].append((self._row[0], dict(zip(self._headers, self._row[1]))))
            self._row = None


def parse(text: str) -> Cells:
    cells = Cells()
    cells.feed(text)
    return cells


def test_the_board_shows_the_jsons_numbers_verdicts_in_words_and_not_applicable():
    page = suite_board(SUITE, docs="../../docs/methods")
    cells = parse(page)
    rows = dict(cells.tables["a"])
    assert float(rows["not"]["sort-a-forget_acc"][0]) == 0.25 and rows["not"]["sort-a-forget_acc"][1].startswith("0.250")
    assert "differs" in rows["not"]["sort-a-verdict"][1] and "diverged 1/3" in rows["x[k=1]"]["sort-a-verdict"][1]
    summary = dict(cells.tables["summary"])
    assert summary["not"]["sort-summary-b"] == ("", "not applicable")  # NoT is not in scenario b
    assert "no verdict" in summary["retrain"]["sort-summary-b"][1]
    assert "../../docs/methods/not.md" in cells.links and "../../docs/methods/x.md" not in cells.links
    assert "A &lt;b&gt;" in page and "http" not in " ".join(cells.links)
    assert "forget_acc 0.004 (margin 0.012)" in page  # the noise floor where the protocol provides it
    assert "default-src 'none'" in page  # a browser that opens it may load nothing
    assert [verdict_class(t)[1] for t in ("indistinguishable from retrain on these metrics", "differs from retrain on a",
                                          "diverged 2/5; inconclusive on a", "no verdict: x")] == [
        "like retraining", "differs", "inconclusive", "no verdict"]


def test_the_claims_markdown_becomes_html():
    out = markdown_to_html("## A claim\n\n**held** on `x`: [page](p.md)\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n- one\n- two")
    assert "<h3>A claim</h3>" in out and "<strong>held</strong>" in out and '<a href="p.md">page</a>' in out
    assert "<td>1</td><td>2</td>" in out and "<li>two</li>" in out and "---" not in out


def _render(page: Path, fragment: str = "") -> tuple[str, str]:
    """The DOM after the page's script ran, and Chromium's log, with every host unresolvable (no network)."""
    done = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr",
                           "--host-resolver-rules=MAP * ~NOTFOUND", "--virtual-time-budget=3000", "--dump-dom",
                           page.resolve().as_uri() + fragment], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout, done.stderr


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (.ci/run installs it as root)")
def test_the_fashion_mnist_board_in_a_real_browser_shows_everything_sorts_and_loads_nothing():
    page = RESULTS / "fashion-mnist.html"
    data = json.loads((RESULTS / "fashion-mnist.json").read_text(encoding="utf-8"))
    dom, log = _render(page)
    cells = parse(dom)
    assert "Refused to" not in log and "net::ERR" not in log  # the CSP blocked nothing: nothing was asked for
    assert not [link for link in cells.links if re.match(r"(https?:)?//", link)]
    for name, scenario in data["scenarios"].items():
        rows = dict(cells.tables[name])
        assert set(rows) == set(scenario["models"]), name
        for model, entry in scenario["models"].items():
            shown = rows[model][f"sort-{name}-forget_acc"]
            assert float(shown[0]) == entry["stats"]["metrics.forget_acc"]["mean"]
            assert shown[1].startswith(f"{entry['stats']['metrics.forget_acc']['mean']:.3f}")
    # A click on a header (the page's own handler, asked for through the fragment) sorts that table by it.
    first = next(iter(data["scenarios"]))
    sorted_dom, _ = _render(page, f"#click=sort-{first}-test_acc")
    values = [float(r[f"sort-{first}-test_acc"][0]) for _, r in parse(sorted_dom).tables[first]]
    assert values == sorted(values) and values != [float(r[f"sort-{first}-test_acc"][0])
                                                   for _, r in cells.tables[first]]


def test_fedunlearn_board_rebuilds_a_folders_pages_and_refuses_what_is_not_one(tmp_path, capsys):
    from fedunlearn.cli import main

    (tmp_path / "tiny.json").write_text(json.dumps(SUITE), encoding="utf-8")
    (tmp_path / "other.json").write_text("{}", encoding="utf-8")  # not a suite page: a folder skips it
    assert main(["board", str(tmp_path)]) == 0
    assert parse((tmp_path / "tiny.html").read_text(encoding="utf-8")).tables["a"]
    assert not (tmp_path / "other.html").exists()
    assert main(["board", str(tmp_path / "other.json")]) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and "other.json: not a suite page json" in error[0]
    assert main(["board", str(tmp_path / "missing.json")]) == 2
