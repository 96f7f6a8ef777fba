"""Batched generation: G completions for each of B prompts in one `generate` call.

Prompts are left-padded (decoder-only models append on the right), the KV cache
is on, and the G samples of one prompt sit next to each other ("group after
group"), the layout `group_advantages` expects:

    rows 0..G-1   -> prompt 0
    rows G..2G-1  -> prompt 1 ...

`temperature=0` means greedy decoding. Sampling is pure (no top-k, no top-p),
so the probabilities are the model's own (at that temperature), as GRPO's
log-probs assume. With `return_logps=True` the per-token log-probs of the
sampled tokens under the sampling policy come back too:

    logps[i, t] = log softmax(logits[i, t] / T)[completion_ids[i, t]]     (N, C)

computed by one forward pass over prompt + completion, as TRL does.

`AnswerBatch` is the same sampling written out one token at a time (the KV cache
carried by hand) for several prompts at once, each with its own settings: the demo
shows answers as they grow and joins its users' requests into one batch
(`labkit.app.batching`). `AnswerStream` is one prompt's k answers.
"""

from __future__ import annotations

import inspect
import time
from dataclasses import dataclass, field

import torch
from transformers import PreTrainedTokenizerBase

from . import llama_decode
from .models import count_parameters

# The lab's cap on a completion's tokens, EOS included: a scratchpad answer needs under 30.
# Every default below and in the configs is this one number; a profile sets its own once.
MAX_COMPLETION_LENGTH = 40


@dataclass
class Generation:
    """The result of `generate_completions` for N = B x G rows.

    prompt_ids, prompt_mask:          (N, P) left-padded prompts
    completion_ids, completion_mask:  (N, C) mask is 1 up to and including EOS
    texts:                            N decoded completions (special tokens dropped)
    prompts:                          N prompt strings (each repeated G times)
    logps:                            (N, C) log-probs of the sampled tokens (0 where masked), if asked for
    """

    prompt_ids: torch.Tensor
    prompt_mask: torch.Tensor
    completion_ids: torch.Tensor
    completion_mask: torch.Tensor
    texts: list[str]
    prompts: list[str]
    logps: torch.Tensor | None = None

    @property
    def lengths(self) -> torch.Tensor:
        """Completion lengths in tokens, EOS included, shape (N,)."""
        return self.completion_mask.sum(dim=1)


def completion_mask_from_ids(completion_ids: torch.Tensor, eos_token_id: int) -> torch.Tensor:
    """1 for every token up to and including the first EOS, 0 after it. (N, C) -> (N, C)."""
    is_eos = completion_ids == eos_token_id
    length = completion_ids.shape[1]
    first_eos = torch.where(
        is_eos.any(dim=1), is_eos.int().argmax(dim=1), torch.full_like(is_eos[:, 0], length - 1, dtype=torch.long)
    )
    positions = torch.arange(length, device=completion_ids.device).expand_as(completion_ids)
    return (positions <= first_eos.unsqueeze(1)).long()


