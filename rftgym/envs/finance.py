"""``rftgym/Finance-v0``: financial analysis questions over a bundled ledger, answered with tools.

Each split has its own ledger, generated from a fixed seed: a company's accounts and a year
(2024) of transactions. A question names an account, a month and sometimes a spending category:
a month's closing balance, a category's spending in a month, or its change between two months
in percent. The model finds the account (``lookup_account``), reads its statement
(``list_transactions``), computes (``calculator``, the math env's safe calculator) and submits
(``submit_answer``, or a final message ending ``#### <number>``).

Reward components: per turn ``invalid_tool_calls`` (-0.1 each); outcome ``answer_correct`` (1.0):
the answer equals the reference within half a cent (GSM8K-style number normalisation, so
``$1,234.50`` counts).
"""

from __future__ import annotations

import functools
import random
from dataclasses import dataclass

from rftgym.envs.generated import GeneratedTasksEnv
from rftgym.envs.math.calculator import calculate
from rftgym.envs.math.env import SUBMITTED, episode_answer
from rftgym.envs.tools import tool
from rftgym.rewards.answers import extract_answer
from rftgym.rewards.rubric import RewardTerm, Rubric
from rftgym.rewards.terms import numeric_match, tool_call_errors
from rftgym.types import Message, Task, ToolResult, assistant_message, tool_call

ACCOUNTS = ["Operating checking", "Payroll", "Marketing card", "Travel card", "Reserve savings", "Supplies card"]
CATEGORIES = ["software", "travel", "meals", "office", "advertising", "utilities"]
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December"]  # fmt: skip
SYSTEM_PROMPT = """You are a financial analyst answering questions about the company's 2024 accounts.
Tools: lookup_account(name) finds an account; list_transactions(account_id, month, category) lists a \
month's statement (month as "2024-03"; category optional); calculator(expression) does arithmetic; \
submit_answer(answer) submits the final number and ends the task. Spending is the sum of the \
(negative) amounts, given as a positive number."""


@dataclass(frozen=True)
class Entry:
    """One transaction: ``amount`` is negative for money out."""

    month: int
    day: int
    amount: float
    category: str
    memo: str


@functools.cache
def ledger(split: str) -> dict[str, tuple[float, list[Entry]]]:
    """Account id -> (opening balance on 2024-01-01, the year's transactions), for ``split``."""
    rng = random.Random(f"finance-ledger-{split}")
    books = {}
    for n, _ in enumerate(ACCOUNTS):
        entries = []
        for month in range(1, 13):
            entries.append(Entry(month, 1, rng.randint(200_000, 900_000) / 100, "deposit", "Transfer in"))
            for _ in range(rng.randint(3, 6)):
                category = rng.choice(CATEGORIES)
                amount = -rng.randint(1_000, 250_000) / 100
                entries.append(Entry(month, rng.randint(2, 28), amount, category, f"{category.title()} vendor"))
        books[f"ACC-{101 + n}"] = (rng.randint(1_000_000, 5_000_000) / 100, sorted(entries, key=lambda e: e.day))
    return books


def statement(split: str, account_id: str, month: int) -> tuple[float, list[Entry]]:
    """The opening balance of ``month`` and that month's transactions."""
    opening, entries = ledger(split)[account_id]
    before = sum(e.amount for e in entries if e.month < month)
    return round(opening + before, 2), [e for e in entries if e.month == month]


def _spend(entries: list[Entry], category: str) -> list[float]:
    return [-e.amount for e in entries if e.category == category]


def make_task(split: str, index: int) -> Task:
    """The question ``finance-<split>-<index>`` and its solution (the tool calls that answer it)."""
    rng = random.Random(f"finance-{split}-{index}")
    n = rng.randrange(len(ACCOUNTS))
    account, name, month = f"ACC-{101 + n}", ACCOUNTS[n], rng.randint(2, 12)
    opening, entries = statement(split, account, month)
    steps = [("lookup_account", {"name": name})]
    kind = rng.choice(["balance", "spend", "change"])
    if kind == "balance":
        question = f"What was the closing balance of the {name} account at the end of {MONTHS[month - 1]} 2024?"
        expression = " + ".join(f"({x:.2f})" for x in [opening, *(e.amount for e in entries)])
        steps.append(("list_transactions", {"account_id": account, "month": f"2024-{month:02d}"}))
    else:
        category = rng.choice(sorted({e.category for e in entries} - {"deposit"}))
        now = _spend(entries, category)
        expression = " + ".join(f"{x:.2f}" for x in now)
        steps.append(("list_transactions", {"account_id": account, "month": f"2024-{month:02d}", "category": category}))
        question = f"How much did the {name} account spend on {category} in {MONTHS[month - 1]} 2024?"
        earlier = _spend(statement(split, account, month - 1)[1], category)
        if kind == "change" and earlier:
            question = (
                f"By what percentage did {category} spending on the {name} account change from "
                f"{MONTHS[month - 2]} to {MONTHS[month - 1]} 2024? Give the percent rounded to one decimal."
            )
            steps.append(("list_transactions", {"account_id": account, "month": f"2024-{month - 1:02d}",
                                                "category": category}))  # fmt: skip
            a = " + ".join(f"{x:.2f}" for x in earlier)
            expression = f"round((({expression}) - ({a})) / ({a}) * 100, 1)"
        else:
            kind = "spend"
    steps.append(("calculator", {"expression": expression}))
    answer = calculate(expression)
    return Task(f"finance-{split}-{index:05d}", split, question, answer, steps, {"kind": kind})


