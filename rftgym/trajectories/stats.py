"""Summary statistics of trajectory files: rewards, success, pass@k and pass^k, turns, tokens, tools,
and the health of each reward component (its spread within groups; dead and gamed channels).

:func:`summarize` streams: it keeps a few numbers per episode, never the episodes themselves, so
``summarize(read_trajectories(path))`` works on files larger than memory.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from rich.markup import escape
from rich.table import Table

from rftgym.trajectories.schema import Trajectory

_Z95 = 1.96  # two-sided 95% quantile of the normal distribution
#: A component whose name holds one of these measures accuracy (watched for reward gaming).
ACCURACY_HINTS = ("correct", "accura", "pass", "success", "match", "resolved")
#: How much the reward must rise, and an accuracy component fall, between the first and the second
#: half of the episodes before the gamed-channel warning fires.
GAMING_MIN_CHANGE = 0.05


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k: the probability that at least one of ``k`` of the ``n`` samples succeeds.

    ``1 - C(n-c, k) / C(n, k)`` for ``c`` successes among ``n`` samples (Chen et al., 2021),
    computed as a product so large ``n`` neither overflows nor loses precision.
    """
    _check_counts(n, c, k)
    if n - c < k:  # every k-subset holds a success
        return 1.0
    return 1.0 - math.prod(1.0 - k / i for i in range(n - c + 1, n + 1))


def pass_hat_k(n: int, c: int, k: int) -> float:
    """pass^k (tau-bench): the probability that ``k`` samples drawn from the ``n`` all succeed.

    ``C(c, k) / C(n, k)``, computed as the product of ``(c - i) / (n - i)`` for ``i < k``.
    """
    _check_counts(n, c, k)
    return math.prod((c - i) / (n - i) for i in range(k)) if c >= k else 0.0


def _check_counts(n: int, c: int, k: int) -> None:
    if not 0 <= c <= n:
        raise ValueError(f"need 0 <= c <= n, got n={n}, c={c}")
    if not 1 <= k <= n:
        raise ValueError(f"need 1 <= k <= n, got n={n}, k={k}")


@dataclass
class _Episode:
    """The numbers of one episode that the summary needs."""

    env_id: str
    group_id: str
    reward: float
    outcome_reward: float
    success: bool
    error: bool
    truncated: bool