@torch.no_grad()
def generate_completions(
    model: torch.nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    prompts: list[str],
    *,
    num_generations: int = 1,
    temperature: float = 1.0,
    max_new_tokens: int = MAX_COMPLETION_LENGTH,
    batch_size: int = 512,
    return_logps: bool = False,
) -> Generation:
    """Sample `num_generations` completions per prompt (greedy when temperature is 0)."""
    if not prompts or num_generations < 1 or max_new_tokens < 1:
        raise ValueError(
            f"generate_completions needs prompts, num_generations >= 1 and max_new_tokens >= 1 "
            f"(got {len(prompts)} prompts, {num_generations}, {max_new_tokens})"
        )
    device = next(model.parameters()).device
    repeated = [p for p in prompts for _ in range(num_generations)]
    pieces = []
    was_training = model.training
    model.eval()
    for start in range(0, len(repeated), batch_size):
        batch = tokenizer(repeated[start : start + batch_size], return_tensors="pt", padding=True, add_special_tokens=False)
        batch = {k: v.to(device) for k, v in batch.items()}
        if llama_decode.supports(model):  # the lab's tiny Llamas: the same tokens as `generate`, in fewer calls
            completion = llama_decode.decode(
                model,
                batch["input_ids"],
                batch["attention_mask"],
                max_new_tokens=max_new_tokens,
                temperature=temperature,
                eos_token_id=tokenizer.eos_token_id,
                pad_token_id=tokenizer.pad_token_id,
            )
        else:
            sampling = (
                dict(do_sample=True, temperature=temperature, top_k=0, top_p=1.0) if temperature > 0 else dict(do_sample=False)
            )
            sampling["repetition_penalty"] = 1.0  # a hub model's generation_config may set one (Qwen2.5's does): not here
            output = model.generate(
                **batch,
                max_new_tokens=max_new_tokens,
                pad_token_id=tokenizer.pad_token_id,
                eos_token_id=tokenizer.eos_token_id,
                use_cache=True,
                **sampling,
            )
            completion = output[:, batch["input_ids"].shape[1] :]
        pieces.append((batch["input_ids"], batch["attention_mask"], completion))

    prompt_ids = _pad_and_cat([p[0] for p in pieces], tokenizer.pad_token_id, left=True)
    prompt_mask = _pad_and_cat([p[1] for p in pieces], 0, left=True)
    completion_ids = _pad_and_cat([p[2] for p in pieces], tokenizer.pad_token_id, left=False)
    completion_mask = completion_mask_from_ids(completion_ids, tokenizer.eos_token_id)
    completion_ids = completion_ids.masked_fill(completion_mask == 0, tokenizer.pad_token_id)
    texts = tokenizer.batch_decode(completion_ids, skip_special_tokens=True)
    logps = None
    if return_logps:
        logps = torch.cat(
            [
                per_token_logps(
                    model,
                    prompt_ids[i : i + batch_size],
                    prompt_mask[i : i + batch_size],
                    completion_ids[i : i + batch_size],
                    completion_mask[i : i + batch_size],
                    temperature=temperature if temperature > 0 else 1.0,
                )[0]
                for i in range(0, len(repeated), batch_size)
            ]
        )
    model.train(was_training)  # the log-probs above are scored in eval mode too, like the samples
    return Generation(prompt_ids, prompt_mask, completion_ids, completion_mask, texts, repeated, logps)


