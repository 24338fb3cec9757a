"""pass@k / pass^k estimators and the summary of trajectory files."""

from __future__ import annotations

import io
import itertools
import json
import math
import statistics
from fractions import Fraction

import pytest
from rich.console import Console

from rftgym.trajectories import Trajectory, Turn, pass_at_k, pass_hat_k, stats_table, summarize


@pytest.mark.parametrize("n", range(1, 7))
def test_pass_at_k_and_pass_hat_k_match_enumeration_of_all_k_subsets(n):
    for c, k in itertools.product(range(n + 1), range(1, n + 1)):
        subsets = list(itertools.combinations([i < c for i in range(n)], k))  # the first c succeed
        any_success = sum(any(s) for s in subsets) / len(subsets)
        all_success = sum(all(s) for s in subsets) / len(subsets)
        assert pass_at_k(n, c, k) == pytest.approx(any_success, abs=1e-12), (n, c, k)
        assert pass_hat_k(n, c, k) == pytest.approx(all_success, abs=1e-12), (n, c, k)


def test_estimators_stay_exact_for_large_n():
    exact_at = 1 - Fraction(math.comb(1995, 1000), math.comb(2000, 1000))
    exact_hat = Fraction(math.comb(1500, 500), math.comb(2000, 500))
    assert pass_at_k(2000, 5, 1000) == pytest.approx(float(exact_at), rel=1e-12)
    assert pass_hat_k(2000, 1500, 500) == pytest.approx(float(exact_hat), rel=1e-9)
    assert pass_at_k(2000, 0, 1000) == 0.0 and pass_hat_k(2000, 2000, 1000) == 1.0


@pytest.mark.parametrize("n, c, k", [(4, 5, 1), (4, -1, 1), (4, 2, 0), (4, 2, 5)])
def test_estimators_reject_impossible_counts(n, c, k):
    with pytest.raises(ValueError):
        pass_at_k(n, c, k)
    with pytest.raises(ValueError):
        pass_hat_k(n, c, k)


def episode(env: str, task: str, index: int, outcome: float, *, error: bool = False) -> Trajectory:
    """Two turns: 10 completion tokens (7 from usage, 3 from token ids), 2 tool calls (1 malformed)."""
    turns = [
        Turn(
            message_index=2,
            reward=0.25,
            reward_components={"fmt": 0.5},
            tool_calls=2,
            tool_errors={"invalid_json": 1},
            usage={"prompt_tokens": 20, "completion_tokens": 7},
        ),
        Turn(message_index=4, reward=0.25, reward_components={"fmt": 1.0, "tool": 1.0}, completion_token_ids=[1, 2, 3]),
    ]
    traj = Trajectory(
        id=f"{task}#{index}",
        run_id="r",
        env_id=env,
        task_id=task,
        group_id=task,
        sample_index=index,
        turns=turns,
        outcome_reward=outcome,
        outcome_components={"correct": outcome},
        reward=outcome + 0.5,
        terminated=outcome == 1.0,
        truncated=outcome != 1.0,
        termination_reason="submitted" if outcome == 1.0 else "max_turns",
    )
    if error:  # an endpoint failure after one turn; its outcome of 1.0 must not count as a success
        traj.turns, traj.outcome_components, traj.reward = [Turn(message_index=2)], {}, outcome
        traj.terminated = traj.truncated = False
        traj.termination_reason, traj.error = "error", {"type": "PolicyError", "message": "down"}
    return traj


def hand_made() -> list[Trajectory]:
    a, b = "rftgym/A-v0", "rftgym/B-v0"
    return [
        *(episode(a, "t1", i, o) for i, o in enumerate([1.0, 1.0, 0.0, 0.0])),
        *(episode(a, "t2", i, o) for i, o in enumerate([1.0, 0.0, 0.0])),
        episode(a, "t2", 3, 1.0, error=True),
        episode(b, "t3", 0, 1.0),
        episode(b, "t3", 1, 0.0),
    ]


