"""Trainer throughput: rftgym's online loop vs TRL's GRPOTrainer, same model, prompts and settings.

    pip install -c constraints.txt -e ".[train,bench]"
    python bench/trainer.py                      # CPU: the tiny model, a few steps
    python bench/trainer.py --qwen-0.5b-shape --steps 10 --tasks 16 --group 8 --max-tokens 256 --micro-batch 16
                                                 # GPU: Qwen2.5-0.5B's shape, random init, bf16

Both run the whole RFT step (sample ``group`` completions for each of ``tasks`` prompts, score
them, one GRPO optimizer step) for ``steps`` steps on the same randomly initialised model (built
locally, nothing downloaded), with the same prompts, group size, completion budget, learning rate
and no KL term. tokens/s = (prompt + completion tokens of every sample) / wall time; the two run
alternately ``--repeat`` times, each run in a fresh process after one untimed run of the same side
there (the first run in a process pays one-time costs; and a TRL run left the process up to 1.8x
slower for an rftgym run after it, on 2 CPU threads, so the sides never share a process), and each
one's best run counts; the ratio is rftgym / TRL. What each side does per step, and the episodes
and tokens each processed, are printed with the figures.
rftgym's training-only tokens/s (its
``perf/tokens_per_s`` metric) is printed too, and on a GPU its MFU: 6 x parameters x tokens/s
(forward and backward; attention FLOPs left out) over the GPU's peak bf16 FLOP/s (``--peak-tflops``).

Both trainers take each step's rows in one forward/backward pass by default (TRL: a per-device
batch of ``tasks x group``; rftgym: ``--micro-batch`` rows padded, or ``--micro-batch-tokens``
packed); with smaller rftgym micro-batches the ratio measures micro-batching, not the framework
(on an idle machine, minutes apart: 8 rows / 4,096 tokens gave 0.93x / 0.97x, the defaults
1.14x / 1.17x).

In the same run: rftgym end to end with packing off (padded micro-batches of ``--micro-batch``
rows) beside packing on (``--micro-batch-tokens``), and the trainer step alone, with packing on
and off, in 1 and in 2 processes (``torchrun --nproc-per-node N -m rftgym train`` on the rollouts
the online run wrote; FSDP2 on gloo or NCCL). Peak memory is printed for each, not asserted: the
peak resident memory of the process (of the largest process, for torchrun), sampled, and on a GPU
the peak allocated GPU memory of the in-process runs.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

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


@contextmanager
def peak_memory() -> Iterator[dict[str, float]]:
    """``{"rss_mb": ...}`` filled in on exit: the highest resident memory of this process while
    the block ran (sampled every 20 ms), and ``gpu_mb`` (peak allocated) on a GPU."""
    peak = {"rss_mb": 0.0}
    done = threading.Event()

    def sample() -> None:
        page = os.sysconf("SC_PAGE_SIZE")
        while not done.is_set():
            rss = int(Path("/proc/self/statm").read_text().split()[1]) * page / 2**20
            peak["rss_mb"] = max(peak["rss_mb"], rss)
            done.wait(0.02)

    thread = threading.Thread(target=sample, daemon=True)
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    thread.start()
    try:
        yield peak
    finally:
        done.set()
        thread.join()
        if torch.cuda.is_available():
            peak["gpu_mb"] = torch.cuda.max_memory_allocated() / 2**20


#: What one step of each side does, printed with the figures.
WORK = {
    "rftgym": "samples over HTTP from its built-in endpoint (token ids and logprobs returned), plays and scores "
    "the episodes, appends them to a trajectory file, trains one GRPO step on the endpoint's logprobs, saves "
    "a resumable checkpoint (weights and optimizer state) and swaps the new weights into the endpoint; no "
    "PNG plots (TrainConfig.plots is off by default)",
    "trl": "generates with model.generate in its process, scores the completions, trains one GRPO step "
    "(old logprobs: none needed with one iteration); no checkpoint (save_strategy='no'), no files",
}


def run_rftgym(model: Path, out: Path, args: argparse.Namespace, pack: bool = True) -> tuple[float, float, int, int]:
    """(end-to-end tokens/s, training-only tokens/s, tokens, episodes) of rftgym's online loop."""
    online = OnlineConfig(
        "rftgym/Letters-v0",
        steps=args.steps,
        tasks_per_step=args.tasks,
        group_size=args.group,
        max_tokens=args.max_tokens,
        val_every=0,
        readiness_tasks=0,  # Step 0's extra sampling is not part of the RFT step TRL is timed on
        concurrency=args.tasks * args.group,
    )
    config = TrainConfig(
        model=str(model),
        output_dir=out,
        learning_rate=args.lr,
        batch_size=args.tasks * args.group,
        micro_batch_size=args.micro_batch,
        pack=pack,
        micro_batch_tokens=args.micro_batch_tokens,
    )
    started = time.perf_counter()
    history = train_online(online, config)
    elapsed = time.perf_counter() - started
    tokens = sum(m["perf/tokens"] for m in history)
    train_time = sum(m["perf/tokens"] / m["perf/tokens_per_s"] for m in history)
    episodes = sum(len(f.read_text().splitlines()) for f in (out / "rollouts").glob("step-*.jsonl"))
    return tokens / elapsed, tokens / train_time, int(tokens), episodes


