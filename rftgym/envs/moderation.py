"""``rftgym/Moderation-v0``: content moderation, label a post and justify the label.

Each task is a generated user post (templates written for rftgym, one label each: ``allow``,
``spam``, ``harassment``, ``violence``, ``misinformation``). The model replies in one turn with a
line ``Label: <label>`` and a line ``Reason: <why>``.

Reward components (outcome):

* ``label_correct``: 1.0 when the label line names the reference label.
* ``justification`` (only with a judge): an LLM judge's 0-10 score of the reason, on any
  OpenAI-compatible endpoint (RLAIF; :class:`rftgym.rewards.LLMJudge`), configured by the env args
  ``judge_base_url`` and ``judge_model``, which default to ``RFTGYM_JUDGE_BASE_URL`` and
  ``RFTGYM_JUDGE_MODEL`` (set by ``--judge-base-url`` / ``--judge-model`` of ``rftgym rollout``,
  ``train --online`` and ``rescore``). A judge that fails or answers without a readable score
  is recorded as ``justification/error``, never as 0. With a judge both terms weigh 0.5. With
  ``judge_scope="group"`` one judge request ranks the samples of a task against each other
  (:meth:`~rftgym.rewards.LLMJudge.rank_group`; applied by the rollout loop once a group is complete).
"""

from __future__ import annotations

import os
import random
import re

from rftgym.envs.generated import GeneratedTasksEnv
from rftgym.rewards.judge import LLMJudge
from rftgym.rewards.rubric import RewardContext, RewardTerm, Rubric
from rftgym.types import Message, Task, ToolResult

LABELS = ("allow", "spam", "harassment", "violence", "misinformation")
#: label -> (post template, why it gets that label); slots: {name} {thing} {place}.
POSTS: dict[str, list[tuple[str, str]]] = {
    "allow": [
        ("Does anyone know a good {thing} repair shop near {place}? Mine broke yesterday.", "an ordinary request for advice"),
        ("Congrats to {name} for finishing the marathon in {place}! So proud.", "friendly congratulations"),
        ("I disagree with the new {thing} policy, but I see why they did it.", "civil disagreement"),
    ],
    "spam": [
        ("FREE {thing}!!! Click bit.ly/win-now to claim yours before midnight!!!", "an unsolicited promotional link"),
        ("Make $5000 a week from home selling {thing}. DM me, limited spots!", "a get-rich-quick solicitation"),
        ("Buy followers cheap, best {thing} deals, visit cheap-deals.example now", "advertising unrelated to the thread"),
    ],
    "harassment": [
        ("{name}, you are a worthless idiot and everyone in {place} hates you.", "insults aimed at a named person"),
        ("Nobody wants you here {name}. Log off and never post again, loser.", "telling a named person to leave, with insults"),
        ("I found where {name} lives in {place} and I'll post it for everyone.", "threatening to expose a person's address"),
    ],
    "violence": [
        ("If {name} shows up in {place} tomorrow I'm going to hurt them badly.", "a threat of physical harm"),
        ("Someone should burn down the {thing} store in {place} tonight.", "an incitement to arson"),
        ("Bring weapons to {place} on Friday, we'll make them pay.", "a call to armed violence"),
    ],
    "misinformation": [
        ("Doctors confirm that {thing} cures cancer in three days, share before it's deleted!", "a false medical claim"),
        ("The election in {place} is cancelled, don't bother voting on Tuesday.", "false information about voting"),
        ("Drinking bleach protects you from the flu, my cousin {name} swears by it.", "dangerous false health advice"),
    ],
}  # fmt: skip
NAMES = ["Sam", "Priya", "Jordan", "Mei", "Lucas", "Aisha", "Tom", "Elena"]
THINGS = ["phone", "bike", "coffee", "vitamin", "sneaker", "laptop", "garden"]
PLACES = ["Leeds", "Austin", "Porto", "Hanoi", "Calgary", "Malmo"]
SYSTEM_PROMPT = (
    f"You are a content moderator. Label the user's post with one of: {', '.join(LABELS)}. "
    "Answer with two lines: 'Label: <label>' and 'Reason: <one sentence quoting what in the post decides it>'."
)
CRITERIA = (
    "The assistant labelled a social media post for content moderation and justified the label. "
    "Score the justification: 10 = it names the specific content of the post that decides the "
    "(reference) label, accurately and concisely; 5 = vague or partly wrong; 0 = missing, wrong, "
    "or justifying a wrong label."
)
_LABEL = re.compile(r"label\s*[:=]\s*\**\s*([a-z_]+)", re.IGNORECASE)


