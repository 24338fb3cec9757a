"""Play a rollout's episodes on a Ray cluster: rollout-worker actors spread over its nodes.

The driver (the process that called :func:`~rftgym.rollout.arollout`) keeps the queue of
episodes, the trajectory file and the progress bar. Each worker is a Ray actor that owns its envs
(built inside the actor with the run's ``make_env``) and plays episodes with the run's
:class:`~rftgym.rollout.EpisodePlayer`, the same per-episode code as a local run. At most
``concurrency`` episodes are in flight over the whole cluster: the driver hands a worker its next
episode only when one of its slots is free, so a run of a million episodes holds only
``concurrency`` of them outside the queue (backpressure).

Faults: when a worker or its node is lost mid-episode (the actor's process dies, the node leaves
the cluster, a call outlives ``episode_timeout`` by ``watchdog_grace`` seconds), the episodes it
had in flight go back to the queue and are played again from the start by another worker, with
the same seed; nothing was written for them, so nothing is lost or written twice, and the loss
is never recorded as the policy's failure. An episode lost more than ``max_replays`` times is
written with an error of type ``WorkerLost`` (an infrastructure error, which ``--resume`` plays
again). Actors restart up to ``max_restarts`` times, on another node when theirs is gone;
``RolloutResult.replayed`` counts the replays, and a replayed episode's line records its count
in ``metadata["replays"]``.

Envs that declare :attr:`~rftgym.envs.ChatEnv.worker_resources` (the code env: ``{"docker":
1}``) get workers only on nodes that advertise those resources
(``ray start --resources='{"docker": 8}'`` on a node with a Docker engine).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import importlib
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import gymnasium

from rftgym.envs import chat_env
from rftgym.rollout import Episode, EpisodePlayer, Finish, RolloutResult
from rftgym.trajectories import Trajectory

#: What ``--ray`` and ``RayExecutor`` say when Ray is not installed.
RAY_MISSING = "Ray is not installed; install it with: pip install 'rftgym[ray]'"


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ImportError(RAY_MISSING) from None
    return ray


class RolloutWorker:
    """The body of one rollout-worker actor: envs of its own, played with the run's player."""

    def __init__(self, player: EpisodePlayer, slots: int) -> None:
        for module in player.meta.get("env_modules", ()):  # a user's env registers itself on import
            importlib.import_module(module)
        self.player = player
        self.idle: list[gymnasium.Env] = []  # envs between episodes, ready for the next one
        self.threads = concurrent.futures.ThreadPoolExecutor(max(1, slots), thread_name_prefix="rftgym-env")

    async def node(self) -> str:
        """The id of the node this worker runs on (also: a ping that waits out a restart)."""
        return str(_import_ray().get_runtime_context().get_node_id())

    async def play(self, episode: Episode) -> tuple[Trajectory, str | None]:
        """Play one episode; returns its trajectory and the rejection ``_play`` noted on it."""
        env = self.idle.pop() if self.idle else self.player.make_env()
        traj, env_ok = await self.player.play(env, episode, self.threads)
        if env_ok:  # an env whose step was abandoned by a time limit is never reused
            self.idle.append(env)
        return traj, episode.rejection

    async def close(self) -> None:
        """Close the envs (their sandboxes, if any) and the policy's connections."""
        while self.idle:
            self.idle.pop().close()
        self.threads.shutdown(wait=False, cancel_futures=True)
        await self.player.policy.aclose()


