"""Customer-service tasks: what a task holds, how the splits are made, and the fixed test files.

A task is written by a *template* (a function of a seeded ``random.Random`` and the database) as a
:class:`Scenario`, then stored as an ordinary :class:`~rftgym.types.Task`:

* ``prompt``: the customer's opening message;
* ``solution``: the reference actions, ``[{"name": tool, "arguments": {...}}]``, authentication first;
* ``answer``: the strings the agent must communicate (an inner list means "any one of these");
* ``metadata``: ``kind`` (``write``, ``read``, ``refusal`` or ``transfer``), ``instructions`` (the
  hidden instructions an LLM customer is prompted with), ``persona``, ``identity`` (what the
  customer says to identify itself), ``reply`` (the reference final message, which says every
  required string), ``template`` and ``db_seed`` (the database the task is about).

The train split is unbounded: train task ``i`` is drawn from a seed stream of ``i`` over the train
database. The test split is fixed: drawn once over the test database and stored in a versioned JSON
file with the fingerprint of the database it was written for, so a change to the generator that
would silently change the test split fails loudly instead.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from random import Random
from typing import Any, Literal

from rftgym.envs.customer_service.db import Tables, fingerprint
from rftgym.envs.customer_service.users import PERSONAS
from rftgym.types import Message, Task, message_text

#: Say any one of these to communicate a refusal.
REFUSAL = [
    "cannot",
    "can't",
    "can not",
    "unable",
    "not able",
    "won't be able",
    "not possible",
    "isn't possible",
    "not eligible",
    "ineligible",
    "not allowed",
    "does not allow",
    "doesn't allow",
]
#: Database seeds of the two splits: the test tasks are about other customers than the train tasks.
TEST_DB_SEED, TRAIN_DB_SEED = 0, 1
#: What a task asks for: a change to the database, an answer, a refusal, or a transfer to a human.
Kind = Literal["write", "read", "refusal", "transfer"]
#: A required output: a string to say, or a list of strings of which any one will do.
Output = str | list[str]


@dataclass
class Scenario:
    """What a template writes (see the module docstring for where each part goes)."""

    kind: Kind
    request: str
    instructions: str
    identity: str
    actions: list[dict[str, Any]]
    reply: str = ""
    outputs: list[Output] = field(default_factory=list)


#: A template: a seeded RNG and the database in, a scenario out (it raises NoFit when its draw does not fit).
Template = Callable[[Random, Tables], Scenario]


class NoFit(Exception):
    """Raised by a template whose draw does not fit (no such order, no free seat...): the suite draws again."""


def pick(rng: Random, records: Mapping[str, dict], fits: Callable[[dict], bool], tries: int = 60) -> dict:
    """A random record of ``records`` for which ``fits`` holds; :class:`NoFit` after ``tries`` draws."""
    for key in rng.sample(sorted(records), min(tries, len(records))):
        if fits(records[key]):
            return records[key]
    raise NoFit


def call(name: str, **arguments: object) -> dict[str, Any]:
    """One reference action."""
    return {"name": name, "arguments": arguments}


def normalize(text: str) -> str:
    """Agent text as outputs are matched: lower case, straight apostrophes, no ``$``, no thousands
    separators, single spaces."""
    text = re.sub(r"(?<=\d),(?=\d{3})", "", text.lower().replace("$", "").replace("\u2019", "'"))
    return " ".join(text.split())


def missing_outputs(outputs: list[Output], messages: Sequence[Message]) -> list[Output]:
    """The required outputs that the agent did not say to the customer: in no assistant message
    of ``messages`` without tool calls (the customer hears only those)."""
    heard = [message_text(m) for m in messages if m.get("role") == "assistant" and not m.get("tool_calls")]
    said = normalize(" ".join(heard))
    return [o for o in outputs if not any(normalize(alt) in said for alt in ([o] if isinstance(o, str) else o))]


class TaskSuite:
    """The tasks of one domain: the database generator, the templates and the fixed test file."""

    def __init__(
        self,
        domain: str,
        generate_db: Callable[[int], Tables],
        templates: Mapping[str, Template],
        test_file: Path,
        version: int,
    ):
        """Args:
        domain: Task id prefix (``retail``).
        generate_db: ``seed -> tables``, deterministic.
        templates: Named templates; task ``i`` uses template ``i % len(templates)``.
        test_file: The fixed test split (JSON); :meth:`write_test_file` makes it.
        version: The test split's version, part of each test task id.
        """
        self.domain, self.generate_db, self.templates = domain, generate_db, templates
        self.test_file, self.version = test_file, version
        self.base = functools.lru_cache(maxsize=4)(generate_db)
        self._test_split: list[dict[str, Any]] | None = None

    def generate(self, split: str, index: int) -> Task:
        """Task ``index`` of ``split`` drawn from its seed stream (the same task every time)."""
        seed = TEST_DB_SEED if split == "test" else TRAIN_DB_SEED
        tables = self.base(seed)
        name = sorted(self.templates)[index % len(self.templates)]
        for attempt in range(100):
            rng = Random(f"rftgym.{self.domain}/{split}/{index}/{attempt}")
            try:
                scenario = self.templates[name](rng, tables)
                break
            except NoFit:
                continue
        else:
            raise RuntimeError(f"template {name} found no fitting draw for {split} task {index}")
        task_id = (
            f"{self.domain}-test-v{self.version}-{index:04d}"
            if split == "test"
            else f"{self.domain}-{split}-{index:05d}"
        )
        metadata = {
            "kind": scenario.kind,
            "instructions": scenario.instructions,
            "identity": scenario.identity,
            "persona": rng.choice(PERSONAS),
            "reply": scenario.reply,
            "template": name,
            "db_seed": seed,
        }
        return Task(
            id=task_id,
            split=split,
            prompt=scenario.request,
            answer=scenario.outputs,
            solution=scenario.actions,
            metadata=metadata,
        )

    def train_task(self, index: int) -> Task:
        """Train task ``index`` (any ``index >= 0``)."""
        if not isinstance(index, int) or index < 0:
            raise ValueError(f"a task index is an int >= 0, got {index!r}")
        return self.generate("train", index)

    def test_tasks(self) -> list[Task]:
        """The fixed test split, read from the test file (once) and checked against the database."""
        if self._test_split is None:
            self._test_split = self._read_test_file()
        return [Task.from_dict(json.loads(json.dumps(t))) for t in self._test_split]

    def _read_test_file(self) -> list[dict[str, Any]]:
        data = json.loads(self.test_file.read_text())
        now = fingerprint(self.base(TEST_DB_SEED))
        if data["db_fingerprint"] != now:
            raise RuntimeError(
                f"{self.test_file.name} (test split v{data['version']}) was written for database "
                f"{data['db_fingerprint']}, but the generator now makes {now}: the generator changed; "
                f"restore it or write a new test split version"
            )
        return data["tasks"]

    def write_test_file(self, size: int) -> None:
        """Draw the test split (``size`` tasks with distinct requests) and store it in the test file."""
        tasks: list[dict[str, Any]] = []
        seen: set[str] = set()
        index = 0
        while len(tasks) < size:
            task = self.generate("test", index)
            index += 1
            if task.prompt not in seen:
                seen.add(task.prompt)
                task.id = f"{self.domain}-test-v{self.version}-{len(tasks):04d}"
                tasks.append(task.to_dict())
        data = {
            "version": self.version,
            "db_seed": TEST_DB_SEED,
            "db_fingerprint": fingerprint(self.base(TEST_DB_SEED)),
            "tasks": tasks,
        }
        self.test_file.write_text(json.dumps(data, indent=1) + "\n")
