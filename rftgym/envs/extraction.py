"""``rftgym/Extraction-v0``: structured data extraction, a document in and a JSON object out.

Each task is a generated business document (an invoice or a contact card, rendered as text from a
seeded record, with dates and amounts written the way people write them); the model replies with
the requested fields as one JSON object (the whole reply, or a fenced ```json block). One turn.

Reward components (outcome):

* ``schema_valid`` (0.2): the reply is JSON valid under the kind's JSON schema
  (:func:`rftgym.rewards.json_valid`).
* ``field_accuracy`` (0.8): the share of the reference's fields the reply gets right (strings
  compared case- and space-insensitively, numbers within a cent).
"""

from __future__ import annotations

import json
import random
from datetime import date, timedelta
from typing import Any, cast

from rftgym.envs.generated import GeneratedTasksEnv
from rftgym.rewards.rubric import RewardContext, RewardTerm, Rubric
from rftgym.rewards.terms import json_valid, parse_json
from rftgym.types import Message, Task, ToolResult

FIRST = ["Ana", "Ben", "Chloe", "Dmitri", "Emma", "Farid", "Grace", "Hiro", "Ines", "Jonas", "Kemi", "Liam"]
LAST = ["Alvarez", "Brooks", "Chen", "Dubois", "Eriksen", "Fischer", "Gupta", "Haddad", "Ivanova", "Jensen"]
COMPANIES = ["Northwind Traders", "Blue Harbor Ltd", "Acme Tools", "Lumen Labs", "Orchid Foods", "Granite Works"]
CITIES = ["Lisbon", "Toronto", "Osaka", "Nairobi", "Denver", "Lyon", "Perth", "Bergen"]
ITEMS = ["Consulting hours", "Laptop stand", "Cloud storage (1 TB)", "Office chairs", "Printer toner", "Training day"]
CURRENCIES = {"USD": "$", "EUR": "€", "GBP": "£"}

_STRING, _NUMBER, _DATE = {"type": "string"}, {"type": "number"}, {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}$"}
SCHEMAS: dict[str, dict[str, Any]] = {
    "invoice": {
        "type": "object",
        "properties": {
            "invoice_number": _STRING, "vendor": _STRING, "customer": _STRING, "issue_date": _DATE,
            "due_date": _DATE, "currency": {"enum": list(CURRENCIES)}, "total_amount": _NUMBER,
        },
    },
    "contact": {
        "type": "object",
        "properties": {"name": _STRING, "email": _STRING, "phone": _STRING, "company": _STRING, "city": _STRING},
    },
}  # fmt: skip
for _schema in SCHEMAS.values():
    _schema |= {"required": list(_schema["properties"]), "additionalProperties": False}


def _invoice(rng: random.Random) -> tuple[dict[str, Any], str]:
    issued = date(2024, 1, 1) + timedelta(days=rng.randrange(700))
    due = issued + timedelta(days=rng.choice([14, 30, 45]))
    currency = rng.choice(list(CURRENCIES))
    lines = [(rng.choice(ITEMS), rng.randint(1, 9), rng.randint(500, 90000) / 100) for _ in range(rng.randint(1, 4))]
    total = round(sum(q * p for _, q, p in lines), 2)
    record: dict[str, Any] = {
        "invoice_number": f"INV-{rng.randint(1000, 99999)}",
        "vendor": rng.choice(COMPANIES),
        "customer": f"{rng.choice(FIRST)} {rng.choice(LAST)}",
        "issue_date": issued.isoformat(),
        "due_date": due.isoformat(),
        "currency": currency,
        "total_amount": total,
    }
    sign = CURRENCIES[currency]
    rows = "\n".join(f"  {name:<22} {q} x {sign}{p:,.2f} = {sign}{q * p:,.2f}" for name, q, p in lines)
    text = (
        f"{record['vendor'].upper()}\nINVOICE No. {record['invoice_number']}\n"
        f"Date: {issued:%B} {issued.day}, {issued.year}    Payment due: {due:%d/%m/%Y} (DD/MM/YYYY)\n"
        f"Bill to: {record['customer']}\n\n{rows}\n\nTotal due ({currency}): {sign}{total:,.2f}"
    )
    return record, text


def _contact(rng: random.Random) -> tuple[dict[str, Any], str]:
    first, last, company = rng.choice(FIRST), rng.choice(LAST), rng.choice(COMPANIES)
    record = {
        "name": f"{first} {last}",
        "email": f"{first[0].lower()}.{last.lower()}@{company.split()[0].lower()}.example",
        "phone": f"+1-555-{rng.randint(100, 999)}-{rng.randint(1000, 9999)}",
        "company": company,
        "city": rng.choice(CITIES),
    }
    text = (
        f"Hi team, great meeting you at the expo! I'm {record['name']}, purchasing lead at {company}, "
        f"based in our {record['city']} office. Best to reach me at {record['email']} "
        f"or by phone on {record['phone']}.\n-- {first}"
    )
    return record, text


def make_task(split: str, index: int) -> Task:
    """The task ``extract-<split>-<index>``, generated from a seed made of its split and index."""
    rng = random.Random(f"extraction-{split}-{index}")
    kind = rng.choice(list(SCHEMAS))
    record, text = (_invoice if kind == "invoice" else _contact)(rng)
    prompt = (
        f"Extract these fields from the {kind} below as one JSON object: {', '.join(record)}. "
        "Dates as YYYY-MM-DD, amounts as plain numbers. Reply with the JSON only.\n\n" + text
    )
    return Task(f"extract-{split}-{index:05d}", split, prompt, answer=record, metadata={"kind": kind})


_VALID = {kind: json_valid(schema) for kind, schema in SCHEMAS.items()}


def schema_valid(ctx: RewardContext) -> float:
    """1.0 when the reply is JSON valid under the schema of the task's kind."""
    return cast(float, _VALID[ctx.task.metadata["kind"]](ctx))  # json_valid gives a float


def _same(got: Any, want: Any) -> bool:
    if isinstance(want, float) and isinstance(got, (int, float)) and not isinstance(got, bool):
        return abs(got - want) < 0.005
    return isinstance(got, str) and " ".join(got.lower().split()) == " ".join(str(want).lower().split())


def field_accuracy(ctx: RewardContext) -> float:
    """The share of the reference's fields whose value the reply's JSON object gets right."""
    try:
        got = parse_json(ctx.response)
    except ValueError:
        return 0.0
    want: dict[str, Any] = ctx.task.answer
    return sum(isinstance(got, dict) and _same(got.get(k), v) for k, v in want.items()) / len(want)


RUBRIC = Rubric(
    [
        RewardTerm("schema_valid", schema_valid, weight=0.2, scope="outcome"),
        RewardTerm("field_accuracy", field_accuracy, weight=0.8, scope="outcome"),
    ]
)


class ExtractionEnv(GeneratedTasksEnv):
    """Structured extraction: fields of a generated invoice or contact card as a JSON object."""

    rubric = RUBRIC

    def __init__(self, max_turns: int = 1, render_mode: str | None = None):
        super().__init__(max_turns=max_turns, render_mode=render_mode)

    def make_task(self, split: str, index: int) -> Task:
        return make_task(split, index)

    def system_prompt(self, task: Task) -> str:
        return "You extract structured data from documents and answer with JSON only."

    def react(self, message: Message, results: list[ToolResult]) -> tuple[list[Message], str | None]:
        return [], "answered"

    def oracle_action(self, task: Task, messages: list[Message]) -> Message:
        return {"role": "assistant", "content": json.dumps(task.answer)}
