"""SageMaker AI serverless agent RFT ("AgentRFT"): an rftgym env as the job's custom agent server.

``rftgym bridge sagemaker ENV_ID --port 8080`` serves the agent contract; for every rollout the
training job asks for, it plays one episode of the env with :class:`rftgym.rollout.EpisodePlayer`
(the rollout loop's own per-episode player: same turns, tools, rubric, time limits and error
handling as ``rftgym rollout``), sampling each turn through the job runtime, and reports back.

The contract, as AWS documents it (SageMaker Job Runtime API reference, 2026-02-01, and the
``sagemaker.train.rft`` SDK's ``RolloutRequest`` / ``RolloutMetadata`` models):

* ``GET /health`` answers ``{"status": "healthy"}``.
* ``POST /rollout`` takes ``{"instance": {...}, "metadata": {"job_arn", "trajectory_id",
  "endpoint", "region"}, "inference_params": {"temperature", "max_tokens", "top_p"},
  "model_name": ...}``; ``endpoint`` is the job runtime's base URL.
* Each turn: ``POST {endpoint}/sample`` with headers ``X-Amzn-SageMaker-Job-Arn`` and
  ``X-Amzn-SageMaker-Trajectory-Id`` and an OpenAI chat completion body; the answer is the
  model's chat completion, forwarded unchanged. The runtime records every sampled turn.
* Then ``POST {endpoint}/complete-rollout`` (header ``X-Amzn-SageMaker-Job-Arn``, body
  ``{"TrajectoryId", "Status": "ready"|"failed", "ClientToken"}``) and, for a ready rollout,
  ``POST {endpoint}/update-reward`` (same header, body ``{"TrajectoryId", "Rewards": [float, ...],
  "ClientToken"}``): "one reward value per turn in the trajectory".

The instance names the task in one of two ways:

* ``{"task_id": "..."}``: a task of the env (any split), as ``rftgym rollout --task-id`` would;
* a Bedrock RFT row as ``rftgym export --format bedrock-rft`` writes it (``id``, ``messages``,
  ``reference_answer``, ``metadata``): its ``id`` when the env has that task, else a task built
  from the row (prompt: its last user message; answer: ``reference_answer``; metadata: its
  ``metadata``), for envs that read only those (``rftgym/Dataset-v0``, your own).

Rewards, one per turn (one per ``/sample`` call): turn *i*'s reward is rftgym's per-turn reward of
that turn (``Turn.reward``, the rubric's turn-scoped terms) and **the outcome reward is added to
the last turn's value**, so the list sums to rftgym's episode reward (``Trajectory.reward``). An
episode that failed (endpoint or env error, time limit: ``Trajectory.error`` set; no turn
played) is completed as ``failed`` and gets no reward: an infrastructure failure is never a reward.
A truncation that is the model's doing (turn limit, context full) is ``ready`` with its rewards.

Assumptions where the documentation we could read says nothing:

* ``/rollout`` answers when the episode is over and reported, with ``{"trajectory_id",
  "status", "rewards", "reward", "termination_reason", "error"}``; a request that names no known
  task is completed ``failed`` and answered 400; a runtime that keeps failing the report calls
  (after retries) is answered 502.
* Authentication to the runtime: ``api_key`` is sent as ``Authorization: Bearer ...`` (the SDK's
  ``RolloutFeedbackClient`` says "bearer token auth"); SigV4 request signing is not implemented.
* Sample requests ask for no logprobs or token ids (the runtime records the turns itself); the
  ``model`` field is ``model_name`` from the request, else ``"policy"``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import json
import signal
import uuid
import zlib
from collections.abc import Callable
from typing import Any

import aiohttp
import gymnasium
from aiohttp import web

from rftgym._background import BackgroundServer
from rftgym.agents.openai_chat import ChatPolicy
from rftgym.envs.core import ChatEnv
from rftgym.envs.registry import chat_env
from rftgym.envs.registry import env_modules as registered_env_modules
from rftgym.rollout import Episode, EpisodePlayer
from rftgym.trajectories import Trajectory
from rftgym.types import Task

JOB_HEADER = "X-Amzn-SageMaker-Job-Arn"
TRAJECTORY_HEADER = "X-Amzn-SageMaker-Trajectory-Id"
#: Attempts of a report call (complete-rollout, update-reward) on 429, 5xx or a dropped connection.
REPORT_ATTEMPTS = 4


class JobRuntimeError(Exception):
    """The job runtime refused or kept failing a report call."""


def turn_rewards(traj: Trajectory) -> list[float]:
    """One reward per turn: each turn's own reward, the outcome added to the last turn's."""
    rewards = [float(turn.reward) for turn in traj.turns]
    if rewards:
        rewards[-1] += float(traj.outcome_reward)
    return rewards


def task_of(env: ChatEnv, instance: Any) -> Task:
    """The task an instance names (see the module docstring). Raises ``ValueError``."""
    if not isinstance(instance, dict):
        raise ValueError(f"instance must be a JSON object, got {type(instance).__name__}")
    if "task_id" in instance:
        try:
            return env.task_by_id(str(instance["task_id"]))
        except KeyError:
            raise ValueError(f"the env has no task {instance['task_id']!r}") from None
    messages = instance.get("messages")
    if not isinstance(messages, list):
        raise ValueError('instance must hold "task_id" or be a Bedrock RFT row with "messages"')
    if "id" in instance:
        with contextlib.suppress(KeyError):
            return env.task_by_id(str(instance["id"]))
    prompt = next(
        (m.get("content") for m in reversed(messages) if isinstance(m, dict) and m.get("role") == "user"), None
    )
    if not isinstance(prompt, str):
        raise ValueError("the Bedrock RFT row has no user message with text content")
    task_id = str(instance.get("id") or f"row-{zlib.crc32(prompt.encode()):08x}")
    metadata = instance.get("metadata")
    metadata = metadata if isinstance(metadata, dict) else {}
    return Task(id=task_id, split="train", prompt=prompt, answer=instance.get("reference_answer"), metadata=metadata)


class AgentServer(BackgroundServer):
    """The AgentRFT agent server of one env: ``with AgentServer(env_id) as server:`` serves it
    from a background thread (``server.url``); :meth:`serve_forever` serves it in the foreground."""

    def __init__(
        self,
        env_id: str,
        *,
        env_kwargs: dict[str, Any] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        api_key: str = "EMPTY",
        episode_timeout: float = 1800.0,
        turn_timeout: float = 600.0,
        max_attempts: int = 6,
    ):
        """Args:
        env_id: The env to play (registered: import its module first).
        env_kwargs: Keyword arguments for ``gymnasium.make``.
        host, port: Where to listen (port 0: a free one).
        api_key: Bearer token for the job runtime.
        episode_timeout, turn_timeout: As for ``rftgym rollout``.
        max_attempts: Attempts per sampled turn (transient runtime failures are retried).
        """
        self.env_id, self.env_kwargs = env_id, dict(env_kwargs or {})
        self.host, self.port = host, port
        self.api_key = api_key
        self.episode_timeout, self.turn_timeout, self.max_attempts = episode_timeout, turn_timeout, max_attempts
        self.make_env = functools.partial(gymnasium.make, env_id, **self.env_kwargs)
        self.url = ""
        self.run_id = uuid.uuid4().hex[:12]
        self._idle_envs: list[gymnasium.Env] = []
        self._catalog: gymnasium.Env | None = None
        self._threads: concurrent.futures.ThreadPoolExecutor | None = None
        self._session: aiohttp.ClientSession | None = None
        self._meta: dict[str, Any] = {"split": "sagemaker", "env_kwargs": self.env_kwargs, "seed": 0}
        if modules := registered_env_modules(env_id):
            self._meta["env_modules"] = modules

    async def serve(self) -> str:
        """Start listening on the running event loop; returns (and sets) ``url``."""
        self._catalog = self.make_env()  # answers task look-ups; fails now for an env rftgym cannot play
        chat_env(self._catalog)
        self._threads = concurrent.futures.ThreadPoolExecutor(thread_name_prefix="rftgym-agentrft")
        self._session = aiohttp.ClientSession(headers=self._auth(), timeout=aiohttp.ClientTimeout(total=60))
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_get("/health", self._health)
        app.router.add_post("/rollout", self._rollout)
        await self.listen(app, shutdown_timeout=1.0)
        self.url = f"http://{self.host}:{self.port}"
        return self.url

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()
        if self._threads is not None:
            self._threads.shutdown(wait=False, cancel_futures=True)
        for env in [*self._idle_envs, *([self._catalog] if self._catalog else [])]:
            env.close()
        self._idle_envs.clear()
        self._catalog = None

    def serve_forever(self, on_ready: Callable[[str], None] | None = None) -> None:
        """Serve in this thread until Ctrl-C or SIGTERM; ``on_ready(url)`` once listening."""

        async def run() -> None:
            await self.serve()
            stop = asyncio.Event()
            with contextlib.suppress(NotImplementedError):  # not on Windows
                asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
            if on_ready is not None:
                on_ready(self.url)
            try:
                await stop.wait()
            finally:
                await self.close()

        try:
            asyncio.run(run())
        except KeyboardInterrupt:
            pass

    # ----- handlers -----

    async def _health(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "healthy"})

    async def _rollout(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
            metadata = body["metadata"]
            job_arn, trajectory_id, endpoint = (str(metadata[k]) for k in ("job_arn", "trajectory_id", "endpoint"))
            params = body.get("inference_params") or {}
            instance = body["instance"]
            if not isinstance(params, dict):
                raise TypeError("inference_params is not an object")
            if not endpoint.startswith(("http://", "https://")):
                raise ValueError(f"metadata.endpoint is not an http(s) URL: {endpoint!r}")
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            return _error(400, f"not a rollout request ({type(exc).__name__}: {exc})")
        endpoint = endpoint.rstrip("/")
        try:
            task = await self._in_thread(self._task, instance)
        except ValueError as exc:
            try:
                await self._report(endpoint, job_arn, trajectory_id, "failed", None)
            except JobRuntimeError as report_exc:
                return _error(502, f"{exc}; and {report_exc}")
            return _error(400, f"{exc}; rollout {trajectory_id} completed as failed")
        traj = await self._play(endpoint, job_arn, trajectory_id, task, params, body.get("model_name"))
        failed = traj.error is not None or not traj.turns
        rewards = None if failed else turn_rewards(traj)
        try:
            await self._report(endpoint, job_arn, trajectory_id, "failed" if failed else "ready", rewards)
        except JobRuntimeError as exc:
            return _error(502, str(exc))
        return web.json_response(
            {
                "trajectory_id": trajectory_id,
                "status": "failed" if failed else "ready",
                "rewards": rewards,
                "reward": traj.reward,
                "termination_reason": traj.termination_reason,
                "error": traj.error,
            }
        )

    # ----- the episode -----

    def _task(self, instance: Any) -> Task:
        assert self._catalog is not None
        return task_of(chat_env(self._catalog), instance)

    async def _play(
        self, endpoint: str, job_arn: str, trajectory_id: str, task: Task, params: dict[str, Any], model: Any
    ) -> Trajectory:
        """One episode of ``task``, every turn sampled through the runtime's ``/sample``."""
        policy = ChatPolicy(
            endpoint,
            str(model or "policy"),
            api_key=self.api_key,
            temperature=1.0 if params.get("temperature") is None else params["temperature"],
            top_p=params.get("top_p"),
            max_tokens=params.get("max_tokens"),
            request_token_data=False,
            timeout=self.turn_timeout,
            max_attempts=self.max_attempts,
            path="/sample",
            headers={JOB_HEADER: job_arn, TRAJECTORY_HEADER: trajectory_id},
        )
        meta = {**self._meta, "job_arn": job_arn, "trajectory_id": trajectory_id}
        player = EpisodePlayer(
            self.env_id, policy, self.make_env, self.run_id, meta, self.episode_timeout, self.turn_timeout
        )
        episode = Episode(task, 0, zlib.crc32(trajectory_id.encode()) % (2**31))
        env = self._idle_envs.pop() if self._idle_envs else self.make_env()
        assert self._threads is not None
        try:
            traj, env_ok = await player.play(env, episode, self._threads)
        finally:
            await policy.aclose()
        if env_ok:
            self._idle_envs.append(env)
        else:  # a step was abandoned mid-way: never reuse that env
            env.close()
        return traj

    # ----- the job runtime's report calls -----

    async def _report(
        self, endpoint: str, job_arn: str, trajectory_id: str, status: str, rewards: list[float] | None
    ) -> None:
        """CompleteRollout, then (a ready rollout) UpdateReward."""
        await self._call(endpoint, "/complete-rollout", job_arn, {"TrajectoryId": trajectory_id, "Status": status})
        if rewards is not None:
            await self._call(endpoint, "/update-reward", job_arn, {"TrajectoryId": trajectory_id, "Rewards": rewards})

    async def _call(self, endpoint: str, path: str, job_arn: str, body: dict[str, Any]) -> None:
        """One report call, retried on 429, 5xx and dropped connections; ``JobRuntimeError`` when
        refused (another 4xx) or still failing after :data:`REPORT_ATTEMPTS`. The same
        ``ClientToken`` on every attempt makes a retry idempotent."""
        assert self._session is not None
        data = json.dumps({**body, "ClientToken": uuid.uuid4().hex})
        last = ""
        for attempt in range(REPORT_ATTEMPTS):
            if attempt:
                await asyncio.sleep(0.2 * 2**attempt)
            try:
                async with self._session.post(endpoint + path, data=data, headers={JOB_HEADER: job_arn}) as response:
                    text = await response.text()
                    if response.status < 300:
                        return
                    last = f"HTTP {response.status}: {text[:200]}"
                    if response.status < 500 and response.status != 429:
                        break
            except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                last = f"{type(exc).__name__}: {exc}"
        raise JobRuntimeError(f"job runtime {endpoint}: POST {path} failed: {last}")

    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}", "Content-Type": "application/json"}

    async def _in_thread(self, fn: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._threads, fn, *args)


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)
