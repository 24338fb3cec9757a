"""Roll out the math env against a local OpenAI-compatible endpoint (vLLM, Ollama, llama.cpp, rftgym serve).

vllm serve Qwen/Qwen2.5-0.5B-Instruct --enable-auto-tool-choice --tool-call-parser hermes
python examples/rollout_local_endpoint.py --base-url http://localhost:8000/v1 --model Qwen/Qwen2.5-0.5B-Instruct

ollama serve && ollama pull qwen2.5:0.5b
python examples/rollout_local_endpoint.py --base-url http://localhost:11434/v1 --model qwen2.5:0.5b
"""

import argparse

import rftgym

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("--base-url", default="http://localhost:8000/v1")
parser.add_argument("--model", required=True)
parser.add_argument("--num-tasks", type=int, default=8)
parser.add_argument("--group-size", type=int, default=4, help="samples per task (a GRPO group)")
parser.add_argument("--out", default="runs/local-endpoint.jsonl")
args = parser.parse_args()

# Token ids and logprobs are asked for (vLLM returns them; the trainer uses them verbatim).
policy = rftgym.ChatPolicy(args.base_url, args.model, temperature=0.8, max_tokens=512, timeout=120)
result = rftgym.rollout(
    "rftgym/MathTools-v0",
    policy,
    args.out,
    split="test",
    num_tasks=args.num_tasks,
    group_size=args.group_size,
    concurrency=16,
)

summary = rftgym.summarize(rftgym.read_trajectories(args.out))
print(f"wrote {result.written} episodes ({result.errors} with errors) to {args.out}")
print(f"mean reward {summary['reward']['mean']:.3f}, pass@1 {summary['pass_at_k']['1']['mean']:.3f}")