def run_trl(model: Path, out: Path, args: argparse.Namespace) -> tuple[float, int, int]:
    """(end-to-end tokens/s, tokens, samples) of TRL's GRPOTrainer."""
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
    return tokens / elapsed, int(tokens), trainer.state.global_step * args.tasks * args.group


def run_trainer_only(
    model: Path, rollouts: Path, out: Path, args: argparse.Namespace, processes: int, pack: bool
) -> tuple[float, float]:
    """(tokens/s of the trainer step, peak RSS MB of the largest process) of ``rftgym train`` on
    the rollout files of an online run, under ``torchrun --nproc-per-node processes``."""
    files = sorted(str(f) for f in rollouts.glob("step-*.jsonl"))
    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(processes),
        "-m", "rftgym", "train", *files, "--model", str(model), "--output-dir", str(out), "--lr", str(args.lr),
        "--batch-size", str(args.tasks * args.group), "--micro-batch-size", str(args.micro_batch),
        "--micro-batch-tokens", str(args.micro_batch_tokens), *([] if pack else ["--no-pack"]),
    ]  # fmt: skip
    # A fresh parent per run, so RUSAGE_CHILDREN's peak is this run's largest process alone.
    probe = (
        "import resource, subprocess, sys; done = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) if done.returncode == 0 "
        "else sys.exit(done.stdout[-2000:] + done.stderr[-2000:])"
    )
    threads = max(1, (os.cpu_count() or 1) // processes)  # the cores split between the processes
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    done = subprocess.run([sys.executable, "-c", probe, *command], capture_output=True, text=True, env=env, check=True)
    rss_mb = int(done.stdout.split()[-1]) / 1024
    metrics = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    tokens = sum(m["perf/tokens"] for m in metrics)
    return tokens / sum(m["perf/tokens"] / m["perf/tokens_per_s"] for m in metrics), rss_mb


def timed(function: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[tuple[float, ...], dict[str, float]]:
    """``function``'s result as a tuple, and its peak memory (:func:`peak_memory`)."""
    with peak_memory() as peak:
        result = function(*args, **kwargs)
    return (result if isinstance(result, tuple) else (result,)), peak


def run_side(side: str, model: Path, out: Path, argv: list[str]) -> tuple[tuple[float, ...], dict[str, float]]:
    """One timed run of ``side`` (``packed``, ``padded`` or ``trl``) in a fresh process, after an
    untimed one there: (its result, its peak memory), as :func:`timed` gives them."""
    command = [sys.executable, __file__, *argv, "--side", side, "--model-dir", str(model), "--out", str(out)]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"{side} run failed:\n{done.stdout[-2000:]}{done.stderr[-3000:]}")
    result, peak = json.loads(done.stdout.splitlines()[-1])
    return tuple(result), peak


def side_main(args: argparse.Namespace) -> None:
    """The child of :func:`run_side`: prints ``[result, peak memory]`` as the last stdout line."""
    run = run_trl if args.side == "trl" else run_rftgym
    options = {"pack": args.side == "packed"} if args.side != "trl" else {}
    run(args.model_dir, args.out / "warm-up", args, **options)
    result, peak = timed(run, args.model_dir, args.out, args, **options)
    print(json.dumps([result, peak]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hidden-size", type=int, default=128, help="model width (Qwen2.5-0.5B: 896)")
    parser.add_argument("--layers", type=int, default=4, help="decoder layers (Qwen2.5-0.5B: 24)")
    parser.add_argument("--steps", type=int, default=4, help="optimizer steps of each trainer")
    parser.add_argument("--tasks", type=int, default=4, help="prompts per step")
    parser.add_argument("--group", type=int, default=8, help="completions per prompt")
    parser.add_argument("--max-tokens", type=int, default=64, help="completion budget")
    parser.add_argument(
        "--micro-batch",
        type=int,
        default=32,
        help="rftgym rows per forward/backward, packing off (default 32: the step's rows in one pass, as TRL's "
        "per-device batch of --tasks x --group is here)",
    )
    parser.add_argument(
        "--micro-batch-tokens",
        type=int,
        default=8192,
        help="rftgym tokens per packed forward/backward (default 8192: a default step's ~4,300 tokens in one pass)",
    )
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
    parser.add_argument("--side", choices=["packed", "padded", "trl"], help=argparse.SUPPRESS)  # run_side's child
    parser.add_argument("--model-dir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args, argv = parser.parse_args(), sys.argv[1:]
    if args.side:
        side_main(args)
        return
    shape = QWEN_05B if args.qwen_05b_shape else {"hidden_size": args.hidden_size, "num_layers": args.layers}
    with tempfile.TemporaryDirectory() as tmp:
        model = build_tiny_model(Path(tmp) / "model", **shape)
        parameters = sum(p.numel() for p in AutoModelForCausalLM.from_pretrained(model).parameters())
        runs: dict[str, list[tuple[tuple[float, ...], dict[str, float]]]] = {"packed": [], "padded": [], "trl": []}
        for i in range(args.repeat):  # alternated, so a load change on the machine hits both alike
            for side, name in (("packed", "rftgym"), ("padded", "padded"), ("trl", "trl")):
                runs[side].append(run_side(side, model, Path(tmp) / f"{name}-{i}", argv))
        trainer_only = {
            (processes, pack): run_trainer_only(
                model,
                Path(tmp) / "rftgym-0" / "rollouts",
                Path(tmp) / f"only-{processes}-{pack}",
                args,
                processes,
                pack,
            )
            for processes in (1, 2)
            for pack in (True, False)
        }
    ours, ours_train = (max([r[0][k] for r in runs["packed"]]) for k in (0, 1))
    padded, padded_train = (max([r[0][k] for r in runs["padded"]]) for k in (0, 1))
    trl = max([r[0][0] for r in runs["trl"]])

    def work(name: str, tokens: int, count: int) -> str:
        """The episodes and tokens of each run of ``name`` (the same in every run when seeded alike)."""
        counts = sorted({(int(r[0][count]), int(r[0][tokens])) for r in runs[name]})
        return ", ".join(f"{e} episodes / {t} tokens" for e, t in counts)

    def memory(name: str) -> str:
        peaks = [r[1] for r in runs[name]]
        gpu = f", GPU {max(p['gpu_mb'] for p in peaks):.0f} MB" if "gpu_mb" in peaks[0] else ""
        return f"peak RSS {max(p['rss_mb'] for p in peaks):.0f} MB{gpu}"

    print(
        f"model: random-init Llama, {parameters / 1e6:.1f}M parameters ({shape}); {args.steps} steps of "
        f"{args.tasks} prompts x {args.group} samples, <= {args.max_tokens} completion tokens; best of {args.repeat}"
    )
    print(
        f"rftgym online loop, packed:  {ours:9.0f} tokens/s end to end ({ours_train:.0f} tokens/s in the trainer "
        f"step; {memory('packed')})"
    )
    print(
        f"rftgym online loop, padded:  {padded:9.0f} tokens/s end to end ({padded_train:.0f} tokens/s in the trainer "
        f"step; {memory('padded')})"
    )
    print(f"TRL GRPOTrainer:             {trl:9.0f} tokens/s end to end ({memory('trl')})")
    print(f"ratio rftgym / TRL: {ours / trl:.2f}x (packing off: {padded / trl:.2f}x)")
    print(f"each step, rftgym {WORK['rftgym']}; TRL {WORK['trl']}")
    print(f"work per run: rftgym packed {work('packed', 2, 3)}; padded {work('padded', 2, 3)}; TRL {work('trl', 1, 2)}")
    print("trainer step alone (rftgym train on the packed run's rollouts, torchrun):")
    for (processes, pack), (tokens_per_s, rss) in trainer_only.items():
        print(
            f"  {processes} process{'es' if processes > 1 else '  '}, packing {'on ' if pack else 'off'}: "
            f"{tokens_per_s:9.0f} tokens/s, peak RSS {rss:.0f} MB per process (largest)"
        )
    if torch.cuda.is_available():
        print(
            f"MFU of the rftgym trainer step: {6 * parameters * ours_train / (args.peak_tflops * 1e12):.1%} "
            f"({torch.cuda.get_device_name()}, peak {args.peak_tflops:g} TFLOP/s)"
        )


if __name__ == "__main__":
    main()
