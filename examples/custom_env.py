"""A researcher's new environment: a unit-conversion desk with two tools, a rubric and an oracle.

python examples/custom_env.py                      # roll out with the oracle (no model needed)
python examples/custom_env.py --base-url http://localhost:8000/v1 --model my-model
"""

import argparse

import rftgym
from rftgym.envs import ChatEnv, register_env, tool
from rftgym.rewards import RewardContext, RewardTerm, Rubric, tool_call_errors
from rftgym.types import Task, assistant_message, tool_call

FACTORS = {("km", "m"): 1000, ("m", "cm"): 100, ("kg", "g"): 1000, ("h", "min"): 60, ("min", "s"): 60}


def correct(ctx: RewardContext) -> float:
    """Outcome: 1.0 when the submitted value is the reference. It reads the env's state, so it
    declares needs_env (a rescore of a stored file keeps the recorded value)."""
    answer = ctx.env.answer
    return float(answer is not None and abs(answer - ctx.task.answer) < 1e-9)


class UnitDeskEnv(ChatEnv):
    """Convert quantities between units with a factor look-up tool."""

    # Every reward comes from the rubric; each term lands in the trajectory file under its name.
    rubric = Rubric(
        [
            RewardTerm("tool_error", tool_call_errors(), weight=-0.2),  # per turn: malformed or failing calls
            RewardTerm("correct", correct, scope="outcome", needs_env=True),
        ]
    )

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

    def oracle_action(self, task, messages):  # a pure function of the task and the conversation
        if any(m["role"] == "tool" for m in messages):
            return assistant_message(None, [tool_call("give_answer", {"value": task.answer})])
        units = {"from_unit": task.metadata["from"], "to_unit": task.metadata["to"]}
        return assistant_message(None, [tool_call("conversion_factor", units)])


register_env("units/UnitDesk-v0", f"{__name__}:UnitDeskEnv", max_turns=4)

if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--base-url")
    parser.add_argument("--model", default="default")
    parser.add_argument("--out", default="runs/unitdesk.jsonl")
    args = parser.parse_args()
    if args.base_url:
        policy = rftgym.ChatPolicy(args.base_url, args.model)
    else:
        policy = rftgym.OraclePolicy(UnitDeskEnv().oracle_action)
    result = rftgym.rollout("units/UnitDesk-v0", policy, args.out, split="test", num_tasks=10, group_size=2)
    summary = rftgym.summarize(rftgym.read_trajectories(args.out))
    print(f"{result.written} episodes -> {args.out}; mean reward {summary['reward']['mean']:.3f}")
