"""``rftgym/CodeSandbox-v0``: write a Python function, trying code in a Docker sandbox along the way."""

from __future__ import annotations

import json
import re

import gymnasium

from rftgym.envs.code.grading import Grade, grade
from rftgym.envs.code.tasks import SOURCES, bundled_tasks, humaneval_tasks
from rftgym.envs.core import ChatEnv
from rftgym.envs.tools import tool
from rftgym.rewards import RewardTerm, Rubric, tool_call_errors, unit_test_pass_rate
from rftgym.sandbox import DEFAULT_IMAGE, ExecResult, Sandbox, SandboxDied, SandboxPool, shared_pool
from rftgym.types import Message, Task, ToolResult, assistant_message, message_text, tool_call

SYSTEM_PROMPT = """You write Python functions. You have a Python sandbox (no network, a few seconds per run):
- run_python(code): runs code in your persistent Python session (variables and functions survive \
between calls) and returns its output, errors and the value of a last bare expression.
- run_tests(): checks the function as currently defined in your session against the visible examples.
- submit(code): submits your final, complete code (imports and helpers included). This ends the task; \
hidden tests decide the score.
You may instead end with a reply without tool calls that contains the final code in a ```python block."""

_FENCED = re.compile(r"```(?:python3?|py)?[ \t]*\n(.*?)```", re.S)


class CodeSandboxEnv(ChatEnv):
    """Write a Python function with a sandboxed REPL; graded by hidden tests in a fresh container.

    Tasks: ``task_source="bundled"`` (40 problems written for rftgym, train and test splits) or
    ``"humaneval"`` (the 164 HumanEval problems, split ``test``). The model tries code with
    ``run_python`` in the episode's own sandbox (a persistent interpreter), checks the visible
    examples with ``run_tests`` and ends with ``submit`` or a final reply holding a python block.

    Reward components (its ``rubric``):

    * per turn ``invalid_tool_calls`` (-0.1 each): malformed tool calls (bad JSON, unknown tool,
      bad arguments, a second submission).
    * per turn ``execution_errors`` (-0.02 each): ``run_python`` runs that raised, timed out or hit
      a limit.
    * outcome ``tests_passed`` (1.0): the fraction of hidden tests the submission passes, graded
      in a fresh sandbox (:mod:`rftgym.envs.code.grading`); 0 without a submission.
    """

    worker_resources = {"docker": 1.0}  # on a cluster, its workers need a node with a Docker engine
    rubric = Rubric(
        [
            RewardTerm("invalid_tool_calls", tool_call_errors(), weight=-0.1),
            RewardTerm("execution_errors", lambda ctx: float(ctx.env.turn_failed_runs), weight=-0.02, needs_env=True),
            RewardTerm("tests_passed", unit_test_pass_rate(lambda ctx: ctx.env.grade), scope="outcome", needs_env=True),
        ]
    )

    def __init__(
        self,
        max_turns: int = 8,
        task_source: str = "bundled",
        image: str = DEFAULT_IMAGE,
        exec_timeout: float = 10.0,
        test_timeout: float = 5.0,
        pool_size: int = 2,
        render_mode: str | None = None,
    ):
        """Args:
        max_turns: Assistant turns before the episode is truncated.
        task_source: ``"bundled"`` or ``"humaneval"``.
        image: Sandbox image (build it with ``rftgym sandbox build-image``).
        exec_timeout: Wall-clock seconds one ``run_python`` may take.
        test_timeout: Seconds one call of the submitted function may take in grading.
        pool_size: Warm sandboxes kept ready for the process's episodes (shared by its envs).
        render_mode: ``None`` or ``"ansi"``.
        """
        if task_source not in SOURCES:
            raise ValueError(f"task_source must be one of {list(SOURCES)}, got {task_source!r}")
        super().__init__(max_turns=max_turns, render_mode=render_mode)
        self.task_source, self.image = task_source, image
        self.exec_timeout, self.test_timeout, self.pool_size = exec_timeout, test_timeout, pool_size
        self.splits = ("train", "test") if task_source == "bundled" else ("test",)
        self.sandbox: Sandbox | None = None
        self.submission: str | None = None
        self.grade: Grade | None = None
        self._failed_runs = 0  # run_python failures so far this turn
        self.turn_failed_runs = 0  # those of the last finished turn (a reward component)

    # ----- tasks -----

    def tasks(self, split: str = "train", num_tasks: int | None = None) -> list[Task]:
        if split not in self.splits:
            raise ValueError(f"unknown split {split!r}; {self.task_source} tasks have {list(self.splits)}")
        every = bundled_tasks() if self.task_source == "bundled" else humaneval_tasks()
        return [t for t in every if t.split == split][:num_tasks]

    # ----- episode -----

    @property
    def pool(self) -> SandboxPool:
        return shared_pool(self.image, self.pool_size)

    def system_prompt(self, task: Task) -> str:
        return SYSTEM_PROMPT

    def setup(self, task: Task) -> None:
        self._drop_sandbox()
        self.submission, self.grade = None, None
        self._failed_runs = self.turn_failed_runs = 0

    def close(self) -> None:
        self._drop_sandbox()

    def _drop_sandbox(self) -> None:
        if self.sandbox is not None:
            self.pool.release(self.sandbox)
            self.sandbox = None

    def _run(self, code: str) -> ExecResult:
        """Run code in the episode's sandbox (started on first use). A sandbox whose supervisor
        died (the code killed it) is replaced and the failure reported as the code's."""
        if self.sandbox is None:
            self.sandbox = self.pool.acquire()
        try:
            return self.sandbox.run(code, timeout=self.exec_timeout)
        except SandboxDied as e:
            self._drop_sandbox()
            return ExecResult(exception=f"the sandbox died ({e}); a fresh one is used from now on", restarted=True)

    @tool
    def run_python(self, code: str) -> str:
        """Run Python code in your persistent session and return what it printed, any error, and
        the value of a last bare expression.

        Args:
            code: Python source, e.g. "def f(x):\\n    return x + 1\\nf(2)".
        """
        result = self._run(code)
        if not result.ok:
            self._failed_runs += 1
        return tool_text(result, self.exec_timeout)

    @tool
    def run_tests(self) -> str:
        """Check the function as currently defined in your session against the task's visible examples."""
        examples = self._task().metadata["examples"]
        if not examples:
            return "This task has no visible examples; test your function with run_python."
        result = self._run(_EXAMPLES_CHECK + f"\n__rftgym_check({json.dumps(examples)})")
        return tool_text(result, self.exec_timeout)

    @tool
    def submit(self, code: str) -> str:
        """Submit your final code (the complete function, with its imports and helpers). This ends the task.

        Args:
            code: The full Python source of your solution.
        """
        if self.submission is not None:
            raise ValueError("a solution was already submitted")
        self.submission = code
        return "Submitted; the hidden tests will grade it."

    def react(self, message: Message, results: list[ToolResult]) -> tuple[list[Message], str | None]:
        self.turn_failed_runs, self._failed_runs = self._failed_runs, 0
        reason = None
        if self.submission is not None:
            reason = "submitted"
        elif not message.get("tool_calls"):
            blocks = _FENCED.findall(message_text(message))
            self.submission = blocks[-1] if blocks else None
            reason = "final_answer"
        if self.submission is not None:  # graded here, outside the tools: an engine failure is the episode's error
            task = self._task()
            self.grade = grade(
                self.pool,
                self.submission,
                task.answer["tests"],
                task.metadata["entry_point"],
                task.metadata["context"],
                call_timeout=self.test_timeout,
            )
        if reason:
            self._drop_sandbox()
        return [], reason

    def _task(self) -> Task:
        """The episode's task (the tools and ``react`` run only within an episode)."""
        if self.task is None:
            raise gymnasium.error.ResetNeeded("call reset() before step()")
        return self.task

    # ----- reference solution -----

    def oracle_action(self, task: Task, messages: list[Message]) -> Message:
        """Submit the task's reference solution (whatever the conversation so far)."""
        return assistant_message(None, [tool_call("submit", {"code": task.solution})])


