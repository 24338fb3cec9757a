"""The trainer over several processes: torch.distributed and FSDP2, started by ``torchrun``.

``torchrun --nproc-per-node N -m rftgym train FILE...`` starts N processes; each reads the same
files, takes the rows ``rank::N`` of every step, and the model is sharded over them with FSDP2
(:func:`torch.distributed.fsdp.fully_shard`: each decoder layer, then the whole model), so its
weights, gradients and optimizer state are split N ways. gloo on CPU, NCCL on GPUs (one per
process, ``cuda:LOCAL_RANK``). Without torchrun's environment (``WORLD_SIZE`` unset or 1),
nothing here runs and the trainer is the one-process trainer.

The loss of a step is divided by the step's sampled-token count summed over all ranks, and
multiplied by N because FSDP averages gradients over ranks: the gradient is that of one process
on all the rows. Every rank runs the same number of micro-batches (collectives must match); a
rank with fewer runs copies of its first with weight 0. Checkpoints are gathered to full HF
weights and written by rank 0.
"""

from __future__ import annotations

import functools
import os
from typing import Any

import torch
import torch.distributed as dist

from rftgym.training.logprobs import score_sampled


def world_size() -> int:
    """Processes of the run (torchrun's ``WORLD_SIZE``; 1 without torchrun)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def setup(device: str | None) -> tuple[int, torch.device]:
    """Join the process group torchrun describes (once); returns ``(rank, device)``."""
    cuda = torch.cuda.is_available() and (device is None or device.startswith("cuda"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if not dist.is_initialized():
        if cuda:
            torch.cuda.set_device(local)
        dist.init_process_group("nccl" if cuda else "gloo")
    return dist.get_rank(), torch.device(f"cuda:{local}" if cuda else "cpu")


def shard(model: Any) -> Any:
    """Shard ``model`` with FSDP2 (each decoder layer, then the rest) and register its scoring
    method (:func:`~rftgym.training.logprobs.score_sampled`) as a forward method, so the
    trainer's decoder-then-chunked-head call gathers and frees weights like ``forward`` does."""
    from torch.distributed.fsdp import fully_shard, register_fsdp_forward_method

    for layer in model.get_decoder().layers:
        fully_shard(layer)
    fully_shard(model)
    model.rftgym_score = functools.partial(score_sampled, model)
    register_fsdp_forward_method(model, "rftgym_score")
    return model


def all_reduce(values: list[float], op: str = "sum") -> list[float]:
    """``values`` summed (or ``max``) over ranks."""
    tensor = torch.tensor(values, dtype=torch.float64)
    dist.all_reduce(tensor, op=dist.ReduceOp.MAX if op == "max" else dist.ReduceOp.SUM)
    return [float(v) for v in tensor.tolist()]


def full_state_dict(model: Any) -> dict[str, Any]:
    """The full (unsharded) weights on CPU, on rank 0 (empty elsewhere); every rank must call it."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

    return get_model_state_dict(model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))


def full_optimizer_state(model: Any, optimizer: torch.optim.Optimizer) -> dict[str, Any]:
    """The full optimizer state on CPU, on rank 0; every rank must call it."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_optimizer_state_dict

    return get_optimizer_state_dict(model, optimizer, options=StateDictOptions(full_state_dict=True, cpu_offload=True))


def load_optimizer_state(model: Any, optimizer: torch.optim.Optimizer, state: dict[str, Any]) -> None:
    """Load a full optimizer state (as :func:`full_optimizer_state` gives it) into the shards."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, set_optimizer_state_dict

    set_optimizer_state_dict(model, optimizer, state, options=StateDictOptions(full_state_dict=True))


def local(tensor: Any) -> Any:
    """A DTensor's full value (a plain tensor as it is)."""
    return tensor.full_tensor() if hasattr(tensor, "full_tensor") else tensor
