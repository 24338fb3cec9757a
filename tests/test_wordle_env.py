"""rftgym/Wordle-v0: feedback rules, per-turn and outcome rewards, oracle and noop."""

import gymnasium
import pytest

import rftgym
from rftgym.envs.wordle import WordleEnv, feedback
from rftgym.envs.wordle.words import WORDS
from rftgym.types import assistant_message, tool_call

WORDLE = "rftgym/Wordle-v0"


def test_word_list_is_five_letter_words_without_repeats():
    assert len(WORDS) >= 300 and len(set(WORDS)) == len(WORDS)
    assert all(len(w) == 5 and w.isalpha() and w.islower() for w in WORDS)


@pytest.mark.parametrize(
    ("guess", "answer", "marks"),
    [
        ("crane", "crane", "GGGGG"),
        ("speed", "abide", "--Y-Y"),
        ("eerie", "theme", "Y---G"),
        ("lolly", "hello", "-YGG-"),
    ],
)
def test_feedback_follows_wordle_rules_for_repeated_letters(guess, answer, marks):
    assert feedback(guess, answer) == marks


def test_splits_are_disjoint_and_ids_round_trip():
    env = WordleEnv()
    train, test = env.tasks("train"), env.tasks("test")
    assert len(train) + len(test) == len(WORDS) and not {t.answer for t in train} & {t.answer for t in test}
    assert env.task_by_id(test[3].id) == test[3] and len(env.tasks("train", 7)) == 7
    with pytest.raises(KeyError):
        env.task_by_id("wordle-test-9999")


def test_a_game_with_text_and_tool_guesses_pays_progress_then_the_outcome():
    env = gymnasium.make(WORDLE).unwrapped
    env.reset(options={"task": "wordle-test-0000"})  # "about"
    assert env.task.answer == "about"
    new, reward, terminated, _, info = env.step(assistant_message("guess: abbey"))
    assert new[0]["role"] == "user" and new[0]["content"].startswith("Feedback for ABBEY: GG---")
    assert reward == pytest.approx(0.1 * 2 / 5) and not terminated
    _, reward, _, _, info = env.step(assistant_message("Let me think about it."))
    assert reward == pytest.approx(-0.1) and info["reward_components"]["invalid_guess"] == 1.0
    new, reward, terminated, _, info = env.step(assistant_message(None, [tool_call("guess", {"word": "about"})]))
    assert new[0]["role"] == "tool" and terminated and info["termination_reason"] == "solved"
    assert info["outcome_components"] == {"solved": 1.0, "speed": pytest.approx(4 / 5)}


def test_six_wrong_guesses_end_the_game_unsolved():
    env = gymnasium.make(WORDLE).unwrapped
    env.reset(options={"task": "wordle-test-0000"})
    for _ in range(6):
        _, _, terminated, _, info = env.step(assistant_message("zzzzz"))
    assert terminated and info["termination_reason"] == "out_of_guesses"
    assert info["outcome_reward"] == 0.0


def test_oracle_scores_one_and_noop_scores_zero(tmp_path):
    oracle, noop = tmp_path / "oracle.jsonl", tmp_path / "noop.jsonl"
    rftgym.rollout(WORDLE, rftgym.OraclePolicy(WordleEnv().oracle_action), oracle, progress=False)
    rftgym.rollout(WORDLE, rftgym.NoopPolicy(), noop, num_tasks=5, progress=False)
    assert all(t.reward == 1.0 and t.error is None for t in rftgym.read_trajectories(oracle))
    assert all(t.outcome_reward == 0.0 and t.error is None for t in rftgym.read_trajectories(noop))
