"""Judges in the rollout loop: --judge-base-url/--judge-model, and group terms applied once a group is complete."""

import functools
import json
import os

import pytest

import rftgym
from rftgym.agents.testing import ScriptedServer
from rftgym.cli import main
from rftgym.envs.moderation import ModerationEnv

MODERATION = "rftgym/Moderation-v0"


def group_env(server, **kwargs):
    """Moderation whose judge ranks the samples of a task side by side (a group term)."""
    return ModerationEnv(judge_base_url=server.base_url, judge_model="judge", judge_scope="group", **kwargs)


def play(server, out, *, group_size, num_tasks=2, policy=None, concurrency=4):
    make_env = functools.partial(group_env, server)
    policy = policy or rftgym.OraclePolicy(make_env().oracle_action)
    return rftgym.rollout(
        MODERATION, policy, out, num_tasks=num_tasks, group_size=group_size, concurrency=concurrency,
        progress=False, make_env=make_env,
    )  # fmt: skip


def test_one_judge_request_ranks_each_complete_group_before_it_is_written(tmp_path):
    with ScriptedServer(lambda request: {"content": "All cite the post. SCORES: 2, 8, 5"}) as server:
        result = play(server, tmp_path / "g.jsonl", group_size=3)
        assert server.requests == 2  # one per group, not one per episode
        prompt = server.request_log[0]["messages"][-1]["content"]
    assert result.written == 6 and result.errors == 0
    lines = list(rftgym.read_trajectories(tmp_path / "g.jsonl"))
    assert [t.group_id for t in lines[:3]] == [lines[0].group_id] * 3  # a group is written together
    for traj in lines:
        judged = {0: 0.2, 1: 0.8, 2: 0.5}[traj.sample_index]
        assert traj.outcome_components == {"label_correct": 1.0, "justification": pytest.approx(judged)}
        assert traj.reward == pytest.approx(0.5 + 0.5 * judged) == pytest.approx(traj.outcome_reward)
    assert "## Response 3" in prompt and "## Reference answer" in prompt


def test_a_failed_group_judge_is_a_judge_error_never_a_zero(tmp_path):
    with ScriptedServer(lambda request: {"content": "I would rather not."}) as server:
        result = play(server, tmp_path / "g.jsonl", group_size=2, num_tasks=1)
    assert result.written == 2 and result.errors == 0
    for traj in rftgym.read_trajectories(tmp_path / "g.jsonl"):
        assert traj.outcome_components == {"label_correct": 1.0, "justification/error": 1.0}
        assert traj.reward == 0.5


def test_with_group_size_one_nothing_is_held(tmp_path):
    with ScriptedServer(lambda request: {"content": "SCORES: 7"}) as server:
        result = play(server, tmp_path / "g.jsonl", group_size=1, num_tasks=3, concurrency=1)
        assert server.requests == 3
    assert result.written == 3
    assert all(t.outcome_components["justification"] == 0.7 for t in rftgym.read_trajectories(tmp_path / "g.jsonl"))


def test_episodes_that_failed_are_written_with_their_group_but_not_judged(tmp_path):
    class FailsSecond(rftgym.NoopPolicy):
        calls = 0

        async def act(self, messages, tools):
            self.calls += 1
            if self.calls == 2:
                raise RuntimeError("endpoint down")
            return await super().act(messages, tools)

    policy = FailsSecond("Label: allow\nReason: harmless.")
    with ScriptedServer(lambda request: {"content": "SCORES: 4, 6"}) as server:
        result = play(server, tmp_path / "g.jsonl", group_size=3, num_tasks=1, policy=policy, concurrency=1)
        assert server.requests == 1
    assert result.written == 3 and result.errors == 1
    lines = list(rftgym.read_trajectories(tmp_path / "g.jsonl"))
    failed = [t for t in lines if t.error]
    assert len(failed) == 1 and "justification" not in failed[0].outcome_components
    assert sorted(t.outcome_components["justification"] for t in lines if not t.error) == [0.4, 0.6]


