"""The offline character tokenizer.

Every character of the task alphabet is one token, and the four reasoning tags
(`<think>`, `</think>`, `<answer>`, `</answer>`) are one token each, so a direct
answer `<answer>172</answer>` is 5 tokens and a column scratchpad about 25. The
tags are ordinary (non-special) tokens: decoding keeps them as text even with
`skip_special_tokens=True`, because the rewards read them.

The tokenizer is built with `tokenizers` (no files, no network) and wrapped in
`PreTrainedTokenizerFast`, so it works with `generate`, TRL's trainers and
`save_pretrained` / `from_pretrained` like any hub tokenizer. Padding is on the
left (decoder-only generation appends on the right), passed to the constructor
because an attribute set later is not saved.
"""

from __future__ import annotations

from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast

PAD, EOS, UNK = "<pad>", "<eos>", "<unk>"
TAGS = ("<think>", "</think>", "<answer>", "</answer>")
# Digits, the operators of both tasks (column sums and Countdown), and the few
# separators the prompts and scratchpads use.
ALPHABET = "0123456789+-*/()=:> "

# A tiny template: the user's text is the prompt, the assistant's text is the
# completion followed by EOS. It lets chat-style data sets and TRL's
# conversational paths work on the tiny models without a system prompt.
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] == 'assistant' %}{{ message['content'] }}{{ eos_token }}"
    "{% else %}{{ message['content'] }}{% endif %}"
    "{% endfor %}"
)


def vocabulary() -> dict[str, int]:
    """Token -> id: pad 0, eos 1, unk 2, then the tags, then the characters."""
    tokens = [PAD, EOS, UNK, *TAGS, *ALPHABET]
    return {token: index for index, token in enumerate(tokens)}


def build_tokenizer() -> PreTrainedTokenizerFast:
    """Build the character tokenizer in memory (deterministic, no files)."""
    vocab = vocabulary()
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token=UNK))
    # Split into single characters, but keep each tag whole. The regex is
    # tried left to right, so a tag wins over its first character '<'.
    tag_or_char = Regex("|".join(tag.replace("/", "\\/") for tag in TAGS) + "|.")
    core.pre_tokenizer = pre_tokenizers.Split(tag_or_char, behavior="isolated")
    core.decoder = decoders.Fuse()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core,
        pad_token=PAD,
        eos_token=EOS,
        unk_token=UNK,
        padding_side="left",
        model_max_length=512,
        chat_template=CHAT_TEMPLATE,
    )
    return tokenizer
