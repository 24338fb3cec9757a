"""Trainer throughput: rftgym's online loop vs TRL's GRPOTrainer, same model, prompts and settings.

    pip install -c constraints.txt -e ".[train,bench]"
    python bench/trainer.py                      # CPU: the tiny model, a few steps
    python bench/trainer.py --qwen-0.5b-shape --steps 10 --tasks 16 --group 8 --max-tokens 256 --micro-batch 16
                                                 # GPU: Qwen2.5-0.5B's shape, random init, bf16

Both run the whole RFT step (sample ``group`` completions for each of ``tasks`` prompts, score
them, one GRPO optimizer step) for ``steps`` steps on the same randomly initialised model (built
locally, nothing downloaded), with the same prompts, group size, completion budget, learning rate
and no KL term. tokens/s = (prompt + completion tokens of every sample) / wall time; the two run
alternately ``--repeat`` times in this process and each one's best run counts; the ratio is
rftgym / TRL. rftgym's training-only tokens/s (its
``perf/tokens_per_s`` metric) is printed too, and on a GPU its MFU: 6 x parameters x tokens/s
(forward and backward; attention FLOPs left out) over the GPU's peak bf16 FLOP/s (``--peak-tflops``).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM

from rftgym.envs.letters import LettersEnv, lowercase_share
from rftgym.models import build_tiny_model
from rftgym.training import TrainConfig
from rftgym.training.online import OnlineConfig, train_online

#: Qwen2.5-0.5B's shape (Llama layers: no q/k/v biases, untied embeddings).
QWEN_05B = {
    "hidden_size": 896,
    "num_layers": 24,
    "intermediate_size": 4864,
    "num_attention_heads": 14,
    "num_key_value_heads": 2,
    "vocab_size": 151936,
    "max_positions": 32768,
}


def run_rftgym(model: Path, out: Path, args: argparse.Namespace) -> tuple[float, float]:
    """(end-to-end tokens/s, training-only tokens/s) of rftgym's online loop."""
    online = OnlineConfig(
        "rftgym/Letters-v0",
        steps=args.steps,
        tasks_per_step=args.tasks,
        group_size=args.group,
        max_tokens=args.max_tokens,
        val_every=0,
        concurrency=args.tasks * args.group,
    )
    config = TrainConfig(
        model=str(model),
        output_dir=out,
        learning_rate=args.lr,
        batch_size=args.tasks * args.group,
        micro_batch_size=args.micro_batch,
    )
    started = time.perf_counter()
    history = train_online(online, config)
    elapsed = time.perf_counter() - started
    tokens = sum(m["perf/tokens"] for m in history)
    train_time = sum(m["perf/tokens"] / m["perf/tokens_per_s"] for m in history)
    return tokens / elapsed, tokens / train_time


def run_trl(model: Path, out: Path, args: argparse.Namespace) -> float:
    """End-to-end tokens/s of TRL's GRPOTrainer."""
    from datasets import Dataset
    from transformers import AutoTokenizer
    from trl import GRPOConfig, GRPOTrainer

    # The train tasks the online loop plays, in its order.
    prompts = [[{"role": "user", "content": t.prompt}] for t in LettersEnv().tasks("train", args.steps * args.tasks)]

    def reward(completions, **kwargs):
        return [lowercase_share(c[0]["content"] if isinstance(c, list) else c) for c in completions]

    config = GRPOConfig(
        output_dir=str(out),
        per_device_train_batch_size=args.tasks * args.group,
        num_generations=args.group,
        max_completion_length=args.max_tokens,
        max_steps=args.steps,
        learning_rate=args.lr,
        beta=0.0,
        logging_steps=1,
        report_to="none",
        save_strategy="no",
        gradient_accumulation_steps=1,
        temperature=1.0,
        disable_tqdm=True,
        seed=0,
        lr_scheduler_type="constant",
        use_cpu=not torch.cuda.is_available(),
        bf16=torch.cuda.is_available(),
    )
    trainer = GRPOTrainer(
        model=AutoModelForCausalLM.from_pretrained(model),
        reward_funcs=reward,
        args=config,
        train_dataset=Dataset.from_dict({"prompt": prompts}),
        processing_class=AutoTokenizer.from_pretrained(model),
    )
    started = time.perf_counter()
    trainer.train()
    elapsed = time.perf_counter() - started
    tokens = max(entry.get("num_tokens", 0) for entry in trainer.state.log_history)
    return tokens / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hidden-size", type=int, default=128, help="model width (Qwen2.5-0.5B: 896)")
    parser.add_argument("--layers", type=int, default=4, help="decoder layers (Qwen2.5-0.5B: 24)")
    parser.add_argument("--steps", type=int, default=4, help="optimizer steps of each trainer")
    parser.add_argument("--tasks", type=int, default=4, help="prompts per step")
    parser.add_argument("--group", type=int, default=8, help="completions per prompt")
    parser.add_argument("--max-tokens", type=int, default=64, help="completion budget")
    parser.add_argument("--micro-batch", type=int, default=8, help="rftgym rows per forward/backward")
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--repeat", type=int, default=2, help="runs of each trainer, alternated; the best counts")
    parser.add_argument(
        "--qwen-0.5b-shape",
        dest="qwen_05b_shape",
        action="store_true",
        help="Qwen2.5-0.5B's widths, depth and vocabulary instead of --hidden-size/--layers",
    )
    parser.add_argument(
        "--peak-tflops", type=float, default=989.0, help="the GPU's dense bf16 peak for MFU (default: 989, an H100 SXM)"
    )
    args = parser.parse_args()
    shape = QWEN_05B if args.qwen_05b_shape else {"hidden_size": args.hidden_size, "num_layers": args.layers}
    with tempfile.TemporaryDirectory() as tmp:
        model = build_tiny_model(Path(tmp) / "model", **shape)
        parameters = sum(p.numel() for p in AutoModelForCausalLM.from_pretrained(model).parameters())
        runs = []
        for i in range(args.repeat):  # alternated, so a load change on the machine hits both alike
            runs.append(
                (*run_rftgym(model, Path(tmp) / f"rftgym-{i}", args), run_trl(model, Path(tmp) / f"trl-{i}", args))
            )
        ours, ours_train, trl = (max(column) for column in zip(*runs))
    print(
        f"model: random-init Llama, {parameters / 1e6:.1f}M parameters ({shape}); {args.steps} steps of "
        f"{args.tasks} prompts x {args.group} samples, <= {args.max_tokens} completion tokens"
    )
    print(f"rftgym online loop: {ours:9.0f} tokens/s end to end ({ours_train:.0f} tokens/s in the trainer step)")
    print(f"TRL GRPOTrainer:    {trl:9.0f} tokens/s end to end")
    print(f"ratio rftgym / TRL: {ours / trl:.2f}x")
    if torch.cuda.is_available():
        print(
            f"MFU of the rftgym trainer step: {6 * parameters * ours_train / (args.peak_tflops * 1e12):.1%} "
            f"({torch.cuda.get_device_name()}, peak {args.peak_tflops:g} TFLOP/s)"
        )


if __name__ == "__main__":
    main()
