"""Rollouts on a real multi-node Ray cluster on this machine (``ray.cluster_utils.Cluster``: a head
and two worker nodes, each its own raylet): the same episodes as a local run, and a node removed
mid-run loses and duplicates nothing; `train --online --ray` plays its steps on the cluster; Ctrl-C
under `--ray` exits 130 with whole lines. Every cluster is shut down: no raylet or GCS is left."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import time
from collections import Counter

import pytest
from conftest import oracle_policy, read_lines

import rftgym
from rftgym.agents.testing import ScriptedServer
from rftgym.agents.validation import OraclePolicy
from rftgym.cli import main

MATH = "rftgym/MathTools-v0"


@pytest.fixture(scope="module")
def cluster():
    """Three nodes (1 + 2 + 2 CPUs) and this process connected to them as the driver."""
    ray = pytest.importorskip("ray")
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    try:
        nodes = [cluster.add_node(num_cpus=2) for _ in range(2)]
        cluster.wait_for_nodes()
        ray.init(address=cluster.address, logging_level="WARNING")
        ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers cannot import this file
        yield cluster, nodes
    finally:
        ray.shutdown()
        cluster.shutdown()


class SlowOracle(OraclePolicy):
    """The oracle, 0.15 s per turn: episodes stay in flight long enough to lose a node under them."""

    def for_task(self, task):
        return _Slow(super().for_task(task))


class _Slow:
    def __init__(self, inner):
        self.inner = inner

    def describe(self):
        return self.inner.describe()

    async def act(self, messages, tools):
        await asyncio.sleep(0.15)
        return await self.inner.act(messages, tools)

    async def aclose(self):
        pass


class CrashingOracle(OraclePolicy):
    """The oracle, whose process dies on every episode of task 1, and on the first of task 2."""

    def __init__(self, oracle, marker):
        super().__init__(oracle)
        self.marker = marker

    def for_task(self, task):
        once = task.id == "math-test-00002" and not self.marker.exists()
        if once:
            self.marker.touch()
        if once or task.id == "math-test-00001":
            os._exit(1)  # the worker's process dies mid-episode
        return super().for_task(task)


def _episodes(path):
    return {l["id"]: (l["metadata"]["episode_seed"], l["reward"], l["error"]) for l in read_lines(path)}


def test_ray_rollout_matches_a_local_one(tmp_path, cluster):
    from rftgym.executors import RayExecutor

    policy = oracle_policy(MATH)
    args = dict(num_tasks=8, group_size=2, concurrency=6, seed=7, progress=False)
    local = rftgym.rollout(MATH, policy, tmp_path / "local.jsonl", **args)
    on_ray = rftgym.rollout(MATH, policy, tmp_path / "ray.jsonl", executor=RayExecutor(workers=3), **args)
    assert local.written == on_ray.written == 16 and on_ray.errors == 0 and on_ray.replayed == 0
    assert _episodes(tmp_path / "ray.jsonl") == _episodes(tmp_path / "local.jsonl")
    assert all(reward == 1.0 for _, reward, _ in _episodes(tmp_path / "ray.jsonl").values())


def test_cli_rollout_over_http_on_the_cluster_and_resume(tmp_path, cluster, capsys, math_oracle):
    """The workers call the endpoint themselves, with the policy the CLI built (and checked)."""
    out = tmp_path / "cli.jsonl"
    with ScriptedServer(respond=math_oracle) as server:
        common = ["rollout", MATH, "--base-url", server.base_url, "--model", "scripted", "--out", str(out)]
        common += ["--no-progress", "--ray", cluster[0].address]
        assert main([*common, "--num-tasks", "3"]) == 0
        assert main([*common, "--num-tasks", "5", "--resume", "--ray-workers", "2"]) == 0
    said = capsys.readouterr()
    assert "2 episodes written, 3 already there, 0 with errors" in " ".join((said.out + said.err).split())
    lines = read_lines(out)
    assert sorted(Counter(l["id"] for l in lines).values()) == [1] * 5
    assert all(l["reward"] == 1.0 and l["turns"][0]["completion_token_ids"] for l in lines)


def test_code_env_workers_need_a_docker_node(tmp_path, cluster, monkeypatch, capsys):
    """No node of this cluster advertises {"docker": 1}: the code env's workers cannot start."""
    from rftgym.executors import RayExecutor

    with pytest.raises(RuntimeError, match="docker=1"):
        rftgym.rollout(
            "rftgym/CodeSandbox-v0", oracle_policy("rftgym/CodeSandbox-v0"), tmp_path / "code.jsonl", num_tasks=1,
            progress=False, executor=RayExecutor(workers=1, start_timeout=2),
        )  # fmt: skip
    monkeypatch.setitem(RayExecutor.__init__.__kwdefaults__, "start_timeout", 2)
    out = tmp_path / "cli-code.jsonl"
    command = ["rollout", "rftgym/CodeSandbox-v0", "--policy", "oracle", "--num-tasks", "1", "--out", str(out)]
    assert main([*command, "--ray", cluster[0].address]) == 2
    said = capsys.readouterr()
    assert "--ray: no rollout worker started" in said.err and "docker=1" in said.err and not out.exists()


