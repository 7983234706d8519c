"""No hand-typed figure: every result figure that README.md or a page of docs/ quotes is found in a committed output
that its paragraph cites (a link to, or the path of, a file under experiments/results/).

A *result figure* is what a measurement gives, written as the pages write it: a value with three decimals (a metric,
0.904), a ratio with a decimal (1.60x), or a decimal quantity with a unit (23.9 s, 12.3 GiB). Whole numbers (10
clients, 600 s, 95%) are settings and facts, not measurements, and a configuration key's default is a setting too.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from fedunlearn.config import DEFAULTS

ROOT = Path(__file__).resolve().parents[1]
FIGURE = re.compile(r"(?<![\w.\-/])(?:\d+\.\d{3}|\d+\.\d+x|\d+(?:\.\d+)? ?(?:s|ms|min|h|GiB|MiB|GB|MB)|\d+\.\d+ ?%)(?![\w/])")
LINK = re.compile(r"\]\(([^)#\s]+)[^)]*\)")
PATH = re.compile(r"`(experiments/results/[\w./-]+)`")
SETTINGS = {f"{v:g}" for v in DEFAULTS.values() if isinstance(v, float)}
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def paragraphs(text: str) -> list[str]:
    """Blocks separated by blank lines; a list item or a table row is a block of its own, and a table's rows cite
    what the paragraph before the table cites (the paragraph introduces it)."""
    blocks, current, intro = [], [], ""
    for line in text.split("\n"):
        starts_item = line.startswith(("- ", "* ", "|")) or re.match(r"\d+\. ", line)
        if not line.strip() or starts_item:
            if current:
                blocks.append(" ".join(current))
                intro = blocks[-1] if not blocks[-1].startswith("|") else intro
            current = [line] if line.strip() else []
            if line.startswith("|"):
                current = [intro + " " + line]
        else:
            current.append(line)
    if current:
        blocks.append(" ".join(current))
    return blocks


def unfounded(doc: Path, text: str | None = None) -> list[str]:
    """The result figures of ``doc`` not found in the committed files their paragraph cites."""
    problems = []
    for block in paragraphs(text if text is not None else doc.read_text(encoding="utf-8")):
        figures = [f for f in FIGURE.findall(block) if re.sub(r"[^\d.]", "", f) not in SETTINGS]
        if not figures:
            continue
        cited = [(doc.parent / m).resolve() for m in LINK.findall(block)] + [ROOT / m for m in PATH.findall(block)]
        sources = [c for c in cited if c.is_file() and (ROOT / "experiments" / "results") in c.parents]
        corpus = " ".join(c.read_text(encoding="utf-8") for c in sources)
        for figure in figures:
            if figure not in corpus:
                where = ", ".join(str(c.relative_to(ROOT)) for c in sources) or "no committed output"
                problems.append(f"{doc.relative_to(ROOT)}: {figure!r} is not in {where}: {block[:90]}...")
    return problems


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_quoted_figure_is_in_the_committed_output_it_cites(doc):
    assert unfounded(doc) == []


def test_the_check_finds_a_typed_figure_and_accepts_a_quoted_one(tmp_path):
    doc = ROOT / "docs" / "example.md"  # resolved like a page of docs/ (never written)
    quoted = "FUCRT keeps `test_retain_acc` at 0.904 ([report](../experiments/results/fashion-mnist-run/report.md))."
    assert "0.904" in (ROOT / "experiments/results/fashion-mnist-run/report.md").read_text()
    assert unfounded(doc, quoted) == []
    assert unfounded(doc, quoted.replace("0.904", "0.907")) != []
    assert unfounded(doc, "It took 23.9 s on this host.") != []  # no source at all
    assert unfounded(doc, "Rounds wait 0.5 s at least, 10 clients, 600 s at most, 95% intervals.") == []
    table = "The table ([report](../experiments/results/fashion-mnist-run/report.md)):\n\n| a |\n|---|\n| 0.904 |\n"
    assert unfounded(doc, table) == []  # a table cites what its introduction cites