def test_summarize_hand_made_episodes():
    s = summarize(hand_made())
    json.dumps(s, allow_nan=False)  # plain JSON
    assert (s["episodes"], s["tasks"]) == (10, 3)
    rewards = [1.5, 1.5, 0.5, 0.5, 1.5, 0.5, 0.5, 1.0, 1.5, 0.5]
    mean, std = statistics.mean(rewards), statistics.stdev(rewards)
    assert s["reward"]["mean"] == pytest.approx(0.95) and s["reward"]["std"] == pytest.approx(std)
    assert s["reward"]["ci95"] == pytest.approx([mean - 1.96 * std / math.sqrt(10), mean + 1.96 * std / math.sqrt(10)])
    assert s["outcome_reward"]["mean"] == pytest.approx(0.5)
    assert s["success_rate"] == pytest.approx(0.4)  # 4 of 10: the errored episode fails
    # Per task (n, c): t1 (4, 2), t2 (4, 1), t3 (2, 1); the smallest group has 2, so k is 1 and 2.
    assert list(s["pass_at_k"]) == list(s["pass_hat_k"]) == ["1", "2"]
    assert s["pass_at_k"]["1"]["mean"] == pytest.approx((0.5 + 0.25 + 0.5) / 3)
    assert s["pass_at_k"]["2"]["mean"] == pytest.approx((5 / 6 + 1 / 2 + 1) / 3)
    assert s["pass_hat_k"]["2"]["mean"] == pytest.approx((1 / 6 + 0 + 0) / 3)
    half = 1.96 * statistics.stdev([0.5, 0.25, 0.5]) / math.sqrt(3)
    assert s["pass_at_k"]["1"]["ci95"] == pytest.approx([5 / 12 - half, 5 / 12 + half])
    assert s["pass_at_k"]["2"]["ci95"][1] == 1.0 and s["pass_hat_k"]["2"]["ci95"][0] == 0.0  # clipped
    assert s["error_rate"] == pytest.approx(0.1) and s["truncation_rate"] == pytest.approx(0.5)
    assert s["turns"] == {"mean": pytest.approx(1.9), "max": 2}
    assert s["completion_tokens"] == {"mean": pytest.approx(9.0), "total": 90}
    assert s["tool_calls"] == {"per_episode": pytest.approx(1.8), "error_rate": pytest.approx(0.5)}
    assert s["termination_reasons"] == {"max_turns": 5, "submitted": 4, "error": 1}
    assert s["components"] == {
        "outcome/correct": pytest.approx(4 / 9),
        "turn/fmt": pytest.approx(0.75),
        "turn/tool": pytest.approx(1.0),
    }
    assert set(s["by_env"]) == {"rftgym/A-v0", "rftgym/B-v0"}
    env_a = s["by_env"]["rftgym/A-v0"]
    assert (env_a["episodes"], env_a["tasks"], env_a["success_rate"]) == (8, 2, pytest.approx(3 / 8))
    assert list(env_a["pass_at_k"]) == ["1", "2", "4"] and env_a["pass_at_k"]["4"]["mean"] == 1.0
    assert s["by_env"]["rftgym/B-v0"]["reward"]["mean"] == pytest.approx(1.0)


def test_summarize_threshold_ks_and_single_env():
    episodes = [episode("e", "t", i, o) for i, o in enumerate([0.6, 0.4, 0.6, 0.6, 0.0])]
    s = summarize(iter(episodes), success_threshold=0.5, ks=[3, 1, 8])
    assert s["success_rate"] == pytest.approx(0.6)
    assert list(s["pass_at_k"]) == ["1", "3"]  # 8 is more than the group holds
    assert s["pass_hat_k"]["3"] == {"mean": pytest.approx(pass_hat_k(5, 3, 3)), "ci95": [pytest.approx(0.1)] * 2}
    assert "by_env" not in s
    same_task_id = summarize([episode("e1", "t", 0, 1.0), episode("e2", "t", 0, 0.0)])
    assert same_task_id["tasks"] == 2 and same_task_id["pass_at_k"]["1"]["mean"] == 0.5
    assert list(summarize(episodes)["pass_at_k"]) == ["1", "2", "4"]
    with pytest.raises(ValueError, match="k must be >= 1"):
        summarize(episodes, ks=[0])


def test_summarize_nothing_and_unknown_token_counts():
    empty = summarize([])
    assert empty["episodes"] == 0 and empty["reward"] == {"mean": None, "std": None, "ci95": None}
    assert empty["pass_at_k"] == {} and empty["turns"] == {"mean": None, "max": None}
    assert empty["completion_tokens"] is None and empty["tool_calls"]["per_episode"] is None
    one = episode("e", "t", 0, 1.0)
    one.turns = [Turn(message_index=2)]
    s = summarize([one])
    assert s["completion_tokens"] is None and s["tool_calls"]["error_rate"] is None
    assert s["reward"]["std"] == 0.0 and s["reward"]["ci95"] == [1.5, 1.5]


def test_stats_table_renders_every_section():
    console = Console(file=io.StringIO(), width=140)
    summary = summarize(hand_made())
    summary["components"]["turn/[bold]"] = 1.0  # a name rich would read as markup
    console.print(stats_table(summary))
    text = console.file.getvalue()
    for expected in (
        "episodes / tasks",
        "10 / 3",
        "0.950",
        "pass@2",
        "pass^2",
        "turn/fmt",
        "outcome/correct",
        "max_turns: 5",
        "turn/[bold]",
        "rftgym/B-v0: reward / success",
    ):
        assert expected in text
    console.print(stats_table(summarize([])))
