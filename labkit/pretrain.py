"""Warm-up: the tiny analogue of pre-training a base model.

R1-Zero started RL from a base model that could already sometimes reason. Our
base models get there by supervised training on a corpus that mixes

    direct answers     23+58+91=<answer>172</answer>                              (80%)
    scratchpads        23+58+91=<think>3+8+1=12 1+2+5+9=17</think><answer>172</answer>  (20%)

so that, afterwards, the model mostly answers directly (and is often wrong) but
sometimes opens a scratchpad (and is then usually right). Sampled groups then
have mixed outcomes, which is all GRPO needs to learn to think first.

The loss is next-token cross-entropy on the completion only (the prompt's
numbers are random, there is nothing to learn in them):

    L = -1/|C| * sum_{t in C} log p(x_t | x_<t),   C = completion tokens and EOS

Recipe (DESIGN.md section 4): batch 128, AdamW at lr 2e-3 with a short linear
warm-up then cosine decay to 10%.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm
from transformers import PreTrainedTokenizerBase

from .runtime import set_seed
from .tasks import completion


@dataclass
class WarmupConfig:
    steps: int = 1000
    batch_size: int = 128
    learning_rate: float = 2e-3
    weight_decay: float = 0.01
    warmup_fraction: float = 0.05
    scratchpad_fraction: float = 0.2
    max_grad_norm: float = 1.0
    seed: int = 0


def warmup_corpus(records: list[dict], scratchpad_fraction: float, seed: int = 0) -> list[tuple[str, str]]:
    """(prompt, completion) pairs: each record once, with a scratchpad with probability `scratchpad_fraction`."""
    rng = random.Random(seed)
    return [(r["prompt"], completion(r, scratchpad=rng.random() < scratchpad_fraction)) for r in records]


def tokenize_pairs(pairs: list[tuple[str, str]], tokenizer: PreTrainedTokenizerBase) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded token ids (N, L) and labels (N, L), -100 on prompt and padding.

    EOS is appended to each completion so the model learns to stop.
    """
    sequences, labels = [], []
    for prompt, text in pairs:
        prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        completion_ids = tokenizer(text, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
        sequences.append(prompt_ids + completion_ids)
        labels.append([-100] * len(prompt_ids) + completion_ids)
    width = max(len(s) for s in sequences)
    ids = torch.full((len(sequences), width), tokenizer.pad_token_id, dtype=torch.long)
    targets = torch.full((len(sequences), width), -100, dtype=torch.long)
    for row, (seq, lab) in enumerate(zip(sequences, labels)):
        ids[row, : len(seq)] = torch.tensor(seq)
        targets[row, : len(lab)] = torch.tensor(lab)
    return ids, targets


def completion_loss(model: torch.nn.Module, ids: torch.Tensor, labels: torch.Tensor, pad_token_id: int) -> torch.Tensor:
    """Mean cross-entropy of the labelled tokens. ids, labels: (B, L) right-padded."""
    attention_mask = (ids != pad_token_id).long()
    logits = model(input_ids=ids, attention_mask=attention_mask).logits  # (B, L, V)
    # Position t predicts token t+1.
    return F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), labels[:, 1:].reshape(-1), ignore_index=-100)


def cosine_schedule(step: int, total: int, warmup: int, floor: float = 0.1) -> float:
    """Learning-rate multiplier: linear warm-up, then cosine from 1 down to `floor`."""
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))


def train_warmup(
    model: torch.nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    records: list[dict],
    config: WarmupConfig,
    *,
    progress: bool = True,
    callback: Callable[[dict], None] | None = None,
    log_every: int = 50,
    description: str = "warm-up",
) -> dict:
    """Train `model` in place on the warm-up corpus; returns the loss history and timing.

    `callback(metrics)` is called every `log_every` steps with
    {step, loss, learning_rate, elapsed_s}.
    """
    set_seed(config.seed)
    device = next(model.parameters()).device
    ids, labels = tokenize_pairs(warmup_corpus(records, config.scratchpad_fraction, config.seed), tokenizer)
    ids, labels = ids.to(device), labels.to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    warmup_steps = max(1, int(config.warmup_fraction * config.steps))
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: cosine_schedule(s, config.steps, warmup_steps))
    generator = torch.Generator().manual_seed(config.seed)

    model.train()
    history = []
    start = time.perf_counter()
    running = None
    bar = tqdm(range(config.steps), desc=description, disable=not progress, mininterval=1.0)
    for step in bar:
        # Mixed batches matter: batches of only direct answers or only scratchpads
        # (cheaper, less padding) left the 1M model unable to use its scratchpad.
        rows = torch.randint(0, ids.shape[0], (config.batch_size,), generator=generator).to(device)
        batch_ids, batch_labels = ids[rows], labels[rows]
        width = int((batch_ids != tokenizer.pad_token_id).sum(dim=1).max())  # trim shared padding
        loss = completion_loss(model, batch_ids[:, :width], batch_labels[:, :width], tokenizer.pad_token_id)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.max_grad_norm)
        optimizer.step()
        scheduler.step()

        running = loss.item() if running is None else 0.95 * running + 0.05 * loss.item()
        if (step + 1) % log_every == 0 or step + 1 == config.steps:
            metrics = {
                "step": step + 1,
                "loss": round(running, 5),
                "learning_rate": scheduler.get_last_lr()[0],
                "elapsed_s": round(time.perf_counter() - start, 2),
            }
            history.append(metrics)
            bar.set_postfix(loss=f"{running:.3f}")
            if callback is not None:
                callback(metrics)
    model.eval()
    elapsed = time.perf_counter() - start
    return {"history": history, "final_loss": running, "seconds": elapsed, "steps": config.steps}
