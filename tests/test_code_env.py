"""rftgym/CodeSandbox-v0 on the real Docker engine: tools, grading, task sources, hostile submissions."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import gymnasium
import pytest
from conftest import default_sigint, oracle_policy, read_lines

from rftgym.agents import OraclePolicy
from rftgym.rollout import rollout
from rftgym.sandbox import connect
from rftgym.sandbox.reaper import LABEL, OWNER, containers
from rftgym.types import Message, Task, assistant_message, tool_call

CODE = "rftgym/CodeSandbox-v0"
GCD = "def gcd(a, b):\n    while b:\n        a, b = b, a % b\n    return a\n"


def call(name: str, **arguments) -> Message:
    return assistant_message(None, [tool_call(name, arguments, f"c-{name}")])


@pytest.fixture
def env():
    env = gymnasium.make(CODE).unwrapped
    yield env
    env.close()


def wrong_submission(task: Task, messages: list[Message]) -> Message:
    """Submits a function of the right name whose answer is always wrong."""
    name = task.metadata["entry_point"]
    return call("submit", code=f"def {name}(*args):\n    return 'not an answer'\n")


WRONG_POLICY = OraclePolicy(wrong_submission)  # plays a known task, like the oracle


def outcomes(path) -> list[float]:
    lines = read_lines(path)
    assert all(line["error"] is None for line in lines), [line["error"] for line in lines if line["error"]]
    return [line["outcome_reward"] for line in lines]


def test_bundled_tasks_have_splits_examples_and_hidden_tests(env):
    train, test = env.tasks("train"), env.tasks("test")
    assert (len(train), len(test)) == (30, 10) and not {t.id for t in train} & {t.id for t in test}
    for task in train + test:
        assert len(task.metadata["examples"]) >= 2 and len(task.answer["tests"]) >= 3
        assert task.metadata["entry_point"] in task.prompt
    assert len(gymnasium.make(CODE, task_source="humaneval").unwrapped.tasks("test")) == 164
    with pytest.raises(ValueError, match="task_source must be one of"):
        gymnasium.make(CODE, task_source="mbpp")


@pytest.mark.parametrize("split", ["train", "test"])
def test_reference_solutions_score_1_and_wrong_ones_0_on_bundled_tasks(tmp_path, split):
    rollout(CODE, oracle_policy(CODE), tmp_path / "oracle.jsonl", split=split, concurrency=4, progress=False)
    rollout(CODE, WRONG_POLICY, tmp_path / "wrong.jsonl", split=split, concurrency=4, progress=False)
    assert set(outcomes(tmp_path / "oracle.jsonl")) == {1.0}
    assert set(outcomes(tmp_path / "wrong.jsonl")) == {0.0}


def test_every_humaneval_canonical_solution_scores_1_and_a_wrong_one_0(tmp_path):
    kwargs = {"env_kwargs": {"task_source": "humaneval", "pool_size": 4}, "concurrency": 6, "progress": False}
    rollout(CODE, oracle_policy(CODE), tmp_path / "oracle.jsonl", **kwargs)
    scores = outcomes(tmp_path / "oracle.jsonl")
    assert len(scores) == 164 and set(scores) == {1.0}
    # Wrong code on every fourth problem keeps the suite short; all 164: `--policy` run in the README.
    every_fourth = [f"HumanEval/{i}" for i in range(0, 164, 4)]
    rollout(CODE, WRONG_POLICY, tmp_path / "wrong.jsonl", task_ids=every_fourth, **kwargs)
    assert set(outcomes(tmp_path / "wrong.jsonl")) == {0.0}


def test_a_multi_turn_episode_with_the_persistent_session(env):
    messages, info = env.reset(options={"task": "code-gcd"})
    assert {t["function"]["name"] for t in info["tools"]} == {"run_python", "run_tests", "submit"}
    obs, reward, *_ = env.step(call("run_python", code="def gcd(a, b):\n    return a * b\ngcd(12, 18)"))
    assert obs[0]["content"] == "216" and reward == 0.0
    obs, *_ = env.step(call("run_tests"))
    assert (
        "FAIL   gcd(12, 18) returned 216, expected 6" in obs[0]["content"]
        and "0/2 examples passed" in obs[0]["content"]
    )
    obs, reward, _, _, info = env.step(call("run_python", code="gcd(1)"))
    assert "TypeError" in obs[0]["content"] and info["reward_components"]["execution_errors"] == 1.0
    assert reward == pytest.approx(-0.02)
    env.step(call("run_python", code=GCD))
    obs, *_ = env.step(call("run_tests"))
    assert "2/2 examples passed" in obs[0]["content"]
    final = {"role": "assistant", "content": f"Here it is:\n```python\n{GCD}```"}
    obs, reward, terminated, truncated, info = env.step(final)
    assert terminated and not truncated and info["termination_reason"] == "final_answer"
    assert info["outcome_components"] == {"tests_passed": 1.0} and reward == 1.0


def test_a_final_reply_without_code_scores_0_and_bad_calls_are_counted(env):
    env.reset(options={"task": "code-gcd"})
    obs, reward, terminated, _, info = env.step(call("submit"))
    assert not terminated and info["tool_errors"] == {"invalid_arguments": 1} and reward == pytest.approx(-0.1)
    obs, reward, terminated, _, info = env.step({"role": "assistant", "content": "I give up."})
    assert terminated and info["outcome_components"] == {"tests_passed": 0.0}


def test_partial_credit_is_the_fraction_of_hidden_tests_passed(env):
    env.reset(options={"task": "code-gcd"})  # hidden: (0, 0) -> 0, (0, 9) -> 9, (270, 192) -> 6, (10**9+7, 1) -> 1
    wrong_on_zeros = "def gcd(a, b):\n    import math\n    return math.gcd(a, b) if a else -1\n"
    *_, info = env.step(call("submit", code=wrong_on_zeros))
    assert info["outcome_components"] == {"tests_passed": 0.5}


def test_a_killed_supervisor_is_replaced_with_a_fresh_session(env):
    env.reset(options={"task": "code-gcd"})
    env.step(call("run_python", code="x = 1"))
    obs, *_ = env.step(call("run_python", code="import os, signal\nos.kill(os.getppid(), signal.SIGKILL)"))
    assert "the sandbox died" in obs[0]["content"]
    obs, *_ = env.step(call("run_python", code="'x' in globals()"))
    assert obs[0]["content"] == "False"


WRONG = "def gcd(a, b):\n    return -1\n"
ATTACKS = {
    "sys.exit(0) before the tests": "import sys\nsys.exit(0)\n" + GCD,
    "os._exit(0) before the tests": "import os\nos._exit(0)\n" + GCD,
    "__eq__ that is always true": "class Yes(int):\n    def __eq__(self, other):\n        return True\n"
    "    __hash__ = int.__hash__\ndef gcd(a, b):\n    return Yes(0)\n",
    "patched assert and builtins": "import builtins\nbuiltins.AssertionError = type('Nope', (Exception,), {})\n"
    "builtins.isinstance = lambda *a: True\n" + WRONG,
    "printed fake success": "print('PASSED all tests')\nprint('{\"failures\": [null, null, null, null]}')\n" + WRONG,
    "deleted and rewritten tests": "import os, glob\nfor p in glob.glob('/work/*') + glob.glob('/work/.*'):\n"
    "    try:\n        open(p, 'w').write('{}')\n        os.remove(p)\n"
    "    except OSError:\n        pass\n" + WRONG,
    "a function that never returns": "def gcd(a, b):\n    while True:\n        pass\n",
    "a module that never loads": "while True:\n    pass\n",
    "killing the grader": "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\n" + GCD,
    "killing every process": "import os, signal\nos.kill(-1, signal.SIGKILL)\n" + GCD,
    "forging a verdict from other processes": (
        "import os, re\nfor pid in os.listdir('/proc'):\n    if pid.isdigit():\n        for part in ('cmdline', 'environ', 'mem'):\n"
        "            try:\n                data = open(f'/proc/{pid}/{part}', 'rb').read(1 << 20)\n"
        "            except OSError:\n                continue\n"
        "            for token in set(re.findall(rb'[0-9a-f]{32}', data)):\n"
        "                for fd in ('/proc/1/fd/1', f'/proc/{os.getppid()}/fd/1'):\n"
        "                    try:\n                        open(fd, 'wb').write(token + b'{\"failures\": [null, null, null, null]}\\n')\n"
        "                    except OSError:\n                        pass\n" + WRONG
    ),
}


@pytest.mark.parametrize("attack", list(ATTACKS))
def test_hostile_submissions_score_0(attack):
    env = gymnasium.make(CODE, test_timeout=1.0).unwrapped
    env.reset(options={"task": "code-gcd"})
    *_, terminated, _, info = env.step(call("submit", code=ATTACKS[attack]))
    env.close()
    assert terminated and info["outcome_components"] == {"tests_passed": 0.0}


def start_rollout(out) -> subprocess.Popen:
    """A HumanEval oracle rollout as a user runs it, once it has written 3 episodes."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "rftgym",
            "rollout",
            CODE,
            "--policy",
            "oracle",
            "--env-arg",
            "task_source=humaneval",
            "--concurrency",
            "4",
            "--out",
            str(out),
            "--no-progress",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=default_sigint,
    )
    end = time.monotonic() + 60
    while not (out.exists() and out.read_text().count("\n") >= 3) and time.monotonic() < end:
        time.sleep(0.1)
    return proc


