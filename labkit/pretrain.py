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

Recipe (docs/design.md, "measured"): batch 128, AdamW at lr 2e-3 with a short
linear warm-up then cosine decay to 10%; the loop is `training.train_supervised`.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from transformers import PreTrainedTokenizerBase

from .models import count_parameters
from .sampling import length_split
from .tasks import completion
from .training import train_supervised


@dataclass
class WarmupConfig:
    max_steps: int = 1000  # optimiser steps (TRL's name)
    batch_size: int = 128  # sequences a step (TRL: per_device_train_batch_size)
    learning_rate: float = 2e-3  # peak AdamW learning rate
    weight_decay: float = 0.01  # AdamW weight decay
    warmup_steps: int | float = 0.05  # linear warm-up: steps, or a share of max_steps below 1 (as TRL)
    scratchpad_fraction: float = 0.2  # share of the corpus written with the scratchpad
    max_grad_norm: float = 1.0  # gradient clipping
    seed: int = 0  # which batches are drawn, and which records get a scratchpad


def warmup_corpus(records: list[dict], scratchpad_fraction: float, seed: int = 0) -> list[tuple[str, str]]:
    """(prompt, completion) pairs: each record once, with a scratchpad with probability `scratchpad_fraction`."""
    rng = random.Random(seed)
    return [(r["prompt"], completion(r, scratchpad=rng.random() < scratchpad_fraction)) for r in records]


