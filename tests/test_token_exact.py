"""Token-exact multi-turn training: an episode's turns join into one sequence only while each
turn's prompt ids extend what came before; otherwise it is split, and the split is counted."""

from __future__ import annotations

from tiny_model import tiny_model_path

from rftgym.trajectories import Trajectory, Turn

MESSAGES = [
    {"role": "user", "content": "a"},
    {"role": "assistant", "content": "b", "reasoning_content": "think"},
    {"role": "user", "content": "c"},
    {"role": "assistant", "content": "d"},
]


def _episode(second_prompt: list[int]) -> Trajectory:
    turns = [
        Turn(message_index=1, prompt_token_ids=[1, 2], completion_token_ids=[3, 4, 5], logprobs=[-1.0] * 3),
        Turn(message_index=3, prompt_token_ids=second_prompt, completion_token_ids=[8, 9], logprobs=[-2.0] * 2),
    ]
    return Trajectory(
        id="e#0", run_id="r", env_id="e", task_id="t", group_id="t", sample_index=0, messages=MESSAGES,
        turns=turns, reward=1.0,
    )  # fmt: skip


def _tensors(episodes):
    from transformers import AutoTokenizer

    from rftgym.training.data import trajectories_to_tensors

    return trajectories_to_tensors(episodes, AutoTokenizer.from_pretrained(tiny_model_path()))


def test_turns_that_extend_each_other_are_one_sequence():
    batch = _tensors([_episode([1, 2, 3, 4, 5, 6, 7])])
    assert len(batch) == 1 and batch.split_episodes == 0
    assert batch.input_ids[0].tolist() == [1, 2, 3, 4, 5, 6, 7, 8, 9]
    assert batch.loss_mask[0].tolist() == [False, False, True, True, True, False, False, True, True]


def test_a_rewritten_history_splits_the_episode_and_every_token_keeps_its_context():
    # The template dropped the first turn's reasoning (tokens 3, 4) from the second prompt.
    batch = _tensors([_episode([1, 2, 5, 6, 7])])
    assert len(batch) == 2 and batch.split_episodes == 1
    assert batch.input_ids[0, :5].tolist() == [1, 2, 3, 4, 5] and batch.loss_mask[0, :5].sum() == 3
    assert batch.input_ids[1, :7].tolist() == [1, 2, 5, 6, 7, 8, 9]
    assert batch.loss_mask[1, :7].tolist() == [False] * 5 + [True, True], "the old turn is context, not trained twice"
    assert batch.old_logprobs[1][batch.loss_mask[1]].tolist() == [-2.0, -2.0]
