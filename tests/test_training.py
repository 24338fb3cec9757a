"""Trajectories -> training tensors, advantages, the GRPO trainer, and its checkpoints served back."""

from __future__ import annotations

import asyncio
import json
import sys

import openai
import pytest
import torch
from tiny_model import tiny_model_path

import rftgym
from rftgym.agents.testing import ServerProcess
from rftgym.serving import ModelServer
from rftgym.training import (
    AdvantageOptions,
    GRPOTrainer,
    TrainConfig,
    read_metrics,
    trajectories_to_tensors,
)
from rftgym.training.advantages import grpo_advantages, turn_advantages
from rftgym.training.online import OnlineConfig, train_online
from rftgym.trajectories import Trajectory, TrajectoryWriter, Turn

SYSTEM = {"role": "system", "content": "You add numbers."}
TOOLS = [{"type": "function", "function": {"name": "calculator", "parameters": {"type": "object"}}}]
CALL = {"id": "c1", "type": "function", "function": {"name": "calculator", "arguments": '{"expression": "2+3"}'}}


def _tokenizer():
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_model_path())


def _episode(episode_id: str, messages: list[dict], reward: float = 0.0, group: str = "g", **turn_fields) -> Trajectory:
    """A trajectory of ``messages`` with one Turn per assistant message (no token ids unless given)."""
    turns = [Turn(message_index=i, **turn_fields) for i, m in enumerate(messages) if m["role"] == "assistant"]
    return Trajectory(
        id=episode_id,
        run_id="r",
        env_id="e",
        task_id=group,
        group_id=group,
        sample_index=0,
        messages=messages,
        tools=TOOLS,
        turns=turns,
        reward=reward,
        outcome_reward=reward,
    )


MULTI_TURN = [
    SYSTEM,
    {"role": "user", "content": "What is 2 + 3?"},
    {"role": "assistant", "content": "Let me add.", "tool_calls": [CALL]},
    {"role": "tool", "tool_call_id": "c1", "content": "5"},
    {"role": "assistant", "content": "It is 5. Anything else?"},
    {"role": "user", "content": "No, thanks."},
    {"role": "assistant", "content": "Bye."},
]


def _masked_runs(batch, row: int) -> list[list[int]]:
    """The contiguous runs of masked token ids of a row."""
    runs, current = [], []
    for token, masked in zip(batch.input_ids[row].tolist(), batch.loss_mask[row].tolist()):
        if masked:
            current.append(token)
        elif current:
            runs, current = runs + [current], []
    return runs + ([current] if current else [])


def test_mask_covers_exactly_the_assistant_turns_when_rendering():
    tokenizer = _tokenizer()
    episodes = [_episode("a", MULTI_TURN, reward=1.0), _episode("b", MULTI_TURN[:5], reward=0.0)]
    batch = trajectories_to_tensors(episodes, tokenizer)
    assert len(batch) == 2 and not batch.drift
    runs = [tokenizer.decode(run) for run in _masked_runs(batch, 0)]
    assert runs == [
        'Let me add.\n<tool_call>{"name": "calculator", "arguments": {"expression": "2+3"}}</tool_call><|im_end|>',
        "It is 5. Anything else?<|im_end|>",
        "Bye.<|im_end|>",
    ]
    unmasked = tokenizer.decode(batch.input_ids[0][~batch.loss_mask[0] & batch.attention_mask[0].bool()])
    assert "<|im_start|>tool\n5<|im_end|>" in unmasked and "No, thanks." in unmasked and "You add numbers." in unmasked
    # GRPO: rewards 1 and 0 in one group -> +1 and -1 on every sampled token, 0 elsewhere.
    assert torch.allclose(batch.advantages[0][batch.loss_mask[0]], torch.tensor(1.0), atol=1e-4)
    assert torch.allclose(batch.advantages[1][batch.loss_mask[1]], torch.tensor(-1.0), atol=1e-4)
    assert not batch.advantages[~batch.loss_mask].any()
    assert batch.old_logprobs[batch.loss_mask].isnan().all(), "no endpoint logprobs: the trainer scores them"


