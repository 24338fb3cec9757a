"""``rftgym/Wordle-v0``: a strategy game, multi-turn, with feedback every turn.

The model guesses the hidden word with the ``guess(word)`` tool, or by replying with the word
alone (``crane`` or ``guess: crane``). Each guess is answered with its feedback, one mark a letter:
``G`` right letter in the right spot, ``Y`` in the word elsewhere, ``-`` not in the word (Wordle's
rules for repeated letters). Any five ASCII letters are a valid guess (the bundled list is small,
so real words outside it are not refused). Six guesses at most.

Every score is read from the transcript's feedback lines, so ``rftgym rescore`` recomputes all of them.
"""

from __future__ import annotations

import re

from rftgym.envs.core import ChatEnv
from rftgym.envs.tools import tool
from rftgym.envs.wordle.words import WORDS
from rftgym.rewards.rubric import RewardContext, RewardTerm, Rubric
from rftgym.types import Message, Task, ToolResult, assistant_message, tool_call

MAX_GUESSES = 6
SYSTEM_PROMPT = f"""Let's play Wordle. Find the hidden five-letter English word in at most {MAX_GUESSES} guesses.
Guess by calling guess(word), or by replying with the word alone (e.g. "crane").
After each guess you get one mark per letter: G = right letter, right spot; Y = in the word, \
wrong spot; - = not in the word."""
_FEEDBACK = re.compile(r"^Feedback for ([A-Z]{5}): ([GY-]{5})", re.MULTILINE)
_TEXT_GUESS = re.compile(r"^\W*(?:guess\s*:\s*)?([A-Za-z]{5})\W*$", re.IGNORECASE)


def feedback(guess: str, answer: str) -> str:
    """Wordle's marks for ``guess`` against ``answer``: ``G``/``Y``/``-`` per letter. A repeated
    letter is marked ``Y`` only as often as the answer holds it beyond its greens."""
    guess, answer = guess.lower(), answer.lower()
    marks = ["G" if g == a else "-" for g, a in zip(guess, answer, strict=True)]
    left = [a for g, a in zip(guess, answer, strict=True) if g != a]
    for i, g in enumerate(guess):
        if marks[i] == "-" and g in left:
            marks[i] = "Y"
            left.remove(g)
    return "".join(marks)


def played(messages: list[Message]) -> list[tuple[str, str]]:
    """The (guess, marks) pairs the env answered so far, in order."""
    found: list[tuple[str, str]] = []
    for m in messages:
        if m.get("role") in ("tool", "user") and isinstance(m.get("content"), str):
            found += _FEEDBACK.findall(str(m["content"]))
    return found


def _turn_feedback(ctx: RewardContext) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """The guesses before this turn and those this turn made."""
    last = max(i for i, m in enumerate(ctx.messages) if m.get("role") == "assistant")
    return played(ctx.messages[:last]), played(ctx.messages[last:])


def invalid_turn(ctx: RewardContext) -> float:
    """Turn: 1.0 when the turn made no valid guess."""
    return float(not _turn_feedback(ctx)[1])


def new_greens(ctx: RewardContext) -> float:
    """Turn: the share of the five spots this turn's guess fixed for the first time (0 on the
    solving guess, which the outcome pays for)."""
    before, now = _turn_feedback(ctx)
    if not now or now[-1][1] == "GGGGG":
        return 0.0
    known = {i for _, marks in before for i, c in enumerate(marks) if c == "G"}
    return len({i for _, marks in now for i, c in enumerate(marks) if c == "G"} - known) / 5


def solved(ctx: RewardContext) -> float:
    """Outcome: 1.0 when a guess was the word."""
    return float(any(marks == "GGGGG" for _, marks in played(ctx.messages)))


def speed(ctx: RewardContext) -> float:
    """Outcome: 1.0 for a solve in one guess, down to 0 in six (0 when unsolved)."""
    guesses = played(ctx.messages)
    return (MAX_GUESSES - len(guesses)) / (MAX_GUESSES - 1) if solved(ctx) else 0.0


RUBRIC = Rubric(
    [
        RewardTerm("invalid_guess", invalid_turn, weight=-0.1),
        RewardTerm("new_greens", new_greens, weight=0.1),
        RewardTerm("solved", solved, weight=0.7, scope="outcome"),
        RewardTerm("speed", speed, weight=0.3, scope="outcome"),
    ]
)


class WordleEnv(ChatEnv):
    """Wordle: find a hidden five-letter word in six guesses, with letter feedback each turn."""

    rubric = RUBRIC

    def __init__(self, max_turns: int = 10, render_mode: str | None = None):
        super().__init__(max_turns=max_turns, render_mode=render_mode)
        self.guesses: list[tuple[str, str]] = []

    def tasks(self, split: str = "train", num_tasks: int | None = None) -> list[Task]:
        """``test``: every fifth bundled word; ``train``: the others (the first ``num_tasks``)."""
        if split not in self.splits:
            raise ValueError(f"unknown split {split!r}; {type(self).__name__} has {list(self.splits)}")
        words = [w for i, w in enumerate(WORDS) if (i % 5 == 0) == (split == "test")]
        return [self._task(split, i, w) for i, w in enumerate(words[:num_tasks])]

    def task_by_id(self, task_id: str) -> Task:
        try:
            _, split, index = task_id.split("-")
            return self.tasks(split)[int(index)]
        except (ValueError, IndexError):
            raise KeyError(f"{type(self).__name__} has no task {task_id!r}") from None

    @staticmethod
    def _task(split: str, index: int, word: str) -> Task:
        prompt = "Guess the hidden five-letter word. What is your first guess?"
        return Task(id=f"wordle-{split}-{index:04d}", split=split, prompt=prompt, answer=word)

    def system_prompt(self, task: Task) -> str:
        return SYSTEM_PROMPT

    def setup(self, task: Task) -> None:
        self.guesses = []

    def _play(self, word: str) -> str:
        assert self.task is not None
        if len(self.guesses) >= MAX_GUESSES:
            raise ValueError("no guesses left")
        marks = feedback(word, str(self.task.answer))
        self.guesses.append((word.lower(), marks))
        left = MAX_GUESSES - len(self.guesses)
        return f"Feedback for {word.upper()}: {marks} ({left} guesses left)"

    @tool
    def guess(self, word: str) -> str:
        """Guess the hidden word; returns one mark per letter (G, Y or -).

        Args:
            word: Five letters, e.g. "crane".
        """
        word = word.strip()
        if not re.fullmatch(r"[A-Za-z]{5}", word):
            raise ValueError(f"a guess is five letters a-z, got {word!r}")
        return self._play(word)

    def react(self, message: Message, results: list[ToolResult]) -> tuple[list[Message], str | None]:
        extra: list[Message] = []
        if not message.get("tool_calls"):
            content = message.get("content")
            found = _TEXT_GUESS.match(content) if isinstance(content, str) else None
            text = self._play(found.group(1)) if found else "No guess found: call guess(word) or reply with one word."
            extra.append({"role": "user", "content": text})
        if self.guesses and self.guesses[-1][1] == "GGGGG":
            return extra, "solved"
        return extra, "out_of_guesses" if len(self.guesses) >= MAX_GUESSES else None

    def oracle_action(self, task: Task, messages: list[Message]) -> Message:
        """The reference play: guess the word at once."""
        return assistant_message(None, [tool_call("guess", {"word": task.answer}, "call_0")])
