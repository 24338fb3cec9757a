"""Batched sampling from a transformers causal LM with per-row sampling settings.

:class:`Generator` decodes a batch of prompts together (left-padded, one KV cache) while each row
keeps its own temperature, top-p, token budget, stop strings and seed, so concurrent requests with
different settings share one forward pass per step.
"""

from __future__ import annotations

import inspect
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch


@dataclass
class SamplingParams:
    """How to sample one completion.

    Attributes:
        temperature: Softmax temperature; 0 means greedy.
        top_p: Nucleus mass: sample only from the smallest set of tokens whose probability reaches it.
        max_tokens: Most tokens to generate (the end-of-turn token included).
        stop: Strings that end the completion; the text is cut before the first one found.
        seed: Seed of this row's sampler; None draws a fresh one.
        top_logprobs: How many of the likeliest tokens to report at each step (0: none).
    """

    temperature: float = 1.0
    top_p: float = 1.0
    max_tokens: int = 256
    stop: list[str] = field(default_factory=list)
    seed: int | None = None
    top_logprobs: int = 0


@dataclass
class Completion:
    """One sampled completion.

    Attributes:
        token_ids: The sampled tokens, the end-of-turn token included when it was sampled.
        logprobs: Log-probability of each sampled token under ``softmax(logits / temperature)``
            (temperature 1 for greedy rows), before top-p truncation: the distribution the trainer
            scores at the same temperature.
        text: The decoded completion, without the end-of-turn token and cut before a stop string.
        finish_reason: ``stop`` (end-of-turn token or stop string), ``length`` (budget ran out)
            or ``cancelled`` (its client went away).
        top_logprobs: Per sampled token, the ``top_logprobs`` likeliest ``(token, logprob)`` at
            that step (same distribution as ``logprobs``), likeliest first; empty when not asked.
    """

    token_ids: list[int]
    logprobs: list[float]
    text: str
    finish_reason: str
    top_logprobs: list[list[tuple[int, float]]] = field(default_factory=list)