def test_endpoint_token_ids_are_used_verbatim_in_a_multi_turn_episode():
    with ModelServer(str(tiny_model_path()), served_name="tiny") as server:
        episode = asyncio.run(_play(server.base_url))
    batch = trajectories_to_tensors([episode, _episode("other", MULTI_TURN[:3])], _tokenizer())
    rows = [r for r in range(len(batch)) if batch.episodes[batch.row_episode[r]].id == episode.id]
    masked = [t for r in rows for run in _masked_runs(batch, r) for t in run]
    assert masked == [t for turn in episode.turns for t in turn.completion_token_ids]
    logprobs = torch.cat([batch.old_logprobs[r][batch.loss_mask[r]] for r in rows])
    assert torch.allclose(logprobs, torch.tensor([lp for turn in episode.turns for lp in turn.logprobs]))
    for turn in episode.turns:  # each turn sits in a row in exactly the context it was sampled in
        sampled = turn.prompt_token_ids + turn.completion_token_ids
        assert any(batch.input_ids[r, : len(sampled)].tolist() == sampled for r in rows)

    # Ids that are not what the template would give are still taken as they are.
    odd = _episode(
        "odd",
        MULTI_TURN[:3],
        reward=1.0,
        prompt_token_ids=[5, 6, 7],
        completion_token_ids=[8, 9],
        logprobs=[-0.5, -0.25],
    )
    batch = trajectories_to_tensors([odd], _tokenizer())
    assert batch.input_ids[0].tolist() == [5, 6, 7, 8, 9] and batch.loss_mask[0].tolist() == [False] * 3 + [True] * 2
    assert batch.old_logprobs[0, 3:].tolist() == [-0.5, -0.25]


async def _play(base_url: str) -> Trajectory:
    """Three turns against the endpoint, answered by a tool result and a user reply in between."""
    policy = rftgym.ChatPolicy(base_url, "tiny", max_tokens=6, seed=3)
    messages = MULTI_TURN[:2]
    turns = []
    for answer in ({"role": "tool", "tool_call_id": "c1", "content": "5"}, {"role": "user", "content": "More?"}, None):
        reply = await policy.act(messages, TOOLS)
        messages = messages + [reply.message]
        turns.append(
            Turn(
                message_index=len(messages) - 1,
                prompt_token_ids=reply.prompt_token_ids,
                completion_token_ids=reply.completion_token_ids,
                logprobs=reply.logprobs,
            )
        )
        if answer:
            messages.append(answer)
    await policy.aclose()
    return Trajectory(
        id="played",
        run_id="r",
        env_id="e",
        task_id="g",
        group_id="g",
        sample_index=0,
        messages=messages,
        tools=TOOLS,
        turns=turns,
        reward=1.0,
    )


def test_a_drifting_chat_template_is_reported_and_not_trained_on():
    tokenizer = _tokenizer()
    # Like templates that rewrite earlier assistant turns (dropping reasoning): history is upper-cased.
    tokenizer.chat_template = tokenizer.chat_template.replace(
        "{% if m.content %}{{ m.content }}{% endif %}",
        "{% if m.content %}{{ m.content if loop.last else m.content | upper }}{% endif %}",
    )
    good = _episode("good", MULTI_TURN[:3])
    drifting = _episode("drifting", MULTI_TURN[:5])
    batch = trajectories_to_tensors([good, drifting], tokenizer)
    assert [e.id for e in batch.episodes] == ["good"] and len(batch) == 1
    [drift] = batch.drift
    assert drift.episode_id == "drifting" and drift.turn == 1
    assert drift.expected.startswith("et me add.") and drift.rendered.startswith("ET ME ADD."), (
        "from the first difference"
    )
    assert "drifting: turn 1" in str(drift)