def test_node_lost_mid_run_replays_its_episodes_exactly_once(tmp_path, cluster):
    from rftgym.executors import RayExecutor

    cluster, nodes = cluster
    out = tmp_path / "lost.jsonl"
    policy = SlowOracle(oracle_policy(MATH).oracle)

    async def run_and_remove_a_node():
        result = rftgym.RolloutResult(out, "lost-node")
        run = asyncio.ensure_future(
            rftgym.arollout(
                MATH, policy, out, num_tasks=12, group_size=2, concurrency=6, progress=False, result=result,
                executor=RayExecutor(workers=3),
            )
        )  # fmt: skip
        while result.written < 3 and not run.done():
            await asyncio.sleep(0.05)
        await asyncio.to_thread(cluster.remove_node, nodes[0])  # its worker has episodes in flight
        return await run

    result = asyncio.run(run_and_remove_a_node())
    lines = read_lines(out)
    assert Counter(l["id"] for l in lines) == Counter({f"math-test-{i:05d}#{s}": 1 for i in range(12) for s in (0, 1)})
    assert all(l["error"] is None and l["reward"] == 1.0 for l in lines), "a lost node is never the policy's failure"
    assert result.written == 24 and result.errors == 0 and result.replayed >= 1
    assert sum(l["metadata"].get("replays", 0) for l in lines) == result.replayed
    assert rftgym.trajectories.summarize(rftgym.read_trajectories(out))["replays"]["total"] == result.replayed


def test_a_crashed_worker_restarts_and_an_episode_lost_too_often_is_an_error(tmp_path, cluster):
    from rftgym.executors import RayExecutor

    out = tmp_path / "crash.jsonl"
    policy = CrashingOracle(oracle_policy(MATH).oracle, tmp_path / "crashed-once")
    executor = RayExecutor(workers=2, max_replays=1, max_restarts=4)
    result = rftgym.rollout(MATH, policy, out, num_tasks=5, concurrency=2, progress=False, executor=executor)
    lines = {l["id"]: l for l in read_lines(out)}
    said = (result, {i: l["error"] for i, l in lines.items()})  # what a failure shows
    assert sorted(lines) == [f"math-test-{i:05d}#0" for i in range(5)] and result.written == 5, said
    lost = lines.pop("math-test-00001#0")
    assert lost["error"]["type"] == "WorkerLost" and "lost 2 times" in lost["error"]["message"], said
    assert not lost["turns"]
    assert all(l["error"] is None and l["reward"] == 1.0 for l in lines.values()), said
    assert lines["math-test-00002#0"]["metadata"]["replays"] == 1, said
    assert result.replayed == 2 and result.errors == 1, said


