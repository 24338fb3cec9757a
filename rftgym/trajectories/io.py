"""Writing and reading trajectory files (JSONL, one :class:`Trajectory` per line).

The writer appends each episode as one whole line with a single ``write`` system call on an
``O_APPEND`` descriptor, so a process killed at any moment (``kill -9``) leaves at most one cut
last line and never two interleaved ones; ``TrajectoryWriter(path, resume=True)`` removes that cut
line before appending. Lines reach the OS page cache at once (no user-space buffer), so they
survive the death of the process; surviving a power cut would need an ``fsync``, which we skip.

Readers stream line by line and name ``file:line`` for every bad line.

**The last line of an id is its result.** The file is append-only: ``--resume`` plays again an
episode whose last line records an infrastructure ``error`` (endpoint, env exception, time limit)
and appends the new line, leaving the old one in place. So an id may appear on several lines, and
only its LAST line counts: :func:`completed_ids` returns the ids whose last line has no error, and
``read_trajectories(path, latest_only=True)`` yields one episode per id, its last line (what
``rftgym stats`` and ``rftgym export`` summarise). A crash between two lines loses nothing: the
earlier line stays the result until a later one is whole.
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any, NamedTuple

from rftgym.trajectories.schema import SCHEMA, Trajectory

log = logging.getLogger(__name__)

_ERRORS = ("raise", "skip")
_TAIL_CHUNK = 64 * 1024


class TrajectoryFileError(ValueError):
    """A trajectory file holds a bad line; the message is ``"{path}:{lineno}: {problem}"``."""


class TrajectoryWriter:
    """Appends trajectories to a JSONL file, one whole line per episode.

    Use it as a context manager::

        with TrajectoryWriter("runs/math.jsonl", resume=True) as writer:
            writer.write(trajectory)

    Each line is validated and fully serialised before anything is written, then written with one
    ``os.write`` (looping only if the OS accepts part of it). A line that cannot be written whole
    (disk full) is cut back off the file before the error is raised.

    Not thread-safe, by design: the rollout loop writes from one asyncio thread. Two processes
    must not write to one file either (resume repair and the cut-back assume a single writer).

    Non-finite floats (NaN, ±inf) raise ``ValueError`` naming the field: JSON has no such values,
    and writing ``null`` instead would silently turn a broken reward into a missing one.

    Attributes:
        path: The file.
        repaired_bytes: Bytes of a cut last line removed when the file was opened (0 if none).
    """

    def __init__(self, path: str | os.PathLike, *, resume: bool = False):
        """Open ``path`` for appending, creating it and its parent folders if needed.

        Args:
            path: The trajectory file.
            resume: Continue a file a crashed run left behind: a cut last line (no final newline)
                is removed. Without ``resume``, such a file raises :class:`TrajectoryFileError`
                rather than being changed behind the user's back.
        """
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.repaired_bytes = 0
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self._fd: int | None = fd  # None once closed
        try:
            self._repair_tail(fd, resume)
        except BaseException:
            self.close()
            raise

    def write(self, traj: Trajectory | dict[str, Any]) -> None:
        """Append one episode as one line.

        A dict is checked with :meth:`Trajectory.from_dict` and written in its normalised form
        (keys that are not fields are dropped: put extras in ``metadata``). A :class:`Trajectory`
        is trusted to have the declared types; its numbers are checked.

        Raises:
            ValueError: The trajectory has a mistyped field or a non-finite float.
            OSError: The write failed; the file is left without a partial line.
        """
        if self._fd is None:
            raise ValueError(f"{self.path}: writer is closed")
        self._append(self._fd, _encode_line(traj))

    def close(self) -> None:
        """Close the file (idempotent)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> TrajectoryWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _append(self, fd: int, line: bytes) -> None:
        """Write ``line`` to ``fd`` whole, or not at all."""
        start = os.fstat(fd).st_size
        view = memoryview(line)
        try:
            while view:
                view = view[os.write(fd, view) :]
        except BaseException:
            # Drop what got out, so the next line does not fuse with a partial one.
            if len(view) < len(line):
                os.ftruncate(fd, start)
            raise

    def _repair_tail(self, fd: int, resume: bool) -> None:
        """Remove a cut last line (with ``resume``), or refuse to append after one."""
        size = os.fstat(fd).st_size
        keep = _end_of_last_line(self.path, size)
        if keep == size:
            return
        if not resume:
            raise TrajectoryFileError(
                f"{self.path}:{_count_lines(self.path)}: last line is cut short ({size - keep} bytes "
                "without a final newline, probably a killed run); resume to drop it and continue"
            )
        os.ftruncate(fd, keep)
        self.repaired_bytes = size - keep
        log.warning("%s: removed a cut last line (%d bytes) left by an interrupted run", self.path, self.repaired_bytes)


