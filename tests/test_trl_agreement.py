"""labkit's advantages and loss equal what TRL's GRPOTrainer computes, on one fixed batch.

The batch is built by TRL itself (`_generate_and_score_completions`), so the
completions, masks and advantages are TRL's; `labkit.trainers.grpo.agreement_on_one_batch`
recomputes the rewards from the decoded text, the advantages with
`group_advantages` and the loss with `policy_loss`. They must agree to float
tolerance. (All prompts here have one length; see that function on left padding.)
"""

import pytest

from labkit.models import build_model, save_model
from labkit.rewards import format_reward, length_heuristic_reward
from labkit.tasks import read_records
from labkit.trainers.grpo import agreement_on_one_batch, grpo_trainer


def make_trainer(tmp_path, **overrides):
    model, tokenizer = build_model("student", seed=0)
    # Saved, so TRL can build its own reference copy from it when beta > 0.
    model.config._name_or_path = str(save_model(model, tokenizer, tmp_path / "student"))
    settings = dict(output_dir=str(tmp_path / "trl"), per_device_train_batch_size=8, num_generations=4, max_completion_length=12)
    # An untrained model is never right, so score format and length: rewards that vary within a group.
    trainer = grpo_trainer(
        model,
        tokenizer,
        read_records("train")[:8],
        reward_funcs=[format_reward, length_heuristic_reward],
        **{**settings, **overrides},
    )
    return trainer, tokenizer


@pytest.mark.parametrize("scale", ["group", "batch", "none"])
def test_advantages_agree(tmp_path, scale):
    trainer, tokenizer = make_trainer(tmp_path, scale_rewards=scale)
    result = agreement_on_one_batch(trainer, tokenizer, read_records("train")[:2])
    assert result["rewards"].std() > 0, "the fixed batch should have rewards that vary"
    assert result["advantage_gap"] < 1e-5


@pytest.mark.parametrize("loss_type", ["grpo", "bnpo", "dr_grpo", "dapo"])
@pytest.mark.parametrize("beta", [0.0, 0.1])
def test_losses_agree(tmp_path, loss_type, beta):
    # TRL multiplies the KL by the ratio by default (use_bias_correction_kl); labkit uses the
    # plain k3 estimator of the GRPO paper, so that correction is switched off here.
    trainer, tokenizer = make_trainer(
        tmp_path, loss_type=loss_type, beta=beta, epsilon=0.2, epsilon_high=0.28, use_bias_correction_kl=False
    )
    result = agreement_on_one_batch(trainer, tokenizer, read_records("train")[:2])
    assert result["clip_ratio"] > 0  # the check exercises clipping
    assert result["loss_gap"] < 1e-5, (result["labkit_loss"], result["trl_loss"])


def test_trl_config_has_the_cpu_settings_that_matter(tmp_path):
    from labkit.trainers.grpo import trl_grpo_config

    config = trl_grpo_config(output_dir=str(tmp_path))
    assert config.bf16 is False and config.gradient_checkpointing is False
    assert config.learning_rate == 1e-4 and config.per_device_train_batch_size % config.num_generations == 0


def test_labkits_loop_config_becomes_the_same_trl_config(tmp_path):
    """One run, two implementations: every shared field carries over, the batch is counted in completions."""
    import dataclasses

    from labkit.grpo_loop import LABKIT_ONLY_FIELDS, NOT_PASSED_TO_TRL, GRPOLoopConfig
    from labkit.trainers.grpo import trl_grpo_config

    ours = GRPOLoopConfig(
        max_steps=7,
        prompts_per_step=3,
        num_generations=4,
        max_completion_length=21,
        learning_rate=3e-4,
        lr_schedule="cosine",
        warmup_steps=2,
        beta=0.02,
        epsilon_high=0.28,
        loss_type="grpo",
        scale_rewards="batch",
        temperature=0.9,
        seed=5,
    )
    theirs = trl_grpo_config(ours, output_dir=str(tmp_path))
    for field in dataclasses.fields(GRPOLoopConfig):
        if field.name not in (*LABKIT_ONLY_FIELDS, *NOT_PASSED_TO_TRL):
            assert getattr(theirs, field.name) == getattr(ours, field.name), field.name
    assert theirs.per_device_train_batch_size == 12
    assert theirs.lr_scheduler_type == "cosine_with_min_lr" and theirs.lr_scheduler_kwargs == {"min_lr_rate": 0.1}
    assert trl_grpo_config(ours, output_dir=str(tmp_path), max_steps=1).max_steps == 1  # TRL names override
    # Two updates a batch: TRL counts optimiser steps, labkit batches.
    twice = trl_grpo_config(dataclasses.replace(ours, num_iterations=2), output_dir=str(tmp_path))
    assert twice.max_steps == 14 and twice.warmup_steps == 4
    assert trl_grpo_config(GRPOLoopConfig(warmup_steps=3), output_dir=str(tmp_path)).lr_scheduler_type == "constant_with_warmup"


def test_labkits_schedule_is_transformers_after_the_warm_up():
    """The cosine to 10% and the constant schedule, step by step, against transformers' own schedulers."""
    import torch
    from transformers import get_scheduler

    from labkit.training import lr_multiplier

    for labkit_name, theirs, kwargs in (
        ("cosine", "cosine_with_min_lr", {"min_lr_rate": 0.1}),
        ("constant", "constant_with_warmup", {}),
    ):
        optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
        scheduler = get_scheduler(theirs, optimizer, num_warmup_steps=5, num_training_steps=40, scheduler_specific_kwargs=kwargs)
        for step in range(40):
            expected = scheduler.get_last_lr()[0]
            ours = lr_multiplier(step, 40, 5, labkit_name)
            if step >= 5:
                assert ours == pytest.approx(expected, abs=1e-9), (labkit_name, step)
            else:  # the warm-up: labkit is one step ahead (docstring of lr_multiplier)
                assert ours == pytest.approx((step + 1) / 5) and expected == pytest.approx(step / 5)
            optimizer.step()
            scheduler.step()


def test_the_trl_default_the_docs_describe_is_the_installed_one():
    """docs/design.md and `grpo.policy_loss` say TRL multiplies the KL by the ratio by default (from TRL 1.10,
    the floor in pyproject.toml); an upgrade that turns it off would make that sentence false."""
    import re
    from pathlib import Path

    from trl import GRPOConfig

    floor = re.search(r'"trl>=([\d.]+)', (Path(__file__).resolve().parent.parent / "pyproject.toml").read_text()).group(1)
    assert tuple(map(int, floor.split("."))) >= (1, 10), "TRL before 1.10 had use_bias_correction_kl off: fix the docs"
    assert GRPOConfig.__dataclass_fields__["use_bias_correction_kl"].default is True
