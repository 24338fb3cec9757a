"""Token logprobs and entropies of the sampled tokens, memory-lean.

The model's decoder runs once over a micro-batch; the vocabulary projection and the log-softmax
run only on the positions that predict a sampled token, ``chunk_tokens`` of them at a time, each
chunk under activation checkpointing. So the ``[tokens, vocabulary]`` logits never exist for the
whole micro-batch, neither in the forward pass nor saved for the backward one: what is kept is
the ``[sampled tokens, hidden]`` hidden states, and one chunk's logits at a time. For a
151,936-token vocabulary one chunk's fp32 logits are 1,024 x 151,936 x 4 B = 0.6 GB, where the
full log-softmax of a 4,096-token micro-batch is 2.5 GB, with as much again kept for backward.
"""

from __future__ import annotations

from typing import Any

import torch
from torch.utils.checkpoint import checkpoint

#: Positions whose logits are computed at once (forward and recomputed backward).
CHUNK_TOKENS = 1024


def sampled_logprobs(
    model: Any, micro: dict[str, torch.Tensor], temperature: float, chunk_tokens: int = CHUNK_TOKENS
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(logp, entropy)`` of every sampled token of ``micro``, flat, in the order of
    ``micro["loss_mask"]``: ``logp = log p(input_ids[j] | tokens before j)`` at ``temperature``
    (with gradient) and the entropy of that next-token distribution (a metric, no gradient).

    ``micro`` holds ``input_ids``, ``position_ids``, ``loss_mask`` (``[rows, length]``) and
    ``attention_mask`` (``[rows, length]`` padding mask, or a ``[1, 1, length, length]`` additive
    block-diagonal mask for packed rows). A sampled token is never a sequence's first token.
    """
    score = getattr(model, "rftgym_score", None)  # FSDP2: the method its hooks wrap (distributed.py)
    if score is None:
        return score_sampled(model, micro, temperature, chunk_tokens)
    result: tuple[torch.Tensor, torch.Tensor] = score(micro, temperature, chunk_tokens)
    return result


def score_sampled(
    model: Any, micro: dict[str, torch.Tensor], temperature: float, chunk_tokens: int = CHUNK_TOKENS
) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`sampled_logprobs` without the FSDP indirection."""
    hidden = model.get_decoder()(
        input_ids=micro["input_ids"],
        attention_mask=micro["attention_mask"],
        position_ids=micro["position_ids"],
        use_cache=False,
    ).last_hidden_state
    predicts = micro["loss_mask"][:, 1:]
    states = hidden[:, :-1][predicts]  # [sampled, hidden]: the states that predict a sampled token
    targets = micro["input_ids"][:, 1:][predicts]
    head = model.get_output_embeddings()
    logps, entropies = [], []
    for start in range(0, len(targets), chunk_tokens):
        args = (head, states[start : start + chunk_tokens], targets[start : start + chunk_tokens], temperature)
        if torch.is_grad_enabled():
            logp, entropy = checkpoint(_chunk, *args, use_reentrant=False)
        else:
            logp, entropy = _chunk(*args)
        logps.append(logp)
        entropies.append(entropy)
    if not logps:
        empty = hidden.new_zeros(0, dtype=torch.float32) + hidden.sum() * 0  # keeps the graph for backward
        return empty, empty.detach()
    return torch.cat(logps), torch.cat(entropies).detach()


def _chunk(
    head: torch.nn.Module, states: torch.Tensor, targets: torch.Tensor, temperature: float
) -> tuple[torch.Tensor, torch.Tensor]:
    logits = head(states).float() / temperature
    normaliser = logits.logsumexp(-1)
    logp = logits.gather(-1, targets[:, None]).squeeze(-1) - normaliser
    with torch.no_grad():
        entropy = normaliser - (logits.softmax(-1) * logits).sum(-1)
    return logp, entropy
