"""Distillation through TRL: `SFTTrainer` (sequence-level KD) and `DistillationTrainer` (on-policy KD).

These are the tools used at work; `distill.py` holds the same methods written
out in plain PyTorch. Both take labkit's `DistillConfig`, so a method gets the
same budget whichever implementation runs it:

    DistillConfig          TRL
    max_steps              max_steps
    batch_size             per_device_train_batch_size
    learning_rate          learning_rate, cosine to 10% after a linear warm-up
                           (lr_scheduler_type="cosine_with_min_lr", as labkit's loops)
    warmup_steps           warmup_steps (steps, or a share of max_steps below 1)
    on_policy_beta         DistillationConfig.beta (0 forward KL, 1 reverse KL)
    temperature            DistillationConfig.temperature: TRL uses one temperature for
                           sampling and for the loss, and does not multiply by T^2
    max_completion_length  DistillationConfig.max_completion_length

The CPU settings are `trainers.setup.cpu_safe_settings`, shared with GRPOTrainer.
"""

from __future__ import annotations

from datasets import Dataset
from transformers import PreTrainedTokenizerBase

from ..distill import DistillConfig
from ..training import warmup_step_count
from .setup import cpu_safe_settings, make_config, quiet, quiet_datasets, train_with, trl_schedule

__all__ = ["distillation_trainer", "sft_trainer", "train_with"]


def _budget(config: DistillConfig, config_class: type, output_dir: str | None) -> dict:
    return {
        **cpu_safe_settings(config_class, output_dir, seed=config.seed),
        "max_steps": config.max_steps,
        "per_device_train_batch_size": config.batch_size,
        "learning_rate": config.learning_rate,
        **trl_schedule("cosine", max(1, warmup_step_count(config.warmup_steps, config.max_steps))),
        "weight_decay": 0.0,
        "max_grad_norm": config.max_grad_norm,
        "logging_steps": 10,
    }


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

    quiet_datasets()
    config = config or DistillConfig()
    settings = {**_budget(config, SFTConfig, output_dir), "completion_only_loss": True, "packing": False}
    data = Dataset.from_list([{"prompt": t["prompt"], "completion": t["completion"]} for t in traces])
    args = make_config(SFTConfig, {**settings, **overrides})
    trainer = SFTTrainer(model=student, args=args, train_dataset=data, processing_class=tokenizer, callbacks=list(callbacks))
    return quiet(trainer)


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

    quiet_datasets()
    config = config or DistillConfig()
    settings = {
        **_budget(config, DistillationConfig, output_dir),
        "beta": config.on_policy_beta,
        "temperature": config.temperature,
        "max_completion_length": config.max_completion_length,
    }
    data = Dataset.from_list([{"prompt": r["prompt"]} for r in records])
    args = make_config(DistillationConfig, {**settings, **overrides})
    trainer = DistillationTrainer(
        model=student,
        teacher_model=teacher,
        args=args,
        train_dataset=data,
        processing_class=tokenizer,
        callbacks=list(callbacks),
    )
    return quiet(trainer)
