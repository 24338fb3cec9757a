"""What a report shows, computed in Python: the runs' summaries (``rftgym.trajectories.summarize``,
so every number matches ``rftgym stats --json``), reward-component distributions, the episode
index the page filters, the episodes themselves, and a training run's curves and warning signs.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rftgym.trajectories import Trajectory, read_trajectories, summarize

#: Training warning signs (the RFT guidance): a reward that stays below this has plateaued too low.
PLATEAU_BELOW = 0.15
#: Fewer positive episodes than this fraction leave GRPO almost nothing to learn from.
MIN_POSITIVE = 0.05
#: Turn fields too large to embed (token ids, logprobs): the page shows their counts instead.
_HEAVY_TURN_FIELDS = ("prompt_token_ids", "completion_token_ids", "logprobs")


@dataclass
class Run:
    """One side of a report: its name, episodes (each with the file it came from) and summary."""

    name: str
    episodes: list[tuple[str, Trajectory]]
    summary: dict = field(default_factory=dict)


def load_run(name: str, files: Iterable[Path], success_threshold: float = 1.0) -> Run:
    """The episodes of ``files`` (each id's last line, as ``rftgym stats`` reads them) and their summary."""
    episodes = [(Path(f).stem, t) for f in files for t in read_trajectories(f, latest_only=True)]
    summary = summarize((t for _, t in episodes), success_threshold=success_threshold)
    return Run(name, episodes, summary)


def episode_values(traj: Trajectory) -> dict[str, float]:
    """Each reward component's value for one episode: turn components summed, outcome ones as is
    (the per-episode values whose within-group spread ``summarize`` reports)."""
    values: defaultdict[str, float] = defaultdict(float)
    for turn in traj.turns:
        for name, value in turn.reward_components.items():
            values["turn/" + name] += value
    values.update({"outcome/" + name: value for name, value in traj.outcome_components.items()})
    return dict(values)


def component_histograms(run: Run, bins: int = 12) -> dict[str, dict]:
    """Per component: ``edges`` (``bins + 1`` values, min to max) and ``counts`` per bin (one bin
    when every value is the same)."""
    values: defaultdict[str, list[float]] = defaultdict(list)
    for _, traj in run.episodes:
        for name, value in episode_values(traj).items():
            values[name].append(value)
    result = {}
    for name, vals in sorted(values.items()):
        low, high = min(vals), max(vals)
        if low == high:  # one value: one bar
            result[name] = {"edges": [low, high], "counts": [len(vals)]}
            continue
        width = (high - low) / bins
        counts = [0] * bins
        for v in vals:
            counts[min(int((v - low) / width), bins - 1)] += 1
        result[name] = {"edges": [low + i * width for i in range(bins + 1)], "counts": counts}
    return result


def dead_channels(summary: dict) -> set[str]:
    """The components ``summarize`` flags as dead (constant within every group)."""
    names = summary.get("component_spread", {})
    return {n for n in names if any(w.startswith(f"dead channel: {n} ") for w in summary["warnings"])}


def episode_index(run: Run) -> list[dict]:
    """One small row per episode for the page's filters and list."""
    rows = []
    threshold = run.summary["success_threshold"]
    for i, (source, t) in enumerate(run.episodes):
        tokens = [(turn.usage or {}).get("completion_tokens") for turn in t.turns]
        rows.append(
            {
                "i": i,
                "id": t.id,
                "env": t.env_id,
                "task": t.task_id,
                "group": t.group_id,
                "src": source,
                "reward": t.reward,
                "outcome": t.outcome_reward,
                "ok": t.error is None and t.outcome_reward >= threshold,
                "err": (t.error or {}).get("type") or ("error" if t.error else None),
                "trunc": t.truncated,
                "term": t.termination_reason or "none",
                "turns": len(t.turns),
                "tokens": sum(n for n in tokens if n is not None) if any(n is not None for n in tokens) else None,
                "dur": t.timings.get("duration_s"),
            }
        )
    return rows


def episode_detail(traj: Trajectory) -> dict[str, Any]:
    """An episode as the viewer needs it: token ids and logprobs replaced by their counts, tool
    schemas by their names."""
    data = traj.to_dict()
    for turn in data["turns"]:
        for name in _HEAVY_TURN_FIELDS:
            value = turn.pop(name)
            turn[name + "_count"] = None if value is None else len(value)
    data["tools"] = [(t.get("function") or {}).get("name", "?") for t in data["tools"]]
    return data


def script_json(value: Any) -> str:
    """JSON safe inside a ``<script>`` element: no ``<`` (so no ``</script>``), one line."""
    return json.dumps(value, separators=(",", ":"), allow_nan=False).replace("<", "\\u003c")


# --- training runs --------------------------------------------------------------------------------


def read_metrics(path: Path) -> list[dict[str, Any]]:
    """The lines of a ``metrics.jsonl`` (the trainer's format: ``{"step": N, name: value...}``)."""
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def metric_series(lines: list[dict[str, Any]]) -> dict[str, list[tuple[float, float]]]:
    """Each numeric metric as ``(step, value)`` points, in step order."""
    series: defaultdict[str, list[tuple[float, float]]] = defaultdict(list)
    for line in lines:
        for name, value in line.items():
            if name != "step" and isinstance(value, (int, float)) and not isinstance(value, bool):
                if math.isfinite(value):
                    series[name].append((line["step"], float(value)))
    return {name: sorted(points) for name, points in sorted(series.items())}


def step_rewards(run: Run) -> list[tuple[int, list[float]]]:
    """The rewards of each training step's rollout file (``step-NNNNNN[...]``), in step order."""
    by_step: defaultdict[int, list[float]] = defaultdict(list)
    for source, traj in run.episodes:
        if source.startswith("step-"):
            by_step[int(source[5:11])].append(traj.reward)
    return sorted(by_step.items())


def warning_signs(series: dict[str, list[tuple[float, float]]], rewards: list[tuple[int, list[float]]]) -> list[str]:
    """The guidance's warning signs, in words: a reward plateau below ``PLATEAU_BELOW``, a rising
    reward variance, training reward up while validation falls, fewer than ``MIN_POSITIVE``
    positive episodes."""
    found = []
    train = [v for _, v in series.get("critic/rewards/mean", [])]
    if len(train) >= 6:
        late = train[len(train) // 2 :]
        if max(late) < PLATEAU_BELOW and _mean(late[len(late) // 2 :]) - _mean(late[: len(late) // 2]) < 0.02:
            found.append(
                f"reward plateau: the training reward stayed below {PLATEAU_BELOW} over the last "
                f"{len(late)} steps (at most {max(late):.3f}) and is not rising; check the rewards "
                "and the task difficulty"
            )
    stds = [(step, _std(values)) for step, values in rewards if len(values) > 1]
    if len(stds) >= 4:
        half = len(stds) // 2
        early, late_std = _mean([s for _, s in stds[:half]]), _mean([s for _, s in stds[half:]])
        if late_std > 1.5 * early + 0.02:
            found.append(
                f"rising reward variance: the spread of episode rewards per step grew from {early:.3f} "
                f"(first {half} steps) to {late_std:.3f} (last {len(stds) - half})"
            )
    val = series.get("val-score/rewards/mean@1", [])
    if len(val) >= 2 and len(train) >= 2:
        (first_step, first_val), (last_step, last_val) = val[0], val[-1]
        points = series["critic/rewards/mean"]
        before = _mean([v for s, v in points if s <= first_step] or [points[0][1]])
        after = _mean([v for s, v in points if s > last_step - max(1, (last_step - first_step) / 4)] or [points[-1][1]])
        if after - before > 0.02 and first_val - last_val > 0.02:
            found.append(
                f"overfitting?: the training reward rose {before:.3f} -> {after:.3f} while the "
                f"validation reward fell {first_val:.3f} -> {last_val:.3f} (steps {first_step:g}-{last_step:g})"
            )
    all_rewards = [r for _, values in rewards for r in values]
    if all_rewards:
        positive = sum(r > 0 for r in all_rewards) / len(all_rewards)
        if positive < MIN_POSITIVE:
            found.append(
                f"few positive episodes: {positive:.1%} of the {len(all_rewards)} training episodes have a "
                f"reward above 0 (under {MIN_POSITIVE:.0%}): GRPO has almost no signal; make the tasks "
                "easier or the reward denser"
            )
    return found


def _mean(values: list[float]) -> float:
    return math.fsum(values) / len(values) if values else 0.0


def _std(values: list[float]) -> float:
    mean = _mean(values)
    return math.sqrt(math.fsum((v - mean) ** 2 for v in values) / len(values))
