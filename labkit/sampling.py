"""Batched generation: G completions for each of B prompts in one `generate` call.

Prompts are left-padded (decoder-only models append on the right), the KV cache
is on, and the G samples of one prompt sit next to each other ("group after
group"), the layout `group_advantages` expects:

    rows 0..G-1   -> prompt 0
    rows G..2G-1  -> prompt 1 ...

`temperature=0` means greedy decoding. Sampling is pure (no top-k, no top-p),
so the probabilities are the model's own, as GRPO's log-probs assume.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from transformers import PreTrainedTokenizerBase


@dataclass
class Generation:
    """The result of `generate_completions` for N = B x G rows.

    prompt_ids, prompt_mask:          (N, P) left-padded prompts
    completion_ids, completion_mask:  (N, C) mask is 1 up to and including EOS
    texts:                            N decoded completions (special tokens dropped)
    prompts:                          N prompt strings (each repeated G times)
    """

    prompt_ids: torch.Tensor
    prompt_mask: torch.Tensor
    completion_ids: torch.Tensor
    completion_mask: torch.Tensor
    texts: list[str]
    prompts: list[str]

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
    max_new_tokens: int = 48,
    batch_size: int = 512,
) -> Generation:
    """Sample `num_generations` completions per prompt (greedy when temperature is 0)."""
    device = next(model.parameters()).device
    repeated = [p for p in prompts for _ in range(num_generations)]
    pieces = []
    was_training = model.training
    model.eval()
    for start in range(0, len(repeated), batch_size):
        batch = tokenizer(repeated[start : start + batch_size], return_tensors="pt", padding=True, add_special_tokens=False)
        batch = {k: v.to(device) for k, v in batch.items()}
        sampling = dict(do_sample=True, temperature=temperature, top_k=0, top_p=1.0) if temperature > 0 else dict(do_sample=False)
        output = model.generate(
            **batch,
            max_new_tokens=max_new_tokens,
            pad_token_id=tokenizer.pad_token_id,
            eos_token_id=tokenizer.eos_token_id,
            use_cache=True,
            **sampling,
        )
        prompt_length = batch["input_ids"].shape[1]
        pieces.append((batch["input_ids"], batch["attention_mask"], output[:, prompt_length:]))
    model.train(was_training)

    prompt_ids = _pad_and_cat([p[0] for p in pieces], tokenizer.pad_token_id, left=True)
    prompt_mask = _pad_and_cat([p[1] for p in pieces], 0, left=True)
    completion_ids = _pad_and_cat([p[2] for p in pieces], tokenizer.pad_token_id, left=False)
    completion_mask = completion_mask_from_ids(completion_ids, tokenizer.eos_token_id)
    completion_ids = completion_ids.masked_fill(completion_mask == 0, tokenizer.pad_token_id)
    texts = tokenizer.batch_decode(completion_ids, skip_special_tokens=True)
    return Generation(prompt_ids, prompt_mask, completion_ids, completion_mask, texts, repeated)


def _pad_and_cat(tensors: list[torch.Tensor], value: int, *, left: bool) -> torch.Tensor:
    width = max(t.shape[1] for t in tensors)
    padded = []
    for t in tensors:
        pad = (width - t.shape[1], 0) if left else (0, width - t.shape[1])
        padded.append(torch.nn.functional.pad(t, pad, value=value))
    return torch.cat(padded, dim=0)
