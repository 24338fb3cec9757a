"""A tiny random-init chat model built locally: nothing is downloaded.

``build_tiny_model(path)`` writes a normal Hugging Face folder (``AutoModelForCausalLM`` and
``AutoTokenizer`` load it) holding a small Llama-architecture causal LM and a byte-level tokenizer
with a chat template that renders tools and tool calls. Tests, the demo and the benchmarks use it
in place of a real model; ``resolve_model("tiny")`` builds it once into a cache folder.

The chat template is Qwen-style (``<|im_start|>role\\n...<|im_end|>``). Tools are listed as JSON
in the system turn and a tool call is written as ``<tool_call>{"name": ..., "arguments": ...}
</tool_call>``, the convention :func:`rftgym.agents.text_tools.parse_tool_calls` reads back.
An assistant message's ``reasoning_content`` is written as ``<think>{reasoning}</think>``
directly before its content, in every turn of the history (so rendering-based training trains on
it and the prefix property holds; the built-in server splits it back out of a completion). The
assistant turn ends with ``<|im_end|>``, the model's end-of-turn (eos) token.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerFast

#: What ``--model tiny`` means.
TINY = "tiny"

#: Bump when the tiny model's config, tokenizer or template changes (the cache folder is per version).
TINY_VERSION = 4

SPECIAL_TOKENS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>")

CHAT_TEMPLATE = (
    "{%- macro render_call(call) -%}"
    "{%- set fn = call.function if call.function is defined else call -%}"
    '<tool_call>{"name": {{ fn.name | tojson }}, "arguments": '
    "{% if fn.arguments is string %}{{ fn.arguments }}{% else %}{{ fn.arguments | tojson }}{% endif %}}</tool_call>"
    "{%- endmacro -%}"
    "{%- set system = messages[0].content if messages and messages[0].role == 'system' else none -%}"
    "{%- if system is not none or tools -%}"
    "<|im_start|>system\n{% if system is not none %}{{ system }}{% endif %}"
    "{%- if tools %}{{ '\n\n# Tools\n<tools>\n' }}"
    "{%- for t in tools %}{{ (t.function if t.function is defined else t) | tojson }}{{ '\n' }}{% endfor %}"
    '{{ \'</tools>\\nTo call a tool write <tool_call>{"name": NAME, "arguments": {...}}</tool_call>\' }}'
    "{%- endif %}<|im_end|>{{ '\n' }}"
    "{%- endif -%}"
    "{%- for m in messages -%}"
    "{%- if m.role == 'system' and loop.first -%}"
    "{%- elif m.role == 'assistant' -%}"
    "<|im_start|>assistant\n"
    "{% if m.reasoning_content is string %}<think>{{ m.reasoning_content }}</think>{% endif %}"
    "{% if m.content %}{{ m.content }}{% endif %}"
    "{%- for call in m.tool_calls or [] %}{% if not loop.first or m.content %}{{ '\n' }}{% endif %}"
    "{{ render_call(call) }}{% endfor %}<|im_end|>{{ '\n' }}"
    "{%- else -%}"
    "<|im_start|>{{ m.role }}\n{{ m.content if m.content is string else (m.content | tojson) }}<|im_end|>{{ '\n' }}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt %}<|im_start|>assistant\n{% endif -%}"
)


def build_tiny_model(
    path: str | Path,
    *,
    seed: int = 0,
    hidden_size: int = 64,
    num_layers: int = 2,
    max_positions: int = 16384,
    **config_overrides: int,
) -> Path:
    """Write a random-init tiny chat model and its tokenizer to ``path`` (created); returns it.

    Args:
        path: The folder to write (an HF model folder afterwards).
        seed: Seed of the random initialisation: the same seed gives the same weights.
        hidden_size: Model width (the MLP is 2x wide). Attention has 4 heads of 64 dimensions
            and 2 key/value heads, whatever the width: vLLM's CPU attention takes a head size
            of 64, not the 16 a 64-wide model would otherwise get.
        num_layers: Decoder layers.
        max_positions: Context length in tokens (bytes, mostly).
        **config_overrides: Further ``LlamaConfig`` fields (``intermediate_size``,
            ``num_attention_heads``, ``num_key_value_heads``, ``vocab_size`` >= the tokenizer's...),
            e.g. to build a real model's shape for benchmarks.
    """
    import torch
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

    path = Path(path)
    tokenizer = build_byte_tokenizer()
    eos, pad = tokenizer.eos_token_id, tokenizer.pad_token_id  # <|im_end|>, <|endoftext|>
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=2 * hidden_size,
        num_hidden_layers=num_layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=64,
        max_position_embeddings=max_positions,
        eos_token_id=eos,
        pad_token_id=pad,
        bos_token_id=None,
        tie_word_embeddings=False,
    )
    for key, value in config_overrides.items():
        setattr(config, key, value)
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config).float()
    model.generation_config = GenerationConfig(eos_token_id=eos, pad_token_id=pad, bos_token_id=None)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def build_byte_tokenizer() -> PreTrainedTokenizerFast:
    """A byte-level tokenizer: one token per UTF-8 byte (ids 0-255) plus the special tokens, with
    :data:`CHAT_TEMPLATE`. Every text has exactly one tokenisation."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    alphabet = pre_tokenizers.ByteLevel.alphabet()
    byte_chars = sorted(alphabet, key=lambda ch: _BYTE_OF_CHAR[ch])
    tok = Tokenizer(models.BPE(vocab={ch: i for i, ch in enumerate(byte_chars)}, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens(list(SPECIAL_TOKENS))
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        chat_template=CHAT_TEMPLATE,
        model_max_length=16384,
        clean_up_tokenization_spaces=False,
    )


def _byte_to_char() -> dict[int, str]:
    """GPT-2's reversible byte -> printable character map (what the ByteLevel pre-tokenizer emits)."""
    printable = (
        list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    )
    chars: dict[int, str] = {}
    extra = 0
    for b in range(256):
        if b in printable:
            chars[b] = chr(b)
        else:
            chars[b] = chr(256 + extra)
            extra += 1
    return chars


_BYTE_OF_CHAR = {ch: b for b, ch in _byte_to_char().items()}


def _check_hub_model(name: str) -> None:
    """Raise ValueError when the hub cannot give model ``name`` (no such model, or the hub cannot
    be reached and the model is not in its local cache); the message says both places failed."""
    try:
        import huggingface_hub
        from huggingface_hub.errors import RepositoryNotFoundError
    except ImportError:  # no hub client: transformers will say what it finds
        return
    try:
        if huggingface_hub.try_to_load_from_cache(name, "config.json"):  # downloaded before
            return
        huggingface_hub.model_info(name, timeout=10)
    except RepositoryNotFoundError:
        raise ValueError(f"no local folder {name!r}, and no model {name!r} on the Hugging Face hub") from None
    except Exception as e:  # offline, no such host, an invalid id...
        reason = " ".join(str(e).split())[:200]
        raise ValueError(
            f"no local folder {name!r}, and the Hugging Face hub could not be asked for it "
            f"({type(e).__name__}: {reason})"
        ) from None


def resolve_model(name_or_path: str) -> str:
    """``"tiny"`` -> the cached tiny model folder (built on first use); anything else unchanged.

    The cache folder is ``$RFTGYM_CACHE/tiny-v<N>`` (default ``~/.cache/rftgym``). A name is looked
    for as a local folder first, then on the Hugging Face hub. Raises ValueError, saying where it
    looked, for a local path (``/...``, ``./...``, ``~/...``) that is not a folder (never taken for
    a hub id), and for a name that is neither a local folder nor a model the hub (or its local
    cache) has.
    """
    if name_or_path != TINY:
        folder = Path(name_or_path).expanduser()
        if folder.is_dir():
            return str(folder)
        if name_or_path.startswith(("/", "./", "../", "~")):
            raise ValueError(f"no model folder {name_or_path} (a local path: the hub was not asked)")
        _check_hub_model(name_or_path)
        return name_or_path
    cache = Path(os.environ.get("RFTGYM_CACHE") or Path.home() / ".cache" / "rftgym")
    folder = cache / f"tiny-v{TINY_VERSION}"
    if not (folder / "config.json").is_file() or not (folder / "tokenizer.json").is_file():
        staging = cache / f".tiny-v{TINY_VERSION}-{os.getpid()}"
        build_tiny_model(staging)
        try:
            staging.rename(folder)
        except OSError:  # another process built it first
            import shutil

            shutil.rmtree(staging, ignore_errors=True)
    return str(folder)
