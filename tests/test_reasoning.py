"""A model's reasoning text survives the whole path: endpoint answer -> trajectory line -> trainer."""

from __future__ import annotations

import json

from conftest import read_lines
from tiny_model import tiny_model_path

import rftgym
from rftgym.agents.testing import ScriptedServer

MATH = "rftgym/MathTools-v0"
THOUGHT = "the product of six and seven is forty-two"


def test_reasoning_reaches_the_trajectory_and_the_trainer_but_not_the_next_request(tmp_path):
    from transformers import AutoTokenizer

    from rftgym.training import trajectories_to_tensors

    seen_reasoning_in_requests = []

    def respond(request: dict) -> dict:
        seen_reasoning_in_requests.append(any("reasoning_content" in m for m in request["messages"]))
        if not any(m["role"] == "tool" for m in request["messages"]):  # first turn: a tool call
            call = {"function": {"name": "calculator", "arguments": {"expression": "6 * 7"}}}
            return {"content": None, "tool_calls": [call], "reasoning_content": THOUGHT}
        return {"content": "#### 42", "reasoning": "so I answer 42"}  # newer vLLM names it `reasoning`

    out = tmp_path / "reasoning.jsonl"
    with ScriptedServer(respond=respond) as server:
        # No token ids from the endpoint: the trainer renders the turns with the chat template.
        policy = rftgym.ChatPolicy(server.base_url, "scripted", request_token_data=False)
        rftgym.rollout(MATH, policy, out, num_tasks=1, progress=False)

    [line] = read_lines(out)
    assistant = [m for m in line["messages"] if m["role"] == "assistant"]
    assert [m.get("reasoning_content") for m in assistant] == [THOUGHT, "so I answer 42"]
    assert seen_reasoning_in_requests == [False, False], "earlier reasoning is not sent back by default"

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_path())
    batch = trajectories_to_tensors(out, tokenizer)
    trained = tokenizer.decode(batch.input_ids[batch.loss_mask].tolist())
    assert THOUGHT in trained and "so I answer 42" in trained, "reasoning tokens are sampled tokens: trained"
    assert json.loads(line["messages"][2]["tool_calls"][0]["function"]["arguments"]) == {"expression": "6 * 7"}