def test_reasoning_is_rendered_into_the_assistant_turns_and_trained_on():
    tokenizer = _tokenizer()
    thoughts = ["I should use the calculator", "the tool said 5"]
    messages = [dict(m) for m in MULTI_TURN[:5]]
    messages[2]["reasoning_content"], messages[4]["reasoning_content"] = thoughts
    batch = trajectories_to_tensors([_episode("thinking", messages)], tokenizer)  # no token ids: rendering
    assert not batch.drift
    trained = [tokenizer.decode(run) for run in _masked_runs(batch, 0)]
    assert [run.split("</think>")[0] for run in trained] == [f"<think>{t}" for t in thoughts]
    assert trained[1] == f"<think>{thoughts[1]}</think>It is 5. Anything else?<|im_end|>"

    # A template that drops the reasoning of earlier turns breaks the prefix property: drift.
    tokenizer.chat_template = tokenizer.chat_template.replace(
        "{% if m.reasoning_content is string %}", "{% if m.reasoning_content is string and loop.last %}"
    )
    batch = trajectories_to_tensors([_episode("thinking", messages)], tokenizer)
    assert len(batch) == 0 and [(d.episode_id, d.turn) for d in batch.drift] == [("thinking", 1)]
    assert batch.drift[0].expected.startswith("<think>I should") and "I should" not in batch.drift[0].rendered


def test_advantage_estimators():
    group = [_episode("a", MULTI_TURN, reward=2.0), _episode("b", MULTI_TURN[:3], reward=0.0)]
    assert grpo_advantages(group, AdvantageOptions()) == [
        pytest.approx([1.0] * 3, abs=1e-5),
        pytest.approx([-1.0], abs=1e-5),
    ]
    group[0].turns[0].reward = 0.5  # per-turn rewards count from their turn on
    group[0].outcome_reward = 1.0
    raw = turn_advantages(group, AdvantageOptions(gamma=0.5, normalize_std=False))
    returns = [[0.5 + 0.5 * 0.5 * 1.0, 0.5 * 1.0, 1.0], [0.0]]
    mean = sum(sum(r) for r in returns) / 4
    assert raw == [pytest.approx([r - mean for r in returns[0]]), pytest.approx([-mean])]
    errored = _episode("c", MULTI_TURN[:3], reward=5.0)
    errored.error = {"type": "PolicyError", "message": "down"}
    batch = trajectories_to_tensors(group + [errored], _tokenizer())
    assert batch.skipped == {"error": 1} and [e.id for e in batch.episodes] == ["a", "b"]


@pytest.mark.parametrize("reward", [0.0, 0.1, 1 / 3, 1e9])
def test_a_group_of_equal_rewards_gets_exactly_zero_advantage(reward):
    # 0.1 * 3 / 3 != 0.1 in floats: without care, mean subtraction and a std of ~1e-17 + eps
    # turn the rounding error into a spurious advantage.
    group = [_episode(x, MULTI_TURN[:3], reward=reward) for x in "abc"]
    assert grpo_advantages(group, AdvantageOptions()) == [[0.0]] * 3
    assert turn_advantages(group, AdvantageOptions(gamma=0.9)) == [[0.0]] * 3
    assert grpo_advantages(group[:1], AdvantageOptions()) == [[0.0]], "a lone episode"


def test_zero_variance_groups_are_counted_and_a_batch_without_signal_takes_no_step(tmp_path, caplog):
    even = [_episode(x, MULTI_TURN[:3], reward=0.1, group="even") for x in "ab"]
    varied = [
        _episode("c", MULTI_TURN[:3], reward=0.0, group="varied"),
        _episode("d", MULTI_TURN, reward=1.0, group="varied"),
    ]
    batch = trajectories_to_tensors(even + varied, _tokenizer())
    assert batch.groups == ["even", "varied"] and batch.zero_variance_groups == ["even"]
    assert batch.has_signal() and not batch.has_signal(torch.tensor([0, 1]))
    trainer = GRPOTrainer(TrainConfig(model=str(tiny_model_path()), output_dir=tmp_path, learning_rate=1e-3))
    before = [p.detach().clone() for p in trainer.model.parameters()]
    with caplog.at_level("WARNING", logger="rftgym.training.trainer"):
        skipped = trainer.train_step(batch, torch.tensor([0, 1]))
    assert skipped == {"train/skipped": 1.0, "train/groups": 1.0, "train/zero_variance_groups": 1.0}
    assert trainer.step == 0 and not trainer.optimizer.state, "no optimizer step"
    assert all(torch.equal(a, b) for a, b in zip(before, trainer.model.parameters()))
    assert "step 1 skipped: no learning signal" in caplog.text
    assert not trainer.metrics.path.read_text(), "a skipped step writes no metrics line"
    taken = trainer.train_step(batch)
    assert trainer.step == 1 and taken["train/zero_variance_groups"] == 1.0 and taken["train/groups"] == 2.0
    assert taken["train/skipped_steps"] == 1.0 and read_metrics(trainer.metrics.path)[0]["train/skipped_steps"] == 1.0


