"""Does thinking pay? The scratchpad against direct answers, one model size, one budget.

R1-Zero's story is that reasoning length rises under RL because thinking first pays. Whether it
can pay depends on the task: if a model of that size learns to answer directly as well, given a
little more training, the scratchpad only buys the same skill sooner. To tell, warm one fresh
model up twice from the same seed on the same problems,

    scratchpad   every completion  <think>347*8=2776 347*20=6940 2776+6940=9716</think><answer>9716</answer>
    direct       every completion  <answer>9716</answer>

and evaluate each greedily on held-out problems at every checkpoint, forced to open its own tag
(`evaluate.forced_accuracy`). Then train the direct model again for `times` budgets: each budget is
its own run, because the learning rate decays over the whole run (a 4x run at step 1,000 still has
a high rate, so it is not the 1x run).

    curve = thinking_curve("teacher", train, test, task="multiply", scratchpad=False, steps=1000, batch_size=64)
    curve.points   # [(250, 0.0), (500, 0.0), (750, 0.0), (1000, 0.01)]

`benchmarks/thinking_budget.py` prints the three curves as a table; notebook 02b draws them.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from ..evaluate import forced_accuracy
from ..models import build_model, count_parameters
from ..pretrain import WarmupConfig, train_warmup
from ..tasks import Task, get_task


@dataclass
class ThinkingCurve:
    """One warm-up's held-out accuracy along the way, with the completion forced to open its tag."""

    scratchpad: bool  # warmed up with the scratchpad on every completion, or direct answers only
    steps: int  # the run's length in optimiser steps
    points: list[tuple[int, float]] = field(default_factory=list)  # (step, forced greedy accuracy)
    losses: list[tuple[int, float]] = field(default_factory=list)  # (step, training loss) at every logged step
    seconds: float = 0.0  # training only, evaluation time taken out
    parameters: int = 0

    @property
    def final(self) -> float:
        """Accuracy at the last checkpoint (the end of the run)."""
        return self.points[-1][1]

    def at(self, step: int) -> float | None:
        """Accuracy at `step`, if it was a checkpoint."""
        return dict(self.points).get(step)


def thinking_curve(
    model_name: str,
    train: list[dict],
    test: list[dict],
    *,
    task: str | Task | None = None,
    scratchpad: bool,
    steps: int,
    batch_size: int = 64,
    checkpoints: int = 4,
    seed: int = 0,
    recipe: WarmupConfig | None = None,
    callback: Callable[[dict], None] | None = None,
) -> ThinkingCurve:
    """Warm a fresh `model_name` up on `train` for `steps` steps of `batch_size` (the lab's warm-up,
    `pretrain.train_warmup`, with the learning rate and schedule of `recipe`, by default
    `WarmupConfig()`'s), all with the scratchpad or all direct, and measure it on `test` every
    `steps // checkpoints` steps.

    `callback(metrics)` gets the warm-up's metrics (step, loss, ...) every few steps and, at each
    checkpoint, `eval/forced_accuracy` too: a `course.widgets.TrainingDashboard` draws them live.
    """
    task = get_task(task)
    model, tokenizer = build_model(model_name, seed=seed)
    fraction = 1.0 if scratchpad else 0.0
    config = dataclasses.replace(
        recipe or WarmupConfig(), max_steps=steps, batch_size=batch_size, scratchpad_fraction=fraction, seed=seed
    )
    tag = "<think>" if scratchpad else "<answer>"
    log_every = max(1, steps // checkpoints // 5)
    every = log_every * max(1, steps // checkpoints // log_every)  # checkpoints fall on logged steps
    curve = ThinkingCurve(scratchpad=scratchpad, steps=steps, parameters=count_parameters(model))
    evaluating = 0.0

    def measure(metrics: dict) -> None:
        nonlocal evaluating
        if "loss" in metrics:
            curve.losses.append((metrics["step"], metrics["loss"]))
        if metrics["step"] % every == 0 or metrics["step"] == steps:
            start = time.perf_counter()
            state = torch.get_rng_state()  # evaluating must not change the batches that follow
            model.eval()
            accuracy = forced_accuracy(model, tokenizer, test, tag, task=task, max_new_tokens=task.max_completion_length)
            model.train()
            torch.set_rng_state(state)
            evaluating += time.perf_counter() - start
            curve.points.append((metrics["step"], accuracy))
            metrics = {**metrics, "eval/forced_accuracy": accuracy}
        if callback is not None:
            callback(metrics)

    summary = train_warmup(model, tokenizer, train, config, callback=measure, log_every=log_every, progress=False)
    curve.seconds = summary["seconds"] - evaluating
    return curve
