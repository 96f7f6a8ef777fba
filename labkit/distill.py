"""Distillation: teach a small student what a GRPO-trained teacher does.

DeepSeek-R1's small models were made without RL: the large model wrote about
800k answers, only the correct ones were kept, and the small models were
fine-tuned on them. This module holds the pieces, at toy scale:

1. Teacher traces by rejection sampling (`teacher_traces`): k samples per
   prompt, keep those the rule rewards mark correct and well formed.
2. The divergence between token distributions (`kd_loss`), the generalised
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
3. Three labkit loops (`train_logit_kd`, `train_on_policy_kd`, and
   `train_sequence_kd`, the plain-PyTorch twin of TRL's SFTTrainer in
   `trl_distill.py`) sharing one config, so every method gets the same number
   of optimiser steps on the same number of sequences.

Recipe on the CPU (DESIGN.md section 4): 4 samples per prompt at T = 0.8 keep
about half; a ~100k student learns from the kept traces within a few hundred
steps of batch 64.
"""

from __future__ import annotations

import json
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm.auto import tqdm
from transformers import PreTrainedTokenizerBase

from .pretrain import cosine_schedule, tokenize_pairs
from .rewards import is_correct, is_well_formed, steps_add_up
from .runtime import LabkitError, set_seed
from .sampling import completion_logits, generate_completions
from .tasks import completion, uses_scratchpad

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
# Teacher traces


@dataclass
class TraceConfig:
    prompts: int = 4000  # training prompts to sample
    samples_per_prompt: int = 4
    temperature: float = 0.8
    max_new_tokens: int = 48
    batch_size: int = 512  # completions per generate call
    check_steps: bool = False  # also reject traces with a scratchpad step that does not add up


def teacher_traces(
    teacher: torch.nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    records: list[dict],
    config: TraceConfig | None = None,
    *,
    seed: int = 0,
    progress: bool = False,
) -> tuple[list[dict], dict]:
    """Rejection sampling: k samples per prompt, keep the correct, well-formed, distinct ones.

    Returns (traces, counts): traces are {prompt, completion, answer} dicts;
    counts say how many samples were drawn, correct, well formed, right for
    the wrong reasons (`wrong_steps`: right answer and form, a step that does
    not add up; dropped only with `check_steps`), kept, and dropped as
    duplicates (the same prompt and completion twice), and how the kept ones
    look (scratchpad share, share equal to the generator's own trace).
    """
    config = config or TraceConfig()
    set_seed(seed)
    chosen = records[: config.prompts]
    start = time.perf_counter()
    traces, seen = [], set()
    counts = dict(prompts=len(chosen), samples=0, correct=0, well_formed=0, wrong_steps=0, kept=0, duplicates=0)
    canonical = 0
    per_call = max(1, config.batch_size // config.samples_per_prompt)
    batches = range(0, len(chosen), per_call)
    for begin in tqdm(batches, desc="teacher traces", disable=not progress, mininterval=1.0):
        batch = chosen[begin : begin + per_call]
        generation = generate_completions(
            teacher,
            tokenizer,
            [r["prompt"] for r in batch],
            num_generations=config.samples_per_prompt,
            temperature=config.temperature,
            max_new_tokens=config.max_new_tokens,
            batch_size=config.batch_size,
        )
        for row, text in enumerate(generation.texts):
            record = batch[row // config.samples_per_prompt]
            right, formed = is_correct(text, record["answer"]), is_well_formed(text)
            counts["samples"] += 1
            counts["correct"] += right
            counts["well_formed"] += formed
            if not (right and formed):
                continue
            if not steps_add_up(text):
                counts["wrong_steps"] += 1
                if config.check_steps:
                    continue
            if (record["prompt"], text) in seen:
                counts["duplicates"] += 1
                continue
            seen.add((record["prompt"], text))
            traces.append({"prompt": record["prompt"], "completion": text, "answer": record["answer"]})
            canonical += "scratchpad" in record and text == completion(record, scratchpad=True)
    counts["kept"] = len(traces)
    counts["prompts_with_a_trace"] = len({t["prompt"] for t in traces})
    counts["keep_rate"] = counts["kept"] / max(1, counts["samples"])
    counts["scratchpad_share"] = sum(uses_scratchpad(t["completion"]) for t in traces) / max(1, len(traces))
    counts["canonical_share"] = canonical / max(1, len(traces))
    counts["seconds"] = round(time.perf_counter() - start, 1)
    return traces, counts


def ground_truth_traces(records: list[dict], limit: int | None = None) -> list[dict]:
    """The control: the task generator's own scratchpads, one per prompt, no teacher involved."""
    return [{"prompt": r["prompt"], "completion": completion(r, scratchpad=True), "answer": r["answer"]} for r in records[:limit]]


def save_traces(traces: list[dict], path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_text("".join(json.dumps(t) + "\n" for t in traces))
    temporary.replace(path)
    return path


def load_traces(path: str | Path) -> list[dict]:
    path = Path(path)
    if not path.exists():
        raise LabkitError(f"no traces at {path}; make them with labkit.distill.teacher_traces (or `labkit run`)")
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


# ---------------------------------------------------------------------------
# The training loops


@dataclass
class DistillConfig:
    """One budget for every method: `steps` optimiser steps of `batch_size` sequences."""

    steps: int = 300
    batch_size: int = 64
    learning_rate: float = 1e-3
    warmup_fraction: float = 0.05
    max_grad_norm: float = 1.0
    temperature: float = 1.0  # softmax temperature inside kd_loss
    beta: float = 0.0  # logit KD on traces: forward KL
    on_policy_beta: float = 1.0  # on-policy KD: reverse KL, as in GKD and TRL's DistillationTrainer
    sample_temperature: float = 1.0  # the student's sampling temperature in on-policy KD
    max_new_tokens: int = 48
    seed: int = 0


def _train(
    model: torch.nn.Module,
    config: DistillConfig,
    step_fn: Callable[[torch.Generator], tuple[torch.Tensor, dict]],
    *,
    callback: Callable[[dict], None] | None,
    progress: bool,
    description: str,
    log_every: int,
) -> dict:
    """The loop all labkit methods share: AdamW, warm-up then cosine, gradient clipping."""
    set_seed(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=0.0)
    warmup = max(1, int(config.warmup_fraction * config.steps))
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: cosine_schedule(s, config.steps, warmup))
    history, start = [], time.perf_counter()
    model.train()
    bar = tqdm(range(config.steps), desc=description, disable=not progress, mininterval=1.0)
    for step in bar:
        loss, metrics = step_fn(generator)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), config.max_grad_norm)
        optimizer.step()
        scheduler.step()
        if (step + 1) % log_every == 0 or step + 1 == config.steps:
            metrics = {
                "step": step + 1,
                "loss": loss.item(),
                "grad_norm": grad_norm.item(),
                "learning_rate": scheduler.get_last_lr()[0],
                "elapsed_s": round(time.perf_counter() - start, 2),
                **metrics,
            }
            history.append(metrics)
            bar.set_postfix(loss=f"{metrics['loss']:.3f}")
            if callback is not None:
                callback(metrics)
    model.eval()
    seconds = time.perf_counter() - start
    return {"history": history, "seconds": seconds, "steps": config.steps, "final_loss": history[-1]["loss"]}


