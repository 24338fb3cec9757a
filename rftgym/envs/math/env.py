"""``rftgym/MathTools-v0``: arithmetic word problems solved with a calculator tool."""

from __future__ import annotations

from rftgym.envs.core import ChatEnv
from rftgym.envs.math import problems
from rftgym.envs.math.calculator import calculate
from rftgym.envs.tools import tool
from rftgym.rewards.answers import extract_answer
from rftgym.rewards.rubric import RewardContext, RewardTerm, Rubric
from rftgym.rewards.terms import numeric_match, tool_call_errors
from rftgym.types import Message, Task, ToolResult, assistant_message, tool_call

SYSTEM_PROMPT = """You solve arithmetic word problems step by step.

You have two tools:
- calculator(expression): evaluates an arithmetic expression such as "12 * (3.5 + 2) / 4" and returns \
the result. It knows + - * / // % **, parentheses and round, abs, min, max, sqrt. Write plain numbers \
(no $ signs, units or thousands separators). Use it for every calculation.
- submit_answer(answer): submits your final answer as a number. This ends the task.

You may instead give the final answer as a message without tool calls that ends with a line \
"#### <number>", for example "#### 42.5"."""

# How many train problems reset() draws from when no task is given (ids stay five digits).
TRAIN_POOL = 100_000
# What submit_answer tells the model; the answer follows (rewards read it back from the transcript).
SUBMITTED = "Answer submitted: "


def episode_answer(ctx: RewardContext) -> str | None:
    """The episode's answer, read from the transcript (so rescoring a file needs no env): the
    last accepted ``submit_answer`` argument, else the text of a final message without tool calls."""
    for message in reversed(ctx.messages):
        if (
            message.get("role") == "tool"
            and message.get("name") == "submit_answer"
            and str(message.get("content")).startswith(SUBMITTED)
        ):
            return str(message["content"])[len(SUBMITTED) :]
    last = ctx.assistant_message
    return ctx.response if last is not None and not last.get("tool_calls") else None


def format_violation(ctx: RewardContext) -> float:
    """1.0 when the turn neither calls a tool nor gives an answer from which a number can be read."""
    message = ctx.assistant_message or {}
    return float(not message.get("tool_calls") and extract_answer(ctx.response) is None)


RUBRIC = Rubric(
    [
        RewardTerm("invalid_tool_calls", tool_call_errors(), weight=-0.1),
        RewardTerm("format_violation", format_violation, weight=-0.05),
        RewardTerm("answer_correct", numeric_match(response=episode_answer), scope="outcome"),
    ]
)


class MathToolsEnv(ChatEnv):
    """Multi-step arithmetic word problems with a calculator tool.

    Each episode is one generated word problem (:mod:`rftgym.envs.math.problems`). The model calls
    ``calculator`` as often as it likes and ends the episode with ``submit_answer`` or a plain-text
    reply (its final answer, best ending with ``#### <number>``).

    Reward components (the terms of :data:`RUBRIC`, weights in parentheses):

    * per turn ``invalid_tool_calls`` (-0.1 each): the turn's malformed tool calls (bad JSON,
      unknown tool, bad arguments, a calculator error such as division by zero).
    * per turn ``format_violation`` (-0.05): the turn neither calls a tool nor gives a final answer
      from which a number can be read.
    * outcome ``answer_correct`` (1.0): the answer equals the reference (GSM8K-style number matching).

    A clean, correct episode returns exactly 1.0.
    """

    rubric = RUBRIC

    def __init__(self, max_turns: int = 8, difficulty: int | None = None, render_mode: str | None = None):
        """Args:
        max_turns: Assistant turns before the episode is truncated.
        difficulty: 1, 2 or 3 to pose only problems of that level; None mixes all three.
        render_mode: ``None`` or ``"ansi"``.
        """
        if difficulty is not None and difficulty not in problems.LEVELS:
            raise ValueError(f"difficulty must be one of {list(problems.LEVELS)} or None, got {difficulty!r}")
        super().__init__(max_turns=max_turns, render_mode=render_mode)
        self.difficulty = difficulty
        self.answer: str | None = None

    # ----- tasks -----

    def tasks(self, split: str = "train", num_tasks: int | None = None) -> list[Task]:
        """``test``: the fixed test problems (of ``difficulty`` when set); ``train``: the first
        ``num_tasks`` (default 1000) generated train problems."""
        if split == "test":
            fixed = problems.fixed_test_tasks()
            if self.difficulty is not None:
                fixed = [t for t in fixed if t.metadata["difficulty"] == self.difficulty]
            return fixed[:num_tasks]
        if split == "train":
            return [problems.generate("train", i, self.difficulty) for i in range(num_tasks or 1000)]
        raise ValueError(f"unknown split {split!r}; {type(self).__name__} has {list(self.splits)}")

    def task_by_id(self, task_id: str) -> Task:
        """The problem named by ``task_id`` (``math-test-00042``, ``math-train-00007-d3``), generated directly."""
        try:
            return problems.generate(*problems.parse_task_id(task_id))
        except (ValueError, IndexError) as e:
            raise KeyError(f"{type(self).__name__} has no task {task_id!r}: {e}") from None

    def sample_task(self) -> Task:
        """A train problem drawn with the env's seeded RNG."""
        index = int(self.np_random.integers(TRAIN_POOL))
        return problems.generate("train", index, self.difficulty)

    # ----- episode -----

    def system_prompt(self, task: Task) -> str:
        return SYSTEM_PROMPT

    def setup(self, task: Task) -> None:
        self.answer = None

    @tool
    def calculator(self, expression: str) -> str:
        """Evaluate an arithmetic expression and return the result.

        Args:
            expression: Numbers with + - * / // % ** and parentheses, and the functions round, abs,
                min, max and sqrt, e.g. "12 * (3.5 + 2) / 4".
        """
        return calculate(expression)

    @tool
    def submit_answer(self, answer: str | float) -> str:
        """Submit the final answer to the problem. This ends the task.

        Args:
            answer: The final answer as a number, e.g. 42 or "1234.5".
        """
        answer = str(answer)  # models send numbers as often as strings; both are fine
        if self.answer is not None:
            raise ValueError(f"an answer was already submitted ({self.answer})")
        if extract_answer(answer) is None:
            # Rejected rather than recorded: the episode goes on and the model can fix it.
            raise ValueError(f"the answer must contain a number, got {answer!r}")
        self.answer = answer
        return SUBMITTED + answer

    def react(self, message: Message, results: list[ToolResult]) -> tuple[list[Message], str | None]:
        if self.answer is not None:
            return [], "submitted"
        if not message.get("tool_calls"):
            content = message.get("content")
            self.answer = content if isinstance(content, str) else None
            return [], "final_answer"
        return [], None

    # ----- reference solution -----

    def oracle_action(self, task: Task, messages: list[Message]) -> Message:
        """The next step of the task's solution: one calculator call per step, then the submission."""
        steps = task.solution
        done = sum(
            1
            for m in messages
            if m["role"] == "tool" and m.get("name") == "calculator" and not str(m["content"]).startswith("Error")
        )
        call_id = f"call_{sum(m['role'] == 'assistant' for m in messages)}"  # reproducible transcripts
        if done < len(steps):
            call = tool_call("calculator", {"expression": steps[done]["expression"]}, call_id)
        else:
            call = tool_call("submit_answer", {"answer": str(task.answer)}, call_id)
        return assistant_message(None, [call])