# Runs in the model's own session, so it sees the function as the model last defined it.
_EXAMPLES_CHECK = """
def __rftgym_check(examples):
    passed = 0
    for i, (call, expected) in enumerate(examples, 1):
        try:
            got = eval(call)
        except Exception as e:
            print(f"example {i}: ERROR  {call} raised {type(e).__name__}: {e}")
            continue
        want = eval(expected)
        if got == want:
            passed += 1
            print(f"example {i}: PASS   {call} == {want!r}")
        else:
            print(f"example {i}: FAIL   {call} returned {got!r}, expected {want!r}")
    print(f"{passed}/{len(examples)} examples passed")
"""


def tool_text(result: ExecResult, timeout: float) -> str:
    """An execution result as the tool message the model reads."""
    parts = []
    if result.stdout:
        parts.append(result.stdout.rstrip("\n"))
    if result.stderr:
        parts.append("stderr:\n" + result.stderr.rstrip("\n"))
    if result.exception:
        parts.append(result.exception.rstrip("\n"))
    if result.timed_out:
        parts.append(f"Timed out after {timeout:g}s: every process was killed.")
    elif result.oom_killed:
        parts.append("Killed: out of memory.")
    elif result.cpu_limited:
        parts.append("Killed: CPU time limit reached.")
    elif result.exit_code:
        parts.append(f"The interpreter exited with status {result.exit_code}.")
    if result.restarted:
        parts.append("The Python session was restarted: earlier variables and functions are gone.")
    return "\n".join(parts) or "(no output)"
