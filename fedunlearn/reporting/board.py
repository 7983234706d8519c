"""The benchmark as a web page: one self-contained HTML file per suite page (``<page>.html`` beside
``<page>.json``), and ``report.html`` beside a run's report.md.

Everything is in the file: inline CSS and JavaScript, the suite's plot as a data: URI, a Content-Security-Policy
that forbids every request (a browser opening it from disk loads nothing else). The numbers are the json's: each
cell carries the mean in ``data-value`` and shows it rounded, with its 95% interval as an error bar drawn in
SVG. A verdict is a badge whose text says it (colour is never the only carrier). Sorting: a column header is a
button; clicking it sorts the table by that column (again: the other way). No templating package: the
standard library's :mod:`html` escapes, f-strings assemble.
"""

from __future__ import annotations

import base64
import html
import json
import re
from pathlib import Path
from typing import Any, Mapping

from fedunlearn.evaluation.stats import interval_text
from fedunlearn.reporting.report import mean_text
from fedunlearn.reporting.seeds import floor_line, shortfall_line

# (column, dotted key in a model's stats, range of the error bar or None)
COLUMNS = (("forget_acc", "metrics.forget_acc", (0, 1)), ("retain_acc", "metrics.retain_acc", (0, 1)),
           ("test_acc", "metrics.test_acc", (0, 1)), ("test_forget_acc", "metrics.test_forget_acc", (0, 1)),
           ("test_retain_acc", "metrics.test_retain_acc", (0, 1)), ("mia_efficacy", "metrics.mia_efficacy", (0, 1)),
           ("rmia_auc", "metrics.rmia_auc", (0, 1)), ("backdoor_asr", "metrics.backdoor_asr", (0, 1)), ("avg_gap", "avg_gap", (0, 1)),
           ("client trainings", "cost.client_rounds", None), ("seconds", "cost.seconds", None),
           ("speedup", "speedup.client_rounds", None))
# Where each method is described (a variant links to its method's page); the baseline and the models have none.
METHOD_PAGES = {"fucrt": "fucrt", "not": "not", "not-all": "not", "not-last": "not", "noise": "not",
                "reinit": "not", "head-tilt": "head-tilt", "gradient-ascent": "gradient-ascent",
                "federaser": "federaser", "salun": "salun", "l2ul": "l2ul", "lra-npp": "lra-npp",
                "wf-net": "wf-net", "geniu": "geniu"}
CSP = ("default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data: 'self'")

