"""`rftgym serve` over real HTTP: the tiny model, the OpenAI API surface, batching, hot reload."""

from __future__ import annotations

import asyncio
import json
import shutil
import time
import urllib.error
import urllib.request

import openai
import pytest
from tiny_model import tiny_model_path

import rftgym
from rftgym.agents.text_tools import parse_tool_calls
from rftgym.models import render_ids, write_marker
from rftgym.serving import ModelServer, completion_message

USER = [{"role": "user", "content": "What is 2 + 3?"}]
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "calculator",
            "description": "evaluate",
            "parameters": {"type": "object", "properties": {"expression": {"type": "string"}}},
        },
    }
]


@pytest.fixture(scope="module")
def server():
    with ModelServer(str(tiny_model_path()), served_name="tiny", default_max_tokens=16) as s:
        yield s


@pytest.fixture(scope="module")
def client(server):
    return openai.OpenAI(base_url=server.base_url, api_key="EMPTY", max_retries=0)


def test_tiny_model_is_a_normal_hf_folder_with_a_tool_template():
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_path())
    model = AutoModelForCausalLM.from_pretrained(tiny_model_path())
    assert model.config.hidden_size == 64 and model.config.vocab_size == len(tokenizer)
    call = {"id": "c1", "type": "function", "function": {"name": "calculator", "arguments": '{"expression": "2+3"}'}}
    messages = USER + [
        {"role": "assistant", "content": "Let me add.", "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "c1", "content": "5"},
    ]
    text = tokenizer.decode(render_ids(tokenizer, messages, TOOLS))
    assert '"name": "calculator"' in text.split("<|im_end|>")[0], "tools listed in the system turn"
    assert (
        'Let me add.\n<tool_call>{"name": "calculator", "arguments": {"expression": "2+3"}}</tool_call><|im_end|>'
        in text
    )
    assert "<|im_start|>tool\n5<|im_end|>" in text and text.endswith("<|im_start|>assistant\n")
    assert tokenizer.decode(tokenizer("héllo ✓")["input_ids"]) == "héllo ✓"


def test_tool_call_parsing_round_trips_through_the_template():
    raw = 'Adding.\n<tool_call>{"name": "calculator", "arguments": {"expression": "2+3"}}</tool_call>'
    content, calls = parse_tool_calls(raw)
    assert content == "Adding." and calls[0]["function"] == {"name": "calculator", "arguments": '{"expression": "2+3"}'}
    tokenizer = _tokenizer()
    rendered = tokenizer.decode(
        render_ids(
            tokenizer,
            USER + [{"role": "assistant", "content": content, "tool_calls": calls}],
            None,
            add_generation_prompt=False,
        )
    )
    assert rendered.endswith(raw + "<|im_end|>\n")
    content, calls = parse_tool_calls('<tool_call>{"name": oops}</tool_call>')
    assert calls == [] and content == '<tool_call>{"name": oops}</tool_call>', "unparsable blocks stay visible"


def test_a_leading_think_block_becomes_reasoning_content_and_renders_back_as_sampled():
    sampled = "<think>2 plus 3 is 5.</think>It is 5."
    message = completion_message(sampled)
    assert message == {"role": "assistant", "content": "It is 5.", "reasoning_content": "2 plus 3 is 5."}
    tokenizer = _tokenizer()
    prompt = render_ids(tokenizer, USER, None)
    full = render_ids(tokenizer, USER + [message], None, add_generation_prompt=False)
    assert full[: len(prompt)] == prompt and tokenizer.decode(full[len(prompt) :]) == sampled + "<|im_end|>\n"

    call = completion_message('<think></think><tool_call>{"name": "calculator", "arguments": {}}</tool_call>')
    assert (call["reasoning_content"], call["content"]) == ("", None)
    assert call["tool_calls"][0]["function"] == {"name": "calculator", "arguments": "{}"}
    for text in ("<think>cut off by the budget", "First. <think>not leading</think>"):
        assert completion_message(text) == {"role": "assistant", "content": text}, "stays visible as content"


def test_openai_client_gets_choices_logprobs_token_ids_and_weights_version(client):
    reply = client.chat.completions.create(
        model="tiny",
        messages=USER,
        tools=TOOLS,
        n=3,
        temperature=1.0,
        seed=7,
        max_tokens=12,
        logprobs=True,
        extra_body={"return_token_ids": True},
    )
    extra = reply.model_extra
    assert len(reply.choices) == 3 and extra["weights_version"] == "0" and reply.system_fingerprint == "0"
    assert extra["prompt_token_ids"] and reply.usage.prompt_tokens == len(extra["prompt_token_ids"])
    for choice in reply.choices:
        ids = choice.model_extra["token_ids"]
        assert len(choice.logprobs.content) == len(ids) <= 12
        assert all(entry.logprob <= 0 for entry in choice.logprobs.content)
        assert choice.finish_reason in ("stop", "length", "tool_calls")
    assert reply.usage.completion_tokens == sum(len(c.model_extra["token_ids"]) for c in reply.choices)
    again = client.chat.completions.create(
        model="tiny", messages=USER, tools=TOOLS, n=3, temperature=1.0, seed=7, max_tokens=12
    )
    assert [c.message.content for c in again.choices] == [c.message.content for c in reply.choices], "seeded"
    assert len({c.message.content for c in reply.choices}) > 1, "each choice is its own sample"
    models = client.models.list()
    assert [m.id for m in models.data] == ["tiny"]


def test_greedy_stop_and_length(client):
    greedy = [
        client.chat.completions.create(model="tiny", messages=USER, temperature=0, max_tokens=10) for _ in range(2)
    ]
    assert greedy[0].choices[0].message.content == greedy[1].choices[0].message.content
    assert greedy[0].choices[0].finish_reason == "length" and greedy[0].usage.completion_tokens == 10
    sample = client.chat.completions.create(model="tiny", messages=USER, seed=1, max_tokens=16)
    text = sample.choices[0].message.content
    stop = next(ch for ch in text[1:] if ch.isascii() and ch.isalnum())  # a letter the seeded sample writes
    stopped = client.chat.completions.create(model="tiny", messages=USER, seed=1, max_tokens=16, stop=[stop])
    assert stopped.choices[0].finish_reason == "stop"
    assert stopped.choices[0].message.content == (text[: text.find(stop)].strip() or None)


def test_bad_requests_get_clear_errors(client):
    with pytest.raises(openai.BadRequestError, match="temperature must be >= 0"):
        client.chat.completions.create(model="tiny", messages=USER, temperature=-1)
    with pytest.raises(openai.BadRequestError, match="messages must be"):
        client.chat.completions.create(model="tiny", messages=[])
    with pytest.raises(openai.NotFoundError, match="not served here"):
        client.chat.completions.create(model="gpt-9", messages=USER)


def test_top_logprobs_are_the_likeliest_tokens_with_the_sampled_ones_logprob(client):
    reply = client.chat.completions.create(
        model="tiny", messages=USER, temperature=0, max_tokens=6, logprobs=True, top_logprobs=3
    )
    for entry in reply.choices[0].logprobs.content:
        assert len(entry.top_logprobs) == 3
        values = [t.logprob for t in entry.top_logprobs]
        assert values == sorted(values, reverse=True) and all(v <= 0 for v in values)
        assert entry.top_logprobs[0].token == entry.token, "greedy: the sampled token is the likeliest"
        assert entry.top_logprobs[0].logprob == pytest.approx(entry.logprob)
    plain = client.chat.completions.create(model="tiny", messages=USER, temperature=0, max_tokens=6, logprobs=True)
    assert all(entry.top_logprobs == [] for entry in plain.choices[0].logprobs.content)
    with pytest.raises(openai.BadRequestError, match="top_logprobs must be between 0 and 20"):
        client.chat.completions.create(model="tiny", messages=USER, logprobs=True, top_logprobs=21)
    with pytest.raises(openai.BadRequestError, match="top_logprobs needs logprobs"):
        client.chat.completions.create(model="tiny", messages=USER, top_logprobs=2)


def test_unsupported_fields_are_refused_and_neutral_ones_accepted(client):
    neutral = client.chat.completions.create(
        model="tiny",
        messages=USER,
        max_tokens=2,
        stream=False,
        tool_choice="auto",
        frequency_penalty=0,
        presence_penalty=0.0,
        user="me",
        response_format={"type": "text"},
        extra_body={"metadata": {"run": "x"}, "logit_bias": None},
    )
    assert neutral.choices[0].finish_reason in ("stop", "length")
    refused = {
        "frequency_penalty": (0.5, "frequency_penalty=0.5 is not supported; only 0 is"),
        "stream": (True, "stream=true is not supported; only false is"),
        "tool_choice": ("required", 'tool_choice="required" is not supported'),
        "top_k": (20, "unsupported field 'top_k'"),
        "response_format": ({"type": "json_object"}, "response_format="),
    }
    for key, (value, message) in refused.items():
        with pytest.raises(openai.BadRequestError, match=message.replace("(", "\\(")):
            client.chat.completions.create(model="tiny", messages=USER, max_tokens=2, extra_body={key: value})


def _get(url: str, method: str = "GET") -> tuple[int, dict]:
    request = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        assert error.headers["Content-Type"].startswith("application/json")
        return error.code, json.loads(error.read())


def test_health_and_json_errors_on_every_route(server):
    root = server.base_url.removesuffix("/v1")
    assert _get(root + "/health") == (200, {"status": "ok", "model": "tiny", "weights_version": "0"})
    status, body = _get(root + "/v1/nothing")
    assert status == 404 and body["error"]["code"] == 404 and "/v1/nothing" in body["error"]["message"]
    status, body = _get(server.base_url + "/chat/completions")  # GET on a POST route
    assert status == 405 and body["error"]["type"] == "invalid_request_error"
    status, body = _get(server.base_url + "/models", method="DELETE")
    assert status == 405 and "DELETE" in body["error"]["message"]


def test_a_request_whose_client_disconnects_stops_being_decoded(tmp_path):
    import aiohttp

    with ModelServer(str(tiny_model_path()), served_name="tiny", default_max_tokens=100_000) as server:
        calls = []
        generate = server.generator.generate

        def recording(prompts, params, cancelled=None):
            def slowly(row):  # a big model's pace: 1000 tokens take 10 s unless the client goes
                time.sleep(0.01)
                return cancelled(row)

            completions = generate(prompts, params, slowly)
            calls.append([c.finish_reason for c in completions])
            return completions

        server.generator.generate = recording
        server.generator.eos_token_ids = set()  # the only ends: the budget, or the client leaving
        long_request = {"model": "tiny", "messages": USER, "max_tokens": 1000, "temperature": 1.0, "seed": 0}

        async def give_up():
            async with aiohttp.ClientSession() as session:
                with pytest.raises(asyncio.TimeoutError):
                    await session.post(
                        server.base_url + "/chat/completions",
                        json=long_request,
                        timeout=aiohttp.ClientTimeout(total=0.5),
                    )

        asyncio.run(give_up())
        client = openai.OpenAI(base_url=server.base_url, api_key="EMPTY", max_retries=0)
        reply = client.chat.completions.create(model="tiny", messages=USER, max_tokens=3)  # still serving
        assert reply.choices[0].finish_reason in ("stop", "length", "tool_calls")
        assert calls[0] == ["cancelled"], "the abandoned generation ended early"


def test_concurrent_requests_are_batched_and_match_unbatched_answers(server):
    policy = rftgym.ChatPolicy(server.base_url, "tiny", temperature=0, max_tokens=8)
    prompts = [[{"role": "user", "content": "question " + "x" * i}] for i in range(8)]

    async def together():
        return await asyncio.gather(*(policy.act(p, []) for p in prompts))

    async def one_by_one():
        return [await policy.act(p, []) for p in prompts]

    batches_before = server.batches
    concurrent = asyncio.run(together())
    assert server.batches - batches_before < 8, "concurrent requests share batches"
    alone = asyncio.run(one_by_one())
    assert [r.completion_token_ids for r in concurrent] == [r.completion_token_ids for r in alone]
    for reply in concurrent:  # what the trainer reads: the policy client records token ids and logprobs
        assert reply.prompt_token_ids and len(reply.logprobs) == len(reply.completion_token_ids) == 8
        assert reply.weights_version == "0"


def test_hot_reload_from_a_path_and_a_watched_folder(tmp_path):
    checkpoints = tmp_path / "checkpoints"
    with ModelServer(str(tiny_model_path()), served_name="tiny", watch=checkpoints, watch_interval=0.05) as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="EMPTY", max_retries=0)
        ids = {"return_token_ids": True}
        before = client.chat.completions.create(
            model="tiny", messages=USER, temperature=0, max_tokens=12, extra_body=ids
        )
        other = _reinitialised_copy(tmp_path / "other", seed=1)
        answer = _post(server.base_url + "/weights", {"path": str(other)})
        assert answer["weights_version"] == "other"
        after = client.chat.completions.create(
            model="tiny", messages=USER, temperature=0, max_tokens=12, extra_body=ids
        )
        assert after.model_extra["weights_version"] == "other"
        assert after.choices[0].model_extra["token_ids"] != before.choices[0].model_extra["token_ids"]
        with pytest.raises(urllib.request.HTTPError):
            _post(server.base_url + "/weights", {"path": str(tmp_path / "missing")})

        shutil.copytree(other, checkpoints / "step-000003")
        write_marker(checkpoints / "step-000003", 3)
        for _ in range(200):
            version = client.chat.completions.create(model="tiny", messages=USER, max_tokens=1).model_extra[
                "weights_version"
            ]
            if version == "step-3":
                break
        assert version == "step-3"


def _reinitialised_copy(path, seed: int):
    from rftgym.models import build_tiny_model

    return build_tiny_model(path, seed=seed)


def _post(url: str, body: dict) -> dict:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as reply:
        return json.load(reply)


def _tokenizer():
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_model_path())
