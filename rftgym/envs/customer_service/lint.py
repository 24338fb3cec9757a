"""The task linter: checks that every task of a customer-service env can be solved as written.

For each task (``rftgym envs lint``, or :func:`lint_tasks`):

* every reference action names a tool, has valid arguments and succeeds when replayed in order on
  a fresh database;
* the reference is reachable under the policy: replayed as the reference dialogue plays it (the
  customer authenticated first, each write confirmed), no action breaks a rule;
* a ``write`` or ``transfer`` task's reference changes the database; a ``read`` or ``refusal`` task
  writes nothing and requires outputs, and a refusal requires the refusal itself to be said
  (so an agent that does nothing scores 0 on every task);
* every required output can be learnt: it appears in the reference's tool results, the request or
  the policy document, and the reference reply says it;
* the whole reference dialogue, played against the scripted customer, scores 1.0;
* task ids, and requests from the same customer, are unique within the test split.
"""

from __future__ import annotations

import json
import re
from collections import Counter

from rftgym.envs.customer_service.db import Database
from rftgym.envs.customer_service.env import CustomerServiceEnv
from rftgym.envs.customer_service.scenarios import REFUSAL, missing_outputs, normalize
from rftgym.types import Task, ToolResult, assistant_message, message_text


def lint_env(env: CustomerServiceEnv, num_train: int = 100) -> tuple[int, list[str]]:
    """Lint the test split and the first ``num_train`` train tasks of ``env``: how many tasks were
    checked, and the problems. Each domain class binds it as its ``lint`` method, the one
    ``rftgym envs lint`` calls."""
    test, train = env.tasks("test"), env.tasks("train", num_train)
    return len(test) + len(train), lint_tasks(env, test) + lint_tasks(env, train, unique=False)


def lint_tasks(env: CustomerServiceEnv, tasks: list[Task], unique: bool = True) -> list[str]:
    """Every problem found in ``tasks``, as ``"<task id>: <problem>"`` lines (empty: all good).
    ``unique=False`` allows repeated tasks (train tasks are independent draws and may repeat)."""
    problems = []
    keys = {"id": lambda t: t.id, "request from the same customer": lambda t: (t.prompt, t.metadata["identity"])}
    for what, key in keys.items() if unique else ():
        counts = Counter(key(t) for t in tasks)
        problems += [f"{t.id}: duplicate {what}" for t in tasks if counts[key(t)] > 1]
    for task in tasks:
        problems += [f"{task.id}: {p}" for p in lint_task(env, task)]
    return problems


def lint_task(env: CustomerServiceEnv, task: Task) -> list[str]:
    """The problems of one task (see the module docstring); the reference dialogue is played only
    when every static check passes."""
    kind = task.metadata.get("kind")
    if kind not in ("write", "read", "refusal", "transfer"):
        return [f"unknown kind {kind!r}"]
    unknown = [a.get("name") for a in task.solution if a.get("name") not in env.toolbox.tools]
    if not task.solution or unknown:
        return [f"the reference names unknown tools {unknown}" if unknown else "the reference has no actions"]
    db, results, violations = env.replay(task)
    problems = [
        f"reference action {i} ({a['name']}) fails: {message_text(r.message)}"
        for i, (a, r) in enumerate(zip(task.solution, results, strict=True))
        if r.error
    ]
    problems += [f"reference breaks the policy: {v}" for v in violations]
    problems += _kind_problems(env, task, kind, db)
    problems += _output_problems(env, task, results)
    return problems or _play_reference(env, task)


def _kind_problems(env: CustomerServiceEnv, task: Task, kind: str, db: Database) -> list[str]:
    """Whether the replayed reference (``db``: the database after it) fits the task's kind, so
    that an agent that does nothing scores 0."""
    problems = []
    writes = [a["name"] for a in task.solution if a["name"] in env.write_tools]
    if kind in ("write", "transfer") and not db.changed_keys():
        problems.append(f"a {kind} task whose reference leaves the database unchanged")
    if kind in ("read", "refusal") and writes:
        problems.append(f"a {kind} task whose reference writes ({', '.join(writes)})")
    if kind in ("read", "refusal") and not task.answer:
        problems.append(f"a {kind} task without required outputs: doing nothing would score 1")
    if kind == "refusal" and not any(isinstance(o, list) and set(REFUSAL) <= set(o) for o in task.answer):
        problems.append("a refusal task that does not require the refusal to be said")
    return problems


def _output_problems(env: CustomerServiceEnv, task: Task, results: list[ToolResult]) -> list[str]:
    """Whether every required output can be learnt (from the reference's tool ``results``, the
    request or the policy) and the reference reply says them all."""
    problems = []
    known = normalize(" ".join([task.prompt, env.policy] + [message_text(r.message) for r in results]))
    numbers = {float(n) for n in re.findall(r"-?\d+(?:\.\d+)?", known)}
    for output in task.answer:
        if isinstance(output, str) and normalize(output) not in known and not _number_in(output, numbers):
            problems.append(f"required output {output!r} appears in no tool result, nor the request or policy")
    if missing_outputs(task.answer, [assistant_message(task.metadata.get("reply", ""))]):
        problems.append("the reference reply does not say every required output")
    return problems


def _number_in(text: str, numbers: set[float]) -> bool:
    """Whether ``text`` is one of ``numbers`` as a number (a tool result's JSON says ``42.5`` for ``"42.50"``)."""
    try:
        return float(text) in numbers
    except ValueError:
        return False


def _play_reference(env: CustomerServiceEnv, task: Task) -> list[str]:
    """Play the reference dialogue against the scripted customer; its problems if it misses 1.0."""
    env.reset(seed=0, options={"task": task})
    total = 0.0
    for _ in range(env.max_turns):
        _, reward, terminated, truncated, info = env.step(env.oracle_action(task, env.messages))
        total += reward
        if terminated or truncated:
            break
    if info.get("termination_reason") not in ("user_stop", "transfer_to_human") or abs(total - 1.0) > 1e-9:
        detail = {k: info.get(k) for k in ("termination_reason", "db_diff", "missing_outputs", "all_policy_violations")}
        return [f"the reference dialogue scores {total:g}, not 1: {json.dumps(detail)}"]
    return []
