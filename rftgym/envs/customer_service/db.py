"""Copy-on-write databases: one shared, never-changed base per domain and seed, one small overlay per episode.

A database is a dict of tables; a table maps a key (``"#W1234567"``) to a record (a JSON-like
dict). An episode's :class:`Database` reads through to the shared base and copies a record only
when a tool edits it, so an episode costs the records it changed, not a copy of the whole
database, and hundreds of episodes share one base.

Two overlays on the same base are compared by looking only at the records either of them changed
(:func:`diff`): the records neither touched are the base's own, hence equal.
"""

from __future__ import annotations

import hashlib
import json
import marshal
from collections.abc import Mapping
from typing import Any

#: A record: a JSON-like dict.
Record = dict[str, Any]
#: A database: table name -> key -> record.
Tables = Mapping[str, Mapping[str, Record]]


def clone(record: Any) -> Any:
    """A deep copy of JSON-like data (marshal round trip: several times faster than ``copy.deepcopy``)."""
    return marshal.loads(marshal.dumps(record))


def money(amount: float) -> float:
    """An amount of money rounded to cents, so equal sums compare equal whatever their order."""
    return round(amount + 0.0, 2)


def fingerprint(tables: Tables) -> str:
    """A short hash of a whole database: the version a fixed task split was written for."""
    return hashlib.sha256(json.dumps(tables, sort_keys=True).encode()).hexdigest()[:16]


class Database:
    """One episode's view of a shared base database; changes stay in the overlay.

    Records returned by :meth:`get` may be the base's own: read them, never change them. Change a
    record through :meth:`edit` (a private copy, made on first edit) or add one with :meth:`insert`.
    """

    __slots__ = ("base", "changes")

    def __init__(self, base: Tables):
        """Args:
        base: The shared tables; never modified through this object.
        """
        self.base = base
        self.changes: dict[str, dict[str, dict]] = {}

    def get(self, table: str, key: str) -> dict | None:
        """The record ``key`` of ``table`` as this episode sees it, or None."""
        changed = self.changes.get(table)
        if changed is not None and key in changed:
            return changed[key]
        return self.base[table].get(key)

    def require(self, table: str, key: str, what: str) -> dict:
        """Like :meth:`get`, but a missing record raises ``ValueError("<what> <key> not found")``."""
        record = self.get(table, key) if isinstance(key, str) else None
        if record is None:
            raise ValueError(f"{what} {key!r} not found")
        return record

    def edit(self, table: str, key: str) -> dict:
        """This episode's own, changeable copy of an existing record."""
        changed = self.changes.setdefault(table, {})
        record = changed.get(key)
        if record is None:
            record = changed[key] = clone(self.base[table][key])
        return record

    def insert(self, table: str, key: str, record: dict) -> None:
        """Add a new record (``ValueError`` if ``key`` exists)."""
        if self.get(table, key) is not None:
            raise ValueError(f"{table} already has {key!r}")
        self.changes.setdefault(table, {})[key] = record

    def changed_keys(self) -> set[tuple[str, str]]:
        """``(table, key)`` of every record this episode edited or added."""
        return {(table, key) for table, records in self.changes.items() for key in records}


def diff(actual: Database, expected: Database, limit: int = 20) -> list[str]:
    """The differences between two overlays of one base, field by field, as readable lines
    (``orders/#W1234567.status: expected 'cancelled', got 'pending'``); empty when they are equal.

    Only records one of them changed are compared. At most ``limit`` lines, then a count of the rest.
    """
    lines: list[str] = []
    for table, key in sorted(actual.changed_keys() | expected.changed_keys()):
        got, want = actual.get(table, key), expected.get(table, key)
        if got != want:
            lines += _field_diff(f"{table}/{key}", want, got)
    if len(lines) > limit:
        lines[limit:] = [f"... and {len(lines) - limit} more differences"]
    return lines


def _field_diff(path: str, want: Any, got: Any) -> list[str]:
    """The leaves where ``got`` differs from ``want`` (dicts are walked key by key)."""
    if isinstance(want, dict) and isinstance(got, dict):
        out: list[str] = []
        for key in sorted(set(want) | set(got), key=str):
            if want.get(key) != got.get(key):
                out += _field_diff(f"{path}.{key}", want.get(key), got.get(key))
        return out
    if want is None:
        return [f"{path}: not expected, got {_short(got)}"]
    if got is None:
        return [f"{path}: expected {_short(want)}, missing"]
    return [f"{path}: expected {_short(want)}, got {_short(got)}"]


def _short(value: Any, width: int = 120) -> str:
    text = json.dumps(value, sort_keys=True)
    return text if len(text) <= width else text[: width - 3] + "..."
