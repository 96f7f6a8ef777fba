"""Answers that grow one token at a time: the sampling of `labkit.sampling`, written out token by token.

`AnswerBatch` carries the KV cache by hand for several prompts at once, each with its own settings
(k answers, temperature, cap, seed): the demo shows answers as they grow and joins its users' requests
into one batch (`labkit.app.batching`). `AnswerStream` is one prompt's k answers. At temperature 0 the
tokens are `generate_completions`'s (tests/test_demo.py holds them to it).
"""

from __future__ import annotations

import inspect
import time
from dataclasses import dataclass, field

import torch
from transformers import PreTrainedTokenizerBase

from .. import llama_decode
from ..sampling import MAX_COMPLETION_LENGTH


@dataclass
class AnswerGroup:
    """One prompt's k answers inside an `AnswerBatch`: its rows, settings and what they said so far.

    prompt_ids: the prompt's token ids; k rows answer it, sampled at `temperature` (0: greedy) with a
    generator of its own seeded by `seed`, for at most `max_new_tokens` tokens each (EOS counted).
    seconds is the time of the batched forward passes the group took part in. `stopped` (set by another
    thread: the user left) ends every row at the next token; the rows' own `finished` flags stay the
    batch's, so the two threads never write the same list.
    """

    prompt_ids: list[int]
    k: int = 1
    temperature: float = 0.0
    max_new_tokens: int = MAX_COMPLETION_LENGTH
    seed: int = 0
    answer_ids: list[list[int]] = field(default_factory=list)
    finished: list[bool] = field(default_factory=list)
    seconds: float = 0.0
    stopped: bool = False

    def __post_init__(self):
        if self.k < 1 or self.max_new_tokens < 1:
            raise ValueError(f"k ({self.k}) and max_new_tokens ({self.max_new_tokens}) must be at least 1")
        self.answer_ids = [[] for _ in range(self.k)]
        self.finished = [False] * self.k

    @property
    def done(self) -> bool:
        return self.stopped or all(self.finished)

    @property
    def tokens(self) -> int:
        return sum(len(ids) for ids in self.answer_ids)


class AnswerBatch:
    """Several prompts' answers from one model, grown one token per `step()` in one batched forward pass.

    The rows of every group are stacked, prompts left-padded to the longest (P tokens):

        input_ids, attention_mask   (N, P) at the first step, then (N, 1) and (N, P + t)
        position_ids                count real tokens only, so padding shifts nothing

    and the KV cache is carried by hand: in `llama_decode.Decoder` for the lab's tiny Llamas, else in
    HF's own cache object (`model(ids, cache=cache, use_cache=True)`; older transformers call it
    `past_key_values`). Each group picks its next tokens from its own rows'
    logits: argmax at temperature 0, else a draw from softmax(logits / T) with the group's own
    generator, so a group's answers do not depend on who else is in the batch (up to the last bits
    of float arithmetic; `tests/test_demo.py` checks greedy answers against the prompt alone).
    A row stops at EOS or its group's `max_new_tokens`; the batch is done when every row has.
    """

    def __init__(self, model: torch.nn.Module, tokenizer: PreTrainedTokenizerBase, groups: list[AnswerGroup]):
        self.model, self.tokenizer, self.groups = model, tokenizer, groups
        self.device = next(model.parameters()).device
        self.cache_name = "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"
        rows = [group.prompt_ids for group in groups for _ in range(group.k)]
        width = max(len(ids) for ids in rows)
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        self.next_input = torch.tensor([[pad] * (width - len(ids)) + ids for ids in rows], device=self.device)
        self.attention_mask = torch.tensor([[0] * (width - len(ids)) + [1] * len(ids) for ids in rows], device=self.device)
        self.position_ids = (self.attention_mask.cumsum(dim=1) - 1).clamp(min=0)
        self.generators = [torch.Generator(device=self.device).manual_seed(group.seed) for group in groups]
        self.cache = None
        self.steps = 0
        # The lab's tiny Llamas run on `llama_decode`'s page (the same logits in fewer calls); others on HF's forward.
        self.decoder = None
        if llama_decode.supports(model):
            longest = max(group.max_new_tokens for group in groups)
            self.decoder = llama_decode.Decoder(model, self.next_input, self.attention_mask, longest)

    @property
    def done(self) -> bool:
        return all(group.done for group in self.groups)

    @torch.no_grad()
    def step(self) -> None:
        """One forward pass: the next token of every row (finished rows ride along and are ignored)."""
        start = time.perf_counter()
        if self.decoder is not None:
            logits = self.decoder.logits(None if self.steps == 0 else self.next_input[:, 0])  # (N, V)
        else:
            output = self.model(
                input_ids=self.next_input,
                attention_mask=self.attention_mask,
                position_ids=self.position_ids,
                use_cache=True,
                **{self.cache_name: self.cache},
            )
            self.cache = getattr(output, self.cache_name)
            logits = output.logits[:, -1, :].float()  # (N, V)
        next_ids, row = [], 0
        for group, generator in zip(self.groups, self.generators):
            rows = logits[row : row + group.k]
            if group.temperature > 0:
                probabilities = torch.softmax(rows / group.temperature, dim=-1)
                next_ids.append(torch.multinomial(probabilities, 1, generator=generator).squeeze(1))
            else:
                next_ids.append(rows.argmax(dim=-1))
            row += group.k
        chosen = torch.cat(next_ids)
        seconds = time.perf_counter() - start
        tokens, row = chosen.tolist(), 0
        for group in self.groups:
            if group.done:
                row += group.k
                continue
            group.seconds += seconds
            for i in range(group.k):
                if not group.finished[i]:
                    group.answer_ids[i].append(tokens[row + i])
                    group.finished[i] = (
                        tokens[row + i] == self.tokenizer.eos_token_id or len(group.answer_ids[i]) >= group.max_new_tokens
                    )
            row += group.k
        self.next_input = chosen.unsqueeze(1)
        if self.decoder is None:  # HF's forward reads the whole mask and the new position; the Decoder keeps its own
            self.attention_mask = torch.cat([self.attention_mask, torch.ones_like(self.attention_mask[:, :1])], dim=1)
            self.position_ids = self.position_ids[:, -1:] + 1
        self.steps += 1


class AnswerStream(AnswerBatch):
    """k answers of one model to one prompt, grown one token per `step()`: an `AnswerBatch` of one group.

    prompt_ids: (1, P). tokens counts EOS, like `Generation.lengths`; seconds is this model's compute time.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        tokenizer: PreTrainedTokenizerBase,
        prompt_ids: torch.Tensor,
        *,
        k: int = 1,
        temperature: float = 0.0,
        max_new_tokens: int = MAX_COMPLETION_LENGTH,
        seed: int = 0,
    ):
        group = AnswerGroup(prompt_ids[0].tolist(), k, temperature, max_new_tokens, seed)
        super().__init__(model, tokenizer, [group])
        self.group = group

    @property
    def tokens(self) -> int:
        return self.group.tokens

    @property
    def seconds(self) -> float:
        return self.group.seconds

    @property
    def texts(self) -> list[str]:
        return self.tokenizer.batch_decode(self.group.answer_ids, skip_special_tokens=True)
