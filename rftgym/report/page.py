"""The report page: one self-contained HTML file (styles, scripts and data inline; no network).

Static parts (summary, components, per-task table, curves, warnings) are rendered here; the
episode list and viewer are drawn by the page's script (``report.js``) from an index embedded as
JSON. The episodes themselves are embedded one JSON line each and parsed only when opened, so a
file of 10,000 episodes loads without parsing them all.
"""

from __future__ import annotations

import html
import math
from importlib import resources
from typing import Any

from rftgym.report.data import (
    Run,
    component_histograms,
    dead_channels,
    episode_detail,
    episode_index,
    script_json,
)

_STATIC = resources.files("rftgym.report")


def render(runs: list[Run], *, title: str, training: dict[str, Any] | None = None) -> str:
    """The whole page for one run, or two side by side (``--compare``), with an optional training
    section (``{"series": {name: [(step, value)...]}, "signs": [str...]}``)."""
    sections = [
        _warnings(runs, training),
        _training(training) if training else "",
        _summary(runs),
        _components(runs),
        _per_task(runs),
        _episodes_section(runs),
    ]
    shared = _SharedTexts()
    data_blocks = "".join(
        f'<script type="application/json" id="index-{r}">{script_json(episode_index(run))}</script>'
        f'<script type="text/plain" id="episodes-{r}">'
        + "\n".join(script_json(shared.replace(episode_detail(t))) for _, t in run.episodes)
        + "</script>"
        for r, run in enumerate(runs)
    )
    data_blocks += f'<script type="application/json" id="shared-texts">{script_json(shared.texts)}</script>'
    names = script_json([run.name for run in runs])
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<title>{_e(title)}</title><style>{(_STATIC / 'report.css').read_text()}</style></head>"
        f"<body><header><h1>{_e(title)}</h1><p>{' vs '.join(_e(r.name) for r in runs)}</p></header>"
        + "".join(sections)
        + data_blocks
        + f'<script type="application/json" id="run-names">{names}</script>'
        + f"<script>{(_STATIC / 'report.js').read_text()}</script></body></html>\n"
    )