def summarize(
    trajectories: Iterable[Trajectory], *, success_threshold: float = 1.0, ks: Sequence[int] | None = None
) -> dict:
    """Summary statistics of a set of episodes, as a plain JSON-able dict.

    An episode succeeds when it has no error and ``outcome_reward >= success_threshold``:
    errored episodes count as failures in ``success_rate``, ``pass_at_k`` and ``pass_hat_k``,
    and their rewards (usually 0) count in the reward means. Episodes are grouped by
    ``env_id`` and ``group_id`` (a task's samples); pass@k and pass^k are computed per group with that group's
    size and averaged over groups, for each k in ``ks`` (default 1 and the powers of two) up to
    the smallest group's size. 95% intervals use the normal approximation: mean ± 1.96·std/√n
    with the sample std (0 when n = 1); for pass@k the spread is across groups, and the
    interval is clipped to [0, 1].

    Returns:
        ``episodes``, ``tasks`` (groups), ``reward`` and ``outcome_reward`` (each ``mean``,
        ``std``, ``ci95`` as ``[low, high]``), ``success_threshold``, ``success_rate``,
        ``pass_at_k`` and ``pass_hat_k`` (``{"<k>": {"mean", "ci95"}}``), ``error_rate``,
        ``truncation_rate``; then ``turns`` (``mean``, ``max`` per episode), ``completion_tokens``
        (``mean`` per episode and ``total``, from each turn's ``usage`` or else the length of its
        ``completion_token_ids``; None when no turn has either), ``tool_calls`` (``per_episode``,
        ``error_rate`` = malformed calls / calls, None without calls), ``termination_reasons``
        (reason -> count; ``"none"`` when unset), ``replays`` (``episodes`` played again after their
        rollout worker or node was lost, from ``metadata["replays"]``, and ``total`` replays),
        ``components`` (``turn/<name>``: mean over the
        turns that record it, ``outcome/<name>``: mean over the episodes that record it), and,
        when the episodes come from several envs, ``by_env`` (env id -> the numbers up to
        ``truncation_rate``). Means are None when there are no episodes.

        Component health: ``component_spread`` (name -> ``episode_mean``, the mean per episode with
        turn components summed over the episode, and ``within_group_std``, the mean over groups of
        more than one episode of the component's standard deviation within the group: GRPO learns
        only from what varies within a group) and ``warnings``: a component constant within every
        group (a dead channel: it teaches nothing), and the total reward rising while an accuracy
        component (a name holding one of ``ACCURACY_HINTS``) falls, first half of the episodes
        (in the order given) against the second (a gamed channel).

        ``per_task``: one entry per group (``env_id``, ``task_id`` = the group id, ``episodes``,
        ``reward`` mean, ``success_rate``, ``errors``), sorted by env and task.
    """
    episodes: list[_Episode] = []
    turns: list[int] = []
    tokens = _Tokens()
    tool_calls = tool_errors = 0
    reasons: Counter[str] = Counter()
    components: defaultdict[str, list[float]] = defaultdict(lambda: [0.0, 0])  # name -> [sum, count]
    channels = _Channels()
    replays: list[int] = []  # per episode played again after its worker was lost: how often
    for traj in trajectories:
        if traj.metadata.get("replays"):
            replays.append(int(traj.metadata["replays"]))
        episodes.append(
            _Episode(
                traj.env_id,
                traj.group_id,
                traj.reward,
                traj.outcome_reward,
                traj.error is None and traj.outcome_reward >= success_threshold,
                traj.error is not None,
                traj.truncated,
            )
        )
        turns.append(len(traj.turns))
        reasons[traj.termination_reason or "none"] += 1
        tokens.add(traj)
        for turn in traj.turns:
            tool_calls += turn.tool_calls
            tool_errors += sum(turn.tool_errors.values())
            _accumulate(components, "turn/", turn.reward_components)
        _accumulate(components, "outcome/", traj.outcome_components)
        channels.add(traj)

    summary = _core(episodes, success_threshold, ks)
    summary.update(
        turns={"mean": _mean(turns), "max": max(turns, default=None)},
        completion_tokens=tokens.summary(len(episodes)),
        tool_calls={
            "per_episode": tool_calls / len(episodes) if episodes else None,
            "error_rate": tool_errors / tool_calls if tool_calls else None,
        },
        termination_reasons=dict(reasons.most_common()),
        replays={"episodes": len(replays), "total": sum(replays)},
        components={name: total / count for name, (total, count) in sorted(components.items())},
        component_spread=channels.spread(),
        warnings=channels.warnings(),
        per_task=_per_task(episodes),
    )
    env_ids = sorted({e.env_id for e in episodes})
    if len(env_ids) > 1:
        summary["by_env"] = {
            env: _core([e for e in episodes if e.env_id == env], success_threshold, ks) for env in env_ids
        }
    return summary


def _per_task(episodes: list[_Episode]) -> list[dict]:
    groups: defaultdict[tuple[str, str], list[_Episode]] = defaultdict(list)
    for e in episodes:
        groups[e.env_id, e.group_id].append(e)
    return [
        {
            "env_id": env_id,
            "task_id": group_id,
            "episodes": len(group),
            "reward": sum(e.reward for e in group) / len(group),
            "success_rate": sum(e.success for e in group) / len(group),
            "errors": sum(e.error for e in group),
        }
        for (env_id, group_id), group in sorted(groups.items())
    ]


def _core(episodes: list[_Episode], success_threshold: float, ks: Sequence[int] | None) -> dict:
    """The headline numbers of a set of episodes (also used per env)."""
    groups: defaultdict[tuple[str, str], list[bool]] = defaultdict(list)
    for e in episodes:  # two envs may both have a task "1": they are different tasks
        groups[e.env_id, e.group_id].append(e.success)
    sizes = [len(g) for g in groups.values()]
    ks = _ks(ks, min(sizes, default=0))
    return {
        "episodes": len(episodes),
        "tasks": len(groups),
        "reward": _mean_ci([e.reward for e in episodes]),
        "outcome_reward": _mean_ci([e.outcome_reward for e in episodes]),
        "success_threshold": success_threshold,
        "success_rate": _mean([e.success for e in episodes]),
        "pass_at_k": {str(k): _group_mean(pass_at_k, groups.values(), k) for k in ks},
        "pass_hat_k": {str(k): _group_mean(pass_hat_k, groups.values(), k) for k in ks},
        "error_rate": _mean([e.error for e in episodes]),
        "truncation_rate": _mean([e.truncated for e in episodes]),
    }


