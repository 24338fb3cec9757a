"""rftgym baseline: the Step 0 readiness report and each verdict, with validation policies and the scripted server."""

import itertools
import json

import pytest

from rftgym.agents.testing import ScriptedServer
from rftgym.baseline import assess, size_note
from rftgym.cli import main
from rftgym.envs.extraction import ExtractionEnv
from rftgym.trajectories import Trajectory

LETTERS = "rftgym/Letters-v0"


def baseline(capsys, tmp_path, *args):
    argv = ["baseline", *args, "--out", str(tmp_path / "b.jsonl"), "--no-progress", "--json", "--concurrency", "1"]
    status = main(argv)
    return status, json.loads(capsys.readouterr().out)


def test_the_oracle_is_too_easy(capsys, tmp_path):
    status, report = baseline(capsys, tmp_path, LETTERS, "--policy", "oracle", "-k", "2", "--num-tasks", "3")
    assert status == 1 and report["verdict"] == "too easy" and report["pass_at_1"] == 1.0
    assert report["zero_variance"] == 1.0 and report["episodes"] == 6 and report["tasks"] == 3
    assert report["split_size"] == 1000 and "200-5,000 range" in report["size_note"]


def test_noop_on_math_is_too_hard(capsys, tmp_path):
    status, report = baseline(
        capsys, tmp_path, "rftgym/MathTools-v0", "--policy", "noop", "-k", "2", "--num-tasks", "3"
    )
    assert status == 1 and report["verdict"] == "too hard" and report["never_rewarded"] == 1.0
    assert "earned no reward in 2 tries" in report["reason"]


def test_a_model_that_sometimes_succeeds_is_ready(capsys, tmp_path):
    replies = itertools.cycle(["abcdefgh", "ABCDEFGH"])
    with ScriptedServer(lambda request: {"role": "assistant", "content": next(replies)}) as server:
        args = [LETTERS, "--base-url", server.base_url, "--model", "scripted", "-k", "4", "--num-tasks", "3"]
        status, report = baseline(capsys, tmp_path, *args)
        assert not any("seed" in request for request in server.request_log)  # a seed would make samples identical
    assert status == 0 and report["verdict"] == "ready", report["reason"]
    assert report["pass_at_1"] == 0.5 and report["pass_at_k"] == 1.0 and report["zero_variance"] == 0.0
    assert report["spread"]["outcome/lowercase_share"] == pytest.approx(0.5)


def test_a_component_that_never_varies_is_dead(capsys, tmp_path):
    answers = {t.prompt: t.answer for t in ExtractionEnv().tasks("train", 3)}
    wrong = itertools.cycle([False, True])

    def respond(request):
        answer = dict(answers[request["messages"][-1]["content"]])
        if next(wrong):
            answer[next(iter(answer))] = "nope"  # still valid under the schema, one field wrong
        return {"role": "assistant", "content": json.dumps(answer)}

    with ScriptedServer(respond) as server:
        args = ["rftgym/Extraction-v0", "--base-url", server.base_url, "--model", "scripted", "-k", "4"]
        status, report = baseline(capsys, tmp_path, *args, "--num-tasks", "3")
    assert status == 1 and report["verdict"] == "dead reward component"
    assert report["dead"] == ["outcome/schema_valid"] and "schema_valid never varies" in report["reason"]
    assert report["spread"]["outcome/field_accuracy"] > 0


def test_the_text_report_ends_with_the_verdict(capsys, tmp_path):
    status = main(
        [
            "baseline",
            LETTERS,
            "--policy",
            "oracle",
            "-k",
            "2",
            "--num-tasks",
            "2",
            "--out",
            str(tmp_path / "x.jsonl"),
            "--no-progress",
        ]
    )
    lines = capsys.readouterr().out.splitlines()
    assert status == 1 and lines[0].startswith("baseline of rftgym/Letters-v0: 2 tasks x 2 samples")
    assert lines[-1].startswith("verdict: TOO EASY: pass@1 is already 1.00")


def test_an_unknown_model_is_refused_before_anything_runs(capsys, tmp_path):
    with ScriptedServer() as server:
        status = main(
            ["baseline", LETTERS, "--base-url", server.base_url, "--model", "other", "--out", str(tmp_path / "x.jsonl")]
        )
    assert status == 2 and "does not serve model 'other'" in capsys.readouterr().err
    assert not (tmp_path / "x.jsonl").exists()


def episode(group, sample, outcome, error=None):
    return Trajectory(
        id=f"{group}#{sample}", run_id="r", env_id="e", task_id=group, group_id=group, sample_index=sample,
        outcome_reward=outcome, reward=outcome, outcome_components={"score": outcome}, error=error,
    )  # fmt: skip


def test_failed_episodes_are_counted_apart_and_a_flat_partial_reward_is_dead():
    episodes = [episode(g, i, 0.5) for g in "abc" for i in range(2)] + [episode("a", 2, 0.0, {"type": "PolicyError"})]
    report = assess(episodes, k=2, split_size=50)
    assert report.errors == 1 and report.episodes == 6 and report.zero_variance == 1.0
    assert report.verdict == "dead reward component" and report.dead == ["outcome/score"]
    assert "too few" in report.size_note
    with pytest.raises(ValueError, match="no episode was scored"):
        assess([episode("a", 0, 0.0, {"type": "PolicyError"})], k=1)


@pytest.mark.parametrize(
    ("size", "words"), [(150, "a good start"), (7000, "above the 200-5,000"), (20000, "more than")]
)
def test_the_size_note_follows_the_guidance(size, words):
    assert words in size_note(size)