class _SharedTexts:
    """Long message texts that many episodes repeat (system prompts, policy documents) stored once:
    a message's ``content`` becomes ``content_ref``, an index into :attr:`texts`."""

    MIN_LENGTH = 400

    def __init__(self) -> None:
        self.texts: list[str] = []
        self.index: dict[str, int] = {}

    def replace(self, episode: dict[str, Any]) -> dict[str, Any]:
        for message in episode["messages"]:
            text = message.get("content")
            if isinstance(text, str) and len(text) >= self.MIN_LENGTH:
                if text not in self.index:
                    self.index[text] = len(self.texts)
                    self.texts.append(text)
                message["content_ref"] = self.index[text]
                del message["content"]
        return episode


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _fmt(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return str(value)
    return f"{value:.3f}"


def _cell(key: str, run: int, value: Any, text: str | None = None) -> str:
    """A value cell that carries its exact value (``data-value``) for tests and tooltips."""
    exact = "" if value is None else f' data-value="{_e(repr(value) if isinstance(value, float) else value)}"'
    return f'<td class="num" data-key="{_e(key)}" data-run="{run}"{exact}>{_e(text or _fmt(value))}</td>'


def _summary_rows(summary: dict) -> list[tuple[str, str, Any, str | None]]:
    """(label, key, value, text) of each summary row; the key is the path into the summary."""
    reward = summary["reward"]
    rows: list[tuple[str, str, Any, str | None]] = [
        ("episodes", "episodes", summary["episodes"], None),
        ("tasks (groups)", "tasks", summary["tasks"], None),
        ("mean reward", "reward.mean", reward["mean"], None),
        ("reward 95% CI", "reward.ci95", None, _ci(reward["ci95"])),
        ("outcome reward", "outcome_reward.mean", summary["outcome_reward"]["mean"], None),
        (f"success rate (outcome ≥ {summary['success_threshold']:g})", "success_rate", summary["success_rate"], None),
    ]
    for kind, label in (("pass_at_k", "pass@"), ("pass_hat_k", "pass^")):
        for k, block in summary[kind].items():
            rows.append(
                (f"{label}{k}", f"{kind}.{k}.mean", block["mean"], f"{_fmt(block['mean'])}  {_ci(block['ci95'])}")
            )
    rows += [
        ("error rate", "error_rate", summary["error_rate"], None),
        ("truncation rate", "truncation_rate", summary["truncation_rate"], None),
        ("turns per episode", "turns.mean", summary["turns"]["mean"], None),
        (
            "completion tokens per episode",
            "completion_tokens.mean",
            (summary["completion_tokens"] or {}).get("mean"),
            None,
        ),
        ("tool calls per episode", "tool_calls.per_episode", summary["tool_calls"]["per_episode"], None),
        ("tool error rate", "tool_calls.error_rate", summary["tool_calls"]["error_rate"], None),
    ]
    rows += [
        (f"ended: {reason}", f"termination_reasons.{reason}", n, None)
        for reason, n in summary["termination_reasons"].items()
    ]
    return rows


def _ci(ci: list[float] | None) -> str:
    return f"[{ci[0]:.3f}, {ci[1]:.3f}]" if ci else "—"


def _summary(runs: list[Run]) -> str:
    tables = [{key: (label, value, text) for label, key, value, text in _summary_rows(r.summary)} for r in runs]
    keys = list(dict.fromkeys(k for t in tables for k in t))
    head = "".join(f"<th>{_e(r.name)}</th>" for r in runs) + ("<th>B − A</th>" if len(runs) == 2 else "")
    body = []
    for key in keys:
        label = next(t[key][0] for t in tables if key in t)
        cells = "".join(_cell(key, i, *t[key][1:]) if key in t else "<td>—</td>" for i, t in enumerate(tables))
        if len(runs) == 2:
            a, b = (t.get(key, (None, None))[1] for t in tables)
            diff = b - a if isinstance(a, (int, float)) and isinstance(b, (int, float)) else None
            cells += f'<td class="num diff">{"—" if diff is None else f"{diff:+.3f}"}</td>'
        body.append(f"<tr><th scope='row'>{_e(label)}</th>{cells}</tr>")
    return (
        f"<section id='summary'><h2>Summary</h2><table class='summary'><thead><tr><th>metric</th>{head}</tr>"
        f"</thead><tbody>{''.join(body)}</tbody></table></section>"
    )


def _warnings(runs: list[Run], training: dict[str, Any] | None) -> str:
    items = [f"<li>{_e(run.name)}: {_e(w)}</li>" for run in runs for w in run.summary["warnings"]]
    items += [f"<li class='sign'>{_e(sign)}</li>" for sign in (training or {}).get("signs", [])]
    if not items:
        return "<section id='warnings'><h2>Warnings</h2><p class='ok'>none</p></section>"
    return f"<section id='warnings'><h2>Warnings</h2><ul class='warnings'>{''.join(items)}</ul></section>"


def _components(runs: list[Run]) -> str:
    parts = []
    for r, run in enumerate(runs):
        spread, dead, hists = run.summary["component_spread"], dead_channels(run.summary), component_histograms(run)
        rows = []
        for name, mean in run.summary["components"].items():
            block = spread.get(name, {})
            flag = "<span class='dead'>dead channel</span>" if name in dead else ""
            rows.append(
                f"<tr data-component='{_e(name)}'><th scope='row'>{_e(name)} {flag}</th>{_cell('mean', r, mean)}"
                f"{_cell('episode_mean', r, block.get('episode_mean'))}"
                f"{_cell('within_group_std', r, block.get('within_group_std'))}"
                f"<td>{_histogram(hists.get(name))}</td></tr>"
            )
        body = "".join(rows) or "<tr><td colspan='5'>no reward components</td></tr>"
        parts.append(
            f"<div class='run'><h3>{_e(run.name)}</h3><table><thead><tr><th>component</th><th>mean</th>"
            "<th>per episode</th><th>within-group std</th><th>distribution (per episode)</th></tr></thead>"
            f"<tbody>{body}</tbody></table></div>"
        )
    return f"<section id='components'><h2>Reward components</h2><div class='side'>{''.join(parts)}</div></section>"


def _histogram(hist: dict | None, width: int = 180, height: int = 40) -> str:
    if not hist:
        return ""
    counts, edges = hist["counts"], hist["edges"]
    top, bar = max(counts) or 1, width / len(counts)
    rects = "".join(
        f"<rect x='{i * bar:.1f}' y='{height - height * c / top:.1f}' width='{bar - 1:.1f}' "
        f"height='{height * c / top:.1f}'><title>{edges[i]:.3g} – {edges[i + 1]:.3g}: {c}</title></rect>"
        for i, c in enumerate(counts)
    )
    return (
        f"<svg class='hist' width='{width}' height='{height + 12}' viewBox='0 0 {width} {height + 12}'>{rects}"
        f"<text x='0' y='{height + 11}'>{edges[0]:.3g}</text>"
        f"<text x='{width}' y='{height + 11}' text-anchor='end'>{edges[-1]:.3g}</text></svg>"
    )


def _per_task(runs: list[Run]) -> str:
    tasks: dict[tuple[str, str], list[dict | None]] = {}
    for r, run in enumerate(runs):
        for row in run.summary["per_task"]:
            tasks.setdefault((row["env_id"], row["task_id"]), [None] * len(runs))[r] = row
    head = "<th data-type='text'>env</th><th data-type='text'>task</th>"
    for run in runs:
        head += f"<th>episodes</th><th>mean reward</th><th>pass rate<br>{_e(run.name)}</th><th>errors</th>"
    if len(runs) == 2:
        head += "<th>pass rate B − A</th>"
    body = []
    for (env, task), rows in sorted(tasks.items()):
        cells = f"<td>{_e(env)}</td><td>{_e(task)}</td>"
        for row in rows:
            if row is None:
                cells += "<td>—</td>" * 4
                continue
            cells += "".join(
                f"<td class='num' data-sort='{row[k]!r}'>{_fmt(row[k])}</td>"
                for k in ("episodes", "reward", "success_rate", "errors")
            )
        if len(runs) == 2:
            diff = rows[1]["success_rate"] - rows[0]["success_rate"] if None not in rows else None  # type: ignore[index]
            cls = "" if not diff else (" up" if diff > 0 else " down")
            cells += f"<td class='num diff{cls}' data-sort='{'' if diff is None else repr(diff)}'>{'—' if diff is None else f'{diff:+.3f}'}</td>"
        body.append(f"<tr>{cells}</tr>")
    return (
        "<section id='tasks'><h2>Per task</h2><p class='hint'>click a column to sort</p>"
        f"<table class='sortable' id='task-table'><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody>"
        "</table></section>"
    )


def _episodes_section(runs: list[Run]) -> str:
    run_select = (
        "<label>run <select id='f-run'>"
        + "".join(f"<option value='{r}'>{_e(run.name)}</option>" for r, run in enumerate(runs))
        + "</select></label>"
        if len(runs) > 1
        else "<input type='hidden' id='f-run' value='0'>"
    )
    return (
        "<section id='episodes'><h2>Episodes</h2><div class='filters'>"
        f"{run_select}<label>task <select id='f-task'><option value=''>all</option></select></label>"
        "<label>file <select id='f-src'><option value=''>all</option></select></label>"
        "<label>reward ≥ <input id='f-min' type='number' step='any'></label>"
        "<label>reward ≤ <input id='f-max' type='number' step='any'></label>"
        "<label>status <select id='f-err'><option value=''>all</option><option value='error'>errors</option>"
        "<option value='ok'>no error</option><option value='success'>successes</option>"
        "<option value='fail'>failures</option><option value='trunc'>truncated</option></select></label>"
        "<label>id <input id='f-id' type='search' placeholder='substring'></label></div>"
        "<p id='ep-count'></p><table id='ep-table'><thead><tr><th>id</th><th>task</th><th>file</th><th>reward</th>"
        "<th>outcome</th><th>turns</th><th>tokens</th><th>seconds</th><th>ended</th><th>error</th></tr></thead>"
        "<tbody></tbody></table><div class='pager'><button id='prev'>◀ previous</button> <span id='page'></span> "
        "<button id='next'>next ▶</button></div><div id='viewer'></div></section>"
    )


#: The curves the RFT guidance watches, drawn first; the others follow by name.
FIRST_CURVES = (
    "critic/rewards/mean",
    "actor/entropy",
    "response_length/mean",
    "episode/turns/mean",
    "actor/ppo_kl",
    "actor/kl_loss",
    "actor/pg_clipfrac",
    "actor/grad_norm",
    "perf/tokens_per_s",
)
_TRAIN, _VAL = "critic/rewards/mean", "val-score/rewards/mean@1"


def _training(training: dict[str, Any]) -> str:
    series = dict(training["series"])
    charts = []
    if _TRAIN in series or _VAL in series:  # train and validation reward on one chart
        pair = {name: series.pop(name) for name in (_TRAIN, _VAL) if name in series}
        charts.append(_curve("reward, train and validation", pair))
    order = sorted(series, key=lambda n: (FIRST_CURVES.index(n) if n in FIRST_CURVES else len(FIRST_CURVES), n))
    charts += [_curve(name, {name: series[name]}) for name in order]
    return (
        f"<section id='training'><h2>Training curves</h2><p>{_e(training.get('source', ''))}</p>"
        f"<div class='curves'>{''.join(charts) or '<p>no metrics</p>'}</div></section>"
    )


def _curve(title: str, lines: dict[str, list[tuple[float, float]]], width: int = 320, height: int = 160) -> str:
    """Metrics against step as an inline SVG line chart (one polyline per entry of ``lines``)."""
    points = [p for line in lines.values() for p in line]
    x0, x1 = min(p[0] for p in points), max(p[0] for p in points)
    y0, y1 = min(p[1] for p in points), max(p[1] for p in points)
    if math.isclose(y0, y1):
        y0, y1 = y0 - 0.5, y1 + 0.5
    left, bottom = 52, height - 18

    def sx(x: float) -> float:
        return left + (x - x0) / ((x1 - x0) or 1) * (width - left - 8)

    def sy(y: float) -> float:
        return bottom - (y - y0) / (y1 - y0) * (bottom - 12)

    drawn = []
    for n, (name, line) in enumerate(lines.items()):
        path = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in line)
        dots = "".join(
            f"<circle cx='{sx(x):.1f}' cy='{sy(y):.1f}' r='2'><title>{_e(name)} step {x:g}: {y:.4g}</title></circle>"
            for x, y in line
            if len(line) < 60
        )
        drawn.append(f"<g class='s{n}' data-metric='{_e(name)}'><polyline points='{path}'/>{dots}</g>")
    legend = (
        "".join(f" <span class='k{n}'>■ {_e(name)}</span>" for n, name in enumerate(lines)) if len(lines) > 1 else ""
    )
    return (
        f"<figure class='curve'><figcaption>{_e(title)}{legend}</figcaption>"
        f"<svg width='{width}' height='{height}' viewBox='0 0 {width} {height}'>"
        f"<line x1='{left}' y1='{bottom}' x2='{width - 8}' y2='{bottom}' class='axis'/>"
        f"<line x1='{left}' y1='12' x2='{left}' y2='{bottom}' class='axis'/>"
        f"<text x='{left - 3}' y='16' text-anchor='end'>{y1:.4g}</text>"
        f"<text x='{left - 3}' y='{bottom}' text-anchor='end'>{y0:.4g}</text>"
        f"<text x='{left}' y='{height - 4}'>{x0:g}</text>"
        f"<text x='{width - 8}' y='{height - 4}' text-anchor='end'>step {x1:g}</text>{''.join(drawn)}</svg></figure>"
    )
