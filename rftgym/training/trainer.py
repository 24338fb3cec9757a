"""The GRPO trainer: a :class:`~rftgym.training.data.TrainingBatch` in, optimizer steps, HF
checkpoints and metrics out.

The loss of one optimizer step over rows ``R`` is the clipped policy-ratio objective summed over
every sampled token of ``R`` and divided by their count, a count taken before the micro-batch
loop: so the gradient does not depend on how ``R`` is cut into micro-batches (batch 1 x
accumulation 8 equals batch 8 x accumulation 1).

    ratio = exp(logp - old_logp)        per sampled token, logp at ``temperature``
    loss  = -min(ratio * A, clip(ratio, 1 - clip_low, 1 + clip_high) * A) + kl_coef * KL(ref)

``old_logp`` is the endpoint's logprob when the trajectory has it (the sampler's own numbers),
else the model's before the step. KL to the reference (the starting model) uses the k3 estimator.

Micro-batches are packed rows (``pack``, a token budget) or padded ones; either way ``logp`` is
computed at the sampled tokens only (:mod:`rftgym.training.logprobs`), so the loss is the same.
Under ``torchrun`` the model is sharded with FSDP2 and each rank trains on its share of the rows
(:mod:`rftgym.training.distributed`); the count above is then taken over all ranks.
"""

from __future__ import annotations

import json
import logging
import os
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from rftgym.models.checkpoints import latest_checkpoint, write_marker
from rftgym.models.tiny import resolve_model
from rftgym.training import distributed
from rftgym.training.data import TrainingBatch
from rftgym.training.logprobs import sampled_logprobs
from rftgym.training.metrics import MetricsLog, plot_metrics

logger = logging.getLogger(__name__)


@dataclass
class TrainConfig:
    """Trainer settings.

    Attributes:
        model: ``"tiny"``, a local HF folder or a hub id: the starting weights (and the KL reference).
        output_dir: Where ``metrics.jsonl``, ``checkpoints/step-NNNNNN`` (and ``plots/``) go.
        learning_rate: AdamW learning rate.
        weight_decay: AdamW weight decay.
        batch_size: Token sequences (rows) per optimizer step.
        micro_batch_size: Rows per forward/backward pass without ``pack``; gradients accumulate
            over the step.
        pack: Pack rows without padding into micro-batches of at most ``micro_batch_tokens``
            tokens (see :meth:`TrainingBatch.packed_micro_batches`) instead of padding
            ``micro_batch_size`` rows; the loss is the same. On by default: measured on the tiny
            model on CPU (one thread), rows of similar lengths (one turn, 80-141 tokens: no two
            share a line) cost the same either way (within 6%), and rows of 30-512 tokens took
            30% less time packed than in padded micro-batches of 8.
        micro_batch_tokens: Token budget of a packed micro-batch.
        epochs: Passes over a batch of data (offline training with :meth:`GRPOTrainer.fit`).
        clip_low: The ratio is clipped below at ``1 - clip_low``.
        clip_high: The ratio is clipped above at ``1 + clip_high``.
        kl_coef: Weight of the KL penalty to the starting model; 0 loads no reference model.
        temperature: Sampling temperature of the data: logits are divided by it before scoring,
            as the endpoint did when it reported logprobs.
        max_grad_norm: Gradient norm clipping.
        use_endpoint_logprobs: Take old logprobs from the trajectories when present.
        importance_cap: Truncated importance sampling, for samples that came from other weights
            than the trainer's before the step (an older version in the async loop, or another
            engine's numerics, e.g. vLLM's kernels): when > 0, the ratio is taken against the
            trainer's own logprobs before the step (one more forward pass), and each token's loss
            is weighted by ``min(exp(logp_before - logp_sampler), importance_cap)``. 0: the ratio
            is taken against the sampler's logprobs directly (exact for on-policy samples of
            the same numerics).
        dtype: ``auto`` (bf16 autocast on GPU, fp32 on CPU), ``float32`` or ``bfloat16``.
        gradient_checkpointing: Recompute activations in the backward pass (GPU memory).
        lora_rank: Train LoRA adapters of this rank through peft instead of all weights (0: off);
            checkpoints hold the merged weights, so any server loads them, and the adapter alone
            in ``adapter/`` (one process), which vLLM loads in place.
        save_every: Write a checkpoint every N optimizer steps (0: only at the end of ``fit``).
        seed: Seed of data shuffling and initialisation.
        device: ``cuda``, ``cpu``...; default cuda when available.
        log_to: Experiment trackers that get the metrics too: ``tensorboard``, ``mlflow``, ``wandb``
            (:mod:`rftgym.training.trackers`).
        plots: Also draw every metric as a PNG in ``plots/`` at the end of a run (matplotlib, about
            30 ms a metric on a CPU core: as long as a few steps of a tiny model). Off by default:
            ``rftgym report OUTPUT_DIR`` draws the same curves, from ``metrics.jsonl``, any time.
    """

    model: str = "tiny"
    output_dir: Path = Path("runs/train")
    learning_rate: float = 1e-6
    weight_decay: float = 0.0
    batch_size: int = 64
    micro_batch_size: int = 8
    pack: bool = True
    micro_batch_tokens: int = 4096
    epochs: int = 1
    clip_low: float = 0.2
    clip_high: float = 0.2
    kl_coef: float = 0.0
    temperature: float = 1.0
    max_grad_norm: float = 1.0
    use_endpoint_logprobs: bool = True
    importance_cap: float = 0.0
    dtype: str = "auto"
    gradient_checkpointing: bool = False
    lora_rank: int = 0
    save_every: int = 0
    seed: int = 0
    device: str | None = None
    log_to: tuple[str, ...] = ()
    plots: bool = False


