"""Distillation: teach a small student what a GRPO-trained teacher does.

DeepSeek-R1's small models were made without RL: the large model wrote about
800k answers, only the correct ones were kept, and the small models were
fine-tuned on them. The traces come from `traces.py` (rejection sampling); this module holds what
is learned from them, at toy scale:

1. The divergence between token distributions (`kd_loss`), the generalised
   Jensen-Shannon divergence of GKD (Agarwal et al., 2024), as TRL defines it.
   With p_t the teacher's and p_s the student's next-token distribution at
   temperature T, and m = beta * p_t + (1 - beta) * p_s,

       beta = 0:       KL(p_t || p_s) = sum_v p_t (log p_t - log p_s)     forward KL: cover the teacher
       beta = 1:       KL(p_s || p_t) = sum_v p_s (log p_s - log p_t)     reverse KL: mode seeking
       0 < beta < 1:   beta * KL(p_t || m) + (1 - beta) * KL(p_s || m)    symmetric at beta = 0.5

   averaged over completion tokens. Hinton et al. multiply by T^2 because the
   gradient of a divergence between softened distributions shrinks like 1/T^2;
   labkit does the same (`t_squared=True`), so changing T does not silently
   change the step size. TRL's trainers do not; at T = 1 the two are equal.
2. Three labkit methods (`train_logit_kd`, `train_on_policy_kd`, and
   `train_sequence_kd`, the plain-PyTorch twin of TRL's SFTTrainer in
   `trainers/distill.py`), each a step function run by `training.train_supervised`
   on one `DistillConfig`, so every method gets the same number of optimiser
   steps on the same number of sequences.

Recipe on the CPU (docs/design.md, "measured"): a ~100k student that already
knows the scratchpad learns from the kept traces within a few hundred steps of batch 64.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass

import torch
from transformers import PreTrainedTokenizerBase

from .pretrain import attention_from_lengths, completion_step, random_batches, tokenize_pairs
from .runtime import LabkitError
from .sampling import MAX_COMPLETION_LENGTH, completion_logits, generate_completions
from .tasks import Task, task_of
from .training import train_supervised

# ---------------------------------------------------------------------------
# The loss


def token_divergence(
    student_logits: torch.Tensor, teacher_logits: torch.Tensor, *, beta: float = 0.0, temperature: float = 1.0
) -> torch.Tensor:
    """Generalised JSD at every position: logits (B, T, V) -> divergence (B, T), in nats."""
    if not 0.0 <= beta <= 1.0:
        raise LabkitError(f"beta must be in [0, 1] (0 forward KL, 1 reverse KL), got {beta}")
    if temperature <= 0:
        raise LabkitError(f"temperature must be positive, got {temperature}")
    if student_logits.shape != teacher_logits.shape:
        raise LabkitError(
            f"student logits {tuple(student_logits.shape)} and teacher logits {tuple(teacher_logits.shape)} differ; "
            "the two models must share a tokenizer and score the same tokens"
        )
    log_s = torch.log_softmax(student_logits.float() / temperature, dim=-1)
    log_t = torch.log_softmax(teacher_logits.float() / temperature, dim=-1)
    if beta == 0.0:
        return (log_t.exp() * (log_t - log_s)).sum(dim=-1)
    if beta == 1.0:
        return (log_s.exp() * (log_s - log_t)).sum(dim=-1)
    log_m = torch.logaddexp(log_t + math.log(beta), log_s + math.log(1 - beta))
    kl_teacher = (log_t.exp() * (log_t - log_m)).sum(dim=-1)
    kl_student = (log_s.exp() * (log_s - log_m)).sum(dim=-1)
    return beta * kl_teacher + (1 - beta) * kl_student


def kd_loss(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    mask: torch.Tensor,
    *,
    beta: float = 0.0,
    temperature: float = 1.0,
    t_squared: bool = True,
) -> torch.Tensor:
    """Mean generalised JSD over the tokens where `mask` is 1.

    student_logits, teacher_logits: (B, T, V), aligned so position t scores the same token
    mask: (B, T), 1 on completion tokens (prompt and padding are 0)
    returns a scalar: sum(mask * D) / sum(mask), times T^2 if `t_squared`.
    """
    divergence = token_divergence(student_logits, teacher_logits, beta=beta, temperature=temperature)
    mask = mask.to(divergence.dtype)
    loss = (divergence * mask).sum() / mask.sum().clamp(min=1.0)
    return loss * temperature**2 if t_squared else loss


# ---------------------------------------------------------------------------
# The training methods


@dataclass
class DistillConfig:
    """One budget for every method: `max_steps` optimiser steps of `batch_size` sequences."""

    max_steps: int = 300  # optimiser steps (TRL's name)
    batch_size: int = 64  # sequences a step (TRL: per_device_train_batch_size)
    learning_rate: float = 1e-3  # peak AdamW learning rate, cosine to 10% after the warm-up
    warmup_steps: int | float = 0.05  # linear warm-up: steps, or a share of max_steps below 1 (as TRL)
    max_grad_norm: float = 1.0  # gradient clipping
    temperature: float = 1.0  # softmax temperature inside kd_loss
    beta: float = 0.0  # logit KD on traces: 0 forward KL (TRL's name and meaning)
    on_policy_beta: float = 1.0  # on-policy KD: reverse KL, as in GKD and TRL's DistillationTrainer
    sample_temperature: float = 1.0  # the student's sampling temperature in on-policy KD
    max_completion_length: int = MAX_COMPLETION_LENGTH  # tokens the student may write in on-policy KD (a profile sets it)
    seed: int = 0  # which batches are drawn, and the student's samples


def _trace_batches(traces: list[dict], tokenizer: PreTrainedTokenizerBase, config: DistillConfig, device):
    """draw(generator) -> (ids, labels): random batches of the traces, on `device`."""
    if not traces:
        raise LabkitError("no traces to learn from: the teacher kept nothing (is it trained? try more prompts or samples)")
    ids, labels = tokenize_pairs([(t["prompt"], t["completion"]) for t in traces], tokenizer)
    return random_batches(ids.to(device), labels.to(device), config.batch_size, tokenizer.pad_token_id)


def train_sequence_kd(
    student: torch.nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    traces: list[dict],
    config: DistillConfig | None = None,
    *,
    callback: Callable[[dict], None] | None = None,
    progress: bool = False,
    log_every: int = 10,
) -> dict:
    """Sequence-level KD: cross-entropy on the traces' completions (SFT), the R1 recipe.

    L = -1/|C| sum_{t in C} log p_student(y_t | y_<t), C = completion tokens and EOS.
    """
    config = config or DistillConfig()
    draw = _trace_batches(traces, tokenizer, config, next(student.parameters()).device)

    return train_supervised(
        student,
        completion_step(student, draw, tokenizer.pad_token_id),
        config,
        callback=callback,
        progress=progress,
        description="sequence KD",
        log_every=log_every,
    )


def train_logit_kd(
    student: torch.nn.Module,
    teacher: torch.nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    traces: list[dict],
    config: DistillConfig | None = None,
    *,
    callback: Callable[[dict], None] | None = None,
    progress: bool = False,
    log_every: int = 10,
) -> dict:
    """Logit KD on the traces: match the teacher's whole next-token distribution, not just its sample.

    L = kd_loss(student_logits, teacher_logits, completion mask, beta=config.beta)
    Each token carries V numbers of signal instead of one: "dark knowledge"
    (how sure the teacher was, and what it nearly wrote).
    """
    config = config or DistillConfig()
    draw = _trace_batches(traces, tokenizer, config, next(student.parameters()).device)
    teacher.eval()

    def step(generator: torch.Generator) -> tuple[torch.Tensor, dict]:
        batch_ids, batch_labels = draw(generator)
        attention_mask = attention_from_lengths(batch_ids, batch_labels, tokenizer.pad_token_id)
        mask = batch_labels[:, 1:] != -100  # logits at t score token t+1
        with torch.no_grad():
            teacher_logits = teacher(input_ids=batch_ids, attention_mask=attention_mask).logits[:, :-1]
        student_logits = student(input_ids=batch_ids, attention_mask=attention_mask).logits[:, :-1]
        loss = kd_loss(student_logits, teacher_logits, mask, beta=config.beta, temperature=config.temperature)
        return loss, {"batch_tokens": attention_mask.sum()}  # through the student (trained) and the teacher (read)

    return train_supervised(
        student, step, config, callback=callback, progress=progress, description="logit KD", log_every=log_every
    )


def train_on_policy_kd(
    student: torch.nn.Module,
    teacher: torch.nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    records: list[dict],
    config: DistillConfig | None = None,
    *,
    callback: Callable[[dict], None] | None = None,
    progress: bool = False,
    log_every: int = 10,
    task: str | Task | None = None,
) -> dict:
    """On-policy KD (GKD with lambda = 1): the student writes, the teacher grades every token.

    Each step: the student samples one completion for each of `batch_size`
    prompts; both models score those tokens; the loss is
    kd_loss(student, teacher, completion mask, beta=config.on_policy_beta),
    reverse KL by default. Training on its own samples removes the mismatch
    between the prefixes seen in training (teacher's) and at test time
    (student's). No answers are needed, only prompts and a teacher.
    Logs what the student wrote: its correctness (`reward`), length and scratchpad use.
    """
    config = config or DistillConfig()
    task = task_of(records, task)
    teacher.eval()
    rng = random.Random(config.seed)

    def step(generator: torch.Generator) -> tuple[torch.Tensor, dict]:
        batch = [records[i] for i in torch.randint(0, len(records), (config.batch_size,), generator=generator).tolist()]
        generation = generate_completions(
            student,
            tokenizer,
            [task.model_text(r["prompt"], tokenizer) for r in batch],  # as every sampler reads it: a chat task's template
            temperature=config.sample_temperature,
            max_new_tokens=config.max_completion_length,
        )
        student.train()
        tensors = (generation.prompt_ids, generation.prompt_mask, generation.completion_ids, generation.completion_mask)
        with torch.no_grad():
            teacher_logits = completion_logits(teacher, *tensors)
        student_logits = completion_logits(student, *tensors)
        loss = kd_loss(
            student_logits, teacher_logits, generation.completion_mask, beta=config.on_policy_beta, temperature=config.temperature
        )
        right = [task.is_correct(t, r) for t, r in zip(generation.texts, batch)]
        shown = rng.randrange(len(batch))
        return loss, {
            "reward": sum(right) / len(right),
            "completions/mean_length": generation.lengths.float().mean().item(),
            "scratchpad_share": sum(map(task.shows_working, generation.texts)) / len(batch),
            "sample": f"{batch[shown]['prompt']}{generation.texts[shown]}",
        }

    return train_supervised(
        student, step, config, callback=callback, progress=progress, description="on-policy KD", log_every=log_every
    )