class Generator:
    """Samples completions for token-id prompts with one model, many rows at a time."""

    def __init__(self, model: Any, tokenizer: Any, eos_token_ids: set[int], seed: int | None = None):
        """Args:
        model: A transformers causal LM in eval mode.
        tokenizer: Its tokenizer (for decoding and the pad id).
        eos_token_ids: Tokens that end a turn.
        seed: Seeds the seeds of rows that bring none (None: fresh randomness).
        """
        self._seeds = random.Random(seed)
        self.model = model
        self.tokenizer = tokenizer
        self.eos_token_ids = eos_token_ids
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else min(eos_token_ids)

    @property
    def _cache_arg(self) -> str:
        return "cache" if "cache" in inspect.signature(self.model.forward).parameters else "past_key_values"

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @torch.inference_mode()
    def generate(
        self,
        prompts: list[list[int]],
        params: list[SamplingParams],
        cancelled: Callable[[int], bool] | None = None,
    ) -> list[Completion]:
        """Sample one completion per prompt (row ``i`` uses ``params[i]``).

        ``cancelled(i)``, asked after every step, ends row ``i`` early (finish reason
        ``cancelled``): its client has gone, and once every row has ended decoding stops."""
        rows = len(prompts)
        device = self.device
        width = max(len(p) for p in prompts)
        input_ids = torch.full((rows, width), self.pad_id, dtype=torch.long)
        attention = torch.zeros((rows, width), dtype=torch.long)
        for i, prompt in enumerate(prompts):  # left padding: every row's next token is at the end
            input_ids[i, width - len(prompt) :] = torch.tensor(prompt)
            attention[i, width - len(prompt) :] = 1
        input_ids, attention = input_ids.to(device), attention.to(device)
        positions = (attention.cumsum(-1) - 1).clamp(min=0)
        # One Python RNG per row: a row draws one uniform per step, so its sample depends only on its
        # seed, not on the rows it is batched with; sampling itself is one vectorised op per step.
        rngs = [random.Random(p.seed if p.seed is not None else self._seeds.getrandbits(62)) for p in params]
        greedy = torch.tensor([p.temperature == 0 for p in params], device=device)
        temperature = torch.tensor([p.temperature or 1.0 for p in params], device=device)[:, None]
        # None when no row truncates: then no step sorts the vocabulary (see _choose).
        top_p = (
            torch.tensor([p.top_p for p in params], device=device)[:, None]
            if any(p.top_p < 1 for p in params)
            else None
        )
        tokens: list[list[int]] = [[] for _ in range(rows)]
        logprobs: list[list[float]] = [[] for _ in range(rows)]
        top: list[list[list[tuple[int, float]]]] = [[] for _ in range(rows)]
        top_k = min(max(p.top_logprobs for p in params), self.model.config.vocab_size)
        done: list[tuple[str, str] | None] = [None] * rows  # (finish reason, text) once a row ends

        from transformers import DynamicCache

        # transformers 5 renamed the forward argument ``past_key_values`` to ``cache``.
        cache = {self._cache_arg: DynamicCache()}
        out = self.model(input_ids=input_ids, attention_mask=attention, position_ids=positions, use_cache=True, **cache)
        for _ in range(max(p.max_tokens for p in params)):
            scaled = out.logits[:, -1, :].float() / temperature
            log_probs = scaled.log_softmax(-1)
            chosen = self._choose(log_probs, top_p, greedy, rngs)
            picked = log_probs.gather(1, chosen[:, None]).squeeze(1).tolist()
            best = log_probs.topk(top_k, dim=-1) if top_k else None
            for i, token in enumerate(chosen.tolist()):
                if done[i] is None:
                    tokens[i].append(token)
                    logprobs[i].append(picked[i])
                    if best is not None and params[i].top_logprobs:
                        k = params[i].top_logprobs
                        top[i].append(list(zip(best.indices[i, :k].tolist(), best.values[i, :k].tolist())))
                    done[i] = self._finished(tokens[i], params[i])
                    if done[i] is None and cancelled is not None and cancelled(i):
                        done[i] = ("cancelled", self._text(tokens[i]))
            if all(done):
                break
            attention = torch.cat([attention, attention.new_ones((rows, 1))], dim=1)
            positions = positions[:, -1:] + 1
            out = self.model(
                input_ids=chosen[:, None], attention_mask=attention, position_ids=positions, use_cache=True, **cache
            )
        ends = [end or ("length", self._text(row)) for end, row in zip(done, tokens)]
        return [Completion(tokens[i], logprobs[i], text, finish, top[i]) for i, (finish, text) in enumerate(ends)]

    @staticmethod
    def _choose(
        log_probs: torch.Tensor, top_p: torch.Tensor | None, greedy: torch.Tensor, rngs: list[random.Random]
    ) -> torch.Tensor:
        """The next token of every row: argmax for greedy rows, else a top-p sample.

        Rows with ``top_p`` 1 sample by inverse CDF over the vocabulary as it is; only rows with
        ``top_p`` < 1 need it sorted by probability (a sort of the whole vocabulary at every step,
        the sampler's largest cost on a large vocabulary), and ``top_p`` None says there are none.
        The choice is per row, so a row's sample does not depend on the rows it is batched with."""
        probs = log_probs.exp()
        u = torch.tensor([rng.random() for rng in rngs], device=log_probs.device)[:, None]
        chosen = _inverse_cdf(probs.cumsum(-1), u)
        if top_p is not None:
            sorted_probs, order = probs.sort(dim=-1, descending=True)
            # Drop a token when the tokens ranked above it already reach top_p (the first always stays).
            drop = sorted_probs.cumsum(-1) - sorted_probs >= top_p
            nucleus = order.gather(1, _inverse_cdf(sorted_probs.masked_fill(drop, 0.0).cumsum(-1), u)[:, None])
            chosen = torch.where(top_p.squeeze(1) < 1, nucleus.squeeze(1), chosen)
        return torch.where(greedy, log_probs.argmax(-1), chosen)

    def _finished(self, tokens: list[int], params: SamplingParams) -> tuple[str, str] | None:
        """(finish reason, final text) when the row is done after its latest token, else None."""
        if tokens[-1] in self.eos_token_ids:
            return "stop", self._text(tokens[:-1])
        if params.stop:
            text = self._text(tokens)
            cut = min((text.find(s) for s in params.stop if s in text), default=-1)
            if cut >= 0:
                return "stop", text[:cut]
        if len(tokens) >= params.max_tokens:
            return "length", self._text(tokens)
        return None

    def _text(self, tokens: list[int]) -> str:
        return self.tokenizer.decode(tokens, skip_special_tokens=False)


def _inverse_cdf(cumulative: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """Per row, the first index whose ``cumulative`` mass exceeds ``u`` (in [0, 1)) times the row's
    total: index ``k`` with probability ``p_k / total``, never a token of probability 0."""
    return (cumulative <= u * cumulative[:, -1:]).sum(-1).clamp(max=cumulative.shape[-1] - 1)
