"""Trajectory files: schema round trip and checks, the crash-safe writer, readers, datasets."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from rftgym.trajectories import (
    SCHEMA,
    Trajectory,
    TrajectoryFileError,
    TrajectoryWriter,
    Turn,
    completed_ids,
    read_trajectories,
    validate_file,
)
from rftgym.trajectories.schema import hf_features

CALCULATOR = {
    "type": "function",
    "function": {
        "name": "calculator",
        "description": "Evaluate an arithmetic expression.",
        "parameters": {
            "type": "object",
            "properties": {"expression": {"type": "string", "description": "e.g. 2*(3+4)"}},
            "required": ["expression"],
        },
    },
}
SUBMIT = {
    "type": "function",
    "function": {
        "name": "submit",
        "description": "Submit the final answer.",
        "parameters": {
            "type": "object",
            "properties": {
                "answer": {"type": "number"},
                "unit": {"type": ["string", "null"], "enum": ["m", "s", None]},
            },
            "required": ["answer"],
        },
    },
}
PING = {
    "type": "function",
    "function": {
        "name": "ping",
        "description": "No arguments.",
        "parameters": {"type": "object", "properties": {}, "required": []},
    },
}


def make_traj(i: int = 0, **changes) -> Trajectory:
    """A realistic two-turn episode: a tool call, its result, then an answer."""
    messages = [
        {"role": "system", "content": "Use the calculator. Réponds en français 😀"},
        {"role": "user", "content": f"What is {i} + 2?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": f"call_{i}",
                    "type": "function",
                    "function": {"name": "calculator", "arguments": json.dumps({"expression": f"{i}+2"})},
                }
            ],
        },
        {"role": "tool", "tool_call_id": f"call_{i}", "name": "calculator", "content": str(i + 2)},
        {"role": "assistant", "content": f"The answer is {i + 2}.\nDone."},
    ]
    turns = [
        Turn(
            message_index=2,
            reward=0.1,
            reward_components={"tool_valid": 1.0},
            tool_calls=1,
            finish_reason="tool_calls",
            prompt_token_ids=[1, 2, 3],
            completion_token_ids=[4, 5],
            logprobs=[-0.25, -1.5],
            usage={"prompt_tokens": 3, "completion_tokens": 2},
            policy_latency_s=0.01,
            env_latency_s=0.002,
        ),
        Turn(
            message_index=4,
            reward=-0.01,
            reward_components={"format": 0.0, "length_penalty": -0.01},
            finish_reason="stop",
        ),
    ]
    traj = Trajectory(
        id=f"task-{i}#0",
        run_id="run1",
        env_id="rftgym/MathTools-v0",
        task_id=f"task-{i}",
        group_id=f"task-{i}",
        sample_index=0,
        policy={
            "name": "chat",
            "model": "tiny",
            "base_url": "http://localhost:8000/v1",
            "sampling": {"temperature": 0.75, "max_tokens": 256},
            "weights_version": None,
        },
        messages=messages,
        tools=[CALCULATOR, SUBMIT] if i % 2 else [CALCULATOR, PING],
        turns=turns,
        outcome_reward=1.0,
        outcome_components={"correct": 1.0},
        reward=1.09,
        terminated=True,
        termination_reason="submitted",
        timings={"started_at": 1.7e9 + i, "duration_s": 0.5},
        metadata={"split": "test", "episode_seed": i},
    )
    for name, value in changes.items():
        setattr(traj, name, value)
    return traj


def errored_traj(i: int) -> Trajectory:
    return make_traj(
        i,
        turns=[],
        messages=make_traj(i).messages[:2],
        outcome_reward=0.0,
        outcome_components={},
        reward=0.0,
        terminated=False,
        termination_reason="error",
        error={"type": "PolicyError", "message": "endpoint down after 5 tries"},
    )


def write_lines(path: Path, lines: list[str | bytes], end: bytes = b"\n") -> Path:
    path.write_bytes(b"\n".join(x if isinstance(x, bytes) else x.encode() for x in lines) + end)
    return path


def line_of(traj: Trajectory | dict) -> str:
    data = traj.to_dict() if isinstance(traj, Trajectory) else traj
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


# ----- schema -----


def test_round_trip_to_dict_from_dict():
    traj = make_traj(3)
    data = traj.to_dict()
    assert list(data)[0] == "schema" and data["schema"] == SCHEMA
    data["turns"][0]["completion_token_ids"].append(9)  # a deep copy: the trajectory is untouched
    data["messages"][2]["tool_calls"][0]["id"] = "changed"
    assert traj == make_traj(3)
    data = traj.to_dict()
    assert Trajectory.from_dict(json.loads(json.dumps(data))) == traj
    assert Turn.from_dict(traj.turns[0].to_dict()) == traj.turns[0]


def test_to_dict_writes_floats_for_float_fields():
    turn = Turn(message_index=1, reward=1, reward_components={"ok": True, "n": 2}, env_latency_s=0)
    traj = make_traj(outcome_reward=1, reward=True, outcome_components={"correct": 1}, turns=[turn])
    data = traj.to_dict()
    assert data["reward"] == 1.0 and type(data["reward"]) is float
    assert type(data["outcome_reward"]) is float and type(data["outcome_components"]["correct"]) is float
    assert [type(v) for v in data["turns"][0]["reward_components"].values()] == [float, float]
    assert type(data["turns"][0]["message_index"]) is int


@pytest.mark.parametrize(
    "change, problem",
    [
        (lambda d: d.pop("reward"), "missing field(s): reward"),
        (lambda d: d.update(schema="other/2"), "schema is 'other/2', expected 'rftgym.trajectory/1'"),
        (lambda d: d.pop("schema"), "missing field 'schema'"),
        (lambda d: d.update(sample_index="0"), "sample_index: expected integer, got string '0'"),
        (lambda d: d.update(sample_index=True), "sample_index: expected integer, got boolean True"),
        (lambda d: d.update(tools={}), "tools: expected array of object, got object"),
        (lambda d: d["turns"][1].pop("message_index"), "missing field(s): turns[1].message_index"),
        (
            lambda d: d["turns"][0]["reward_components"].update(judge="high"),
            "turns[0].reward_components.judge: expected number, got string 'high'",
        ),
        (
            lambda d: d["turns"][0]["completion_token_ids"].append(1.5),
            "turns[0].completion_token_ids[2]: expected integer, got number 1.5",
        ),
        (
            lambda d: d["turns"][0].update(logprobs="x"),
            "turns[0].logprobs: expected array of number or null, got string 'x'",
        ),
        (lambda d: d.update(error="boom"), "error: expected object of string or null, got string 'boom'"),
        (lambda d: d.update(turns=[3]), "turns[0]: expected object, got integer 3"),
    ],
)
def test_from_dict_names_the_problem(change, problem):
    data = make_traj().to_dict()
    change(data)
    with pytest.raises(ValueError) as info:
        Trajectory.from_dict(data)
    assert str(info.value).startswith(problem)


def test_from_dict_accepts_ints_for_floats_and_ignores_unknown_fields():
    data = make_traj().to_dict() | {"reward": 1, "added_by_a_newer_writer": [1]}
    assert Trajectory.from_dict(data).reward == 1


# ----- writer -----


def test_writer_appends_whole_compact_lines_and_creates_folders(tmp_path):
    path = tmp_path / "runs" / "deep" / "out.jsonl"
    with TrajectoryWriter(path) as writer:
        writer.write(make_traj(0))
    with TrajectoryWriter(path) as writer:  # a second run appends
        writer.write(make_traj(1).to_dict())
        writer.write(errored_traj(2))
    raw = path.read_bytes()
    lines = raw.decode().splitlines()
    assert raw.endswith(b"\n") and len(lines) == 3
    assert lines[0] == line_of(make_traj(0))  # compact separators, non-ASCII as is
    assert "😀" in lines[0]
    assert [t.id for t in read_trajectories(path)] == ["task-0#0", "task-1#0", "task-2#0"]


def test_writer_uses_one_write_per_line_and_loops_on_short_writes(tmp_path, monkeypatch):
    calls = []
    real_write = os.write

    def short_write(fd, data):  # the OS takes at most 100 bytes at a time
        calls.append(len(data))
        return real_write(fd, bytes(data[:100]))

    path = tmp_path / "out.jsonl"
    with TrajectoryWriter(path) as writer:
        monkeypatch.setattr(os, "write", short_write)
        writer.write(make_traj(0))
        monkeypatch.undo()
    line = (line_of(make_traj(0)) + "\n").encode()
    assert path.read_bytes() == line
    assert calls[0] == len(line) and len(calls) == math.ceil(len(line) / 100)


def test_writer_removes_its_partial_line_when_a_write_fails(tmp_path, monkeypatch):
    real_write = os.write

    def disk_full_after_50_bytes(fd, data):
        if len(data) < 200:
            raise OSError(28, "No space left on device")
        return real_write(fd, bytes(data[:50]))

    path = tmp_path / "out.jsonl"
    with TrajectoryWriter(path) as writer:
        writer.write(make_traj(0))
        monkeypatch.setattr(os, "write", disk_full_after_50_bytes)
        with pytest.raises(OSError):
            writer.write(make_traj(1))
        monkeypatch.undo()
        writer.write(make_traj(2))
    assert validate_file(path) == (2, [])


def test_writer_refuses_non_finite_floats_and_bad_types_without_writing(tmp_path):
    path = tmp_path / "out.jsonl"
    bad_turn = Turn(message_index=2, reward_components={"judge": float("nan")})
    with TrajectoryWriter(path) as writer:
        nan_at = r"'task-0#0': turns\[0\]\.reward_components\.judge \(nan\) is not a finite number"
        with pytest.raises(ValueError, match=nan_at):
            writer.write(make_traj(0, turns=[bad_turn]))
        with pytest.raises(ValueError, match=r"outcome_reward \(-inf\) is not a finite"):
            writer.write(make_traj(0, outcome_reward=float("-inf")))
        with pytest.raises(ValueError, match=r"turns\[0\]\.completion_token_ids\[0\]: expected integer, got string"):
            writer.write(make_traj(0, turns=[Turn(message_index=2, completion_token_ids=["a"])]).to_dict())
        with pytest.raises(ValueError, match="missing field"):
            writer.write({"schema": SCHEMA, "id": "x"})
    assert path.read_bytes() == b""


def test_writer_drops_unknown_keys_of_dicts(tmp_path):
    path = tmp_path / "out.jsonl"
    with TrajectoryWriter(path) as writer:
        writer.write(make_traj(0).to_dict() | {"extra": 1})
    assert "extra" not in json.loads(path.read_text())


def test_resume_removes_a_cut_last_line(tmp_path):
    path = tmp_path / "out.jsonl"
    whole = line_of(make_traj(0)) + "\n" + line_of(make_traj(1)) + "\n"
    cut = line_of(make_traj(2))[:123]
    path.write_text(whole + cut)
    with pytest.raises(TrajectoryFileError, match=rf"^{path}:3: last line is cut short \(123 bytes"):
        TrajectoryWriter(path)
    assert path.read_text() == whole + cut  # untouched without resume
    with TrajectoryWriter(path, resume=True) as writer:
        assert writer.repaired_bytes == 123
        writer.write(make_traj(2))
    assert validate_file(path) == (3, [])
    with TrajectoryWriter(path, resume=True) as writer:  # a clean file is left alone
        assert writer.repaired_bytes == 0


def test_resume_of_a_file_holding_only_a_cut_line(tmp_path):
    path = tmp_path / "out.jsonl"
    path.write_text('{"schema":"rftgym.traj')
    with TrajectoryWriter(path, resume=True) as writer:
        assert writer.repaired_bytes == len('{"schema":"rftgym.traj')
    assert path.read_bytes() == b""


def test_kill_9_then_resume_keeps_every_line_whole(tmp_path):
    path, template = tmp_path / "out.jsonl", tmp_path / "template.json"
    traj = make_traj(0)
    traj.turns[0].prompt_token_ids = list(range(20000))  # ~100 kB lines: the kill may land mid-write
    template.write_text(json.dumps(traj.to_dict()))
    script = textwrap.dedent(f"""
        import json
        from rftgym.trajectories import TrajectoryWriter
        data = json.load(open({str(template)!r}))
        with TrajectoryWriter({str(path)!r}) as writer:
            for i in range(10**6):
                writer.write(data | {{"id": f"task#{{i}}"}})
    """)
    proc = subprocess.Popen([sys.executable, "-c", script])
    deadline = time.monotonic() + 30
    while (not path.exists() or path.stat().st_size < 2_000_000) and time.monotonic() < deadline:
        assert proc.poll() is None, "the writer process died on its own"
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = completed_ids(path)
    good, problems = validate_file(path)
    assert len(problems) <= 1 and all("last line is cut short" in p for p in problems)
    with TrajectoryWriter(path, resume=True) as writer:
        writer.write(make_traj(0))
    assert validate_file(path) == (good + 1, [])
    assert len(done) == good >= 10


# ----- readers -----


def test_bad_lines_are_named_by_file_and_line(tmp_path):
    good = make_traj(0).to_dict()
    wrong_type = make_traj(4).to_dict()
    wrong_type["turns"][0]["reward"] = "1"
    no_turns = make_traj(3).to_dict()
    del no_turns["turns"]
    path = write_lines(
        tmp_path / "bad.jsonl",
        [
            line_of(good),
            '{"schema": "rftgym.trajectory/1", "id": oops}',
            line_of(good | {"schema": "rftgym.trajectory/0", "id": "old"}),
            line_of(no_turns),
            line_of(wrong_type),
            "[1, 2]",
            "",
            line_of(make_traj(1)),
            b'{"schema": "\xff\xfe"}',
            '{"reward": NaN}',
            line_of(make_traj(2))[:80],
        ],
        end=b"",
    )
    expected = [
        f"{path}:2: not valid JSON: Expecting value (column 41)",
        f"{path}:3: schema is 'rftgym.trajectory/0', expected 'rftgym.trajectory/1'",
        f"{path}:4: missing field(s): turns",
        f"{path}:5: turns[0].reward: expected number, got string '1'",
        f"{path}:6: expected a JSON object, got array",
        f"{path}:9: not valid UTF-8 (invalid start byte at byte 12)",
        f"{path}:10: not valid JSON: NaN is not a JSON value",
        f"{path}:11: last line is cut short (no final newline, 80 bytes): "
        "not valid JSON: Unterminated string starting at (column 74)",
    ]
    with pytest.raises(TrajectoryFileError) as info:
        list(read_trajectories(path))
    assert str(info.value) == expected[0]
    assert [t.id for t in read_trajectories(path, errors="skip")] == ["task-0#0", "task-1#0"]
    assert validate_file(path) == (2, expected)
    with pytest.raises(TrajectoryFileError, match=f"^{path}:2: not valid JSON"):
        completed_ids(path)


def test_reader_streams_good_lines_before_a_bad_one(tmp_path):
    path = write_lines(tmp_path / "out.jsonl", [line_of(make_traj(0)), "garbage"])
    reader = read_trajectories(path)
    assert next(reader).id == "task-0#0"
    with pytest.raises(TrajectoryFileError, match=":2: not valid JSON"):
        next(reader)


def test_reader_rejects_an_unknown_errors_mode(tmp_path):
    with pytest.raises(ValueError, match="errors must be one of"):
        list(read_trajectories(tmp_path / "x.jsonl", errors="ignore"))


def test_validate_file_flags_duplicate_ids(tmp_path):
    path = write_lines(
        tmp_path / "dup.jsonl",
        [line_of(make_traj(0)), line_of(make_traj(1)), "", line_of(make_traj(0)), line_of(make_traj(0))],
    )
    assert validate_file(path) == (
        2,
        [
            f"{path}:4: duplicate episode id task-0#0 (first at line 1)",
            f"{path}:5: duplicate episode id task-0#0 (first at line 1)",
        ],
    )


def test_completed_ids(tmp_path):
    path = tmp_path / "out.jsonl"
    assert completed_ids(path) == set()
    path.write_text(line_of(make_traj(0)) + "\n" + line_of(errored_traj(1)) + "\n" + line_of(make_traj(2))[:50])
    assert completed_ids(path) == {"task-0#0"}  # an errored episode is played again on resume
    replays = [make_traj(0), errored_traj(1), make_traj(1), errored_traj(0)]
    path.write_text("".join(line_of(t) + "\n" for t in replays))
    assert completed_ids(path) == {"task-1#0"}  # the LAST line of an id is its result
    latest = list(read_trajectories(path, errors="skip", latest_only=True))
    assert [(t.id, t.error is None) for t in latest] == [("task-1#0", True), ("task-0#0", False)]


def test_a_line_cut_inside_a_character_is_a_cut_line(tmp_path):
    path = tmp_path / "out.jsonl"
    line = line_of(make_traj(0)).encode()
    cut = line[: line.index("😀".encode()) + 2]  # two of the emoji's four bytes
    path.write_bytes(line + b"\n" + cut)
    assert completed_ids(path) == {"task-0#0"}
    assert validate_file(path)[1] == [
        f"{path}:2: last line is cut short (no final newline, {len(cut)} bytes): "
        f"not valid UTF-8 (unexpected end of data at byte {len(cut) - 2})"
    ]
    with TrajectoryWriter(path, resume=True) as writer:
        assert writer.repaired_bytes == len(cut)


# ----- Hugging Face datasets -----


def realistic_file(path: Path, n: int = 12) -> Path:
    """Episodes whose shapes vary from line to line the way real runs do."""
    with TrajectoryWriter(path) as writer:
        for i in range(n):
            traj = errored_traj(i) if i % 4 == 3 else make_traj(i)
            if i % 3 == 1:  # no token ids or logprobs from this endpoint, and a component set of its own
                traj.turns = [
                    Turn(
                        message_index=2,
                        reward=0.5,
                        reward_components={"judge": 0.5},
                        tool_calls=2,
                        tool_errors={"invalid_json": 1},
                    )
                ]
            writer.write(traj)
    return path


def test_datasets_reads_the_files_as_they_are(tmp_path):
    datasets = pytest.importorskip("datasets")
    path = realistic_file(tmp_path / "out.jsonl")
    ds = datasets.load_dataset("json", data_files=str(path), split="train", cache_dir=str(tmp_path / "cache"))
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(ds) == len(rows)
    for row, expected in zip(ds, rows):
        assert row == expected


def test_hf_features_read_files_whose_first_chunk_is_not_typical(tmp_path):
    datasets = pytest.importorskip("datasets")
    path = tmp_path / "out.jsonl"
    with TrajectoryWriter(path) as writer:
        for i in range(6):  # the first error and a new component come late in the file
            writer.write(make_traj(i))
        writer.write(errored_traj(6))
        writer.write(make_traj(7, turns=[Turn(message_index=2, reward_components={"late": 0.5})]))
    ds = datasets.load_dataset(
        "json",
        data_files=str(path),
        split="train",
        features=hf_features(),
        chunksize=4000,
        cache_dir=str(tmp_path / "cache"),
    )
    assert ds[6]["error"] == {"type": "PolicyError", "message": "endpoint down after 5 tries"}
    assert ds[0]["error"] is None
    assert ds[7]["turns"][0]["reward_components"] == {"late": 0.5}
    assert ds[0]["messages"] == make_traj(0).messages
    assert [Trajectory.from_dict(row).id for row in ds] == [f"task-{i}#0" for i in range(8)]