def _ks(ks: Sequence[int] | None, smallest_group: int) -> list[int]:
    """The k values to report: those asked for (default 1, 2, 4...) that every group can give."""
    if ks is None:
        ks = [2**i for i in range(smallest_group.bit_length())]
    if any(k < 1 for k in ks):
        raise ValueError(f"every k must be >= 1, got {list(ks)}")
    return sorted({k for k in ks if k <= smallest_group})


def _group_mean(metric: Callable[[int, int, int], float], groups: Iterable[list[bool]], k: int) -> dict:
    """``metric(n, c, k)`` per group, as mean and 95% interval across groups (within [0, 1])."""
    block = _mean_ci([metric(len(g), sum(g), k) for g in groups])
    ci = block["ci95"] and [max(0.0, block["ci95"][0]), min(1.0, block["ci95"][1])]
    return {"mean": block["mean"], "ci95": ci}


def _mean(values: Sequence[float]) -> float | None:
    return math.fsum(values) / len(values) if values else None


def _mean_ci(values: Sequence[float]) -> dict:
    """Mean, sample std and the normal-approximation 95% interval of the mean."""
    n = len(values)
    if n == 0:
        return {"mean": None, "std": None, "ci95": None}
    mean = math.fsum(values) / n
    std = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else 0.0
    half = _Z95 * std / math.sqrt(n)
    return {"mean": mean, "std": std, "ci95": [mean - half, mean + half]}


def _accumulate(totals: defaultdict[str, list[float]], prefix: str, values: dict[str, float]) -> None:
    for name, value in values.items():
        entry = totals[prefix + name]
        entry[0] += value
        entry[1] += 1


class _Channels:
    """Per-episode component values by group, and the reward/accuracy series, for the health checks."""

    def __init__(self) -> None:
        self.groups: defaultdict[tuple[str, str], defaultdict[str, list[float]]] = defaultdict(
            lambda: defaultdict(list)
        )
        self.rewards: list[float] = []
        self.accuracy: defaultdict[str, list[tuple[int, float]]] = defaultdict(list)  # name -> (episode, value)

    def add(self, traj: Trajectory) -> None:
        values: defaultdict[str, float] = defaultdict(float)
        for turn in traj.turns:
            for name, value in turn.reward_components.items():
                values["turn/" + name] += value
        values.update({"outcome/" + name: value for name, value in traj.outcome_components.items()})
        group = self.groups[traj.env_id, traj.group_id]
        for name, value in values.items():
            group[name].append(value)
            if any(hint in name.lower() for hint in ACCURACY_HINTS):
                self.accuracy[name].append((len(self.rewards), value))
        self.rewards.append(traj.reward)

    def spread(self) -> dict[str, dict]:
        names = sorted({name for group in self.groups.values() for name in group})
        result = {}
        for name in names:
            values = [v for group in self.groups.values() for v in group.get(name, [])]
            stds = [_pstd(g[name]) for g in self.groups.values() if len(g.get(name, [])) > 1]
            result[name] = {"episode_mean": _mean(values), "within_group_std": _mean(stds)}
        return result

    def warnings(self) -> list[str]:
        found = []
        for name, block in self.spread().items():
            groups = sum(len(g.get(name, [])) > 1 for g in self.groups.values())
            if groups and block["within_group_std"] == 0.0:
                found.append(
                    f"dead channel: {name} is constant within every group ({groups} groups of 2+ "
                    "episodes); it gives no learning signal"
                )
        half = len(self.rewards) // 2
        if half >= 2:
            before = math.fsum(self.rewards[:half]) / half  # both halves hold 2+ episodes
            after = math.fsum(self.rewards[half:]) / (len(self.rewards) - half)
            for name, series in sorted(self.accuracy.items()):
                early = _mean([v for i, v in series if i < half])
                late = _mean([v for i, v in series if i >= half])
                if early is None or late is None:
                    continue
                if after - before >= GAMING_MIN_CHANGE and early - late >= GAMING_MIN_CHANGE:
                    found.append(
                        f"gamed channel?: the reward rose {before:.3f} -> {after:.3f} from the first "
                        f"half of the episodes to the second while {name} fell {early:.3f} -> {late:.3f}"
                    )
        return found