def _encode_line(traj: Trajectory | dict[str, Any]) -> bytes:
    """One trajectory as a JSONL line (UTF-8, ending in a newline), checked against the schema."""
    # A dict from outside gets every check a reader makes. A Trajectory is typed by construction
    # (the rollout loop builds it): only its numbers are checked, in to_dict, because the full
    # check would be most of the loop's per-turn cost (bench/rollout_overhead.py).
    data = (Trajectory.from_dict(traj) if isinstance(traj, dict) else traj).to_dict(deep=False)
    try:
        text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except TypeError as e:  # an object JSON cannot hold, in a free-form field (metadata, policy)
        raise ValueError(f"episode {data['id']!r}: {e}") from None
    except ValueError:
        where = _non_finite_path(data)
        if where is None:
            raise
        raise ValueError(
            f"episode {data['id']!r}: {where} is not a finite number (JSON has no NaN or infinity)"
        ) from None
    return (text + "\n").encode("utf-8")


def read_trajectories(
    path: str | os.PathLike, *, errors: str = "raise", latest_only: bool = False
) -> Iterator[Trajectory]:
    """Stream the episodes of a trajectory file, one line at a time. Blank lines are ignored.

    Args:
        path: The JSONL file.
        errors: ``"raise"``: a bad line (not JSON, not an object, wrong schema, a missing or
            mistyped field, a cut last line) raises :class:`TrajectoryFileError` with message
            ``"{path}:{lineno}: {problem}"``. ``"skip"``: bad lines are passed over.
        latest_only: Yield only the last line of each episode id (its result, see the module
            docstring), in the order of those last lines. The file is read once, and the episodes
            are held in memory until the end.
    """
    if errors not in _ERRORS:
        raise ValueError(f"errors must be one of {_ERRORS}, got {errors!r}")
    latest: dict[str, Trajectory] = {}
    for line in _parse_lines(path):
        if line.traj is None:
            if errors == "raise":
                raise TrajectoryFileError(f"{path}:{line.lineno}: {line.problem}")
        elif latest_only:
            latest.pop(line.traj.id, None)  # re-inserted: the order of the last lines
            latest[line.traj.id] = line.traj
        else:
            yield line.traj
    yield from latest.values()


def is_trajectory_file(path: str | os.PathLike) -> bool:
    """Whether the first non-blank line of ``path`` is a JSON object with ``"schema": SCHEMA``
    (an empty or missing file is not one). Only the first line is read."""
    try:
        with open(path, "rb") as f:
            for raw in f:
                if raw.strip():
                    if not raw.endswith(b"\n"):  # the only line, cut by a killed run
                        return raw.lstrip().startswith(b'{"schema":' + json.dumps(SCHEMA).encode())
                    data = json.loads(raw)
                    return isinstance(data, dict) and data.get("schema") == SCHEMA
    except (OSError, ValueError):
        return False
    return False


def validate_file(path: str | os.PathLike) -> tuple[int, list[str]]:
    """Check every line of a trajectory file.

    Returns:
        The number of good episodes, and one ``"{path}:{lineno}: {problem}"`` string per bad line.
        A second line with an episode id seen before is a problem
        (``duplicate episode id X (first at line N)``) and is not counted as good, unless every
        earlier line of that id records an ``error`` (a replay by ``--resume``).
    """
    good, problems = 0, []
    first_line: dict[str, int] = {}
    for line in _parse_lines(path):
        if line.traj is None:
            problems.append(f"{path}:{line.lineno}: {line.problem}")
        elif line.traj.id in first_line and first_line[line.traj.id] < 0:  # earlier lines all failed
            first_line[line.traj.id] = line.lineno if line.traj.error is None else -line.lineno
        elif line.traj.id in first_line:
            problems.append(
                f"{path}:{line.lineno}: duplicate episode id {line.traj.id} (first at line {first_line[line.traj.id]})"
            )
        else:
            first_line[line.traj.id] = line.lineno if line.traj.error is None else -line.lineno
            good += 1
    return good, problems


