"""``datasets`` reads a mixed set of real trajectory files together: different envs and policies,
with and without errors, token ids, reasoning and the same reward component names."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import gymnasium
import pytest
from conftest import OracleResponder

from rftgym.agents import ChatPolicy, OraclePolicy
from rftgym.agents.testing import ScriptedServer
from rftgym.rollout import rollout
from rftgym.trajectories import Trajectory
from rftgym.trajectories.schema import hf_features

datasets = pytest.importorskip("datasets")


class ReasoningOracle(OracleResponder):
    """The oracle's answers, with a reasoning text on every other one."""

    calls = 0

    def __call__(self, request: dict) -> dict:
        message = super().__call__(request)
        self.calls += 1
        if self.calls % 2:
            message = {**message, "reasoning_content": "Let me think."}
        return message


@pytest.fixture(scope="module")
def mixed_files(tmp_path_factory) -> list[Path]:
    folder = tmp_path_factory.mktemp("mixed")
    files = []
    for env_id in ("rftgym/MathTools-v0", "rftgym/Retail-v0"):
        name = env_id.split("/")[1]
        oracle = OraclePolicy(gymnasium.make(env_id).unwrapped.oracle_action)  # no token ids, no errors
        files.append(folder / f"{name}-oracle.jsonl")
        rollout(env_id, oracle, files[-1], num_tasks=3, progress=False)
    # An endpoint that fails now and then (error lines) and gives token ids, logprobs and reasoning.
    with ScriptedServer(ReasoningOracle("rftgym/MathTools-v0"), faults={"500": 0.3}, seed=1) as server:
        policy = ChatPolicy(server.base_url, "scripted", max_attempts=1, timeout=10)
        files.append(folder / "MathTools-endpoint.jsonl")
        rollout("rftgym/MathTools-v0", policy, files[-1], num_tasks=6, group_size=2, progress=False)
    return files


def _lines(files: list[Path]) -> list[dict]:
    return [json.loads(line) for path in files for line in path.read_text().splitlines()]


def test_the_mixed_set_covers_what_it_should(mixed_files):
    lines = _lines(mixed_files)
    assert any(line["error"] for line in lines) and any(not line["error"] for line in lines)
    turns = [turn for line in lines for turn in line["turns"]]
    assert any(t["completion_token_ids"] for t in turns) and any(t["completion_token_ids"] is None for t in turns)
    assert any("reasoning_content" in m for line in lines for m in line["messages"])
    assert len({line["env_id"] for line in lines}) == 2
    components = [set(t["reward_components"]) for t in turns] + [set(line["outcome_components"]) for line in lines]
    assert len({frozenset(c) for c in components}) > 1, "different reward component names"


@pytest.mark.parametrize(
    "with_features",
    [
        True,
        pytest.param(
            False,
            marks=pytest.mark.xfail(
                reason="datasets types the columns from the first file; the schema doc says to pass hf_features()",
                strict=False,
            ),
        ),
    ],
)
def test_datasets_reads_the_mixed_set_together(mixed_files, tmp_path, with_features):
    kwargs = {"features": hf_features()} if with_features else {}
    ds = datasets.load_dataset(
        "json",
        data_files=[str(p) for p in mixed_files],
        split="train",
        cache_dir=str(tmp_path / "cache"),
        **kwargs,
    )
    lines = _lines(mixed_files)
    assert len(ds) == len(lines)
    for row, line in zip(ds, lines):
        Trajectory.from_dict(row)  # every row is a valid trajectory
        # datasets rewrites lines with dict columns through pandas' ujson, 10 decimals (schema doc)
        assert _close(row, line), row["id"]


def _close(read: Any, written: Any) -> bool:
    """``read`` is ``written``, floats to 1e-9 (what ``datasets``' JSON loader keeps of them)."""
    if isinstance(written, float):
        return isinstance(read, float) and math.isclose(read, written, rel_tol=1e-9, abs_tol=1e-9)
    if isinstance(written, dict):
        return (
            isinstance(read, dict)
            and read.keys() == written.keys()
            and all(_close(read[k], v) for k, v in written.items())
        )
    if isinstance(written, list):
        return isinstance(read, list) and len(read) == len(written) and all(map(_close, read, written))
    return type(read) is type(written) and read == written