class GRPOTrainer:
    """Owns the policy model, its optimizer and the run's output folder."""

    def __init__(self, config: TrainConfig, *, resume: bool = False):
        """Load the model (or, with ``resume``, the latest checkpoint in ``output_dir`` and its
        optimizer state). Raises ValueError when ``output_dir`` has checkpoints and ``resume`` is
        False, so a new run never mixes its checkpoints with an old one's."""
        from transformers import AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        hf_logging.set_verbosity_error()
        self.config = config
        self.output_dir = Path(config.output_dir)
        self.world_size, self.rank = distributed.world_size(), 0
        if self.world_size > 1:
            if config.lora_rank:
                raise ValueError("lora_rank is not supported with several processes (FSDP2) yet")
            self.rank, self.device = distributed.setup(config.device)
        else:
            self.device = torch.device(config.device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.bf16 = config.dtype == "bfloat16" or (config.dtype == "auto" and self.device.type == "cuda")
        torch.manual_seed(config.seed)
        self.base_path = resolve_model(config.model)
        checkpoint = latest_checkpoint(self.checkpoint_dir)
        if checkpoint is not None and not resume:
            raise ValueError(
                f"{self.output_dir} holds checkpoints of an earlier run ({checkpoint.name}): "
                "resume it, or choose another output folder"
            )
        start = str(checkpoint) if checkpoint else self.base_path
        self.tokenizer: Any = AutoTokenizer.from_pretrained(start)
        self.model = _load_model(start, self.device)
        if config.gradient_checkpointing:
            # transformers 5.x renamed it; older versions have only the first name.
            enable = (
                getattr(self.model, "activation_checkpointing_enable", None) or self.model.gradient_checkpointing_enable
            )
            enable()
            self.model.config.use_cache = False
        if config.lora_rank:
            self.model = _with_lora(self.model, config.lora_rank)
        self.ref_model: Any = None
        if config.kl_coef:
            self.ref_model = _load_model(self.base_path, self.device).eval().requires_grad_(False)
        self.architecture = type(self.model).__name__
        if self.world_size > 1:
            self.model = distributed.shard(self.model)
            if self.ref_model is not None:
                self.ref_model = distributed.shard(self.ref_model)
        params = [p for p in self.model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(params, lr=config.learning_rate, weight_decay=config.weight_decay)
        self.step = 0
        self.skipped_steps = 0  # steps refused for lack of signal (see train_step)
        if checkpoint is not None:
            state = torch.load(checkpoint / "trainer_state.pt", map_location=self.device, weights_only=True)
            if self.world_size > 1:
                distributed.load_optimizer_state(self.model, self.optimizer, state["optimizer"])
            else:
                self.optimizer.load_state_dict(state["optimizer"])
            self.step = state["step"]
        # One writer: the other ranks' lines go nowhere.
        metrics_path = self.output_dir / "metrics.jsonl" if self.rank == 0 else Path(os.devnull)
        self.metrics = MetricsLog(
            metrics_path, keep_until_step=self.step, log_to=config.log_to if self.rank == 0 else (), config=config
        )

    @property
    def checkpoint_dir(self) -> Path:
        return self.output_dir / "checkpoints"

    # ----- training -----

    def fit(
        self, batch: TrainingBatch, on_step: Callable[[int, dict[str, float]], None] | None = None
    ) -> list[dict[str, float]]:
        """Train on ``batch`` for ``epochs`` passes of shuffled ``batch_size`` steps; save a final
        checkpoint (and the plots, with ``plots``). ``on_step(step, metrics)`` is called after each step taken (not
        after one skipped for lack of signal). Returns the metrics of the steps taken."""
        if batch.zero_variance_groups:
            logger.warning(
                "%d of %d groups have zero reward variance: their advantages are 0 (no learning signal)",
                len(batch.zero_variance_groups),
                len(batch.groups),
            )
        generator = torch.Generator().manual_seed(self.config.seed)
        history = []
        for _ in range(self.config.epochs):
            for rows in torch.randperm(len(batch), generator=generator).split(self.config.batch_size):
                metrics = self.train_step(batch, rows)
                if metrics.get("train/skipped"):
                    continue
                history.append(metrics)
                if on_step is not None:
                    on_step(self.step, history[-1])
                if self.config.save_every and self.step % self.config.save_every == 0:
                    self.save_checkpoint()
        self.save_checkpoint()
        self.plot()
        return history

    def train_step(
        self, batch: TrainingBatch, rows: torch.Tensor | None = None, extra_metrics: dict[str, float] | None = None
    ) -> dict[str, float]:
        """One optimizer step over ``rows`` of ``batch`` (all by default); logs and returns its metrics.

        Rows without signal (every sampled token's advantage is 0) are refused: no optimizer step
        is taken (it would only move the weights through the KL term and Adam's momentum), the
        step count stays, a warning says so, and the returned metrics are ``train/skipped: 1``
        with the group counts. Taken steps report ``train/skipped_steps`` (so far in this run).
        """
        started = time.perf_counter()
        rows = torch.arange(len(batch)) if rows is None else rows
        group_ids = {batch.episodes[i].group_id for i in batch.row_episode[rows].tolist()}
        groups = {
            "train/groups": float(len(group_ids)),
            "train/zero_variance_groups": float(len(group_ids.intersection(batch.zero_variance_groups))),
        }
        if not batch.has_signal(rows):
            self.skipped_steps += 1
            logger.warning(
                "step %d skipped: no learning signal (every advantage is 0; %d of %d groups have zero reward variance)",
                self.step + 1,
                int(groups["train/zero_variance_groups"]),
                len(group_ids),
            )
            return {"train/skipped": 1.0, **groups}
        self.optimizer.zero_grad(set_to_none=True)
        sums = self.accumulate_gradients(batch, rows)
        params = [p for p in self.model.parameters() if p.requires_grad]
        grad_norm = distributed.local(torch.nn.utils.clip_grad_norm_(params, self.config.max_grad_norm))
        self.optimizer.step()
        self.step += 1
        elapsed = time.perf_counter() - started
        tokens = max(sums.pop("tokens"), 1.0)
        episodes = [batch.episodes[i] for i in sorted(set(batch.row_episode[rows].tolist()))]
        metrics = {
            "critic/rewards/mean": sum(e.reward for e in episodes) / max(len(episodes), 1),
            "response_length/mean": sum(e.response_tokens for e in episodes) / max(len(episodes), 1),
            "episode/turns/mean": sum(e.turns for e in episodes) / max(len(episodes), 1),
            **{name: value / tokens for name, value in sums.items() if name != "processed"},
            "actor/grad_norm": float(grad_norm),
            "actor/lr": self.optimizer.param_groups[0]["lr"],
            "perf/tokens": sums["processed"],
            "perf/tokens_per_s": sums["processed"] / elapsed,
            "perf/step_time_s": elapsed,
            "data/drift_episodes": float(len(batch.drift)),
            "data/split_rate": batch.split_episodes / max(len(batch.episodes), 1),
            **groups,
            "train/skipped_steps": float(self.skipped_steps),
            **(extra_metrics or {}),
        }
        if self.ref_model is None:
            metrics.pop("actor/kl_loss", None)
        if not self.config.importance_cap:
            metrics.pop("actor/is_weight", None)
        self.metrics.write(self.step, metrics)
        return metrics

    def accumulate_gradients(self, batch: TrainingBatch, rows: torch.Tensor) -> dict[str, float]:
        """Add the gradient of one step's loss over ``rows`` to the parameters' ``.grad`` (no
        optimizer step). Returns sums over the sampled tokens (``tokens``, ``actor/pg_loss``,
        ``actor/entropy``, ``actor/pg_clipfrac``, ``actor/ppo_kl``, ``actor/kl_loss``) and
        ``processed`` (every real token the forward passes saw), over all ranks."""
        mine = rows[self.rank :: self.world_size]
        micro = [{k: v.to(self.device) for k, v in tensors.items()} for tensors in self._micro_batches(batch, mine)]
        weights = [1.0] * len(micro)
        total = float(batch.loss_mask[mine].sum())  # before the micro-batch loop
        if self.world_size > 1:
            total = distributed.all_reduce([total])[0]
            most = int(distributed.all_reduce([float(len(micro))], "max")[0])
            if not micro:  # this rank has no rows: it still joins every collective
                micro = [{k: v.to(self.device) for k, v in self._micro_batches(batch, rows[:1])[0].items()}]
                weights = [0.0]
            weights += [0.0] * (most - len(micro))
            micro += [micro[0]] * (most - len(micro))
        total = max(total, 1.0)
        self._fill_old_logprobs(micro)
        names = (
            "actor/pg_loss",
            "actor/entropy",
            "actor/pg_clipfrac",
            "actor/ppo_kl",
            "actor/kl_loss",
            "actor/is_weight",
        )
        sums = dict.fromkeys(("processed", *names), 0.0)
        self.model.train()
        for tensors, weight in zip(micro, weights):
            with self._autocast():
                logp, entropy = sampled_logprobs(self.model, tensors, self.config.temperature)
            old, advantages = tensors["old"], tensors["advantages"][tensors["loss_mask"]]
            ratio = torch.exp(logp - old)
            unclipped = ratio * advantages
            clipped = ratio.clamp(1 - self.config.clip_low, 1 + self.config.clip_high) * advantages
            pg = -torch.minimum(unclipped, clipped) * tensors["is_weight"]
            per_token = pg
            if self.ref_model is not None:
                kl = _k3(tensors["ref"], logp)
                per_token = per_token + self.config.kl_coef * kl
                sums["actor/kl_loss"] += weight * float(kl.detach().sum())
            # FSDP averages gradients over ranks: times world_size gives their sum.
            (per_token.sum() * (weight * self.world_size / total)).backward()
            with torch.no_grad():
                sums["processed"] += weight * float(tensors["real_tokens"])
                sums["actor/pg_loss"] += weight * float(pg.sum())
                sums["actor/entropy"] += weight * float(entropy.sum())
                sums["actor/pg_clipfrac"] += weight * float((clipped < unclipped).sum())
                sums["actor/ppo_kl"] += weight * float((old - logp).sum())
                sums["actor/is_weight"] += weight * float(tensors["is_weight"].sum())
        if self.world_size > 1:
            sums = dict(zip(sums, distributed.all_reduce(list(sums.values()))))
        return {"tokens": total, **sums}

    def _micro_batches(self, batch: TrainingBatch, rows: torch.Tensor) -> list[dict[str, torch.Tensor]]:
        if self.config.pack:
            return batch.packed_micro_batches(rows, self.config.micro_batch_tokens)
        return batch.padded_micro_batches(rows, self.config.micro_batch_size)

    @torch.no_grad()
    def _fill_old_logprobs(self, micro: list[dict[str, torch.Tensor]]) -> None:
        """Each micro-batch's ``old`` logprobs (flat, over its sampled tokens): the data's, and
        where it lacks them the model's as it is before the step; with ``importance_cap`` the
        model's everywhere, and ``is_weight`` the truncated ratio to the sampler's (else 1);
        ``ref`` ones from the reference."""
        self.model.eval()
        cap = self.config.importance_cap
        for tensors in micro:
            sampler = tensors["old_logprobs"][tensors["loss_mask"]]
            missing = sampler.isnan() | (not self.config.use_endpoint_logprobs)
            old, weight = sampler, torch.ones_like(sampler)
            if missing.any() or cap > 0 or self.world_size > 1:  # ranks run the same forwards
                with self._autocast():
                    current = sampled_logprobs(self.model, tensors, self.config.temperature)[0].float()
                if cap > 0:
                    weight = torch.where(missing, 1.0, torch.exp(current - sampler).clamp(max=cap))
                    old = current
                else:
                    old = torch.where(missing, current, sampler)
            tensors["old"], tensors["is_weight"] = old, weight
            if self.ref_model is not None:
                with self._autocast():
                    tensors["ref"] = sampled_logprobs(self.ref_model, tensors, self.config.temperature)[0].float()

    def _autocast(self) -> Any:
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16)

    # ----- outputs -----

    def save_checkpoint(self) -> Path:
        """Write ``checkpoints/step-NNNNNN`` (HF weights, tokenizer, optimizer state, marker).
        With several processes every rank must call it: the shards are gathered, rank 0 writes."""
        path = self.checkpoint_dir / f"step-{self.step:06d}"
        if self.world_size > 1:
            weights = distributed.full_state_dict(self.model)
            optimizer = distributed.full_optimizer_state(self.model, self.optimizer)
        else:
            weights, optimizer = None, self.optimizer.state_dict()
        if self.rank == 0:
            path.mkdir(parents=True, exist_ok=True)
            model = _merged_copy(self.model) if self.config.lora_rank else self.model
            model.save_pretrained(path, state_dict=weights)
            if self.config.lora_rank and self.world_size == 1:  # the adapter alone too, for in-place loading
                self.model.save_pretrained(path / "adapter")
            if self.world_size > 1:  # the config names FSDP's wrapper class: name the model's own
                config = json.loads((path / "config.json").read_text())
                config["architectures"] = [self.architecture]
                (path / "config.json").write_text(json.dumps(config, indent=2))
            self.tokenizer.save_pretrained(path)
            torch.save({"step": self.step, "optimizer": optimizer}, path / "trainer_state.pt")
            (path / "train_config.json").write_text(json.dumps(asdict(self.config), default=str, indent=2))
            write_marker(path, self.step)
        if self.world_size > 1:
            torch.distributed.barrier()  # the checkpoint is complete when any rank returns
        return path

    def plot(self) -> list[Path]:
        """Draw every metric of ``metrics.jsonl`` into ``plots/`` when ``config.plots`` is set
        (rank 0's job); returns the files drawn."""
        if not self.config.plots or self.rank != 0 or not self.metrics.path.is_file():
            return []
        return plot_metrics(self.metrics.path, self.output_dir / "plots")


def _load_model(path: str, device: torch.device) -> Any:
    """The causal LM of ``path`` in fp32 on ``device`` (autocast gives bf16 compute on GPU)."""
    from transformers import AutoModelForCausalLM

    # sdpa: the attention that takes packed micro-batches' boolean block masks (see data.py).
    model: Any = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32, attn_implementation="sdpa")
    return model.to(device)


def _k3(ref_logp: torch.Tensor, logp: torch.Tensor) -> torch.Tensor:
    """Schulman's k3 estimator of KL(policy || reference), per token: non-negative, unbiased."""
    delta = ref_logp - logp
    return torch.exp(delta) - delta - 1


def _with_lora(model: Any, rank: int) -> Any:
    try:
        import peft
    except ImportError:
        raise ImportError("lora_rank needs peft: pip install peft") from None
    config = peft.LoraConfig(r=rank, lora_alpha=2 * rank, target_modules="all-linear", task_type="CAUSAL_LM")
    with warnings.catch_warnings():  # peft asks transformers a deprecated question; not ours to fix
        warnings.simplefilter("ignore", FutureWarning)
        return peft.get_peft_model(model, config)


def _merged_copy(model: Any) -> Any:
    """A plain transformers model with the LoRA adapters folded in (the training model is untouched)."""
    import copy

    return copy.deepcopy(model).merge_and_unload()