def completed_ids(path: str | os.PathLike) -> set[str]:
    """The ids of the episodes a file already holds with a result (for ``--resume``): those whose
    LAST line has no ``error``. An id whose last line records an error is played again.

    A missing file holds none. A cut last line (a killed run) is not an episode and is ignored;
    any other bad line raises :class:`TrajectoryFileError`, since resuming over a damaged file
    would hide the damage.
    """
    if not Path(path).exists():
        return set()
    ok: dict[str, bool] = {}
    for line in _parse_lines(path):
        if line.traj is not None:
            ok[line.traj.id] = line.traj.error is None
        elif not line.cut:
            raise TrajectoryFileError(f"{path}:{line.lineno}: {line.problem}")
    return {episode_id for episode_id, good in ok.items() if good}


class _Line(NamedTuple):
    lineno: int
    traj: Trajectory | None  # None for a bad line
    problem: str = ""
    cut: bool = False  # the last line, without its newline: a write cut short


def _parse_lines(path: str | os.PathLike) -> Iterator[_Line]:
    """Each non-blank line of ``path``, parsed, or with the reason it could not be."""
    with open(path, "rb") as f:  # bytes: a bad UTF-8 sequence is then one line's problem
        for lineno, raw in enumerate(f, start=1):
            if raw.strip():
                yield _parse(lineno, raw)


def _parse(lineno: int, raw: bytes) -> _Line:
    try:
        data = json.loads(raw, parse_constant=_reject_constant)
    except ValueError as e:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        if not raw.endswith(b"\n"):  # a killed writer can stop anywhere, even inside a character
            return _Line(
                lineno,
                None,
                f"last line is cut short (no final newline, {len(raw)} bytes): {_decode_problem(e)}",
                cut=True,
            )
        return _Line(lineno, None, _decode_problem(e))
    try:
        return _Line(lineno, Trajectory.from_dict(data))
    except ValueError as e:
        return _Line(lineno, None, str(e))


def _decode_problem(error: ValueError) -> str:
    if isinstance(error, UnicodeDecodeError):
        return f"not valid UTF-8 ({error.reason} at byte {error.start})"
    if isinstance(error, json.JSONDecodeError):
        return f"not valid JSON: {error.msg} (column {error.colno})"
    return f"not valid JSON: {error}"  # from _reject_constant


def _reject_constant(name: str) -> Any:
    # Python's json accepts NaN and Infinity, which are not JSON: Arrow and other readers reject them.
    raise ValueError(f"{name} is not a JSON value")


def _end_of_last_line(path: Path, size: int) -> int:
    """The offset just after the last newline of the file's first ``size`` bytes (0 if none)."""
    with open(path, "rb") as f:
        end = size
        while end > 0:
            start = max(0, end - _TAIL_CHUNK)
            f.seek(start)
            newline = f.read(end - start).rfind(b"\n")
            if newline >= 0:
                return start + newline + 1
            end = start
    return 0


def _count_lines(path: Path) -> int:
    """How many lines the file has, counting a last line without its newline."""
    with open(path, "rb") as f:
        return sum(1 for _ in f)


def _non_finite_path(value: Any, where: str = "") -> str | None:
    """Where the first NaN or infinite float in nested dicts and lists is (``turns[0].reward``)."""
    if isinstance(value, float) and not math.isfinite(value):
        return f"{where} ({value})"
    if isinstance(value, dict):
        items = ((f"{where}.{key}" if where else key, item) for key, item in value.items())
    elif isinstance(value, list):
        items = ((f"{where}[{i}]", item) for i, item in enumerate(value))
    else:
        return None
    for item_where, item in items:
        found = _non_finite_path(item, item_where)
        if found:
            return found
    return None
