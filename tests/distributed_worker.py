"""Run under torchrun by tests/test_training_distributed.py: one trainer's gradient of one step.

    python -m torch.distributed.run --standalone --nproc-per-node N tests/distributed_worker.py DATA MODEL OUT

Rank 0 writes ``OUT`` (torch.save): the step's sums and every parameter's full gradient, flat.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

from rftgym.training import GRPOTrainer, TrainConfig, trajectories_to_tensors
from rftgym.training.distributed import local


def gradient(data: str, model: str, output_dir: Path, **config: object) -> dict[str, object]:
    """The sums and the flat full gradient of one step over every row of ``data``."""
    trainer = GRPOTrainer(TrainConfig(model=model, output_dir=output_dir, kl_coef=0.1, **config))  # type: ignore[arg-type]
    batch = trajectories_to_tensors(data, trainer.tokenizer)
    trainer.optimizer.zero_grad()
    sums = trainer.accumulate_gradients(batch, torch.arange(len(batch)))
    grads = torch.cat([local(p.grad).flatten() for p in trainer.model.parameters()])
    return {"sums": sums, "grads": grads, "rank": trainer.rank}


if __name__ == "__main__":
    data, model, out = sys.argv[1:4]
    result = gradient(data, model, Path(out).parent / "run", micro_batch_tokens=64)
    if result["rank"] == 0:
        torch.save(result, out)
