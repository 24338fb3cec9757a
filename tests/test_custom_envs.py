"""A user's own env from the CLI: ``--import MODULE`` or ``MODULE:ENV_ID``, the module recorded in
the trajectory file (so ``rescore``, ``export`` and ``--resume`` find the env again without the
flag), and the generic lint that any env must pass."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import rftgym
from rftgym.envs import ChatEnv, register_env, tool
from rftgym.lint import lint_env
from rftgym.rewards import RewardContext, RewardTerm, Rubric
from rftgym.types import Task, assistant_message

ROOT = Path(__file__).resolve().parents[1]
UNITS = "examples.custom_env:units/UnitDesk-v0"


def run(*args: str) -> subprocess.CompletedProcess:
    """The real command, from the repository root (where ``examples`` is importable)."""
    command = [sys.executable, "-m", "rftgym", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=ROOT)


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_help_shows_both_ways():
    for command in ("rollout", "rescore", "export", "train"):
        text = run(command, "--help").stdout
        assert "--import MODULE" in text and "MODULE:ENV_ID" in text, command
    assert "--import MODULE" in run("envs", "lint", "--help").stdout


def test_module_form_records_the_module_for_rescore_export_and_resume(tmp_path):
    out = tmp_path / "units.jsonl"
    played = run("rollout", UNITS, "--policy", "oracle", "--num-tasks", "2", "--no-progress", "--out", str(out))
    assert played.returncode == 0, played.stderr
    assert [line["metadata"]["env_modules"] for line in lines(out)] == [["examples.custom_env"]] * 2
    assert all(line["env_id"] == "units/UnitDesk-v0" and line["reward"] == 1.0 for line in lines(out))

    # No flag: each reads the module from the file.
    rescored = run("rescore", str(out), "--out", str(tmp_path / "rescored.jsonl"))
    assert rescored.returncode == 0, rescored.stderr
    assert [line["reward"] for line in lines(tmp_path / "rescored.jsonl")] == [1.0, 1.0]
    exported = run("export", str(out), "--format", "bedrock-rft", "--out", str(tmp_path / "bedrock.jsonl"))
    assert exported.returncode == 0, exported.stderr
    before = out.read_bytes()
    resumed = run(
        "rollout", "units/UnitDesk-v0", "--policy", "oracle", "--num-tasks", "3", "--no-progress",
        "--out", str(out), "--resume",
    )  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr
    assert "1 episodes written, 2 already there" in resumed.stderr
    assert out.read_bytes().startswith(before) and lines(out)[-1]["metadata"]["env_modules"] == ["examples.custom_env"]


def test_import_flag(tmp_path):
    listed = run("envs", "--import", "examples.custom_env")
    assert listed.returncode == 0 and "units/UnitDesk-v0" in listed.stdout
    out = tmp_path / "units.jsonl"
    args = ["--policy", "noop", "--num-tasks", "1", "--no-progress", "--out", str(out)]
    played = run("rollout", "units/UnitDesk-v0", "--import", "examples.custom_env", *args)
    assert played.returncode == 0, played.stderr
    assert lines(out)[0]["metadata"]["env_modules"] == ["examples.custom_env"]
    linted = run("envs", "lint", "--import", "examples.custom_env", "units/UnitDesk-v0")
    assert linted.returncode == 0, linted.stdout + linted.stderr
    assert "units/UnitDesk-v0: 120 tasks checked, 0 problems" in linted.stderr
    assert run("envs", "lint", UNITS).returncode == 0


def test_a_module_that_cannot_be_imported_is_one_line(tmp_path):
    for args in (
        ["envs", "--import", "no_such_module"],
        ["rollout", "units/UnitDesk-v0", "--import", "no_such_module", "--out", str(tmp_path / "o.jsonl")],
        ["rollout", "no_such_module:units/UnitDesk-v0", "--out", str(tmp_path / "o.jsonl")],
    ):
        result = run(*args)
        assert result.returncode == 2
        lines_ = result.stderr.strip().splitlines()
        assert len(lines_) == 1 and "cannot import 'no_such_module'" in lines_[0], result.stderr
    assert not (tmp_path / "o.jsonl").exists()


def test_the_api_records_the_entry_point_module(tmp_path):
    import examples.custom_env  # noqa: F401  (registers units/UnitDesk-v0)

    out = tmp_path / "o.jsonl"
    rftgym.rollout("units/UnitDesk-v0", rftgym.NoopPolicy(), out, num_tasks=1, progress=False)
    assert lines(out)[0]["metadata"]["env_modules"] == ["examples.custom_env"]
    rftgym.rollout("rftgym/MathTools-v0", rftgym.NoopPolicy(), tmp_path / "m.jsonl", num_tasks=1, progress=False)
    assert "env_modules" not in lines(tmp_path / "m.jsonl")[0]["metadata"]  # rftgym's own: nothing to import


# ----- the generic lint -----


def _flag(ctx: RewardContext) -> float:
    return float(ctx.env.flag)


class SloppyEnv(ChatEnv):
    """An env with every mistake the generic lint looks for."""

    rubric = Rubric([RewardTerm("flag", _flag, scope="outcome", needs_env=True)])

    def tasks(self, split="train", num_tasks=None):
        ids = ["a", "b", "a"] if split == "test" else ["t0", "t1"]  # "a" twice in the test split
        return [Task(id=i, split=split, prompt=f"task {i}") for i in ids][:num_tasks]

    def task_by_id(self, task_id):
        return next(t for t in self.tasks("test") + self.tasks("train") if t.id == task_id)

    def setup(self, task):
        self.flag = True  # doing nothing already scores 1

    @tool
    def noop(self) -> str:
        """Do nothing."""
        return "ok"

    def react(self, message, results):
        if self.task.id == "b":
            self.flag = False  # the oracle's answer scores 0 here
        return [], "done"

    def oracle_action(self, task, messages):
        return assistant_message("done")


register_env("tests/Sloppy-v0", f"{__name__}:SloppyEnv")


def test_generic_lint_finds_duplicate_ids_a_failing_oracle_and_a_rewarded_noop():
    checked, problems = lint_env("tests/Sloppy-v0")
    assert checked == 5
    assert "task id 'a' is used 2 times in the test split" in problems
    assert "b: the oracle scores 0, not 1.0" in problems
    assert "a: doing nothing (the noop policy) scores 1, not 0" in problems


def test_generic_lint_passes_a_good_env():
    import examples.custom_env  # noqa: F401

    assert lint_env("units/UnitDesk-v0", num_train=5) == (25, [])


def test_generic_lint_refuses_a_gymnasium_env():
    with pytest.raises(TypeError, match="not an rftgym ChatEnv"):
        lint_env("CartPole-v1")