def test_fit_on_a_batch_without_signal_takes_no_step(tmp_path, caplog):
    batch = trajectories_to_tensors([_episode(x, MULTI_TURN[:3], reward=1.0) for x in "ab"], _tokenizer())
    trainer = GRPOTrainer(TrainConfig(model=str(tiny_model_path()), output_dir=tmp_path))
    steps = []
    with caplog.at_level("WARNING", logger="rftgym.training.trainer"):
        history = trainer.fit(batch, on_step=lambda step, metrics: steps.append(step))
    assert history == [] and steps == [] and trainer.step == 0
    assert "1 of 1 groups have zero reward variance" in caplog.text and "skipped" in caplog.text


def _varied_batch(count: int = 8):
    episodes = [
        _episode(
            f"e{i}",
            [
                SYSTEM,
                {"role": "user", "content": "Go " * (i + 1)},
                {"role": "assistant", "content": "ok " * (2 * i + 1)},
            ],
            reward=float(i % 3),
            group=f"g{i % 2}",
        )
        for i in range(count)
    ]
    return trajectories_to_tensors(episodes, _tokenizer())


def test_gradients_do_not_depend_on_micro_batching(tmp_path):
    batch = _varied_batch()
    grads = []
    for micro, checkpointing in ((1, False), (8, False), (8, True)):  # batch 1 x accumulation 8 == 8 x 1
        trainer = GRPOTrainer(
            TrainConfig(
                model=str(tiny_model_path()),
                output_dir=tmp_path / f"{micro}{checkpointing}",
                pack=False,  # rows per micro-batch (packing is tested in test_training_distributed.py)
                micro_batch_size=micro,
                kl_coef=0.1,
                gradient_checkpointing=checkpointing,
            )
        )
        trainer.optimizer.zero_grad()
        trainer.accumulate_gradients(batch, torch.arange(len(batch)))
        grads.append(torch.cat([p.grad.flatten() for p in trainer.model.parameters()]))
    assert grads[0].abs().sum() > 0
    assert torch.allclose(grads[0], grads[1], rtol=1e-4, atol=1e-7)
    assert torch.allclose(grads[1], grads[2], rtol=1e-4, atol=1e-7), "gradient checkpointing changes nothing"