def test_kill_9_of_a_rollout_leaves_no_container(tmp_path):
    out = tmp_path / "killed.jsonl"
    proc = start_rollout(out)
    mine = lambda: [c for c in containers(connect(), LABEL) if f":{proc.pid}:" in c["Labels"][OWNER]]  # noqa: E731
    assert mine(), "the rollout had no sandbox running"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    end = time.monotonic() + 30
    while mine() and time.monotonic() < end:
        time.sleep(0.2)
    assert not mine()


def test_ctrl_c_of_a_rollout_removes_its_containers_before_it_exits(tmp_path):
    out = tmp_path / "interrupted.jsonl"
    proc = start_rollout(out)
    owner = f":{proc.pid}:"
    assert any(owner in c["Labels"][OWNER] for c in containers(connect(), LABEL))
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=60) == 130
    assert not [c for c in containers(connect(), LABEL) if owner in c["Labels"][OWNER]]
    assert len(read_lines(out)) >= 3


def test_without_docker_episodes_are_recorded_with_the_error(tmp_path):
    out = tmp_path / "nodocker.jsonl"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "rftgym",
            "rollout",
            CODE,
            "--policy",
            "oracle",
            "--num-tasks",
            "2",
            "--out",
            str(out),
            "--no-progress",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "DOCKER_HOST": "unix:///nonexistent/docker.sock"},
    )
    assert done.returncode == 1 and "every episode failed; the first: DockerUnavailable" in done.stderr, done.stderr
    errors = [line["error"] for line in read_lines(out)]
    assert len(errors) == 2 and all(e["type"] == "DockerUnavailable" and "dockerd" in e["message"] for e in errors)