def test_ray_missing_says_how_to_install_it(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    out = tmp_path / "none.jsonl"
    assert main(["rollout", MATH, "--policy", "oracle", "--out", str(out), "--ray"]) == 2
    err = capsys.readouterr()
    assert "pip install 'rftgym[ray]'" in err.out + err.err and len((err.out + err.err).strip().splitlines()) == 1
    assert not out.exists()


def test_executors_package_does_not_import_ray():
    code = "import sys, rftgym, rftgym.executors, rftgym.rollout; assert 'ray' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_code_env_over_ray_replays_a_lost_docker_node_and_leaks_no_container(tmp_path, cluster):
    """Two nodes advertise a Docker engine; the one under a worker is removed mid-run: its
    episodes are played again on the other, and the containers of its dead workers are reaped."""
    from rftgym.executors import RayExecutor
    from rftgym.sandbox import connect
    from rftgym.sandbox.reaper import LABEL, containers

    cluster, _ = cluster
    client = connect()
    before = {c["Id"] for c in containers(client, LABEL)}
    docker_nodes = [cluster.add_node(num_cpus=2, resources={"docker": 2}) for _ in range(2)]
    cluster.wait_for_nodes()
    out = tmp_path / "code.jsonl"
    code = "rftgym/CodeSandbox-v0"

    async def run_and_remove_a_docker_node():
        result = rftgym.RolloutResult(out, "lost-docker-node")
        run = asyncio.ensure_future(
            rftgym.arollout(
                code, oracle_policy(code, task_source="humaneval"), out, env_kwargs={"task_source": "humaneval"},
                num_tasks=10, concurrency=4, progress=False, result=result, executor=RayExecutor(workers=2),
            )
        )  # fmt: skip
        while result.written < 2 and not run.done():
            await asyncio.sleep(0.05)
        await asyncio.to_thread(cluster.remove_node, docker_nodes[0])
        return await run

    try:
        result = asyncio.run(run_and_remove_a_docker_node())
    finally:
        cluster.remove_node(docker_nodes[1])
    lines = read_lines(out)
    assert sorted(Counter(l["id"] for l in lines).values()) == [1] * 10
    assert all(l["error"] is None and l["reward"] == 1.0 for l in lines)
    assert result.written == 10 and result.replayed >= 1
    end = time.monotonic() + 60
    while (left := [c for c in containers(client, LABEL) if c["Id"] not in before]) and time.monotonic() < end:
        time.sleep(0.5)
    assert not left, "containers of the Ray workers were left behind"


def test_online_training_plays_its_rollouts_on_the_cluster(tmp_path, cluster, capsys):
    """`rftgym train --online … --ray`: the workers call the driver's endpoint (127.0.0.1 reaches
    it from every node of this machine); the trainer stays here and writes its metrics."""
    pytest.importorskip("torch")
    from tiny_model import tiny_model_path

    out = tmp_path / "online"
    command = ["train", "--online", "rftgym/Letters-v0", "--model", str(tiny_model_path()), "--output-dir", str(out)]
    command += ["--steps", "2", "--tasks-per-step", "2", "--group-size", "8", "--max-tokens", "8", "--val-every", "0"]
    command += ["--lr", "1e-2", "--batch-size", "16", "--micro-batch-size", "16", "--ray", cluster[0].address]
    assert main(command) == 0, capsys.readouterr().err
    steps = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [m["step"] for m in steps if "critic/rewards/mean" in m] == [1, 2]
    assert all(m["rollout/replayed"] == 0 for m in steps if "critic/rewards/mean" in m)
    for step in range(2):
        lines = read_lines(out / "rollouts" / f"step-{step:06d}.jsonl")
        assert len(lines) == 16 and all(l["error"] is None and l["turns"][0]["completion_token_ids"] for l in lines)


def test_train_from_files_refuses_ray(tmp_path, capsys):
    assert main(["train", str(tmp_path / "x.jsonl"), "--ray"]) == 2
    assert "--ray and --host go with --online" in capsys.readouterr().err


def test_stats_counts_the_replayed_episodes(tmp_path, capsys):
    out = tmp_path / "replayed.jsonl"
    rftgym.rollout(MATH, oracle_policy(MATH), out, num_tasks=3, progress=False)
    lines = read_lines(out)
    lines[1]["metadata"]["replays"] = 2  # what the Ray executor records on an episode it played again
    out.write_text("".join(json.dumps(line) + "\n" for line in lines))
    assert main(["stats", str(out)]) == 0
    row = next(line for line in capsys.readouterr().out.splitlines() if "replayed episodes" in line)
    assert row.split("│")[2].split() == ["1", "(2", "replays)"]
    assert main(["stats", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["replays"] == {"episodes": 1, "total": 2}


def test_ctrl_c_under_ray_exits_130_keeps_whole_lines_and_leaves_no_ray_process(tmp_path, math_oracle):
    """The CLI starts a local Ray of its own; Ctrl-C mid-run stops it: exit 130, every line kept
    is whole, and none of the processes it started (raylet, GCS, agents, workers) is left."""
    pytest.importorskip("ray")
    import signal

    from conftest import default_sigint

    out = tmp_path / "interrupted.jsonl"

    def respond(request):
        time.sleep(0.05)
        return math_oracle(request)

    with ScriptedServer(respond=respond) as server:
        args = ["rollout", MATH, "--base-url", server.base_url, "--model", "scripted", "--num-tasks", "40"]
        args += ["--group-size", "2", "--concurrency", "4", "--out", str(out), "--no-progress"]
        args += ["--ray", "--ray-workers", "1"]
        proc = subprocess.Popen(
            [sys.executable, "-m", "rftgym", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            preexec_fn=default_sigint,
        )  # fmt: skip
        started: set[int] = set()
        try:
            end = time.monotonic() + 180
            while not (out.exists() and out.read_text().count("\n") >= 3):
                assert proc.poll() is None and time.monotonic() < end, proc.communicate()
                started |= _descendants(proc.pid)
                time.sleep(0.05)
            started |= _descendants(proc.pid)
            assert any("raylet" in args for args in _processes(started).values()), "no Ray seen: a check of nothing"
            proc.send_signal(signal.SIGINT)
            _, stderr = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:  # a failed test still ends what it started, its Ray too
                started |= _descendants(proc.pid)
                proc.kill()
                proc.communicate()
                for pid in _processes(started):
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr and "--resume" in stderr
    kept = read_lines(out)  # fails on a partial line
    assert 3 <= len(kept) < 80 and len({l["id"] for l in kept}) == len(kept)
    end = time.monotonic() + 30
    while (left := _processes(started)) and time.monotonic() < end:
        time.sleep(0.5)
    assert not left, left


def _table() -> list[tuple[int, int, str, str]]:
    """(pid, parent pid, state, args) of every process."""
    rows = subprocess.run(["ps", "-eww", "-o", "pid=,ppid=,stat=,args="], capture_output=True, text=True).stdout
    return [(int(r.split(None, 3)[0]), int(r.split(None, 3)[1]), *r.split(None, 3)[2:4]) for r in rows.splitlines()]


def _descendants(root: int) -> set[int]:
    table, found = _table(), {root}
    while new := {pid for pid, parent, _, _ in table if parent in found and pid not in found}:
        found |= new
    return found - {root}


def _processes(pids: set[int]) -> dict[int, str]:
    """Those of ``pids`` still running (a zombie has ended), with their command lines."""
    return {pid: args for pid, _, state, args in _table() if pid in pids and not state.startswith("Z")}


def test_an_endpoint_on_every_interface_is_given_to_workers_at_this_machines_address():
    from rftgym.engines.builtin import _reachable

    assert _reachable("http://127.0.0.1:8000/v1", "127.0.0.1") == "http://127.0.0.1:8000/v1"
    url = _reachable("http://0.0.0.0:8000/v1", "0.0.0.0")
    assert url.startswith("http://") and url.endswith(":8000/v1") and "0.0.0.0" not in url