def per_token_logps(
    model: torch.nn.Module,
    prompt_ids: torch.Tensor,
    prompt_mask: torch.Tensor,
    completion_ids: torch.Tensor,
    completion_mask: torch.Tensor,
    *,
    temperature: float = 1.0,
    with_entropy: bool = False,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Log-probs of the completion tokens under `model`, and optionally the entropy.

    prompt_ids, prompt_mask:           (N, P) left-padded
    completion_ids, completion_mask:   (N, C) right-padded
    returns logps (N, C), 0 on masked tokens; entropy (N, C) of the
    temperature-scaled next-token distribution on real tokens (0 on masked ones), or None. The entropy is
    computed without a graph: it is logged, never trained on, and for a 151k-token chat vocabulary its
    (N, C, V) intermediates would be the largest tensors of the step.

    The rows go through the model in `length_split` pieces (short completions, long ones), each
    trimmed to its own widths, and come back in their order: the same numbers on every real token up
    to float rounding (about 1e-7), less padding computed when a batch mixes direct answers and scratchpads.
    """
    logps = completion_mask.new_zeros(completion_mask.shape, dtype=torch.float32)
    entropy = torch.zeros_like(logps) if with_entropy else None
    parameters = count_parameters(model)
    for piece in length_split(completion_mask.sum(dim=1), prompt_mask.sum(dim=1), parameters=parameters):
        c = int(completion_mask[piece].sum(dim=1).max().clamp(min=1))  # this piece's widths
        p = int(prompt_mask[piece].sum(dim=1).max().clamp(min=1))
        inputs = (prompt_ids[piece, -p:], prompt_mask[piece, -p:], completion_ids[piece, :c], completion_mask[piece, :c])
        log_probs = torch.log_softmax(completion_logits(model, *inputs) / temperature, dim=-1)  # (n, c, V)
        where = (piece[:, None], torch.arange(c, device=logps.device))  # its rows, its first c columns
        logps = logps.index_put(where, log_probs.gather(-1, inputs[2].unsqueeze(-1)).squeeze(-1) * inputs[3])
        if with_entropy:  # a diagnostic, not a loss term: no graph, so no (n, c, V) tensors held for backward (TRL: no_grad)
            with torch.no_grad():
                entropy = entropy.index_put(where, -(log_probs.exp() * log_probs).sum(dim=-1) * inputs[3])
    return logps, entropy


# A split costs one more forward pass. It pays when the work it saves (positions not computed, times the
# model's parameters) outweighs a pass's fixed cost, which on 2 CPU cores is worth about this much work:
# measured side by side, split warm-up steps were 8% slower for the 96k student and 30% faster for the
# 1M teacher (batches of 64, about a thousand positions saved a batch).
SPLIT_PAYS_ABOVE = 3e8  # parameter-positions


def length_split(
    lengths: torch.Tensor, extra: torch.Tensor | None = None, *, parameters: int | None = None, min_saving: float = 0.2
) -> list[torch.Tensor]:
    """Row indices in one piece (all rows, in order) or two (the shorter rows, then the longer ones), two
    when each piece padded to its own widest row leaves at least `min_saving` fewer positions to compute
    and, for a model of `parameters`, the work saved passes `SPLIT_PAYS_ABOVE`.

    lengths: (N,) the part that varies most (a completion's tokens); extra: (N,) a part every row also
    carries (its prompt), counted in the cost. A batch that mixes direct answers and scratchpads is
    padded, whole, to a scratchpad's width: split, the direct answers cost their own width only.
    """
    rows = lengths.shape[0]
    everything = [torch.arange(rows, device=lengths.device)]
    if rows < 2:
        return everything
    total = lengths + (extra if extra is not None else 0)
    order = total.argsort(stable=True)
    ordered = total[order]
    # After the k shortest rows: they pad to ordered[k - 1], the rest to the widest row.
    k = torch.arange(1, rows, device=lengths.device)
    cost = k * ordered[:-1] + (rows - k) * ordered[-1]
    whole = rows * int(ordered[-1])
    saved = whole - int(cost.min())
    if saved < min_saving * whole or (parameters is not None and saved * parameters < SPLIT_PAYS_ABOVE):
        return everything
    split = int(k[cost.argmin()])
    return [order[:split], order[split:]]


def completion_logits(
    model: torch.nn.Module,
    prompt_ids: torch.Tensor,
    prompt_mask: torch.Tensor,
    completion_ids: torch.Tensor,
    completion_mask: torch.Tensor,
) -> torch.Tensor:
    """The logits that score each completion token, float32, shape (N, C, V).

    The logits at position t predict token t+1, so the completion's C tokens
    are scored by the logits at positions P-1 ... P+C-2. Position ids count
    only real tokens, so left padding does not shift them.
    """
    input_ids = torch.cat([prompt_ids, completion_ids], dim=1)
    attention_mask = torch.cat([prompt_mask, completion_mask], dim=1)
    position_ids = (attention_mask.cumsum(dim=1) - 1).clamp(min=0)
    logits = model(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids).logits
    length = completion_ids.shape[1]
    return logits[:, -length - 1 : -1].float()


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


def _pad_and_cat(tensors: list[torch.Tensor], value: int, *, left: bool) -> torch.Tensor:
    width = max(t.shape[1] for t in tensors)
    padded = []
    for t in tensors:
        pad = (width - t.shape[1], 0) if left else (0, width - t.shape[1])
        padded.append(torch.nn.functional.pad(t, pad, value=value))
    return torch.cat(padded, dim=0)
