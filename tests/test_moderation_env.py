"""rftgym/Moderation-v0: the exact-label term, and the LLM judge through the scripted server."""

import gymnasium
import pytest

import rftgym
from rftgym.agents.testing import ScriptedServer
from rftgym.envs.moderation import LABELS, ModerationEnv, given_label

MODERATION = "rftgym/Moderation-v0"


def test_posts_cycle_through_the_labels_and_ids_round_trip():
    env = ModerationEnv()
    test = env.tasks("test")
    assert len(test) == 60 and [t.answer for t in test[:5]] == list(LABELS)
    assert env.task_by_id(test[9].id) == test[9] and env.tasks("train", 3)[0] != test[0]


@pytest.mark.parametrize(
    ("reply", "label"),
    [("Label: spam\nReason: a link", "spam"), ("**Label:** Harassment", "harassment"), ("I don't know.", None)],
)
def test_the_label_line_is_read(reply, label):
    assert given_label(reply) == label


def play(env, task_id, reply):
    env.reset(options={"task": task_id})
    *_, info = env.step({"role": "assistant", "content": reply})
    return info["outcome_reward"], info["outcome_components"]


def test_without_a_judge_only_the_label_scores(tmp_path):
    oracle, noop = tmp_path / "oracle.jsonl", tmp_path / "noop.jsonl"
    rftgym.rollout(MODERATION, rftgym.OraclePolicy(ModerationEnv().oracle_action), oracle, progress=False)
    rftgym.rollout(MODERATION, rftgym.NoopPolicy(), noop, num_tasks=5, progress=False)
    assert all(
        t.reward == 1.0 and t.outcome_components == {"label_correct": 1.0} for t in rftgym.read_trajectories(oracle)
    )
    assert all(t.reward == 0.0 and t.error is None for t in rftgym.read_trajectories(noop))


def test_the_judge_scores_the_reason_and_its_failures_are_judge_errors():
    verdicts = iter(["Cites the link. SCORE: 8", "I cannot grade this."])
    with ScriptedServer(lambda request: {"role": "assistant", "content": next(verdicts)}) as server:
        env = gymnasium.make(MODERATION, judge_base_url=server.base_url, judge_model="judge").unwrapped
        reward, components = play(env, "moderation-test-00001", "Label: spam\nReason: it pushes a promo link.")
        assert components == {"label_correct": 1.0, "justification": 0.8, "justification/raw": 8.0}
        assert reward == pytest.approx(0.5 + 0.5 * 0.8)
        judged = server.request_log[0]["messages"][-1]["content"]
        assert "promo link" in judged and "## Reference answer\nspam" in judged
        reward, components = play(env, "moderation-test-00002", "Label: harassment\nReason: insults.")
        assert components == {"label_correct": 1.0, "justification/error": 1.0} and reward == 0.5


def test_a_judge_needs_both_its_url_and_its_model():
    with pytest.raises(ValueError, match="judge_base_url and judge_model"):
        ModerationEnv(judge_base_url="http://127.0.0.1:1/v1")