def _pstd(values: Sequence[float]) -> float:
    mean = math.fsum(values) / len(values)
    return math.sqrt(math.fsum((v - mean) ** 2 for v in values) / len(values))


class _Tokens:
    """Completion tokens per episode, counting only turns whose count is known."""

    def __init__(self) -> None:
        self.total = 0
        self.known = False

    def add(self, traj: Trajectory) -> None:
        for turn in traj.turns:
            count = (turn.usage or {}).get("completion_tokens")
            if count is None and turn.completion_token_ids is not None:
                count = len(turn.completion_token_ids)
            if count is not None:
                self.total += count
                self.known = True

    def summary(self, episodes: int) -> dict | None:
        if not self.known:
            return None
        return {"mean": self.total / episodes, "total": self.total}


def stats_table(summary: dict) -> Table:
    """A two-column rich table of a :func:`summarize` result, for the CLI."""
    table = Table("metric", "value", title="trajectory stats")
    reward, tokens, tools = summary["reward"], summary["completion_tokens"], summary["tool_calls"]
    rows = [
        ("episodes / tasks", f"{summary['episodes']} / {summary['tasks']}"),
        ("reward", f"{_fmt(reward['mean'])}  std {_fmt(reward['std'])}  95% CI {_fmt_ci(reward['ci95'])}"),
        ("outcome reward", _fmt(summary["outcome_reward"]["mean"])),
        (f"success rate (outcome ≥ {summary['success_threshold']:g})", _fmt(summary["success_rate"])),
        *((f"pass@{k}", _fmt_block(v)) for k, v in summary["pass_at_k"].items()),
        *((f"pass^{k}", _fmt_block(v)) for k, v in summary["pass_hat_k"].items()),
        ("error rate", _fmt(summary["error_rate"])),
        ("truncation rate", _fmt(summary["truncation_rate"])),
        ("turns per episode (mean / max)", f"{_fmt(summary['turns']['mean'])} / {_fmt(summary['turns']['max'])}"),
        ("completion tokens (mean / total)", f"{_fmt(tokens['mean'])} / {tokens['total']}" if tokens else "—"),
        ("tool calls per episode", _fmt(tools["per_episode"])),
        ("tool error rate", _fmt(tools["error_rate"])),
        ("termination reasons", ", ".join(f"{r}: {n}" for r, n in summary["termination_reasons"].items()) or "—"),
        *(
            [("replayed episodes (worker lost)", f"{replays['episodes']}  ({replays['total']} replays)")]
            if (replays := summary.get("replays", {})).get("episodes")
            else []
        ),
        *(
            (name, _fmt_component(value, summary.get("component_spread", {}).get(name)))
            for name, value in summary["components"].items()
        ),
        *(
            (f"{env}: reward / success", f"{_fmt(core['reward']['mean'])} / {_fmt(core['success_rate'])}")
            for env, core in summary.get("by_env", {}).items()
        ),
    ]
    for row in rows:  # escaped: names like "[x]" are text, not rich markup
        table.add_row(*(escape(cell) for cell in row))
    return table


def _fmt(value: float | None) -> str:
    if value is None:
        return "—"
    return str(value) if isinstance(value, int) else f"{value:.3f}"


def _fmt_component(mean: float, spread: dict | None) -> str:
    if not spread:
        return _fmt(mean)
    return (
        f"{_fmt(mean)}  per episode {_fmt(spread['episode_mean'])}  within-group std {_fmt(spread['within_group_std'])}"
    )


def _fmt_ci(ci: list[float] | None) -> str:
    return f"[{_fmt(ci[0])}, {_fmt(ci[1])}]" if ci else "—"


def _fmt_block(block: dict) -> str:
    return f"{_fmt(block['mean'])}  95% CI {_fmt_ci(block['ci95'])}"
