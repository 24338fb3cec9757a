"""The whole RFT pipeline, offline, on CPU: serve a model, collect rollouts, score, train, repeat.

    python examples/demo_pipeline.py                    # the tiny model built locally, no download
    python examples/demo_pipeline.py --model Qwen/Qwen2.5-0.5B-Instruct --max-tokens 512   # a real one

1. ``rftgym serve`` (in-process) serves the model over the OpenAI API.
2. Rollouts on the math, code (Docker sandbox) and retail envs: one stats table per env with the
   per-turn components (invalid tool calls, format) and the outcome components (correctness).
3. ``rftgym train`` on those trajectory files: one GRPO step per batch, metrics per step.
4. The online loop on rftgym/Letters-v0, a task even a random tiny model learns: the reward curve
   rises step by step; the PNG plots land in OUT/online/plots.
"""

import argparse
import shutil
from pathlib import Path

from rich.console import Console

import rftgym
from rftgym.serving import ModelServer
from rftgym.training import GRPOTrainer, TrainConfig, trajectories_to_tensors
from rftgym.training.online import OnlineConfig, train_online
from rftgym.trajectories import stats_table, summarize

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("--model", default="tiny", help="HF folder, hub id, or 'tiny' (default)")
parser.add_argument("--out", type=Path, default=Path("runs/demo"), help="the demo's folder (emptied first)")
parser.add_argument("--max-tokens", type=int, default=48, help="tokens per assistant turn")
parser.add_argument("--online-steps", type=int, default=20, help="steps of the online loop")
args = parser.parse_args()
console = Console()
shutil.rmtree(args.out, ignore_errors=True)  # the demo's own folder: every run starts afresh
args.out.mkdir(parents=True)

# env -> (env arguments, tasks, samples per task). Retail's policy document makes ~10k-token
# prompts for a byte-level model, so it plays fewer episodes on CPU.
ENVS = {
    "rftgym/MathTools-v0": ({"max_turns": 3}, 4, 4),
    "rftgym/CodeSandbox-v0": ({"max_turns": 2}, 4, 4),
    "rftgym/Retail-v0": ({"max_turns": 2}, 2, 2),
}

console.rule("1. serve")
files = []
with ModelServer(args.model, served_name="policy", default_max_tokens=args.max_tokens) as server:
    console.print(f"{args.model} on {server.base_url} (weights {server.weights_version})")
    policy = rftgym.ChatPolicy(server.base_url, "policy", temperature=1.0, max_tokens=args.max_tokens, timeout=600)
    console.rule("2. rollouts")
    for env_id, (env_kwargs, num_tasks, group_size) in ENVS.items():
        out = args.out / f"{env_id.split('/')[1]}.jsonl"
        try:
            rftgym.rollout(
                env_id,
                policy,
                out,
                env_kwargs=env_kwargs,
                split="test",
                num_tasks=num_tasks,
                group_size=group_size,
                concurrency=16,
                progress=False,
            )
        except Exception as exc:  # e.g. no Docker engine for the code env: say so and go on
            console.print(f"[yellow]{env_id} skipped:[/] {exc}")
            continue
        table = stats_table(summarize(rftgym.read_trajectories(out)))
        table.title = env_id
        console.print(table)
        files.append(out)

console.rule("3. train on the trajectory files")
trainer = GRPOTrainer(
    TrainConfig(
        model=args.model, output_dir=args.out / "offline", learning_rate=1e-4, batch_size=16, micro_batch_size=1
    )
)
batch = trajectories_to_tensors(files, trainer.tokenizer)
console.print(
    f"{len(batch.episodes)} episodes, {int(batch.loss_mask.sum())} sampled tokens, "
    f"{len(batch.drift)} left out for template drift"
)
trainer.fit(
    batch,
    on_step=lambda step, m: console.print(
        f"step {step}: reward {m['critic/rewards/mean']:+.3f}  entropy {m['actor/entropy']:.2f}  "
        f"{m['perf/tokens_per_s']:.0f} tokens/s"
    ),
)

console.rule("4. online loop on rftgym/Letters-v0")
curve = []


def show(step: int, metrics: dict) -> None:
    curve.append(metrics["critic/rewards/mean"])
    console.print(f"step {step:3d}  reward {curve[-1]:.3f}  " + "#" * round(40 * curve[-1]))


train_online(
    OnlineConfig(
        "rftgym/Letters-v0",
        steps=args.online_steps,
        tasks_per_step=4,
        group_size=8,
        max_tokens=8,
        val_every=5,
        val_tasks=8,
    ),
    TrainConfig(
        model=args.model,
        output_dir=args.out / "online",
        learning_rate=1e-2,
        batch_size=32,
        micro_batch_size=32,
        plots=True,
    ),
    on_step=show,
)
console.print(f"reward {curve[0]:.3f} -> {curve[-1]:.3f}; plots: {args.out / 'online' / 'plots'}")
