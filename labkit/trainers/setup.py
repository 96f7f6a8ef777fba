"""TRL on labkit's tiny models: the settings every trainer shares, written once.

`trainers/grpo.py` (GRPOTrainer) and `trainers/distill.py` (SFTTrainer, DistillationTrainer)
start from `cpu_safe_settings`. What each setting is for (each learned the hard way):
- `bf16=False`: TRL's default asks for bfloat16, which the CPU path rejects;
- activation (gradient) checkpointing off: nothing to save on a 1M model, and it
  slows steps (transformers 5 renamed the switch; both names are handled);
- `use_cpu` unless CUDA is there, no checkpoints written, no reporting, one log
  line a step, no progress bar;
- the trainers' `PrinterCallback` removed and the `datasets` progress bars off:
  both print into a notebook on every step.
"""

from __future__ import annotations

import dataclasses
import tempfile
import time
import warnings
from collections.abc import Callable

import torch
from transformers import TrainerCallback


def cpu_safe_settings(config_class: type, output_dir: str | None = None, seed: int = 0) -> dict:
    """Keyword arguments for a TRL config class (`GRPOConfig`, `SFTConfig`, ...) that work on a laptop CPU."""
    settings = dict(
        output_dir=output_dir or tempfile.mkdtemp(prefix="labkit-trl-"),
        bf16=False,
        use_cpu=not torch.cuda.is_available(),
        report_to=[],
        save_strategy="no",
        logging_steps=1,
        disable_tqdm=True,
        seed=seed,
    )
    settings[checkpointing_field(config_class)] = False
    return settings


def checkpointing_field(config_class: type) -> str:
    """The name of the activation-checkpointing switch in this TRL config class (TRL renamed it)."""
    names = {f.name for f in dataclasses.fields(config_class)}
    return "activation_checkpointing" if "activation_checkpointing" in names else "gradient_checkpointing"


def trl_schedule(schedule: str, warmup_steps: int) -> dict:
    """TRL's settings for labkit's learning-rate schedule (`training.lr_multiplier`): `constant`, or
    `cosine` down to `MIN_LR_RATE` of the peak, after `warmup_steps` of linear warm-up."""
    from ..training import MIN_LR_RATE

    if schedule == "cosine":
        return {
            "lr_scheduler_type": "cosine_with_min_lr",
            "lr_scheduler_kwargs": {"min_lr_rate": MIN_LR_RATE},
            "warmup_steps": warmup_steps,
        }
    return {"lr_scheduler_type": "constant_with_warmup" if warmup_steps else "constant", "warmup_steps": warmup_steps}


def make_config(config_class: type, settings: dict):
    """`config_class(**settings)`, without TRL's own warning about the checkpointing switch's old name."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # TRL itself still sets the old name
        return config_class(**settings)


def quiet_datasets() -> None:
    """Before building a trainer: no `datasets` or transformers progress bars (a trainer maps its data
    set on creation, and may load a reference model) and no FutureWarning on every step."""
    import datasets
    from transformers.utils import logging as transformers_logging

    datasets.disable_progress_bars()
    transformers_logging.disable_progress_bar()  # TRL loads a reference model when beta > 0: no "Loading weights" bar
    warnings.filterwarnings("ignore", category=FutureWarning)


def quiet(trainer):
    """After building a trainer: remove the callback that prints every log line into the notebook."""
    from transformers import PrinterCallback

    trainer.remove_callback(PrinterCallback)
    return trainer


class LogTo(TrainerCallback):
    """Pass each of a trainer's log lines, with its step, to a plain function
    (the callback labkit's own loops take), so one callback serves both."""

    def __init__(self, function: Callable[[dict], None]):
        self.function = function

    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs and ("loss" in logs or "reward" in logs):  # not the run summary at the end
            self.function({**logs, "step": state.global_step})


def train_with(trainer) -> dict:
    """Run a TRL trainer; the same summary labkit's loops return (history, seconds, steps, final_loss,
    num_tokens: the trainer's count of tokens seen, `state.num_input_tokens_seen`, which DistillationTrainer and
    GRPOTrainer keep and other trainers only with `include_num_input_tokens_seen`)."""
    start = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - start
    history = [log for log in trainer.state.log_history if "loss" in log]
    trainer.model.eval()
    return {
        "history": history,
        "seconds": seconds,
        "steps": trainer.state.global_step,
        "final_loss": history[-1]["loss"] if history else float("nan"),
        "num_tokens": int(trainer.state.num_input_tokens_seen),
    }


class StepTimer(TrainerCallback):
    """Wall time of each optimiser step of a TRL trainer, in `seconds` (one entry a step).

    A step includes its sampling, as labkit's loop's `step_seconds` does, so the two compare."""

    def __init__(self):
        self.seconds: list[float] = []
        self._start = 0.0

    def on_step_begin(self, args, state, control, **kwargs):
        self._start = time.perf_counter()

    def on_step_end(self, args, state, control, **kwargs):
        self.seconds.append(time.perf_counter() - self._start)