STYLE = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0 auto;max-width:1400px;padding:0 16px;color:#1a1a1a}
h1{font-size:22px;margin:18px 0 4px}h2{font-size:18px;margin:28px 0 6px;border-top:1px solid #ddd;padding-top:14px}
h3{font-size:15px}.meta{color:#444;font-size:13px}code{font-size:12px;background:#f3f3f3;padding:1px 3px}
nav{margin:10px 0;font-size:13px}nav a{margin-right:10px}
table{border-collapse:collapse;margin:8px 0;font-size:13px}th,td{border-bottom:1px solid #e3e3e3;padding:4px 7px;text-align:right;vertical-align:middle}th{white-space:nowrap}
th:first-child,td:first-child{text-align:left}thead th{background:#f6f6f6;position:sticky;top:0}
th button{font:inherit;font-weight:600;border:0;background:none;cursor:pointer;padding:0}th button::after{content:" \\2195";color:#999}
th[aria-sort=ascending] button::after{content:" \\2191";color:#000}th[aria-sort=descending] button::after{content:" \\2193";color:#000}
.gap{color:#555;font-size:11px;display:block}.bar{display:block;margin-left:auto}
.badge{display:inline-block;white-space:nowrap;border-radius:3px;padding:1px 5px;font-size:12px;border:1px solid}
.ok{background:#e6f4ea;border-color:#2e7d32;color:#1b5e20}.bad{background:#fdecea;border-color:#c62828;color:#8e1b1b}
.unclear{background:#fff6e0;border-color:#b26a00;color:#7a4800}.none{background:#eee;border-color:#777;color:#333}
.na{color:#777;font-style:italic}.scroll{overflow-x:auto}img{max-width:100%}
@media print{nav,th button::after{display:none}thead th{position:static}h2{break-before:page}.scroll{overflow:visible}}
"""

SCRIPT = """
function sortBy(th){
  const table=th.closest('table'),row=th.parentNode,col=[...row.children].indexOf(th);
  const dir=th.getAttribute('aria-sort')==='ascending'?'descending':'ascending';
  [...row.children].forEach(h=>h.removeAttribute('aria-sort'));th.setAttribute('aria-sort',dir);
  const body=table.tBodies[0],rows=[...body.rows];
  const key=r=>{const v=r.cells[col].dataset.value;if(v===undefined||v==='')return null;const n=Number(v);return isNaN(n)?v:n};
  rows.sort((a,b)=>{const x=key(a),y=key(b);if(x===null)return y===null?0:1;if(y===null)return -1;
    const c=(typeof x==='number'&&typeof y==='number')?x-y:String(x).localeCompare(String(y));return dir==='ascending'?c:-c});
  rows.forEach(r=>body.appendChild(r));
}
document.querySelectorAll('th button').forEach(b=>b.addEventListener('click',()=>sortBy(b.parentNode)));
// A link (or a test) may ask for a header to be clicked once the page has loaded: page.html#click=<button id>
const asked=location.hash.match(/click=([A-Za-z0-9_-]+)/);
if(asked&&document.getElementById(asked[1]))document.getElementById(asked[1]).click();
"""


def e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "-", text).strip("-")


def verdict_class(overall: str) -> tuple[str, str]:
    """(css class, short text) of a model's overall verdict; the full sentence goes in the title."""
    if overall.startswith("no verdict"):
        return "none", "no verdict"
    body = overall.split("; ", 1)[1] if overall.startswith("diverged") else overall
    if body.startswith("indistinguishable"):
        return "ok", "like retraining"
    if "differs" in body:
        return "bad", "differs"
    return "unclear", "inconclusive"


def badge(overall: str) -> str:
    css, short = verdict_class(overall)
    return f'<span class="badge {css}" title="{e(overall)}">{e(short)}</span>'


def error_bar(stats: Mapping[str, Any] | None, bounds: tuple[float, float]) -> str:
    """A small SVG: the range, the 95% interval as a line, the mean as a dot (nothing without an interval)."""
    if not stats or not stats.get("ci95"):
        return ""
    low, high = bounds
    width = 64

    def x(v: float) -> float:
        return round(2 + (min(max(v, low), high) - low) / (high - low) * (width - 4), 1)

    lo, hi = stats["ci95"]
    return (f'<svg class="bar" width="{width}" height="8" role="img" aria-label="95% interval '
            f'{lo:.3f} to {hi:.3f}"><line x1="2" x2="{width - 2}" y1="4" y2="4" stroke="#ddd"/>'
            f'<line x1="{x(lo)}" x2="{x(hi)}" y1="4" y2="4" stroke="#333" stroke-width="2"/>'
            f'<circle cx="{x(stats["mean"])}" cy="4" r="2.5" fill="#000"/></svg>')


def metric_cell(entry: Mapping[str, Any], key: str, bounds) -> str:
    stats = entry.get("stats", {}).get(key)
    if not stats or stats.get("mean") is None:
        return '<td data-value="" class="na">-</td>'
    text = e(mean_text(key, stats["mean"]))
    spread = interval_text(stats).strip() if bounds else ""
    gap = entry.get("stats", {}).get(f"gap.{key.split('.', 1)[1]}") if key.startswith("metrics.") else None
    gap_text = f'<span class="gap">gap {gap["mean"]:+.3f}</span>' if gap and gap.get("mean") is not None else ""
    title = f' title="{e(spread)}"' if spread else ""
    return (f'<td data-value="{stats["mean"]!r}"{title}>{text}{error_bar(stats, bounds) if bounds else ""}'
            f'{gap_text}</td>')


def model_link(name: str, docs: str | None) -> str:
    page = METHOD_PAGES.get(name.split("[")[0])
    if docs is None or page is None:
        return f"<code>{e(name)}</code>"
    return f'<a href="{e(docs)}/{page}.md"><code>{e(name)}</code></a>'


def scenario_table(name: str, report: Mapping[str, Any], docs: str | None) -> str:
    models = report["models"]
    columns = [(c, k, b) for c, k, b in COLUMNS
               if any((m.get("stats", {}).get(k) or {}).get("mean") is not None for m in models.values())]
    head = "".join(f'<th scope="col"><button type="button" id="sort-{slug(name)}-{slug(c)}">{e(c)}</button></th>'
                   for c, _, _ in (("model", None, None), *columns, ("verdict", None, None)))
    rows = []
    for model, entry in models.items():
        overall = entry["verdict"]["overall"]
        diverged = re.match(r"diverged \d+/\d+", overall)
        note = f' <span class="badge none">{e(diverged.group(0))}</span>' if diverged else ""
        rows.append(f'<tr data-model="{e(model)}"><th scope="row" data-value="{e(model)}">'
                    f'{model_link(model, docs)}</th>'
                    + "".join(metric_cell(entry, k, b) for _, k, b in columns)
                    + f'<td data-value="{e(verdict_class(overall)[1])}">{badge(overall)}{note}</td></tr>')
    return (f'<div class="scroll"><table data-scenario="{e(name)}"><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table></div>')


def summary_table(scenarios: Mapping[str, Any], docs: str | None) -> str:
    """Methods x scenarios: each method's avg_gap to retraining, its verdict and its speedup per scenario."""
    methods = list(dict.fromkeys(m for r in scenarios.values() for m in r["models"] if m not in ("original",)))
    head = "".join(f'<th scope="col"><button type="button" id="sort-summary-{slug(s)}">{e(s)}</button></th>'
                   for s in ("method", *scenarios))
    rows = []
    for method in methods:
        cells = []
        for report in scenarios.values():
            entry = report["models"].get(method)
            if entry is None:
                cells.append('<td data-value="" class="na">not applicable</td>')
                continue
            gap = entry.get("stats", {}).get("avg_gap") or {}
            speed = entry.get("stats", {}).get("speedup.client_rounds") or {}
            value = gap.get("mean")
            cells.append(f'<td data-value="{"" if value is None else repr(value)}">'
                         f'{"-" if value is None else f"{value:.3f}"} {badge(entry["verdict"]["overall"])}'
                         + (f'<span class="gap">speedup {speed["mean"]:.1f}x</span>' if speed.get("mean") else "")
                         + "</td>")
        rows.append(f'<tr data-model="{e(method)}"><th scope="row" data-value="{e(method)}">{model_link(method, docs)}'
                    f"</th>{''.join(cells)}</tr>")
    return (f'<div class="scroll"><table id="summary"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}'
            "</tbody></table></div>")


def markdown_to_html(text: str) -> str:
    """The few Markdown forms the claims page uses: headings, paragraphs, lists, tables, bold, code, links."""
    def inline(s: str) -> str:
        s = e(s)
        s = re.sub(r"`([^`]+)`", r"<code>\1</code>", s)
        s = re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", s)
        return re.sub(r"\[([^\]]+)\]\(([^)\s]+)\)", lambda m: f'<a href="{m.group(2)}">{m.group(1)}</a>', s)

    out, lines, i = [], text.splitlines(), 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("#"):
            level = min(len(line) - len(line.lstrip("#")) + 1, 4)
            out.append(f"<h{level}>{inline(line.lstrip('#').strip())}</h{level}>")
        elif line.startswith("|"):
            block = []
            while i < len(lines) and lines[i].startswith("|"):
                block.append([c.strip() for c in lines[i].strip("|").split("|")])
                i += 1
            body = [r for r in block[1:] if not all(set(c) <= set("-: ") for c in r)]
            out.append('<div class="scroll"><table><thead><tr>' + "".join(f"<th>{inline(c)}</th>" for c in block[0])
                       + "</tr></thead><tbody>" + "".join("<tr>" + "".join(f"<td>{inline(c)}</td>" for c in r)
                                                          + "</tr>" for r in body) + "</tbody></table></div>")
            continue
        elif line.startswith("- "):
            items = []
            while i < len(lines) and lines[i].startswith("- "):
                items.append(f"<li>{inline(lines[i][2:])}</li>")
                i += 1
            out.append(f"<ul>{''.join(items)}</ul>")
            continue
        elif line.strip():
            out.append(f"<p>{inline(line)}</p>")
        i += 1
    return "\n".join(out)


def page(title: str, meta: str, body: list[str]) -> str:
    return (f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{e(title)}</title><style>{STYLE}</style></head>\n<body><h1>{e(title)}</h1>"
            f'<p class="meta">{meta}</p>\n' + "\n".join(body) + f"\n<script>{SCRIPT}</script></body></html>\n")


def suite_board(data: Mapping[str, Any], plot: Path | None = None, claims: str | None = None,
                docs: str | None = "../../docs/methods") -> str:
    """The HTML of a suite page's json (``fedunlearn bench`` writes that json), with its plot inlined and, when
    given, the claims page (Markdown) as its last section."""
    scenarios = data["scenarios"]
    meta = (f"Suite <code>{e(data['suite'])}</code>, seeds {e(', '.join(map(str, data['seeds'])))}. Command: "
            f"<code>{e(data['command'])}</code>. Machine: {e(data['machine'])}. Means over seeds; a bar is the 95% "
            "interval; the gap is to the reference, retraining from scratch without the deleted data (the goal is "
            "0). Click a column's name to sort by it.")
    nav = ('<nav aria-label="sections"><a href="#overview">Overview</a>'
           + "".join(f'<a href="#{slug(n)}">{e(n)}</a>' for n in scenarios)
           + ('<a href="#claims">Claims</a>' if claims else "") + "</nav>")
    body = [nav, '<h2 id="overview">Overview: distance to retraining per scenario</h2>',
            "<p>Each cell: the method's avg_gap (its mean distance to retraining), its verdict against retraining "
            "and its speedup in client trainings. <em>not applicable</em>: the method does not serve that "
            "scenario's request.</p>", summary_table(scenarios, docs)]
    if plot is not None and plot.is_file():
        uri = base64.b64encode(plot.read_bytes()).decode()
        body.append(f'<p><img alt="avg_gap and speedup per scenario" src="data:image/png;base64,{uri}"></p>')
    for name, report in scenarios.items():
        config = report["experiment"]
        body += [f'<h2 id="{slug(name)}">{e(report.get("title", name))} (<code>{e(name)}</code>)</h2>',
                 f'<p class="meta">{e(config["dataset"])}, model <code>{e(config["model"])}</code>, '
                 f'{e(config["num-clients"])} clients, partitioner <code>{e(config["partitioner"])}</code>, '
                 f'{e(config["num-server-rounds"])} rounds; unlearning: {e(config["unlearn-rounds"])} round(s); '
                 f'seeds {e(", ".join(map(str, report["seeds"])))}.</p>',
                 scenario_table(name, report, docs)]
        if line := floor_line(report):  # the noise floor and its margins, where the suite has one
            body.append(markdown_to_html(line))
        if not report.get("not_learned") and (line := shortfall_line(report, report.get("explained"))):
            body.append(markdown_to_html(line))  # methods that lost utility retraining keeps, and why
        if report.get("not_learned"):
            body.append(f'<p><span class="badge none">no verdicts</span> {e(" and ".join(report["not_learned"]))} '
                        "did not learn on any seed.</p>")
    if claims:
        body += ['<h2 id="claims">The papers\' claims</h2>', markdown_to_html(claims.split("\n", 1)[1])]
    return page(f"fedunlearn leaderboard: {data['suite']}", meta, body)


def run_board(report: Mapping[str, Any], docs: str | None = None) -> str:
    """The same kind of page for one experiment's report (``fedunlearn run``); its plots are linked beside it."""
    config = report["experiment"]
    meta = (f"Experiment <code>{e(config['name'])}</code>: {e(config['dataset'])}, model <code>{e(config['model'])}"
            f"</code>, {e(config['num-clients'])} clients, seeds {e(', '.join(map(str, report['seeds'])))}. Request: "
            + e(", ".join(f"{k} = {v}" for k, v in report["request"].items()))
            + (f". Machine: {e(report['environment'])}" if report.get("environment") else "")
            + ". Means over seeds; a bar is the 95% interval; click a column's name to sort by it.")
    return page(f"fedunlearn report: {config['name']}", meta, [scenario_table("run", report, docs),
                                                                 '<p><a href="report.md">report.md</a> (plots in '
                                                                 '<a href="plots/">plots/</a>)</p>'])


def claims_of(data: Mapping[str, Any], paths: list[Path]) -> str | None:
    """The text of the claims page, among ``paths``, made from the suite page ``data`` (it says "From `<the suite's
    command>`"), or None."""
    for path in paths:
        text = path.read_text(encoding="utf-8") if path.is_file() else ""
        if f"From `{data['command']}`" in text:
            return text
    return None


def write_suite_board(json_path: Path, claims_path: Path | None = None) -> Path:
    """``<page>.html`` beside ``<page>.json``, with the claims of ``claims_path`` if made from this json, else of
    the claims page beside it (``claims*.md``) that was."""
    data = json.loads(json_path.read_text(encoding="utf-8"))
    claims = claims_of(data, [claims_path] if claims_path is not None else sorted(json_path.parent.glob("claims*.md")))
    plot = json_path.parent / "plots" / json_path.stem / "avg_gap_and_speedup.png"
    out = json_path.with_suffix(".html")
    out.write_text(suite_board(data, plot, claims), encoding="utf-8")
    return out