def given_label(text: str) -> str | None:
    """The label the reply names on its ``Label:`` line, lower-cased; None without one."""
    found = _LABEL.findall(text)
    return found[-1].lower() if found else None


def label_correct(ctx: RewardContext) -> float:
    """1.0 when the reply's label is the reference label."""
    return float(given_label(ctx.response) == ctx.task.answer)


def make_task(split: str, index: int) -> Task:
    """The post ``moderation-<split>-<index>``, generated from its split and index."""
    rng = random.Random(f"moderation-{split}-{index}")
    label = LABELS[index % len(LABELS)]
    template, reason = rng.choice(POSTS[label])
    post = template.format(name=rng.choice(NAMES), thing=rng.choice(THINGS), place=rng.choice(PLACES))
    return Task(f"moderation-{split}-{index:05d}", split, f"Post:\n{post}", label, metadata={"reason": reason})


class ModerationEnv(GeneratedTasksEnv):
    """Content moderation: label a post and justify it; an exact-label term plus an LLM judge."""

    test_tasks = 60

    def __init__(
        self,
        judge_base_url: str | None = None,
        judge_model: str | None = None,
        judge_api_key: str = "EMPTY",
        judge_scope: str = "outcome",
        max_turns: int = 1,
        render_mode: str | None = None,
    ):
        """Args:
        judge_base_url: The judge's OpenAI-compatible endpoint (default: ``RFTGYM_JUDGE_BASE_URL``);
            without one only ``label_correct`` scores.
        judge_model: The judge model (default: ``RFTGYM_JUDGE_MODEL``; needed with ``judge_base_url``).
        judge_api_key: Sent to the judge endpoint.
        judge_scope: ``"outcome"``: each reply judged alone; ``"group"``: the samples of a task
            judged side by side in one request.
        """
        super().__init__(max_turns=max_turns, render_mode=render_mode)
        judge_base_url = judge_base_url or os.environ.get("RFTGYM_JUDGE_BASE_URL")
        judge_model = judge_model or os.environ.get("RFTGYM_JUDGE_MODEL")
        if bool(judge_base_url) != bool(judge_model):
            raise ValueError("give both judge_base_url and judge_model (or RFTGYM_JUDGE_*), or neither")
        if judge_scope not in ("outcome", "group"):
            raise ValueError(f"judge_scope must be 'outcome' or 'group', got {judge_scope!r}")
        terms = [RewardTerm("label_correct", label_correct, scope="outcome")]
        if judge_base_url and judge_model:
            judge = LLMJudge(judge_base_url, judge_model, CRITERIA, api_key=judge_api_key, max_retries=1)
            terms = [RewardTerm("label_correct", label_correct, weight=0.5, scope="outcome"),
                     RewardTerm("justification", judge if judge_scope == "outcome" else judge.rank_group,
                                weight=0.5, scope=judge_scope)]  # fmt: skip
        self.rubric = Rubric(terms)

    def make_task(self, split: str, index: int) -> Task:
        return make_task(split, index)

    def system_prompt(self, task: Task) -> str:
        return SYSTEM_PROMPT

    def react(self, message: Message, results: list[ToolResult]) -> tuple[list[Message], str | None]:
        return [], "answered"

    def oracle_action(self, task: Task, messages: list[Message]) -> Message:
        reason = f"The post contains {task.metadata['reason']}."
        return {"role": "assistant", "content": f"Label: {task.answer}\nReason: {reason}"}