def test_trained_checkpoint_is_served_by_rftgym_serve_and_answers_differently(tmp_path):
    prompt = [{"role": "user", "content": "Say yes."}]
    episodes = [
        _episode(
            f"{g}-{answer}",
            prompt + [{"role": "assistant", "content": answer}],
            reward=float(answer == "yes"),
            group=str(g),
        )
        for g in range(4)
        for answer in ("yes", "no")
    ]
    batch = trajectories_to_tensors(episodes, _tokenizer())
    config = TrainConfig(
        model=str(tiny_model_path()),
        output_dir=tmp_path / "run",
        learning_rate=3e-3,
        batch_size=8,
        micro_batch_size=8,
        epochs=25,
        plots=True,
    )
    trainer = GRPOTrainer(config)
    trainer.fit(batch)
    metrics = read_metrics(tmp_path / "run" / "metrics.jsonl")
    assert len(metrics) == 25 and {
        "critic/rewards/mean",
        "actor/entropy",
        "response_length/mean",
        "actor/grad_norm",
        "actor/pg_clipfrac",
        "perf/tokens_per_s",
        "episode/turns/mean",
    } <= set(metrics[0])
    assert (tmp_path / "run" / "plots" / "critic_rewards_mean.png").stat().st_size > 1000
    checkpoint = tmp_path / "run" / "checkpoints" / "step-000025"

    with ServerProcess(
        [
            sys.executable,
            "-m",
            "rftgym",
            "serve",
            "--model",
            str(checkpoint),
            "--port",
            "0",
            "--served-model-name",
            "m",
        ],
        startup_timeout=120,
    ) as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="EMPTY", max_retries=0)
        reply = client.chat.completions.create(model="m", messages=prompt, temperature=0, max_tokens=8)
    assert (reply.choices[0].message.content, reply.model_extra["weights_version"]) == ("yes", "step-25")
    with ModelServer(str(tiny_model_path()), served_name="m") as base:
        client = openai.OpenAI(base_url=base.base_url, api_key="EMPTY", max_retries=0)
        before = client.chat.completions.create(model="m", messages=prompt, temperature=0, max_tokens=8)
    assert before.choices[0].message.content != "yes", "the starting weights answer something else"


def test_rftgym_train_command(tmp_path, capsys):
    from rftgym.cli import main

    data = tmp_path / "data.jsonl"
    with TrajectoryWriter(data) as writer:
        for episode in (_episode("a", MULTI_TURN, reward=1.0), _episode("b", MULTI_TURN[:5], reward=0.0)):
            episode.policy = {"sampling": {"temperature": 0.7}}
            writer.write(episode)
    out = tmp_path / "run"
    assert (
        main(
            [
                "train",
                str(data),
                "--model",
                str(tiny_model_path()),
                "--output-dir",
                str(out),
                "--lr",
                "1e-3",
                "--batch-size",
                "1",
                "--advantage",
                "turn",
            ]
        )
        == 0
    )
    said = capsys.readouterr().err
    assert "2 episodes, 2 sequences" in said and "scoring tokens at temperature 0.7" in said, "as the files record"
    assert [json.loads(line)["step"] for line in (out / "metrics.jsonl").read_text().splitlines()] == [1, 2]
    assert (out / "checkpoints" / "step-000002" / "rftgym_checkpoint.json").is_file()
    assert not (out / "plots").exists() and f"curves: rftgym report {out}" in said, "PNG plots only with --plots"
    assert main(["train", str(data), "--model", str(tiny_model_path()), "--output-dir", str(out)]) == 2
    assert "holds checkpoints of an earlier run (step-000002)" in capsys.readouterr().err
    assert (
        main(
            [
                "train",
                str(data),
                "--model",
                str(tiny_model_path()),
                "--advantage",
                "nope",
                "--output-dir",
                str(tmp_path / "other"),
            ]
        )
        == 2
    )
    assert "unknown advantage estimator 'nope'" in capsys.readouterr().err
    assert main(["train", str(data), "--model", str(tmp_path / "no-model"), "--output-dir", str(tmp_path / "x")]) == 2


def test_rftgym_train_shows_a_progress_bar_under_the_step_lines_unless_told_not_to(tmp_path, capsys):
    from rftgym.cli import main

    data = tmp_path / "data.jsonl"
    with TrajectoryWriter(data) as writer:
        writer.write(_episode("a", MULTI_TURN, reward=1.0))
        writer.write(_episode("b", MULTI_TURN[:5], reward=0.0))
    command = ["train", str(data), "--model", str(tiny_model_path()), "--batch-size", "1"]

    assert main([*command, "--output-dir", str(tmp_path / "bar")]) == 0
    said = capsys.readouterr().err.splitlines()  # not a terminal: the bar's last state, once, at the end
    last = json.loads((tmp_path / "bar" / "metrics.jsonl").read_text().splitlines()[-1])
    (bar,) = [line for line in said if line.startswith("train ")]
    assert " 2/2 " in bar and " eta " in bar
    assert f"reward {last['critic/rewards/mean']:.3f}  entropy {last['actor/entropy']:.3f}" in bar
    steps = [line for line in said if line.startswith("step ")]
    assert [line.split(":")[0] for line in steps] == ["step 1", "step 2"], "the metrics lines stay"
    assert said.index(steps[-1]) < said.index(bar) < [i for i, line in enumerate(said) if "checkpoint:" in line][0]

    assert main([*command, "--output-dir", str(tmp_path / "quiet"), "--no-progress"]) == 0
    said = capsys.readouterr().err.splitlines()
    assert not [line for line in said if line.startswith("train ")]
    assert [line.split(":")[0] for line in said if line.startswith("step ")] == ["step 1", "step 2"]


