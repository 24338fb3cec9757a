"""The SageMaker AgentRFT bridge end to end over real HTTP, against a local fake job runtime.

The fake implements the SageMaker Job Runtime routes as the API reference describes them
(``POST /sample`` with the job and trajectory headers, ``POST /complete-rollout``,
``POST /update-reward``), with the checks a real runtime makes: headers present, a reward only
for a completed trajectory, one reward per sampled turn. The model behind ``/sample`` is the
scripted server's oracle answer.
"""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request
from collections import defaultdict
from typing import Any

import gymnasium
import pytest
from aiohttp import web
from conftest import OracleResponder, default_sigint

import rftgym
from rftgym._background import BackgroundServer
from rftgym.agents.testing import ScriptedServer
from rftgym.bridges.sagemaker import JOB_HEADER, TRAJECTORY_HEADER, AgentServer
from rftgym.envs import ChatEnv, chat_env, register_env
from rftgym.export import tasks_to_bedrock
from rftgym.rewards import Rubric
from rftgym.trajectories import read_trajectories
from rftgym.types import Task

MATH = "rftgym/MathTools-v0"
JOB_ARN = "arn:aws:sagemaker:us-west-2:123456789012:job/agent-rft/job-1"


class FakeJobRuntime(BackgroundServer):
    """The job runtime's routes; ``fail`` maps a route ("/sample"...) to the HTTP status it answers."""

    def __init__(self, respond: Any, fail: dict[str, int] | None = None):
        self.model = ScriptedServer(respond=respond)  # builds the chat completion answers; never started
        self.fail = dict(fail or {})
        self.samples: dict[str, list[dict]] = defaultdict(list)
        self.completed: dict[str, str] = {}
        self.rewards: dict[str, list[float]] = {}
        self.calls: list[str] = []

    async def serve(self) -> str:
        app = web.Application()
        app.router.add_post("/sample", self._sample)
        app.router.add_post("/complete-rollout", self._complete)
        app.router.add_post("/update-reward", self._reward)
        await self.listen(app)
        self.base_url = f"http://{self.host}:{self.port}"
        return self.base_url

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def _refused(self, request: web.Request) -> web.Response | None:
        self.calls.append(request.path)
        if status := self.fail.get(request.path):
            return web.json_response({"message": "InternalServiceError"}, status=status)
        if request.headers.get(JOB_HEADER) != JOB_ARN:
            return web.json_response({"message": "ValidationException: job ARN header"}, status=400)
        return None

    async def _sample(self, request: web.Request) -> web.Response:
        if refused := self._refused(request):
            return refused
        trajectory = request.headers.get(TRAJECTORY_HEADER)
        if not trajectory:
            return web.json_response({"message": "ValidationException: trajectory header"}, status=400)
        if trajectory in self.completed:
            return web.json_response({"message": "ConflictException: rollout complete"}, status=409)
        body = await request.json()
        self.samples[trajectory].append(body)
        return web.json_response(self.model.completion(body))

    async def _complete(self, request: web.Request) -> web.Response:
        if refused := self._refused(request):
            return refused
        body = await request.json()
        if body.get("Status", "ready") not in ("ready", "failed") or "TrajectoryId" not in body:
            return web.json_response({"message": "ValidationException"}, status=400)
        self.completed[body["TrajectoryId"]] = body.get("Status", "ready")
        return web.Response(status=200)

    async def _reward(self, request: web.Request) -> web.Response:
        if refused := self._refused(request):
            return refused
        body = await request.json()
        trajectory, rewards = body["TrajectoryId"], body["Rewards"]
        if self.completed.get(trajectory) != "ready":
            return web.json_response({"message": "ConflictException: not a completed rollout"}, status=409)
        if len(rewards) != len(self.samples[trajectory]):
            return web.json_response({"message": "ValidationException: one reward per turn"}, status=400)
        self.rewards[trajectory] = rewards
        return web.Response(status=200)


def post(url: str, body: dict) -> tuple[int, dict]:
    request = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def rollout_request(runtime: FakeJobRuntime, trajectory_id: str, instance: dict) -> dict:
    return {
        "instance": instance,
        "metadata": {
            "job_arn": JOB_ARN,
            "trajectory_id": trajectory_id,
            "endpoint": runtime.base_url,
            "region": "us-west-2",
        },
        "inference_params": {"temperature": 0.7, "max_tokens": 256, "top_p": 0.9},
        "model_name": "policy-model",
    }


@pytest.fixture(scope="module")
def math_tasks() -> list:
    env = chat_env(gymnasium.make(MATH))
    return env.tasks("test", 3)


def test_rollouts_report_one_reward_per_turn_equal_to_rftgym_rollout(tmp_path, math_tasks):
    oracle = OracleResponder(MATH)
    out = tmp_path / "local.jsonl"
    with ScriptedServer(respond=oracle) as model:  # rftgym's own rollout of the same tasks
        policy = rftgym.ChatPolicy(model.base_url, "scripted", timeout=10)
        rftgym.rollout(MATH, policy, out, task_ids=[t.id for t in math_tasks], progress=False)
    local = {t.task_id: t for t in read_trajectories(out)}

    with FakeJobRuntime(oracle) as runtime, AgentServer(MATH) as agent:
        with urllib.request.urlopen(agent.url + "/health", timeout=10) as response:
            assert json.loads(response.read()) == {"status": "healthy"}
        for i, task in enumerate(math_tasks):
            status, answer = post(agent.url + "/rollout", rollout_request(runtime, f"traj-{i}", {"task_id": task.id}))
            assert status == 200, answer
            expected = local[task.id]
            rewards = runtime.rewards[f"traj-{i}"]
            assert answer["status"] == "ready" and runtime.completed[f"traj-{i}"] == "ready"
            assert answer["rewards"] == rewards and len(rewards) == len(expected.turns)
            assert rewards[:-1] == pytest.approx([t.reward for t in expected.turns[:-1]])
            assert rewards[-1] == pytest.approx(expected.turns[-1].reward + expected.outcome_reward)
            assert sum(rewards) == pytest.approx(expected.reward) == pytest.approx(1.0)
        sample = runtime.samples["traj-0"][0]
        assert sample["model"] == "policy-model" and sample["tools"]
        assert (sample["temperature"], sample["max_tokens"], sample["top_p"]) == (0.7, 256, 0.9)
        assert sample["messages"][-1]["content"] == math_tasks[0].prompt