class RayExecutor:
    """Plays episodes on rollout-worker actors of a Ray cluster (see the module docstring)."""

    def __init__(
        self,
        address: str | None = None,
        *,
        workers: int | None = None,
        num_cpus: float = 1.0,
        resources: Mapping[str, float] | None = None,
        max_restarts: int = 3,
        max_replays: int = 3,
        start_timeout: float = 120.0,
        watchdog_grace: float = 60.0,
    ) -> None:
        """Args:
        address: The cluster (``"auto"``: the one ``ray start`` runs on this machine;
            ``"ray://head:10001"``, ``"10.0.0.1:6379"``); None or ``"local"``: a new Ray on this
            machine. Either way, a Ray this process is already connected to (``ray.init``) is
            used as it is. When the rollout ends, the executor stops a Ray it started and
            disconnects from a cluster it joined (the cluster keeps running).
        workers: Rollout-worker actors (default: one per alive node, at most ``concurrency``).
            The run's ``concurrency`` episodes in flight are shared among them.
        num_cpus: CPUs each worker reserves on its node.
        resources: Custom resources each worker needs (default: the env's
            ``worker_resources``, e.g. ``{"docker": 1}`` for the code env).
        max_restarts: Times Ray restarts a worker whose process or node died.
        max_replays: Times one episode is played again after its worker was lost, before it is
            written with a ``WorkerLost`` error.
        start_timeout: Seconds to wait for the workers to start (and for a restarting one).
        watchdog_grace: Seconds past the episode time limit after which a call that has not
            come back counts as lost.

        Raises:
            ImportError: Ray is not installed (the message says how to install it).
        """
        if workers is not None and workers < 1:
            raise ValueError(f"workers must be at least 1, got {workers}")
        if max_restarts < 0 or max_replays < 0:
            raise ValueError("max_restarts and max_replays must be 0 or more")
        self.ray = _import_ray()
        self.address, self.workers, self.num_cpus = address, workers, num_cpus
        self.resources = dict(resources) if resources is not None else None
        self.max_restarts, self.max_replays = max_restarts, max_replays
        self.start_timeout, self.watchdog_grace = start_timeout, watchdog_grace

    async def run(
        self, queue: list[Episode], player: EpisodePlayer, finish: Finish, concurrency: int, result: RolloutResult
    ) -> None:
        """Play the episodes of ``queue`` on the cluster; see :class:`~rftgym.rollout.Executor`."""
        with self.connected():
            actors: list[Any] = []
            try:
                if queue:
                    actors = await self._start(player, concurrency, len(queue))
                    await self._drive(actors, queue, player, finish, concurrency, result)
            finally:
                await self._stop(actors)

    @contextlib.contextmanager
    def connected(self) -> Iterator[None]:
        """Connect to the cluster (or start a local Ray) for the span of the block, unless this
        process is already connected; a loop of rollouts (the online loop) connects once for all."""
        ray = self.ray
        started = not ray.is_initialized()
        if started:  # "local" starts a new Ray here, never joining one another process started
            local = self.address in (None, "local")
            options: dict[str, Any] = {"include_dashboard": False} if local else {}
            ray.init(address="local" if local else self.address, logging_level="WARNING", **options)
        try:
            yield
        finally:
            if started:
                ray.shutdown()

    async def _start(self, player: EpisodePlayer, concurrency: int, pending: int) -> list[Any]:
        """Start the workers and wait until they run; those that cannot start in time are dropped."""
        ray = self.ray
        alive = sum(1 for node in ray.nodes() if node.get("Alive"))
        count = self.workers or max(1, min(alive, concurrency, pending))
        need = self.resources if self.resources is not None else _env_resources(player)
        actor_class = ray.remote(RolloutWorker)
        slots = _share(concurrency, count)
        actors = [
            actor_class.options(
                num_cpus=self.num_cpus,
                resources=need or None,
                max_restarts=self.max_restarts,
                max_task_retries=0,  # the driver replays a lost episode itself, on any worker
                max_concurrency=max(1, n),
                scheduling_strategy="SPREAD",
            ).remote(player, n)
            for n in slots
        ]
        pings = [asyncio.ensure_future(self._ping(actor, self.start_timeout)) for actor in actors]
        up = await asyncio.gather(*pings)
        ready = [actor for actor, error in zip(actors, up) if error is None]
        for actor, error in zip(actors, up):
            if error is not None:
                ray.kill(actor, no_restart=True)
        if not ready:
            wants = ", ".join(f"{k}={v:g}" for k, v in {"CPU": self.num_cpus, **need}.items())
            first = next(e for e in up if e is not None)
            why = "no node had those resources free" if isinstance(first, asyncio.TimeoutError) else repr(first)
            raise RuntimeError(
                f"no rollout worker started on the Ray cluster within {self.start_timeout:g}s "
                f"(each needs {wants}): {why}"
            )
        return ready

    async def _drive(
        self,
        actors: list[Any],
        queue: list[Episode],
        player: EpisodePlayer,
        finish: Finish,
        concurrency: int,
        result: RolloutResult,
    ) -> None:
        """Keep every slot of every live worker busy until the queue is empty and nothing is in flight."""
        in_flight = 0
        changed = asyncio.Event()  # set when an episode comes back (finished, or lost and queued again)
        replays: dict[str, int] = {}
        watchdog = player.episode_timeout + self.watchdog_grace

        def work_left() -> bool:
            return bool(queue or in_flight)

        async def slot(actor: Any) -> None:
            nonlocal in_flight
            while queue or in_flight:
                if not queue:  # others are in flight: one may come back to the queue
                    changed.clear()
                    await changed.wait()
                    continue
                episode = queue.pop()
                in_flight += 1
                lost: BaseException | None = None
                try:
                    traj, episode.rejection = await asyncio.wait_for(actor.play.remote(episode), watchdog)
                except self._lost_errors() as e:
                    lost = e
                finally:
                    in_flight -= 1
                    changed.set()
                if lost is None:
                    if episode.id in replays:  # the line says it was played again, and how often
                        traj.metadata["replays"] = replays[episode.id]
                    finish(episode, traj)
                    continue
                replays[episode.id] = replays.get(episode.id, 0) + 1
                if replays[episode.id] > self.max_replays:
                    finish(episode, player.failed(episode, "WorkerLost", _describe(lost, replays[episode.id])))
                else:
                    result.replayed += 1
                    queue.append(episode)  # next to be played, by whichever slot is free first
                if await self._ping(actor, self.start_timeout, wanted=work_left):
                    self.ray.kill(actor, no_restart=True)  # gone for good (or not back in time)
                    return

        slots = _share(concurrency, len(actors))
        tasks = [asyncio.ensure_future(slot(actor)) for actor, n in zip(actors, slots) for _ in range(n)]
        try:
            await asyncio.gather(*tasks)
        finally:  # one failed (a write): the others must not go on handing the driver episodes
            for task in tasks:
                task.cancel()
        while queue:  # every worker is gone: write what is left as lost (resume plays it again)
            episode = queue.pop()
            finish(episode, player.failed(episode, "WorkerLost", "no Ray rollout worker is left to play it"))

    async def _ping(self, actor: Any, timeout: float, wanted: Callable[[], bool] | None = None) -> BaseException | None:
        """None when ``actor`` answers within ``timeout``. With ``wanted`` (after a loss), a
        worker that is restarting may first answer that it is unavailable, or dead while its
        node's loss is being noticed: ask again until it answers, ``timeout`` passes, its
        constructor fails, or ``wanted()`` says there is nothing left for it to do."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                await asyncio.wait_for(actor.node.remote(), max(deadline - time.monotonic(), 0.01))
                return None
            except self.ray.exceptions.RayTaskError as e:  # the worker's constructor failed (an env module...)
                return e
            except self._lost_errors() as e:
                gave_up = wanted is None or not wanted() or getattr(e, "actor_init_failed", False)
                if gave_up or time.monotonic() + 0.5 >= deadline:
                    return e
            await asyncio.sleep(0.5)

    def _lost_errors(self) -> tuple[type[BaseException], ...]:
        """The errors that mean the worker (or its node) is gone, not that the episode failed; a
        call that outlives its watchdog counts too."""
        errors = self.ray.exceptions
        lost = (errors.RayActorError, errors.WorkerCrashedError, errors.NodeDiedError, errors.ObjectLostError)
        return (*lost, asyncio.TimeoutError)

    async def _stop(self, actors: list[Any]) -> None:
        """Let the workers close their envs (sandboxes go back), then end them."""
        if not actors:
            return
        closing = [asyncio.ensure_future(_await(actor.close.remote())) for actor in actors]
        await asyncio.wait(closing, timeout=10)
        for actor in actors:
            self.ray.kill(actor, no_restart=True)


async def _await(ref: Any) -> None:
    """Await a Ray call whose failure does not matter (a worker already gone)."""
    with contextlib.suppress(Exception):
        await ref


def _share(total: int, parts: int) -> list[int]:
    """``total`` slots over ``parts`` workers, as evenly as can be (each gets at least 1)."""
    return [max(1, total // parts + (i < total % parts)) for i in range(parts)]


def _env_resources(player: EpisodePlayer) -> dict[str, float]:
    """The custom resources the env asks of a worker's node (``ChatEnv.worker_resources``)."""
    probe = player.make_env()
    try:
        return dict(chat_env(probe).worker_resources)
    finally:
        probe.close()


def _describe(error: BaseException, times: int) -> str:
    first = " ".join(str(error).split())[:300] or type(error).__name__
    return f"its Ray worker was lost {times} times (the last: {type(error).__name__}: {first})"
