"""Trajectory files -> training tensors: token ids, loss masks, old logprobs, per-token advantages.

:func:`trajectories_to_tensors` is the whole job, usable without the rest of the trainer.

Two ways to get an episode's tokens:

* **Endpoint token ids** (every turn has ``prompt_token_ids`` and ``completion_token_ids``): used
  verbatim. Turns are joined into one row while each turn's prompt starts with the previous row;
  where it does not (the endpoint re-rendered history differently from what was sampled), a new
  row starts, so every sampled token is still trained on in the context it was sampled in.
* **Rendering** (any turn lacks ids): turn by turn with the tokenizer's chat template. The prompt
  of turn ``t+1`` must start with the prompt and completion of turn ``t`` (the prefix property).
  A template that rewrites history (drops reasoning, reformats tool calls) breaks it: the episode
  is left out and reported as drift, never trained on silently.

Masks cover exactly the sampled assistant tokens: the completion's tokens up to and including the
end-of-turn token, never the prompt, tool results, user replies or template text after the turn.

Reasoning tokens are sampled tokens, so they are trained like the rest of the turn. With endpoint
token ids they are already part of ``completion_token_ids`` (vLLM's reasoning parser only splits
the text into ``reasoning_content``). With rendering, the chat template must render an assistant
message's ``reasoning_content`` into its turn (the tiny model's writes ``<think>...</think>``
before the content); a template that drops the reasoning of earlier turns breaks the prefix
property, and the episode is reported as drift, never trained on silently.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from rftgym.models.chat import eos_token_ids as default_eos_token_ids
from rftgym.models.chat import render_ids
from rftgym.training.advantages import ADVANTAGES, AdvantageOptions
from rftgym.trajectories import Trajectory, read_trajectories


@dataclass
class Drift:
    """An episode left out because its rendering breaks the prefix property.

    Attributes:
        episode_id: The episode.
        turn: The turn whose prompt does not extend what came before it.
        position: The first token index where they differ.
        expected: Text of the earlier tokens from ``position`` (a short excerpt).
        rendered: Text the template rendered there instead.
    """

    episode_id: str
    turn: int
    position: int
    expected: str
    rendered: str

    def __str__(self) -> str:
        return (
            f"{self.episode_id}: turn {self.turn} re-renders history differently at token {self.position}: "
            f"sampled {self.expected!r}, template gives {self.rendered!r}"
        )


@dataclass
class Episode:
    """What the trainer reports per episode: ``reward`` (total), ``turns``, ``response_tokens``,
    and ``weights_version``: the oldest weights version any of its turns was sampled with (None
    when the endpoint did not say), from which the online loop measures staleness."""

    id: str
    group_id: str
    reward: float
    turns: int
    response_tokens: int
    weights_version: int | None = None


@dataclass
class TrainingBatch:
    """Right-padded training tensors, one row per token sequence (an episode, or part of one).

    Attributes:
        input_ids: ``[rows, length]`` token ids (pad id after each row's end).
        attention_mask: ``[rows, length]`` 1 on real tokens.
        loss_mask: ``[rows, length]`` True where the token was sampled by the policy: the loss
            at position ``j`` is on ``log p(input_ids[j] | input_ids[:j])``.
        old_logprobs: ``[rows, length]`` the endpoint's logprob of each sampled token; NaN where
            unknown (the trainer then scores it with the weights it starts the step with).
        advantages: ``[rows, length]`` the token's advantage (0 off the mask).
        row_episode: ``[rows]`` index into ``episodes`` of each row.
        episodes: The episodes trained on.
        drift: Episodes left out for drift.
        skipped: Episodes left out for other reasons, by reason (``error``, ``no_turns``,
            ``too_long``, ``incomplete_group``).
        split_episodes: Episodes whose endpoint token ids did not join into one row.
        groups: Group ids of the episodes left after errors and empty episodes, in order.
        dropped_groups: Group ids left out whole because an episode of theirs failed
            (``drop_incomplete_groups``); their episodes that did not fail are counted in
            ``skipped["incomplete_group"]``.
        zero_variance_groups: Group ids whose advantages are all exactly zero (every episode
            scored the same): they carry no learning signal.
        temperature: The sampling temperature all trained episodes record (``policy.sampling``),
            None when unknown or mixed: the trainer must score tokens at the temperature they
            were sampled at.
    """

    input_ids: torch.Tensor = field(default_factory=lambda: torch.empty(0, 0, dtype=torch.long))
    attention_mask: torch.Tensor = field(default_factory=lambda: torch.empty(0, 0, dtype=torch.long))
    loss_mask: torch.Tensor = field(default_factory=lambda: torch.empty(0, 0, dtype=torch.bool))
    old_logprobs: torch.Tensor = field(default_factory=lambda: torch.empty(0, 0))
    advantages: torch.Tensor = field(default_factory=lambda: torch.empty(0, 0))
    row_episode: torch.Tensor = field(default_factory=lambda: torch.empty(0, dtype=torch.long))
    episodes: list[Episode] = field(default_factory=list)
    drift: list[Drift] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)
    split_episodes: int = 0
    groups: list[str] = field(default_factory=list)
    dropped_groups: list[str] = field(default_factory=list)
    zero_variance_groups: list[str] = field(default_factory=list)
    temperature: float | None = None

    def __len__(self) -> int:
        return self.input_ids.shape[0]

    def has_signal(self, rows: torch.Tensor | slice | None = None) -> bool:
        """Whether any sampled token of ``rows`` (all by default) has a non-zero advantage: a
        step without one would only move the weights through the KL term and the optimizer's state."""
        index = slice(None) if rows is None else rows
        return bool((self.advantages[index][self.loss_mask[index]] != 0).any())

    def rows(self, index: torch.Tensor | slice) -> dict[str, torch.Tensor]:
        """The tensors of some rows, trimmed to their longest row (a micro-batch)."""
        attention = self.attention_mask[index]
        width = int(attention.sum(-1).max()) if len(attention) else 0
        return {
            name: getattr(self, name)[index][:, :width]
            for name in ("input_ids", "attention_mask", "loss_mask", "old_logprobs", "advantages")
        }

    def padded_micro_batches(self, rows: torch.Tensor, rows_per_batch: int) -> list[dict[str, torch.Tensor]]:
        """``rows`` cut into micro-batches of ``rows_per_batch`` right-padded rows (see :meth:`rows`),
        with ``position_ids`` and ``real_tokens`` (the count of non-pad tokens)."""
        micro = []
        for start in range(0, len(rows), rows_per_batch):
            tensors = self.rows(rows[start : start + rows_per_batch])
            tensors["position_ids"] = torch.arange(tensors["input_ids"].shape[1]).expand_as(tensors["input_ids"])
            tensors["real_tokens"] = tensors["attention_mask"].sum()
            micro.append(tensors)
        return micro

    def packed_micro_batches(self, rows: torch.Tensor, token_budget: int) -> list[dict[str, torch.Tensor]]:
        """``rows`` packed without padding into lines as long as the longest of them (first fit by
        decreasing length), the lines grouped into as few micro-batches of at most ``token_budget``
        tokens (one line at least) as they fit in, evenly.

        A micro-batch is ``[lines, width]``: the sequences end to end in each line,
        ``position_ids`` restarting at 0 for each, and a boolean block-diagonal causal
        ``attention_mask`` ``[lines, 1, width, width]`` (True where a token may attend), so each
        sequence sees only itself and its logprobs equal its unpacked ones; what is left at the
        end of a line is filler that attends only to itself and is never trained on. Attention then
        costs ``lines x width^2``, as padded rows of the longest sequence would, not the square of
        the whole budget. transformers' sdpa attention (the trainer's) takes such a mask as it is.
        """
        lengths = [int(n) for n in self.attention_mask[rows].sum(-1).tolist()]
        width = max(lengths, default=1)
        lines: list[list[int]] = []
        used: list[int] = []
        for i in sorted(range(len(rows)), key=lambda i: -lengths[i]):
            fit = next((line for line, n in enumerate(used) if n + lengths[i] <= width), None)
            if fit is None:
                lines.append([])
                used.append(0)
                fit = len(lines) - 1
            lines[fit].append(int(rows[i]))
            used[fit] += lengths[i]
        # As few micro-batches as the budget allows, with as many lines each (29 + 3 lines become 16 + 16).
        batches = max(1, -(-len(lines) // max(1, token_budget // width)))
        per_batch = max(1, -(-len(lines) // batches))
        return [self._packed(lines[i : i + per_batch], width) for i in range(0, len(lines), per_batch)]

    def _packed(self, lines: list[list[int]], width: int) -> dict[str, torch.Tensor]:
        names = ("input_ids", "loss_mask", "old_logprobs", "advantages")
        tensors = {name: torch.zeros(len(lines), width, dtype=getattr(self, name).dtype) for name in names}
        position_ids = torch.zeros(len(lines), width, dtype=torch.long)
        sequence = -1 - torch.arange(width).repeat(len(lines), 1)  # filler: a sequence of its own per token
        real = 0
        for line, members in enumerate(lines):
            start = 0
            for index, row in enumerate(members):
                n = int(self.attention_mask[row].sum())
                for name in names:
                    tensors[name][line, start : start + n] = getattr(self, name)[row, :n]
                position_ids[line, start : start + n] = torch.arange(n)
                sequence[line, start : start + n] = index
                start += n
            real += start
        causal = torch.ones(width, width, dtype=torch.bool).tril()
        tensors["attention_mask"] = ((sequence[:, :, None] == sequence[:, None, :]) & causal)[:, None]
        tensors["position_ids"] = position_ids
        tensors["real_tokens"] = torch.tensor(real)
        return tensors


@dataclass
class _Row:
    ids: list[int] = field(default_factory=list)
    mask: list[bool] = field(default_factory=list)
    logprobs: list[float] = field(default_factory=list)
    advantages: list[float] = field(default_factory=list)

    def add(self, ids: list[int], sampled: bool, logprobs: list[float] | None = None, advantage: float = 0.0) -> None:
        self.ids += ids
        self.mask += [sampled] * len(ids)
        self.logprobs += logprobs if logprobs is not None else [float("nan")] * len(ids)
        self.advantages += [advantage if sampled else 0.0] * len(ids)


def trajectories_to_tensors(
    source: str | Path | Iterable[str | Path] | Iterable[Trajectory],
    tokenizer: Any,
    *,
    advantage: str = "grpo",
    options: AdvantageOptions | None = None,
    max_length: int | None = None,
    eos_token_ids: set[int] | None = None,
    drop_incomplete_groups: bool = False,
) -> TrainingBatch:
    """Turn trajectory files (or Trajectory objects) into a :class:`TrainingBatch`.

    Args:
        source: A trajectory file, several, or Trajectory objects.
        tokenizer: The policy's HF tokenizer (for rendering turns without endpoint ids, and pad).
        advantage: Estimator name in :data:`~rftgym.training.advantages.ADVANTAGES`.
        options: Estimator settings.
        max_length: Leave out episodes with a row longer than this many tokens (None: keep all).
        eos_token_ids: End-of-turn tokens that close a rendered assistant turn (default: the
            tokenizer's eos and its model's generation config's). Template text after the last
            one in a turn (a newline) is not trained on.
        drop_incomplete_groups: Leave out a group whole when one of its episodes failed (the
            online loop's rule, after replaying failed episodes): otherwise its other episodes
            are trained on, normalised among themselves.

    Episodes with an error (an infrastructure failure: the endpoint, the env, a sandbox) are
    left out before advantages are computed: their reward says nothing about the policy, and
    they never count as a 0 in their group's statistics. So are episodes without turns. A file
    holding several lines of one episode (a replayed one) counts its last line only.
    """
    if advantage not in ADVANTAGES:
        raise ValueError(f"unknown advantage estimator {advantage!r}; known: {', '.join(sorted(ADVANTAGES))}")
    options = options or AdvantageOptions()
    eos = eos_token_ids or default_eos_token_ids(tokenizer, tokenizer.name_or_path)
    skipped: dict[str, int] = defaultdict(int)
    groups: dict[str, list[Trajectory]] = defaultdict(list)
    failed: set[str] = set()
    for traj in _trajectories(source):
        reason = "error" if traj.error is not None else "no_turns" if not traj.turns else None
        if reason == "error":
            failed.add(traj.group_id)
        if reason:
            skipped[reason] += 1
        else:
            groups[traj.group_id].append(traj)
    dropped = sorted(failed) if drop_incomplete_groups else []
    for group_id in dropped:
        skipped["incomplete_group"] += len(groups.pop(group_id, []))

    rows: list[_Row] = []
    row_episode: list[int] = []
    batch = TrainingBatch(dropped_groups=dropped)  # tensors filled in at the end; drift recorded as episodes are read
    for group_id, group in groups.items():
        group_advantages = ADVANTAGES[advantage](group, options)
        batch.groups.append(group_id)
        if all(a == 0.0 for episode in group_advantages for a in episode):
            batch.zero_variance_groups.append(group_id)
        for traj, turn_advantages in zip(group, group_advantages):
            episode_rows = _episode_rows(traj, turn_advantages, tokenizer, eos, batch)
            if episode_rows is None:
                continue
            if max_length is not None and any(len(r.ids) > max_length for r in episode_rows):
                skipped["too_long"] += 1
                continue
            tokens = sum(sum(r.mask) for r in episode_rows)
            versions = [_step_of(t.weights_version) for t in traj.turns]
            oldest = min((v for v in versions if v is not None), default=None)
            batch.episodes.append(Episode(traj.id, traj.group_id, traj.reward, traj.num_turns, tokens, oldest))
            rows += episode_rows
            row_episode += [len(batch.episodes) - 1] * len(episode_rows)
    batch.skipped = dict(skipped)
    temperatures = {(t.policy.get("sampling") or {}).get("temperature") for group in groups.values() for t in group}
    batch.temperature = temperatures.pop() if len(temperatures) == 1 else None
    _pad(batch, rows, row_episode, tokenizer.pad_token_id if tokenizer.pad_token_id is not None else min(eos))
    return batch


def _step_of(version: str | None) -> int | None:
    """The trainer step of a weights version (``step-N`` as checkpoints mark it, or ``N``)."""
    digits = (version or "").removeprefix("step-")
    return int(digits) if digits.isdigit() else None


def _trajectories(source: Any) -> Iterable[Trajectory]:
    if isinstance(source, (str, Path)):
        source = [source]
    for item in source:
        if isinstance(item, Trajectory):
            yield item
        else:
            yield from read_trajectories(item, latest_only=True)


def _episode_rows(
    traj: Trajectory, advantages: list[float], tokenizer: Any, eos: set[int], batch: TrainingBatch
) -> list[_Row] | None:
    """The rows of one episode, or None when it drifts (recorded in ``batch.drift``)."""
    sampled = _endpoint_ids(traj)
    if sampled is None:
        return _rendered_rows(traj, advantages, tokenizer, eos, batch)
    rows = _rows_from_endpoint_ids(sampled, advantages)
    batch.split_episodes += len(rows) > 1
    return rows


#: One turn as the endpoint reported it: prompt ids, completion ids, their logprobs (None: unknown).
_SampledTurn = tuple[list[int], list[int], list[float] | None]


def _endpoint_ids(traj: Trajectory) -> list[_SampledTurn] | None:
    """Every turn's ids as the endpoint reported them, or None when a turn lacks them."""
    sampled: list[_SampledTurn] = []
    for turn in traj.turns:
        prompt, completion, logprobs = turn.prompt_token_ids, turn.completion_token_ids, turn.logprobs
        if prompt is None or completion is None:
            return None
        sampled.append(
            (prompt, completion, logprobs if logprobs is not None and len(logprobs) == len(completion) else None)
        )
    return sampled


def _rows_from_endpoint_ids(sampled: list[_SampledTurn], advantages: list[float]) -> list[_Row]:
    """Rows built from the endpoint's own token ids, verbatim."""
    rows = [_Row()]
    for (prompt, completion, logprobs), advantage in zip(sampled, advantages):
        row = rows[-1]
        if prompt[: len(row.ids)] != row.ids:  # history was re-tokenised: start a new row
            row = _Row()
            rows.append(row)
        row.add(prompt[len(row.ids) :], False)
        row.add(completion, True, logprobs, advantage)
    return rows


def _rendered_rows(
    traj: Trajectory, advantages: list[float], tokenizer: Any, eos: set[int], batch: TrainingBatch
) -> list[_Row] | None:
    """One row rendered turn by turn with the chat template, or None when the rendering breaks
    the prefix property (recorded in ``batch.drift``)."""
    row = _Row()
    for index, (turn, advantage) in enumerate(zip(traj.turns, advantages)):
        prompt = render_ids(tokenizer, traj.messages[: turn.message_index], traj.tools or None)
        full = render_ids(
            tokenizer, traj.messages[: turn.message_index + 1], traj.tools or None, add_generation_prompt=False
        )
        # The prompt must extend what was sampled so far, and the turn must extend the prompt.
        for before, after in ((row.ids, prompt), (prompt, full)):
            position = _first_difference(before, after)
            if position is not None:
                excerpts = _excerpt(tokenizer, before, position), _excerpt(tokenizer, after, position)
                batch.drift.append(Drift(traj.id, index, position, *excerpts))
                return None
        completion = full[len(prompt) :]
        ends = [i for i, token in enumerate(completion) if token in eos]
        completion = completion[: ends[-1] + 1] if ends else completion
        row.add(prompt[len(row.ids) :], False)
        row.add(completion, True, advantage=advantage)
    return [row]


def _first_difference(before: list[int], after: list[int]) -> int | None:
    """Where ``after`` stops extending ``before`` (None when ``before`` is a prefix of it)."""
    for i, token in enumerate(before):
        if i >= len(after) or after[i] != token:
            return i
    return None


def _excerpt(tokenizer: Any, ids: list[int], start: int, length: int = 40) -> str:
    return tokenizer.decode(ids[start : start + length], skip_special_tokens=False)


def _pad(batch: TrainingBatch, rows: list[_Row], row_episode: list[int], pad_id: int) -> None:
    width = max((len(r.ids) for r in rows), default=0)
    shape = (len(rows), width)
    batch.input_ids = torch.full(shape, pad_id, dtype=torch.long)
    batch.attention_mask = torch.zeros(shape, dtype=torch.long)
    batch.loss_mask = torch.zeros(shape, dtype=torch.bool)
    batch.old_logprobs = torch.full(shape, float("nan"))
    batch.advantages = torch.zeros(shape)
    for i, row in enumerate(rows):
        n = len(row.ids)
        batch.input_ids[i, :n] = torch.tensor(row.ids, dtype=torch.long)
        batch.attention_mask[i, :n] = 1
        batch.loss_mask[i, :n] = torch.tensor(row.mask, dtype=torch.bool)
        batch.old_logprobs[i, :n] = torch.tensor(row.logprobs, dtype=torch.float)
        batch.advantages[i, :n] = torch.tensor(row.advantages, dtype=torch.float)
    batch.row_episode = torch.tensor(row_episode, dtype=torch.long)