def test_rollout_judge_flags_configure_the_env_judge_and_are_restored(tmp_path, capsys):
    with ScriptedServer(lambda request: {"content": "SCORE: 9"}) as server:
        code = main(
            ["rollout", MODERATION, "--policy", "oracle", "--num-tasks", "2", "--no-progress",
             "--judge-base-url", server.base_url, "--judge-model", "judge", "--out", str(tmp_path / "r.jsonl")]
        )  # fmt: skip
        assert code == 0 and server.requests == 2
    for line in (tmp_path / "r.jsonl").read_text().splitlines():
        assert json.loads(line)["outcome_components"]["justification"] == 0.9
    assert "RFTGYM_JUDGE_BASE_URL" not in os.environ and "RFTGYM_JUDGE_MODEL" not in os.environ


def test_group_judging_from_the_cli(tmp_path):
    with ScriptedServer(lambda request: {"content": "SCORES: 10, 0"}) as server:
        code = main(
            ["rollout", MODERATION, "--policy", "oracle", "--num-tasks", "1", "--group-size", "2", "--no-progress",
             "--env-arg", "judge_scope=group", "--judge-base-url", server.base_url, "--judge-model", "judge",
             "--out", str(tmp_path / "r.jsonl")]
        )  # fmt: skip
        assert code == 0 and server.requests == 1
    rewards = sorted(t.reward for t in rftgym.read_trajectories(tmp_path / "r.jsonl"))
    assert rewards == [0.5, 1.0]


def test_train_online_judges_each_group_with_the_judge_flags(tmp_path, capsys):
    pytest.importorskip("torch")
    from tiny_model import tiny_model_path

    out = tmp_path / "run"
    with ScriptedServer(lambda request: {"content": "SCORES: 1, 9"}) as server:
        code = main(
            ["train", "--online", MODERATION, "--model", str(tiny_model_path()), "--output-dir", str(out),
             "--steps", "1", "--tasks-per-step", "2", "--group-size", "2", "--max-tokens", "8", "--val-every", "0",
             "--batch-size", "4", "--no-progress", "--skip-readiness", "--env-arg", "judge_scope=group",
             "--judge-base-url", server.base_url, "--judge-model", "judge"]
        )  # fmt: skip
        assert code == 0, capsys.readouterr().err
        assert server.requests == 2
    lines = list(rftgym.read_trajectories(out / "rollouts" / "step-000000.jsonl"))
    assert sorted(t.outcome_components["justification"] for t in lines) == [0.1, 0.1, 0.9, 0.9]


def test_an_interrupted_run_writes_no_partial_group_and_resume_plays_it_whole(tmp_path):
    import asyncio

    out = tmp_path / "g.jsonl"

    class StallsOnFourth(rftgym.NoopPolicy):
        calls = 0

        async def act(self, messages, tools):
            self.calls += 1
            if self.calls == 4:  # task 2's second sample; its first is held
                await asyncio.Event().wait()
            return await super().act(messages, tools)

    async def interrupted(server):
        make_env = functools.partial(group_env, server)
        run = asyncio.ensure_future(
            rftgym.arollout(MODERATION, StallsOnFourth("Label: spam\nReason: a link."), out, num_tasks=2,
                            group_size=2, concurrency=1, progress=False, make_env=make_env)
        )  # fmt: skip
        for _ in range(500):  # until task 1's group is judged and written
            await asyncio.sleep(0.01)
            if out.exists() and len(out.read_text().splitlines()) == 2:
                break
        run.cancel()
        with pytest.raises(asyncio.CancelledError):
            await run

    with ScriptedServer(lambda request: {"content": "SCORES: 3, 6"}) as server:
        asyncio.run(interrupted(server))
        written = list(rftgym.read_trajectories(out))  # task 1's group; task 2's held sample is not written
        assert [(t.group_id, t.sample_index) for t in written] == [(written[0].group_id, 0), (written[0].group_id, 1)]
        result = rftgym.rollout(
            MODERATION, rftgym.NoopPolicy("Label: spam\nReason: a link."), out, num_tasks=2, group_size=2,
            resume=True, progress=False, make_env=functools.partial(group_env, server),
        )  # fmt: skip
        assert server.requests == 2
    assert (result.skipped, result.written) == (2, 2)
    lines = list(rftgym.read_trajectories(out))
    assert len(lines) == 4 and sorted(t.outcome_components["justification"] for t in lines) == [0.3, 0.3, 0.6, 0.6]