def _batch_rows(count: int, config: DistillConfig, generator: torch.Generator) -> torch.Tensor:
    return torch.randint(0, count, (config.batch_size,), generator=generator)


def _tokenized(traces: list[dict], tokenizer: PreTrainedTokenizerBase) -> tuple[torch.Tensor, torch.Tensor]:
    if not traces:
        raise LabkitError("no traces to learn from: the teacher kept nothing (is it trained? try more prompts or samples)")
    return tokenize_pairs([(t["prompt"], t["completion"]) for t in traces], tokenizer)


def _trim(ids: torch.Tensor, labels: torch.Tensor, pad_token_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    width = int((ids != pad_token_id).sum(dim=1).max())  # right padding shared by the whole batch
    return ids[:, :width], labels[:, :width]


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
    from .pretrain import completion_loss

    config = config or DistillConfig()
    device = next(student.parameters()).device
    ids, labels = (x.to(device) for x in _tokenized(traces, tokenizer))

    def step(generator: torch.Generator) -> tuple[torch.Tensor, dict]:
        rows = _batch_rows(ids.shape[0], config, generator).to(device)
        batch_ids, batch_labels = _trim(ids[rows], labels[rows], tokenizer.pad_token_id)
        return completion_loss(student, batch_ids, batch_labels, tokenizer.pad_token_id), {}

    return _train(student, config, step, callback=callback, progress=progress, description="sequence KD", log_every=log_every)


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
    device = next(student.parameters()).device
    ids, labels = (x.to(device) for x in _tokenized(traces, tokenizer))
    teacher.eval()

    def step(generator: torch.Generator) -> tuple[torch.Tensor, dict]:
        rows = _batch_rows(ids.shape[0], config, generator).to(device)
        batch_ids, batch_labels = _trim(ids[rows], labels[rows], tokenizer.pad_token_id)
        attention_mask = (batch_ids != tokenizer.pad_token_id).long()
        mask = batch_labels[:, 1:] != -100  # logits at t score token t+1
        with torch.no_grad():
            teacher_logits = teacher(input_ids=batch_ids, attention_mask=attention_mask).logits[:, :-1]
        student_logits = student(input_ids=batch_ids, attention_mask=attention_mask).logits[:, :-1]
        loss = kd_loss(student_logits, teacher_logits, mask, beta=config.beta, temperature=config.temperature)
        return loss, {}

    return _train(student, config, step, callback=callback, progress=progress, description="logit KD", log_every=log_every)


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
    teacher.eval()
    rng = random.Random(config.seed)

    def step(generator: torch.Generator) -> tuple[torch.Tensor, dict]:
        batch = [records[i] for i in _batch_rows(len(records), config, generator).tolist()]
        generation = generate_completions(
            student,
            tokenizer,
            [r["prompt"] for r in batch],
            temperature=config.sample_temperature,
            max_new_tokens=config.max_new_tokens,
        )
        student.train()
        tensors = (generation.prompt_ids, generation.prompt_mask, generation.completion_ids, generation.completion_mask)
        with torch.no_grad():
            teacher_logits = completion_logits(teacher, *tensors)
        student_logits = completion_logits(student, *tensors)
        loss = kd_loss(
            student_logits, teacher_logits, generation.completion_mask, beta=config.on_policy_beta, temperature=config.temperature
        )
        right = [is_correct(t, r["answer"]) for t, r in zip(generation.texts, batch)]
        shown = rng.randrange(len(batch))
        return loss, {
            "reward": sum(right) / len(right),
            "completions/mean_length": generation.lengths.float().mean().item(),
            "scratchpad_share": sum(map(uses_scratchpad, generation.texts)) / len(batch),
            "sample": f"{batch[shown]['prompt']}{generation.texts[shown]}",
        }

    return _train(student, config, step, callback=callback, progress=progress, description="on-policy KD", log_every=log_every)
