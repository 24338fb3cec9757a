"""A researcher's new environment: a unit-conversion desk with two tools, rewards and an oracle.

python examples/custom_env.py                      # roll out with the oracle (no model needed)
python examples/custom_env.py --base-url http://localhost:8000/v1 --model my-model
"""

import argparse

import rftgym
from rftgym.envs import ChatEnv, Task, register_env, tool

FACTORS = {("km", "m"): 1000, ("m", "cm"): 100, ("kg", "g"): 1000, ("h", "min"): 60, ("min", "s"): 60}


class UnitDeskEnv(ChatEnv):
    """Convert quantities between units with a factor look-up tool."""

    reward_weights = {"tool_error": -0.2, "correct": 1.0}

    def tasks(self, split="train", num_tasks=None):
        offset = 0 if split == "train" else 1000  # disjoint splits
        tasks = []
        for i in range(num_tasks or 20):
            (src, dst), value = list(FACTORS)[i % len(FACTORS)], 3 + (i + offset) % 17
            tasks.append(
                Task(
                    id=f"units-{split}-{i}",
                    split=split,
                    prompt=f"How many {dst} is {value} {src}?",
                    answer=value * FACTORS[src, dst],
                    metadata={"from": src, "to": dst, "value": value},
                )
            )
        return tasks

    def task_by_id(self, task_id):
        _, split, index = task_id.split("-")
        return self.tasks(split, int(index) + 1)[-1]

    def setup(self, task):
        self.answer = None

    @tool
    def conversion_factor(self, from_unit: str, to_unit: str) -> float:
        """How many `to_unit` make one `from_unit`.

        Args:
            from_unit: The unit to convert from, e.g. "km".
            to_unit: The unit to convert to, e.g. "m".
        """
        return FACTORS[from_unit, to_unit]  # a KeyError becomes an error message for the model

    @tool
    def give_answer(self, value: float) -> str:
        """Submit the converted value; this ends the episode.

        Args:
            value: The quantity in the target unit.
        """
        self.answer = value
        return "recorded"

    def react(self, message, results):
        return [], "answered" if self.answer is not None else None

    def turn_components(self, message, results):  # per turn: malformed or failing tool calls cost
        return {"tool_error": float(sum(r.error is not None for r in results))}

    def outcome_components(self):
        return {"correct": float(self.answer is not None and abs(self.answer - self.task.answer) < 1e-9)}

    def oracle_action(self):
        m = self.task.metadata
        asked = any(msg["role"] == "tool" for msg in self.messages)
        name, args = (
            ("give_answer", f'{{"value": {self.task.answer}}}')
            if asked
            else ("conversion_factor", f'{{"from_unit": "{m["from"]}", "to_unit": "{m["to"]}"}}')
        )
        call = {"id": f"call_{self.turn}", "type": "function", "function": {"name": name, "arguments": args}}
        return {"role": "assistant", "content": None, "tool_calls": [call]}


register_env("units/UnitDesk-v0", f"{__name__}:UnitDeskEnv", max_turns=4)

if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--base-url")
    parser.add_argument("--model", default="default")
    parser.add_argument("--out", default="runs/unitdesk.jsonl")
    args = parser.parse_args()
    policy = rftgym.ChatPolicy(args.base_url, args.model) if args.base_url else rftgym.OraclePolicy()
    result = rftgym.rollout("units/UnitDesk-v0", policy, args.out, split="test", num_tasks=10, group_size=2)
    summary = rftgym.summarize(rftgym.read_trajectories(args.out))
    print(f"{result.written} episodes -> {args.out}; mean reward {summary['reward']['mean']:.3f}")
