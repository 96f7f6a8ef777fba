"""The supervised training scaffold: one schedule and one loop for every method that has a loss.

The warm-up (`pretrain.py`) and the distillation methods (`distill.py`) differ only
in how one step's loss is computed; everything around it is here, written once:

    for step in 1..max_steps:
        loss, extra = step_fn(generator)        the method: draw a batch, compute its loss
        AdamW step on loss, gradients clipped to max_grad_norm
        learning rate x lr_multiplier(step)     linear warm-up, then cosine down to 10%
        every log_every steps: callback({step, loss, grad_norm, learning_rate, elapsed_s, num_tokens, **extra})

`step_fn` draws its batch with the `torch.Generator` it is given (seeded from
`seed`), so a run is a pure function of its seed on the CPU. GRPO has its own
loop (`grpo_loop.train_grpo`): sampling, rewards and advantages are the part a
learner reads, so it stays in one piece; it shares only `lr_multiplier`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import torch
from tqdm.auto import tqdm

from .runtime import LabkitError, set_seed

SCHEDULES = ("constant", "cosine")
MIN_LR_RATE = 0.1  # where the cosine schedule ends, as a share of the peak learning rate


def warmup_step_count(warmup_steps: int | float, max_steps: int) -> int:
    """TRL's (transformers') meaning of `warmup_steps`: an integer is a number of
    steps, a float in [0, 1) a share of `max_steps` (rounded up)."""
    if warmup_steps < 0:
        raise LabkitError(f"warmup_steps must be >= 0 (steps, or a share of max_steps below 1), got {warmup_steps}")
    if isinstance(warmup_steps, float) and warmup_steps < 1:
        return math.ceil(warmup_steps * max_steps)  # as transformers' TrainingArguments.get_warmup_steps
    return int(warmup_steps)


def lr_multiplier(step: int, max_steps: int, warmup_steps: int, schedule: str = "cosine", floor: float = MIN_LR_RATE) -> float:
    """Learning-rate multiplier at `step` (0-based).

        step < W:   (step + 1) / W                                  linear warm-up
        constant:   1
        cosine:     floor + (1 - floor) * (1 + cos(pi * p)) / 2,    p = (step - W) / (max_steps - W)

    After the warm-up this is transformers' `cosine_with_min_lr` (`min_lr_rate=floor`) and
    `constant`. During it labkit runs one step ahead: its first step is at lr / W, while
    transformers' first step is at 0 (step / W). Kept so that the warm-ups that made the
    lab's base models stay as they were measured.
    """
    if schedule not in SCHEDULES:
        raise LabkitError(f"unknown learning-rate schedule {schedule!r}; choose one of {', '.join(SCHEDULES)}")
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    if schedule == "constant":
        return 1.0
    progress = (step - warmup_steps) / max(1, max_steps - warmup_steps)
    return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))


def train_supervised(
    model: torch.nn.Module,
    step_fn: Callable[[torch.Generator], tuple[torch.Tensor, dict]],
    config,
    *,
    callback: Callable[[dict], None] | None = None,
    log_every: int = 10,
    progress: bool = False,
    description: str = "training",
) -> dict:
    """Train `model` in place with `step_fn`; returns {history, seconds, steps, final_loss, num_tokens}.

    `step_fn(generator) -> (loss, extra)`: the scalar loss of one batch (with its
    graph) and a dict of extra metrics to log; `extra["batch_tokens"]`, if given, is the
    number of (non-padding) tokens the batch put through the model, summed into `num_tokens`
    (TRL's name: tokens trained on so far; `run.costs.training_flops` reads it). The logged `loss` is
    the mean over the steps since the last log line; `final_loss` is the last logged one.
    `config` is the method's config (`WarmupConfig`, `DistillConfig`): its
    `max_steps`, `learning_rate`, `warmup_steps`, `max_grad_norm`, `seed` and,
    if it has one, `weight_decay` (else 0) set the budget.
    """
    max_steps, learning_rate, seed = config.max_steps, config.learning_rate, config.seed
    warmup_steps, max_grad_norm = config.warmup_steps, config.max_grad_norm
    weight_decay = getattr(config, "weight_decay", 0.0)
    if max_steps < 1:
        raise LabkitError(f"max_steps must be at least 1, got {max_steps}")
    set_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=learning_rate, weight_decay=weight_decay)
    warmup = max(1, warmup_step_count(warmup_steps, max_steps))
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: lr_multiplier(s, max_steps, warmup))
    history: list[dict] = []
    window: list[float] = []
    num_tokens = 0
    start = time.perf_counter()
    model.train()
    bar = tqdm(range(max_steps), desc=description, disable=not progress, mininterval=1.0)
    for step in bar:
        loss, extra = step_fn(generator)
        num_tokens += int(extra.pop("batch_tokens", 0))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
        optimizer.step()
        scheduler.step()
        window.append(loss.item())
        if (step + 1) % log_every == 0 or step + 1 == max_steps:
            metrics = {
                "step": step + 1,
                "loss": sum(window) / len(window),
                "grad_norm": grad_norm.item(),
                "learning_rate": scheduler.get_last_lr()[0],
                "elapsed_s": round(time.perf_counter() - start, 2),
                "num_tokens": num_tokens,
                **extra,
            }
            window.clear()
            history.append(metrics)
            bar.set_postfix(loss=f"{metrics['loss']:.3f}")
            if callback is not None:
                callback(metrics)
    model.eval()
    return {
        "history": history,
        "seconds": time.perf_counter() - start,
        "steps": max_steps,
        "final_loss": history[-1]["loss"],
        "num_tokens": num_tokens,
    }
