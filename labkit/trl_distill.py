"""Distillation through TRL: `SFTTrainer` (sequence-level KD) and `DistillationTrainer` (on-policy KD).

These are the tools used at work; `distill.py` holds the same methods written
out in plain PyTorch. Both take labkit's `DistillConfig`, so a method gets the
same budget whichever implementation runs it:

    DistillConfig        TRL
    steps                max_steps
    batch_size           per_device_train_batch_size
    learning_rate        learning_rate, cosine to 10% after a linear warm-up (as labkit's loops)
    on_policy_beta       DistillationConfig.beta (0 forward KL, 1 reverse KL)
    temperature          DistillationConfig.temperature: TRL uses one temperature for
                         sampling and for the loss, and does not multiply by T^2

CPU settings: `bf16=False`, `use_cpu=True` without CUDA, no checkpoints, no
reporting, and the datasets progress bars off (they flood a notebook).
"""

from __future__ import annotations

import dataclasses
import tempfile
import time
import warnings

import torch
from datasets import Dataset
from transformers import PreTrainedTokenizerBase

from .distill import DistillConfig


def _common_settings(config: DistillConfig, output_dir: str | None) -> dict:
    return dict(
        output_dir=output_dir or tempfile.mkdtemp(prefix="labkit-trl-"),
        max_steps=config.steps,
        per_device_train_batch_size=config.batch_size,
        learning_rate=config.learning_rate,
        lr_scheduler_type="cosine_with_min_lr",
        lr_scheduler_kwargs={"min_lr_rate": 0.1},
        warmup_steps=max(1, int(config.warmup_fraction * config.steps)),
        weight_decay=0.0,
        max_grad_norm=config.max_grad_norm,
        bf16=False,
        use_cpu=not torch.cuda.is_available(),
        report_to=[],
        save_strategy="no",
        logging_steps=10,
        disable_tqdm=True,
        seed=config.seed,
    )


def _quiet_trainer(trainer):
    from transformers import PrinterCallback

    trainer.remove_callback(PrinterCallback)  # it prints every log line into the notebook
    return trainer


def _quiet_datasets() -> None:
    import datasets

    datasets.disable_progress_bars()
    warnings.filterwarnings("ignore", category=FutureWarning)


def sft_trainer(
    student,
    tokenizer: PreTrainedTokenizerBase,
    traces: list[dict],
    config: DistillConfig | None = None,
    *,
    callbacks=(),
    output_dir: str | None = None,
    **overrides,
):
    """`SFTTrainer` on (prompt, completion) traces with the loss on completion tokens only.

    TRL appends EOS to each completion, as labkit's own `tokenize_pairs` does.
    """
    from trl import SFTConfig, SFTTrainer

    _quiet_datasets()
    config = config or DistillConfig()
    settings = {**_common_settings(config, output_dir), "completion_only_loss": True, "packing": False}
    names = {f.name for f in dataclasses.fields(SFTConfig)}
    settings["activation_checkpointing" if "activation_checkpointing" in names else "gradient_checkpointing"] = False
    data = Dataset.from_list([{"prompt": t["prompt"], "completion": t["completion"]} for t in traces])
    args = SFTConfig(**{**settings, **overrides})
    trainer = SFTTrainer(model=student, args=args, train_dataset=data, processing_class=tokenizer, callbacks=list(callbacks))
    return _quiet_trainer(trainer)


def distillation_trainer(
    student,
    teacher,
    tokenizer: PreTrainedTokenizerBase,
    records: list[dict],
    config: DistillConfig | None = None,
    *,
    callbacks=(),
    output_dir: str | None = None,
    **overrides,
):
    """`DistillationTrainer`: on-policy generalised-JSD distillation (GKD), prompts only."""
    from trl import DistillationConfig, DistillationTrainer

    _quiet_datasets()
    config = config or DistillConfig()
    settings = {
        **_common_settings(config, output_dir),
        "beta": config.on_policy_beta,
        "temperature": config.temperature,
        "max_completion_length": config.max_new_tokens,
    }
    data = Dataset.from_list([{"prompt": r["prompt"]} for r in records])
    args = DistillationConfig(**{**settings, **overrides})
    trainer = DistillationTrainer(
        model=student,
        teacher_model=teacher,
        args=args,
        train_dataset=data,
        processing_class=tokenizer,
        callbacks=list(callbacks),
    )
    return _quiet_trainer(trainer)


def train_with(trainer) -> dict:
    """Run a TRL trainer; the same summary labkit's loops return (history, seconds, steps, final_loss)."""
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
    }
