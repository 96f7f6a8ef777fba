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

The same sampling written out one token at a time, for an app that shows answers as
they grow, is `labkit.app.streaming`.
"""

from __future__ import annotations

from dataclasses import dataclass

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


def _pad_and_cat(tensors: list[torch.Tensor], value: int, *, left: bool) -> torch.Tensor:
    width = max(t.shape[1] for t in tensors)
    padded = []
    for t in tensors:
        pad = (width - t.shape[1], 0) if left else (0, width - t.shape[1])
        padded.append(torch.nn.functional.pad(t, pad, value=value))
    return torch.cat(padded, dim=0)
