"""Training metrics: one JSON line per step in ``metrics.jsonl``; PNG plots of them on request
(``TrainConfig.plots``; ``rftgym report`` draws the same curves as HTML).

Names follow the Bedrock/Nova RFT reports: ``critic/rewards/mean``, ``val-score/rewards/mean@1``,
``actor/entropy``, ``response_length/mean``, plus ``episode/turns/mean``, ``actor/kl_loss``,
``actor/ppo_kl``, ``actor/pg_clipfrac``, ``actor/grad_norm``, ``perf/tokens_per_s``.
"""

from __future__ import annotations

import json
import weakref
from pathlib import Path
from typing import Any

from rftgym.training.trackers import Tracker, open_trackers


class MetricsLog:
    """Appends ``{"step": N, name: value...}`` lines to a JSONL file, flushed per line."""

    def __init__(self, path: str | Path, keep_until_step: int = 0, *, log_to: tuple[str, ...] = (), config: Any = None):
        """Open ``path``, keeping only its lines of steps ``<= keep_until_step`` (those of the
        checkpoint a run resumes from; 0, a fresh run, keeps none). ``log_to`` names trackers
        (:mod:`rftgym.training.trackers`) that get every line too, with ``config`` as the run's
        settings; they write next to ``path`` and are closed when the log is collected or at exit."""
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        kept = (
            [line for line in read_metrics(self.path) if line["step"] <= keep_until_step] if self.path.is_file() else []
        )
        self.path.write_text("".join(json.dumps(line) + "\n" for line in kept))
        self.trackers = open_trackers(log_to, self.path.parent, config)
        weakref.finalize(self, _close, self.trackers)

    def write(self, step: int, metrics: dict[str, float]) -> None:
        with self.path.open("a") as f:
            f.write(json.dumps({"step": step, **metrics}) + "\n")
        for tracker in self.trackers:
            tracker.log(step, metrics)


def _close(trackers: list[Tracker]) -> None:
    for tracker in trackers:
        tracker.close()


def read_metrics(path: str | Path) -> list[dict[str, Any]]:
    """The lines of a metrics file, in order."""
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


def plot_metrics(path: str | Path, out_dir: str | Path) -> list[Path]:
    """One PNG per metric of ``path`` (value against step) in ``out_dir``; returns the files.

    ``critic/rewards/mean`` becomes ``critic_rewards_mean.png``.
    """
    from matplotlib.figure import Figure  # no pyplot: files only, no display or global state

    lines = read_metrics(path)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    names = sorted({k for line in lines for k in line if k != "step" and isinstance(line[k], (int, float))})
    # One figure redrawn per metric, with fixed margins: a fresh figure and tight_layout per
    # metric cost more than a short training run's steps.
    fig = Figure(figsize=(5, 3.2))
    fig.subplots_adjust(left=0.16, right=0.96, bottom=0.15, top=0.9)
    ax = fig.add_subplot()
    ax.set_xlabel("step")
    ax.grid(alpha=0.3)
    (curve,) = ax.plot([], [])
    files = []
    for name in names:
        points = sorted((line["step"], line[name]) for line in lines if isinstance(line.get(name), (int, float)))
        curve.set_data(*zip(*points))
        curve.set_marker("o" if len(points) < 30 else "")  # "": no marker
        ax.relim()
        ax.autoscale_view()
        ax.set_title(name)
        file = out_dir / (name.replace("/", "_").replace("@", "_at_") + ".png")
        fig.savefig(file, dpi=90)
        files.append(file)
    return files