def test_a_bedrock_rft_row_names_the_task(math_tasks):
    env = chat_env(gymnasium.make(MATH))
    row = next(tasks_to_bedrock(env, math_tasks[:1]))
    with FakeJobRuntime(OracleResponder(MATH)) as runtime, AgentServer(MATH) as agent:
        status, answer = post(agent.url + "/rollout", rollout_request(runtime, "row", row))
        assert status == 200 and answer["status"] == "ready" and sum(runtime.rewards["row"]) == pytest.approx(1.0)
        # A row the env has no task for: the task is built from the row (prompt, reference answer).
        foreign = {**row, "id": "not-a-task-of-the-env"}
        status, answer = post(agent.url + "/rollout", rollout_request(runtime, "foreign", foreign))
        assert status == 200 and answer["status"] == "ready", answer
        status, answer = post(agent.url + "/rollout", rollout_request(runtime, "unknown", {"task_id": "nope"}))
        assert status == 400 and "no task 'nope'" in answer["error"]
        assert runtime.completed["unknown"] == "failed" and "unknown" not in runtime.rewards


def test_a_failed_episode_is_completed_failed_without_reward(math_tasks):
    """The runtime's model keeps failing: the episode fails, never a 0 reward."""
    with (
        FakeJobRuntime(OracleResponder(MATH), fail={"/sample": 500}) as runtime,
        AgentServer(MATH, max_attempts=2) as agent,
    ):
        status, answer = post(agent.url + "/rollout", rollout_request(runtime, "t", {"task_id": math_tasks[0].id}))
        assert status == 200 and answer["status"] == "failed" and answer["rewards"] is None
        assert answer["error"]["type"] == "PolicyError" and "500" in answer["error"]["message"]
        assert runtime.completed == {"t": "failed"} and runtime.rewards == {}
        assert runtime.calls.count("/sample") == 2 and "/update-reward" not in runtime.calls


class BrokenEnv(ChatEnv):
    """Its step fails (a bug in a researcher's env, a database gone)."""

    rubric = Rubric([])

    def tasks(self, split="train", num_tasks=None):
        return [Task(id="t0", split=split, prompt="hello")]

    def react(self, message, results):
        raise RuntimeError("database connection lost")


register_env("tests/AgentRFTBroken-v0", f"{__name__}:BrokenEnv")


def test_an_env_failure_is_completed_failed_without_reward():
    with FakeJobRuntime(lambda request: {"content": "hi"}) as runtime, AgentServer("tests/AgentRFTBroken-v0") as agent:
        status, answer = post(agent.url + "/rollout", rollout_request(runtime, "t", {"task_id": "t0"}))
        assert status == 200 and answer["status"] == "failed" and answer["rewards"] is None
        assert answer["error"] == {"type": "RuntimeError", "message": "database connection lost"}
        assert runtime.completed == {"t": "failed"} and runtime.rewards == {} and len(runtime.samples["t"]) == 1


def test_a_runtime_that_errors_on_reports_is_answered_502(math_tasks):
    with (
        FakeJobRuntime(OracleResponder(MATH), fail={"/complete-rollout": 503}) as runtime,
        AgentServer(MATH) as agent,
    ):
        status, answer = post(agent.url + "/rollout", rollout_request(runtime, "t", {"task_id": math_tasks[0].id}))
        assert status == 502 and "/complete-rollout" in answer["error"] and "503" in answer["error"]
        assert runtime.calls.count("/complete-rollout") == 4 and runtime.rewards == {}
        status, answer = post(agent.url + "/rollout", {"instance": {}})
        assert status == 400 and "not a rollout request" in answer["error"]
        request = rollout_request(runtime, "u", {"task_id": "nope"})
        status, answer = post(agent.url + "/rollout", request)
        assert status == 502 and "no task 'nope'" in answer["error"] and "/complete-rollout" in answer["error"]
        request["metadata"]["endpoint"] = "job-runtime.example"
        status, answer = post(agent.url + "/rollout", request)
        assert status == 400 and "not an http(s) URL" in answer["error"]


def test_cli_serves_the_contract(math_tasks):
    process = subprocess.Popen(
        [sys.executable, "-m", "rftgym", "bridge", "sagemaker", MATH, "--host", "127.0.0.1", "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
        preexec_fn=default_sigint,
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        with FakeJobRuntime(OracleResponder(MATH)) as runtime:
            status, answer = post(url + "/rollout", rollout_request(runtime, "cli", {"task_id": math_tasks[1].id}))
        assert status == 200 and answer["status"] == "ready" and sum(answer["rewards"]) == pytest.approx(1.0)
    finally:
        process.terminate()
        assert process.wait(timeout=20) == 0