def tokenize_pairs(pairs: list[tuple[str, str]], tokenizer: PreTrainedTokenizerBase) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded token ids (N, L) and labels (N, L), -100 on prompt and padding.

    EOS is appended to each completion so the model learns to stop.
    """
    # One batched call a side: the tokenizer's Rust loop, not 2N Python calls (4 s of a warm-up's 40,000 pairs).
    prompts = tokenizer([prompt for prompt, _ in pairs], add_special_tokens=False)["input_ids"]
    completions = tokenizer([text for _, text in pairs], add_special_tokens=False)["input_ids"]
    sequences = [p + c + [tokenizer.eos_token_id] for p, c in zip(prompts, completions)]
    width = max(len(s) for s in sequences)
    ids = torch.tensor([s + [tokenizer.pad_token_id] * (width - len(s)) for s in sequences], dtype=torch.long)
    targets = torch.tensor(
        [
            [-100] * len(p) + c + [tokenizer.eos_token_id] + [-100] * (width - len(p) - len(c) - 1)
            for p, c in zip(prompts, completions)
        ],
        dtype=torch.long,
    )
    return ids, targets


def row_lengths(ids: torch.Tensor, labels: torch.Tensor, pad_token_id: int) -> torch.Tensor:
    """Each right-padded row's length, (B,): one past its last token that is not padding or is labelled.

    Not a count of `ids != pad`: a hub tokenizer may pad with its EOS, and then an EOS inside a row (a
    chat template's end of turn in the prompt, or the EOS the completion must learn to write, labelled)
    is the pad id too. Only what comes after a row's last real token is padding."""
    real = (ids != pad_token_id) | (labels != -100)  # (B, L)
    positions = torch.arange(1, ids.shape[1] + 1, device=ids.device)
    return (real * positions).amax(dim=1)


def attention_from_lengths(ids: torch.Tensor, labels: torch.Tensor, pad_token_id: int) -> torch.Tensor:
    """The attention mask (B, L) of right-padded rows: 1 up to each row's length (`row_lengths`), 0 after."""
    lengths = row_lengths(ids, labels, pad_token_id)
    return (torch.arange(ids.shape[1], device=ids.device)[None, :] < lengths[:, None]).long()


def trim_padding(ids: torch.Tensor, labels: torch.Tensor, pad_token_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Drop the right padding every row of the batch shares. (B, L) -> (B, L')."""
    width = int(row_lengths(ids, labels, pad_token_id).max())
    return ids[:, :width], labels[:, :width]


def random_batches(
    ids: torch.Tensor, labels: torch.Tensor, batch_size: int, pad_token_id: int
) -> Callable[[torch.Generator], tuple[torch.Tensor, torch.Tensor]]:
    """draw(generator) -> (ids, labels): `batch_size` rows drawn with replacement, shared padding trimmed."""

    def draw(generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        rows = torch.randint(0, ids.shape[0], (batch_size,), generator=generator).to(ids.device)
        return trim_padding(ids[rows], labels[rows], pad_token_id)

    return draw


def completion_loss(model: torch.nn.Module, ids: torch.Tensor, labels: torch.Tensor, pad_token_id: int) -> torch.Tensor:
    """Mean cross-entropy of the labelled tokens. ids, labels: (B, L) right-padded.

    The rows go through the model in `length_pieces` (short rows and long rows, each padded only to
    its own width): the loss is the same sum over the same tokens divided by the same count, so the
    gradient is the whole batch's, while the padding the model computes on shrinks.
    """
    total = torch.zeros((), device=ids.device)
    parameters = count_parameters(model)
    for piece_ids, piece_labels in length_pieces(ids, labels, pad_token_id, parameters):
        attention_mask = attention_from_lengths(piece_ids, piece_labels, pad_token_id)
        logits = model(input_ids=piece_ids, attention_mask=attention_mask).logits  # (b, l, V)
        # Position t predicts token t+1.
        total = total + F.cross_entropy(
            logits[:, :-1].reshape(-1, logits.shape[-1]), piece_labels[:, 1:].reshape(-1), ignore_index=-100, reduction="sum"
        )
    return total / (labels[:, 1:] != -100).sum().clamp(min=1)


def length_pieces(
    ids: torch.Tensor, labels: torch.Tensor, pad_token_id: int, parameters: int | None = None
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """The batch as one piece, or as two (its shorter rows, then its longer ones, each trimmed to its own
    width) when that saves a fifth of the positions, and enough work for a model of `parameters` to pay
    for a second forward pass (`sampling.length_split`).

    The warm-up corpus is why: a fifth of its rows carry a scratchpad and are twice as long, so nearly
    every mixed batch is padded to a scratchpad's width. Batches made of one length (bucketing) would pad
    less, but a step of only direct answers and a step of only scratchpads pull the first completion
    token opposite ways, and the 1M model then never learned to use its scratchpad. Here every step still
    sees the mixed batch; only the arithmetic is split.
    """
    pieces = length_split(row_lengths(ids, labels, pad_token_id), parameters=parameters)
    return [trim_padding(ids[rows], labels[rows], pad_token_id) for rows in pieces]


def completion_step(
    model: torch.nn.Module, draw: Callable[[torch.Generator], tuple[torch.Tensor, torch.Tensor]], pad_token_id: int
) -> Callable[[torch.Generator], tuple[torch.Tensor, dict]]:
    """`train_supervised`'s step for (prompt, completion) pairs: a batch from `draw`, its `completion_loss`,
    and the (non-padding) tokens it put through the model, `batch_tokens`. The warm-up and sequence KD share it."""

    def step(generator: torch.Generator) -> tuple[torch.Tensor, dict]:
        ids, labels = draw(generator)
        tokens = attention_from_lengths(ids, labels, pad_token_id).sum()
        return completion_loss(model, ids, labels, pad_token_id), {"batch_tokens": tokens}

    return step


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
    """Train `model` in place on the warm-up corpus (`training.train_supervised`).

    Returns {history, seconds, steps, final_loss, num_tokens}; `callback(metrics)` is called
    every `log_every` steps with {step, loss, grad_norm, learning_rate, elapsed_s, num_tokens}.
    """
    device = next(model.parameters()).device
    ids, labels = tokenize_pairs(warmup_corpus(records, config.scratchpad_fraction, config.seed), tokenizer)
    ids, labels = ids.to(device), labels.to(device)

    # Mixed batches matter: batches of only direct answers or only scratchpads (cheaper, less padding)
    # left the 1M model unable to use its scratchpad. `completion_loss` saves the padding another way.
    draw = random_batches(ids, labels, config.batch_size, tokenizer.pad_token_id)

    return train_supervised(
        model,
        completion_step(model, draw, tokenizer.pad_token_id),
        config,
        callback=callback,
        log_every=log_every,
        progress=progress,
        description=description,
    )