RUBRIC = Rubric(
    [
        RewardTerm("invalid_tool_calls", tool_call_errors(), weight=-0.1),
        RewardTerm("answer_correct", numeric_match(response=episode_answer, abs_tol=0.005), scope="outcome"),
    ]
)


class FinanceEnv(GeneratedTasksEnv):
    """Financial analysis: questions over a bundled ledger, answered with lookups and a calculator."""

    rubric = RUBRIC

    def __init__(self, max_turns: int = 10, render_mode: str | None = None):
        super().__init__(max_turns=max_turns, render_mode=render_mode)
        self.answer: str | None = None

    def make_task(self, split: str, index: int) -> Task:
        return make_task(split, index)

    def system_prompt(self, task: Task) -> str:
        return SYSTEM_PROMPT

    def setup(self, task: Task) -> None:
        self.answer = None

    @tool
    def lookup_account(self, name: str) -> dict[str, object]:
        """Find an account by (part of) its name or its id.

        Args:
            name: E.g. "travel card" or "ACC-104".
        """
        assert self.task is not None
        for account_id, (opening, _) in ledger(self.task.split).items():
            full = ACCOUNTS[int(account_id[4:]) - 101]
            if name.strip().lower() in (full.lower(), account_id.lower()) or name.strip().lower() in full.lower():
                return {"account_id": account_id, "name": full, "opening_balance_2024_01_01": opening}
        raise ValueError(f"no account matches {name!r}; accounts: {', '.join(ACCOUNTS)}")

    @tool
    def list_transactions(self, account_id: str, month: str, category: str | None = None) -> str:
        """One month's statement of an account: its opening balance and transactions.

        Args:
            account_id: E.g. "ACC-103".
            month: "2024-01" to "2024-12".
            category: Only the transactions of this category (e.g. "travel"), when given.
        """
        assert self.task is not None
        if account_id not in ledger(self.task.split) or month[:5] != "2024-" or not month[5:].isdigit():
            raise ValueError(f"unknown account {account_id!r} or month {month!r} (use e.g. ACC-101, 2024-03)")
        opening, entries = statement(self.task.split, account_id, int(month[5:]))
        rows = [f"{month}-{e.day:02d}  {e.amount:10.2f}  {e.category:<11} {e.memo}" for e in entries
                if category is None or e.category == category.strip().lower()]  # fmt: skip
        return f"{account_id} {month}: opening balance {opening:.2f}\n" + ("\n".join(rows) or "(no transactions)")

    @tool
    def calculator(self, expression: str) -> str:
        """Evaluate an arithmetic expression (+ - * / ** parentheses, round, abs, min, max).

        Args:
            expression: Plain numbers only, e.g. "round((120.5 - 100) / 100 * 100, 1)".
        """
        return calculate(expression)

    @tool
    def submit_answer(self, answer: str | float) -> str:
        """Submit the final number. This ends the task.

        Args:
            answer: The number, e.g. 1234.56 or -12.5.
        """
        if extract_answer(str(answer)) is None:
            raise ValueError(f"the answer must contain a number, got {answer!r}")
        self.answer = str(answer)
        return SUBMITTED + self.answer

    def react(self, message: Message, results: list[ToolResult]) -> tuple[list[Message], str | None]:
        if self.answer is not None:
            return [], "submitted"
        return [], None if message.get("tool_calls") else "final_answer"

    def oracle_action(self, task: Task, messages: list[Message]) -> Message:
        """The solution's next tool call, then the submission of the reference answer."""
        turn = sum(m["role"] == "assistant" for m in messages)
        name, args = task.solution[turn] if turn < len(task.solution) else ("submit_answer", {"answer": task.answer})
        return assistant_message(None, [tool_call(name, args, f"call_{turn}")])
