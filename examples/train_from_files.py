"""Your own training loop on rftgym trajectory files: tensors from rftgym, a plain torch optimizer.

    rftgym serve --model tiny --port 8000 &
    rftgym rollout rftgym/MathTools-v0 --base-url http://127.0.0.1:8000/v1 --model tiny \\
        --num-tasks 4 --group-size 4 --max-tokens 32 --out runs/math.jsonl
    python examples/train_from_files.py runs/math.jsonl --model tiny --out runs/my-model

``trajectories_to_tensors`` gives, per token sequence, the token ids, a mask of the tokens the
policy sampled, their old logprobs (NaN where the endpoint gave none) and per-token advantages.
What to do with them is up to you; here: REINFORCE with the group-normalised advantage.
"""

import argparse

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from rftgym.models import resolve_model
from rftgym.training import trajectories_to_tensors

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("files", nargs="+", help="trajectory files")
parser.add_argument("--model", default="tiny", help="HF folder, hub id, or 'tiny'")
parser.add_argument("--out", default="runs/my-model", help="where to save the trained model")
parser.add_argument("--epochs", type=int, default=2)
parser.add_argument("--lr", type=float, default=1e-4)
args = parser.parse_args()

path = resolve_model(args.model)
tokenizer = AutoTokenizer.from_pretrained(path)
model = AutoModelForCausalLM.from_pretrained(path)
batch = trajectories_to_tensors(args.files, tokenizer, advantage="grpo")
print(
    f"{len(batch.episodes)} episodes -> {len(batch)} sequences, {int(batch.loss_mask.sum())} sampled tokens, "
    f"{len(batch.drift)} left out for template drift"
)

optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr)
for epoch in range(args.epochs):
    for row in range(len(batch)):
        tensors = batch.rows(slice(row, row + 1))
        logits = model(input_ids=tensors["input_ids"], attention_mask=tensors["attention_mask"]).logits[:, :-1]
        logp = logits.log_softmax(-1).gather(-1, tensors["input_ids"][:, 1:, None]).squeeze(-1)
        mask = tensors["loss_mask"][:, 1:]  # position j scores token j given the tokens before it
        loss = -(logp * tensors["advantages"][:, 1:])[mask].sum() / mask.sum().clamp(min=1)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    print(f"epoch {epoch + 1}: last loss {loss.item():.4f}")

model.save_pretrained(args.out)
tokenizer.save_pretrained(args.out)
print(f"saved to {args.out}  (serve it: rftgym serve --model {args.out})")
