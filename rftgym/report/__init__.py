"""``rftgym report``: one self-contained HTML file to read a run in a browser.

:func:`write_report` covers trajectory files (``--compare`` puts a second set beside them);
:func:`write_run_report` covers a ``rftgym train`` / ``train --online`` output folder: its
``metrics.jsonl`` curves, the guidance's warning signs in words, and the episodes of
``rollouts/``. Every summary number comes from :func:`rftgym.trajectories.summarize`, so it is the
number ``rftgym stats --json`` prints for the same files.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from rftgym.report.data import load_run, metric_series, read_metrics, step_rewards, warning_signs
from rftgym.report.page import render

__all__ = ["rollout_files", "write_report", "write_run_report"]


def write_report(
    files: Sequence[Path],
    out: Path,
    *,
    compare: Sequence[Path] = (),
    success_threshold: float = 1.0,
    title: str = "rftgym report",
) -> Path:
    """Write the report of ``files`` (one run), beside ``compare`` when given, to ``out``."""
    runs = [load_run(_name(files), files, success_threshold)]
    if compare:
        runs.append(load_run(_name(compare), compare, success_threshold))
    out.write_text(render(runs, title=title), encoding="utf-8")
    return out


def rollout_files(run_dir: Path, steps: set[int] | None = None) -> list[Path]:
    """The trajectory files of ``run_dir/rollouts`` (``step-NNNNNN*.jsonl``, ``val-NNNNNN.jsonl``),
    only those of ``steps`` when given, in name order."""
    files = sorted((run_dir / "rollouts").glob("*.jsonl"))
    if steps is not None:
        files = [f for f in files if f.stem.split("-")[1].isdigit() and int(f.stem.split("-")[1]) in steps]
    return files


def write_run_report(
    run_dir: Path, out: Path, *, steps: set[int] | None = None, success_threshold: float = 1.0
) -> Path:
    """Write the report of a training output folder: curves of ``metrics.jsonl``, warning signs,
    and the episodes of its rollout files (those of ``steps`` only, when given)."""
    metrics = run_dir / "metrics.jsonl"
    series = metric_series(read_metrics(metrics)) if metrics.is_file() else {}
    run = load_run(run_dir.name or str(run_dir), rollout_files(run_dir, steps), success_threshold)
    every_step = load_run(run.name, rollout_files(run_dir), success_threshold) if steps is not None else run
    training = {
        "series": series,
        "signs": warning_signs(series, step_rewards(every_step)),
        "source": f"{metrics} ({len(series)} metrics); episodes of {len(rollout_files(run_dir, steps))} rollout files",
    }
    out.write_text(render([run], title=f"rftgym training run {run_dir}", training=training), encoding="utf-8")
    return out


def _name(files: Sequence[Path]) -> str:
    return ", ".join(Path(f).name for f in files[:3]) + (f" (+{len(files) - 3})" if len(files) > 3 else "")
