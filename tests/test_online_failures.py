"""Infrastructure failures in the online loop are never rewards: failed episodes are played again
(bounded), a group that still has one is dropped whole, and both are counted.

The endpoint is the scripted fault-injecting server (a thing no user has); the env, the rollout
loop, the files and the tensors are the real ones.
"""

from __future__ import annotations

from pathlib import Path

from tiny_model import tiny_model_path

from rftgym.agents import ChatPolicy
from rftgym.agents.testing import ScriptedServer, echo
from rftgym.engines import BuiltinEngine
from rftgym.rollout import rollout
from rftgym.training.data import trajectories_to_tensors
from rftgym.training.online import MAX_FAILURE_REPLAYS, OnlineConfig, _batch_metrics, _play_step
from rftgym.trajectories import read_trajectories

ENV = "rftgym/Letters-v0"


def _tasks(n: int) -> list[str]:
    import gymnasium

    from rftgym.envs import chat_env

    env = chat_env(gymnasium.make(ENV))
    return [t.id for t in env.tasks("train", n)]


def _tokenizer():
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_model_path())


def test_failed_episodes_are_played_again_and_counted(tmp_path):
    online = OnlineConfig(ENV, group_size=2, concurrency=1)
    with ScriptedServer(fault_script=["500", "500"]) as server, BuiltinEngine(str(tiny_model_path())) as engine:
        policy = ChatPolicy(server.base_url, "scripted", max_attempts=1)  # a 500 fails its episode
        out, metrics = _play_step(online, policy, tmp_path / "s.jsonl", _tasks(3), 0, None, engine)
    assert metrics["rollout/failed_episodes"] == 2
    latest = list(read_trajectories(out, latest_only=True))
    assert len(latest) == 6 and all(t.error is None for t in latest), "both were played again, successfully"
    batch = trajectories_to_tensors(out, _tokenizer(), drop_incomplete_groups=True)
    assert len(batch.episodes) == 6 and not batch.dropped_groups


def test_a_group_that_keeps_failing_is_dropped_whole_not_scored_zero(tmp_path):
    tasks = _tasks(3)
    online = OnlineConfig(ENV, group_size=2)
    first_prompt = {}

    def respond(request: dict):
        user = next(m["content"] for m in request["messages"] if m["role"] == "user")
        first_prompt.setdefault("broken", user)  # every episode of the first task seen gets garbage
        return b"not json" if user == first_prompt["broken"] else echo(request)

    with ScriptedServer(respond) as server, BuiltinEngine(str(tiny_model_path())) as engine:
        policy = ChatPolicy(server.base_url, "scripted", max_attempts=1)
        out, metrics = _play_step(online, policy, tmp_path / "s.jsonl", tasks, 0, None, engine)
        attempts = server.requests
    assert metrics["rollout/failed_episodes"] == 2
    assert attempts == 6 + 2 * MAX_FAILURE_REPLAYS, "the failing pair was played again a bounded number of times"
    batch = trajectories_to_tensors(out, _tokenizer(), drop_incomplete_groups=True)
    failed = {t.group_id for t in read_trajectories(out, latest_only=True) if t.error is not None}
    assert len(failed) == 1 and batch.dropped_groups == sorted(failed)
    assert {e.group_id for e in batch.episodes}.isdisjoint(failed) and len(batch.episodes) == 4
    assert _batch_metrics(batch, 0)["rollout/dropped_groups"] == 1.0


def test_offline_a_partly_failed_group_keeps_its_other_episodes(tmp_path: Path):
    with ScriptedServer(fault_script=["500"]) as server:
        policy = ChatPolicy(server.base_url, "scripted", max_attempts=1)
        rollout(ENV, policy, tmp_path / "f.jsonl", task_ids=_tasks(1), group_size=2, concurrency=1, progress=False)
    batch = trajectories_to_tensors(tmp_path / "f.jsonl", _tokenizer())
    assert len(batch.episodes) == 1 and batch.skipped == {"error": 1} and not batch.dropped_groups
    dropped = trajectories_to_tensors(tmp_path / "f.jsonl", _tokenizer(), drop_incomplete_groups=True)
    assert not dropped.episodes and dropped.skipped == {"error": 1, "incomplete_group": 1}