def test_online_loop_raises_the_reward_of_a_learnable_env_and_resumes(tmp_path):
    online = OnlineConfig(
        "rftgym/Letters-v0", steps=12, tasks_per_step=4, group_size=8, max_tokens=8, val_every=6, val_tasks=4
    )
    online.readiness_tasks = 0  # tested in test_online_readiness.py; here: the sampling this test was tuned on
    config = TrainConfig(
        model=str(tiny_model_path()),
        output_dir=tmp_path / "online",
        learning_rate=1e-2,
        batch_size=32,
        micro_batch_size=32,
        seed=0,
        plots=True,
    )
    history = train_online(online, config)
    rewards = [m["critic/rewards/mean"] for m in history if "critic/rewards/mean" in m]
    assert len(rewards) == 12 and rewards[0] < 0.2, "a random model writes few letters"
    assert sum(rewards[-3:]) / 3 >= 0.45, f"the reward should rise well above {rewards[0]:.2f}: {rewards}"
    assert [m["val-score/rewards/mean@1"] for m in history if "val-score/rewards/mean@1" in m].__len__() == 3
    assert (tmp_path / "online" / "plots" / "val-score_rewards_mean_at_1.png").is_file()

    online.steps = 13  # stopped and started again: it continues from its last checkpoint
    resumed = train_online(online, config, resume=True)
    assert [m for m in resumed if "critic/rewards/mean" in m].__len__() == 1
    assert (tmp_path / "online" / "checkpoints" / "step-000013").is_dir()
    assert sorted(p.name for p in (tmp_path / "online" / "rollouts").glob("step-*")) == [
        f"step-{i:06d}.jsonl" for i in range(13)
    ]


def test_train_from_files_example_runs(tmp_path):
    import subprocess

    data = tmp_path / "data.jsonl"
    with TrajectoryWriter(data) as writer:
        writer.write(_episode("a", MULTI_TURN, reward=1.0))
        writer.write(_episode("b", MULTI_TURN[:5], reward=0.0))
    result = subprocess.run(
        [
            sys.executable,
            "examples/train_from_files.py",
            str(data),
            "--model",
            str(tiny_model_path()),
            "--out",
            str(tmp_path / "mine"),
            "--epochs",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "2 episodes -> 2 sequences" in result.stdout and (tmp_path / "mine" / "config.json").is_file()


def test_lora_trains_adapters_and_checkpoints_merged_weights(tmp_path):
    from transformers import AutoModelForCausalLM

    trainer = GRPOTrainer(
        TrainConfig(model=str(tiny_model_path()), output_dir=tmp_path, lora_rank=4, learning_rate=1e-2, batch_size=8)
    )
    trainable = {name for name, p in trainer.model.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in name for name in trainable)
    trainer.fit(_varied_batch())
    merged = AutoModelForCausalLM.from_pretrained(tmp_path / "checkpoints" / "step-000001").state_dict()
    base = AutoModelForCausalLM.from_pretrained(tiny_model_path()).state_dict()
    assert merged.keys() == base.keys(), "a plain model any server loads"
    changed = {k for k in base if not torch.equal(merged[k], base[k])}
    assert "model.layers.0.self_attn.q_proj.weight" in changed and "model.embed_tokens.weight" not in changed
