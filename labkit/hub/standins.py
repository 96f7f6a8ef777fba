"""The offline stand-ins for a hub chat pair: tiny models made here, in the hub's format.

    CHAT_SIZES, CHAT_ARCHITECTURES   the teacher a Qwen2 (Qwen2.5's shape), the student a Llama (SmolLM2's)
    chat_tokenizer(corpus)           a small BPE with ChatML's special tokens and chat template
    make_chat_model(size, folder)    a new model of that size, saved as a hub model folder

They are read back with `from_pretrained` like any hub model, so notebook 06's offline setting and the
tests run the real code path with no network. `hub.chat.prepare_models` makes them once and gives them
their "instruct" training.
"""

from __future__ import annotations

from pathlib import Path

from transformers import PreTrainedTokenizerFast

from ..runtime import LabkitError

# The offline stand-ins, shaped as the real pair: the teacher a Qwen2 (Qwen2.5's architecture: biases on the
# query, key and value projections, fewer key-value heads than query heads), the student a Llama (SmolLM2's),
# about 5% of the teacher's parameters.
CHAT_ARCHITECTURES = {"chat-teacher": "qwen2", "chat-student": "llama"}
CHAT_SIZES = {
    "chat-teacher": dict(
        hidden_size=128, num_hidden_layers=4, num_attention_heads=4, num_key_value_heads=2, intermediate_size=384
    ),
    "chat-student": dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=96),
}
CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def chat_tokenizer(corpus: list[str]) -> PreTrainedTokenizerFast:
    """A small BPE tokenizer learned from `corpus`, digits one by one, with ChatML's special tokens and template.

    Any text still encodes (byte-level fallback); the corpus only decides which words get one token,
    which keeps the offline models' sequences short.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.ByteLevel(add_prefix_space=False)]
    )
    core.decoder = decoders.ByteLevel()
    special = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    trainer = trainers.BpeTrainer(
        vocab_size=768, special_tokens=special, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False
    )
    core.train_from_iterator(corpus, trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        additional_special_tokens=["<|im_start|>"],
        padding_side="left",
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def make_chat_model(size: str, folder: str | Path, corpus: list[str], seed: int = 0) -> Path:
    """Build a tiny chat model of `size` (CHAT_SIZES, in its CHAT_ARCHITECTURES), its tokenizer learned from
    `corpus`, saved as a hub model folder."""
    if size not in CHAT_SIZES:
        raise LabkitError(f"unknown chat model size {size!r}; choose one of {', '.join(CHAT_SIZES)}")
    from transformers import Qwen2Config, Qwen2ForCausalLM

    from ..models import llama_config, new_model, save_model
    from ..runtime import set_seed

    tokenizer = chat_tokenizer(corpus)
    config = llama_config(tokenizer, CHAT_SIZES[size], max_position_embeddings=1024)
    if CHAT_ARCHITECTURES[size] == "llama":
        return save_model(new_model(config, tokenizer, seed), tokenizer, folder)
    fields = ("vocab_size", "max_position_embeddings", "tie_word_embeddings", "pad_token_id", "eos_token_id", "bos_token_id")
    qwen2 = Qwen2Config(**{name: getattr(config, name) for name in fields}, **CHAT_SIZES[size])
    set_seed(seed)
    model = Qwen2ForCausalLM(qwen2)
    model.generation_config.pad_token_id, model.generation_config.eos_token_id = tokenizer.pad_token_id, tokenizer.eos_token_id
    return save_model(model, tokenizer, folder)


def model_type(path: Path) -> str | None:
    """The `model_type` a saved model folder's config.json names (None: no saved model there)."""
    import json

    config = path / "config.json"
    return json.loads(config.read_text()).get("model_type") if config.exists() else None
