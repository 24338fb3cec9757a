"""One forward pass's token logprobs: what a served model and the trainer's model must agree on
after a weight sync (the online loop compares them)."""

from __future__ import annotations

from typing import Any


def token_logprobs(model: Any, token_ids: list[int]) -> list[float]:
    """Log-probability of each of ``token_ids[1:]`` given the tokens before it, at temperature 1,
    in float32 (``model``: a transformers causal LM)."""
    import torch

    with torch.no_grad():
        ids = torch.tensor([token_ids], device=next(model.parameters()).device)
        logp = model(input_ids=ids).logits[0, :-1].float().log_softmax(-1)
        return [float(v) for v in logp.gather(-1, ids[0, 1:, None])[:, 0]]
