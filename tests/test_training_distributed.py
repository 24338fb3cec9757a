"""Training at scale: packed micro-batches, chunked logprobs, and several processes (FSDP2 on gloo)."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import openai
import pytest
import torch
from distributed_worker import gradient
from tiny_model import tiny_model_path

from rftgym.serving import ModelServer
from rftgym.training import GRPOTrainer, TrainConfig, trajectories_to_tensors
from rftgym.training.logprobs import score_sampled
from rftgym.trajectories import Trajectory, TrajectoryWriter, Turn

TESTS = Path(__file__).parent


def _episodes(count: int = 12, seed: int = 0) -> list[Trajectory]:
    """Episodes with endpoint token ids of varied lengths, one or two turns, some without logprobs."""
    rng = random.Random(seed)
    episodes = []
    for i in range(count):
        prompt = [rng.randrange(3, 250) for _ in range(rng.randrange(3, 20))]
        turns, ids = [], list(prompt)
        for t in range(1 + i % 2):
            completion = [rng.randrange(3, 250) for _ in range(rng.randrange(2, 15))]
            logprobs = [-rng.random() * 5 for _ in completion] if i % 3 else None
            turns.append(
                Turn(message_index=2 * t + 1, prompt_token_ids=ids, completion_token_ids=completion, logprobs=logprobs)
            )
            ids = ids + completion + [rng.randrange(3, 250) for _ in range(3)]
        messages = [{"role": "user", "content": "q"}] + [
            {"role": "assistant", "content": "a"},
            {"role": "user", "content": "more"},
        ] * len(turns)
        episodes.append(
            Trajectory(
                id=f"e{i}",
                run_id="r",
                env_id="e",
                task_id=f"g{i // 4}",
                group_id=f"g{i // 4}",
                sample_index=i % 4,
                messages=messages[: 2 * len(turns)],
                turns=turns,
                reward=rng.random(),
                outcome_reward=0.0,
            )
        )
    return episodes


def _batch():
    from transformers import AutoTokenizer

    return trajectories_to_tensors(_episodes(), AutoTokenizer.from_pretrained(tiny_model_path()))


def _model():
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(tiny_model_path(), dtype=torch.float32, attn_implementation="sdpa")


def test_packed_logprobs_equal_padded_ones():
    batch, model = _batch(), _model().eval()
    rows = torch.arange(len(batch))
    with torch.no_grad():
        padded = [score_sampled(model, m, 1.0) for m in batch.padded_micro_batches(rows, 4)]
        packed_micro = batch.packed_micro_batches(rows, 100)
        packed = [score_sampled(model, m, 1.0) for m in packed_micro]
    width = int(batch.attention_mask.sum(-1).max())
    assert len(packed_micro) > 2 and all(m["input_ids"].shape[1] == width for m in packed_micro)
    assert all(m["input_ids"].numel() <= max(100, width) for m in packed_micro), "the token budget"
    lines = sum(m["input_ids"].shape[0] for m in packed_micro)
    assert lines < len(batch) and sum(int(m["real_tokens"]) for m in packed_micro) == int(batch.attention_mask.sum())

    expected = _by_sequence(batch.padded_micro_batches(rows, 4), padded)
    got = _by_sequence(packed_micro, packed)
    assert got.keys() == expected.keys() and len(got) == len(batch)
    for key, (logp, entropy) in got.items():
        assert torch.allclose(logp, expected[key][0], atol=1e-5) and torch.allclose(
            entropy, expected[key][1], atol=1e-5
        )


def _by_sequence(micro, scores):
    """{a sequence's token ids up to its last sampled one: (its logps, its entropies)}: sequences
    start where ``position_ids`` restart; the flat scores follow the sampled tokens row by row."""
    found = {}
    for m, (logp, entropy) in zip(micro, scores):
        at = 0
        for ids, positions, mask in zip(m["input_ids"], m["position_ids"], m["loss_mask"]):
            starts = (positions == 0).nonzero().flatten().tolist() + [len(ids)]
            for start, end in zip(starts, starts[1:]):
                sampled = mask[start:end].nonzero().flatten()
                if len(sampled):
                    key = tuple(ids[start : start + int(sampled[-1]) + 1].tolist())
                    found[key] = (logp[at : at + len(sampled)], entropy[at : at + len(sampled)])
                    at += len(sampled)
        assert at == len(logp)
    return found


def test_chunked_logprobs_equal_the_full_log_softmax():
    batch, model = _batch(), _model()
    micro = batch.padded_micro_batches(torch.arange(len(batch)), 16)[0]
    logits = model(input_ids=micro["input_ids"], attention_mask=micro["attention_mask"]).logits[:, :-1] / 0.7
    log_probs = logits.log_softmax(-1)
    select = micro["loss_mask"][:, 1:]
    plain = log_probs.gather(-1, micro["input_ids"][:, 1:, None]).squeeze(-1)[select]
    plain_entropy = -(log_probs.exp() * log_probs).sum(-1)[select]
    plain.sum().backward()
    plain_grads = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    chunked, entropy = score_sampled(model, micro, 0.7, chunk_tokens=7)
    chunked.sum().backward()
    assert len(chunked) > 7 * 3
    assert torch.allclose(chunked, plain, atol=1e-5) and torch.allclose(entropy, plain_entropy.detach(), atol=1e-5)
    for p, g in zip(model.parameters(), plain_grads):
        assert (p.grad - g).abs().max() <= 1e-6 * g.abs().max().clamp(min=1)  # float32 noise, to scale


def test_packed_loss_and_gradients_equal_padded(tmp_path):
    batch = _batch()
    results = []
    for pack in (False, True):
        trainer = GRPOTrainer(
            TrainConfig(
                model=str(tiny_model_path()),
                output_dir=tmp_path / str(pack),
                pack=pack,
                micro_batch_size=3,
                micro_batch_tokens=120,
                kl_coef=0.1,
            )
        )
        trainer.optimizer.zero_grad()
        sums = trainer.accumulate_gradients(batch, torch.arange(len(batch)))
        results.append((sums, torch.cat([p.grad.flatten() for p in trainer.model.parameters()])))
    (padded, padded_grads), (packed, packed_grads) = results
    assert packed["processed"] == padded["processed"] == int(batch.attention_mask.sum())
    for name in padded:
        assert packed[name] == pytest.approx(padded[name], rel=1e-4, abs=1e-6), name
    assert padded_grads.abs().sum() > 0
    assert torch.allclose(packed_grads, padded_grads, rtol=1e-4, atol=1e-7)


def _torchrun(*args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(TESTS)}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", *args]
    # A session of its own: a run that hangs is ended with every worker torchrun started.
    with subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    ) as process:
        try:
            stdout, stderr = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            stdout, stderr = process.communicate()
    assert process.returncode == 0, stdout[-3000:] + stderr[-3000:]
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)


def _write(path: Path) -> Path:
    with TrajectoryWriter(path) as writer:
        for episode in _episodes():
            writer.write(episode)
    return path


def test_two_processes_give_the_loss_and_gradients_of_one(tmp_path):
    data = _write(tmp_path / "data.jsonl")
    _torchrun(str(TESTS / "distributed_worker.py"), str(data), str(tiny_model_path()), str(tmp_path / "two.pt"))
    two = torch.load(tmp_path / "two.pt", weights_only=False)
    one = gradient(str(data), str(tiny_model_path()), tmp_path / "one", micro_batch_tokens=64)
    assert two["sums"]["tokens"] == one["sums"]["tokens"] > 0
    for name in one["sums"]:
        assert two["sums"][name] == pytest.approx(one["sums"][name], rel=1e-4, abs=1e-6), name
    assert one["grads"].abs().sum() > 0
    assert torch.allclose(two["grads"], one["grads"], rtol=1e-4, atol=1e-7)


def test_a_checkpoint_written_by_two_processes_is_served(tmp_path):
    data = _write(tmp_path / "data.jsonl")
    out = tmp_path / "run"
    command = [
        "-m", "rftgym", "train", str(data), "--model", str(tiny_model_path()), "--output-dir", str(out),
        "--batch-size", "6", "--lr", "1e-3",
    ]  # fmt: skip
    done = _torchrun(*command)
    assert "step 2:" in done.stdout + done.stderr
    checkpoint = out / "checkpoints" / "step-000002"
    assert (checkpoint / "rftgym_checkpoint.json").is_file()
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 2, "rank 0 alone writes metrics"
    with ModelServer(str(checkpoint), served_name="m") as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="EMPTY", max_retries=0)
        reply = client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "hi"}], temperature=0, max_tokens=4
        )
    assert reply.choices[0].message.content and reply.model_extra["weights_version"] == "step-2"
    from transformers import AutoModelForCausalLM

    trained = AutoModelForCausalLM.from_pretrained(checkpoint)
    base = AutoModelForCausalLM.from_pretrained(tiny_model_path())
    assert type(trained).__name__ == "LlamaForCausalLM"
    assert any(not torch.equal(a, b) for a, b in zip(trained.parameters(), base.parameters())), "the weights moved"

    # Resumable: the gathered optimizer state is loaded back into the shards.
    _torchrun(*command, "--resume")
    assert (out / "checkpoints" / "step-000004" / "rftgym_checkpoint.json").is_file()
    assert [json.loads(line)["step"] for line in (out / "metrics.jsonl").read_text().splitlines()] == [1, 2, 3, 4]
