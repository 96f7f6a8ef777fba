"""GRPO through TRL's `GRPOTrainer`, with labkit's rewards, data and dashboard.

TRL is the tool people use at work; labkit's loop (`grpo_loop.py`) is the same
algorithm written out to be read. This module sets TRL up for the lab's tiny
models and checks that the two agree.

`trl_grpo_config` turns labkit's `GRPOLoopConfig` into TRL's `GRPOConfig` (the
fields share TRL's names), on the CPU-safe settings of `trainers/setup.py`. Two more
settings matter:
- `learning_rate` near 1e-4: TRL's 1e-6 default suits pretrained LLMs, and a model
  trained from scratch learns nothing with it;
- `use_bias_correction_kl=False` when comparing with labkit (plain k3 KL, see grpo.py).
"""

from __future__ import annotations

import dataclasses

import torch
from datasets import Dataset
from transformers import PreTrainedTokenizerBase, TrainerCallback

from ..evaluate import evaluate
from ..grpo import group_advantages, policy_loss
from ..grpo_loop import LABKIT_ONLY_FIELDS, NOT_PASSED_TO_TRL, GRPOLoopConfig
from ..runtime import LabkitError
from ..sampling import per_token_logps
from ..tasks import Task, task_of
from ..training import warmup_step_count
from .setup import cpu_safe_settings, make_config, quiet, quiet_datasets, trl_schedule


def trl_grpo_config(config: GRPOLoopConfig | None = None, *, output_dir: str | None = None, **overrides):
    """A `trl.GRPOConfig` with labkit's loop settings (`GRPOLoopConfig`, same names), CPU-safe.

    Every field the two configs share is copied; `prompts_per_step` becomes TRL's
    `per_device_train_batch_size` (which counts completions); `max_steps` (sampled
    batches) becomes max_steps x num_iterations optimiser steps; labkit's schedule
    becomes TRL's `lr_scheduler_type` with the warm-up as a whole number of steps.
    `overrides` are TRL field names and win.
    """
    from trl import GRPOConfig

    config = config or GRPOLoopConfig()
    shared = {f.name for f in dataclasses.fields(GRPOLoopConfig)} - set(LABKIT_ONLY_FIELDS) - set(NOT_PASSED_TO_TRL)
    optimiser_steps = config.max_steps * config.num_iterations
    settings = {
        **cpu_safe_settings(GRPOConfig, output_dir, seed=config.seed),
        **{name: getattr(config, name) for name in shared},
        "max_steps": optimiser_steps,
        "per_device_train_batch_size": config.prompts_per_step * config.num_generations,
        **trl_schedule(config.lr_schedule, warmup_step_count(config.warmup_steps, config.max_steps) * config.num_iterations),
    }
    return make_config(GRPOConfig, {**settings, **overrides})


def grpo_trainer(
    model,
    tokenizer: PreTrainedTokenizerBase,
    records: list[dict],
    *,
    config: GRPOLoopConfig | None = None,
    callbacks=(),
    reward_funcs=None,
    task: str | Task | None = None,
    peft_config=None,
    **overrides,
):
    """A `GRPOTrainer` on a task's records with its rule rewards (`Task.reward_funcs`).

    `config` is labkit's loop config (the same run through TRL); `overrides` are TRL field names;
    `peft_config` a LoRA adapter (the hub path). The data set keeps every column the rewards read
    (`prompt`, `answer`, and e.g. Countdown's `numbers` and `target`), not the reference working. A chat
    task's prompt goes in as its conversation (`Task.messages`), which TRL renders in the model's template.
    """
    from trl import GRPOTrainer

    quiet_datasets()
    task = task_of(records, task)
    rows = [{k: v for k, v in r.items() if k != "scratchpad"} for r in records]
    if task.chat:
        rows = [{**row, "prompt": task.messages(row["prompt"])} for row in rows]
    trainer = GRPOTrainer(
        model=model,
        processing_class=tokenizer,
        reward_funcs=list(reward_funcs or task.reward_funcs()),
        args=trl_grpo_config(config, **overrides),
        train_dataset=Dataset.from_list(rows),
        callbacks=list(callbacks),
        peft_config=peft_config,
    )
    return quiet(trainer)


def agreement_on_one_batch(trainer, tokenizer: PreTrainedTokenizerBase, records: list[dict], seed: int = 0) -> dict:
    """Let TRL build and score one batch, then recompute its advantages and loss with labkit.

    Old and reference log-probs are set a little apart from the current policy so
    that clipping and the KL term are exercised. Returns both sides and the gaps.
    Prompts should share one length: labkit derives position ids from the mask,
    TRL does not, so with left padding their log-probs would differ.
    """
    args = trainer.args
    group = args.num_generations
    batch = [{k: v for k, v in r.items() if k != "scratchpad"} for r in records for _ in range(group)]
    trainer.current_gradient_accumulation_steps = 1  # normally set by TRL's training loop
    torch.manual_seed(seed)
    inputs = trainer._generate_and_score_completions(batch)
    texts = tokenizer.batch_decode(inputs["completion_ids"], skip_special_tokens=True)
    columns = {key: [b[key] for b in batch] for key in batch[0] if key != "prompt"}
    rewards = sum(torch.tensor(fn(texts, **columns)) for fn in trainer.reward_funcs)
    ours_advantages = group_advantages(rewards, group, scale=args.scale_rewards)

    model = trainer.model
    model.train()
    mask = inputs["completion_mask"]
    ids = (inputs["prompt_ids"], inputs["prompt_mask"], inputs["completion_ids"], mask)
    with torch.no_grad():
        current, _ = per_token_logps(model, *ids, temperature=args.temperature)
    noise = torch.randn(current.shape, generator=torch.Generator().manual_seed(seed + 1)) * 0.3
    inputs["old_per_token_logps"] = (current + noise) * mask
    inputs["ref_per_token_logps"] = (current - noise.abs()) * mask
    trl_loss = trainer._compute_loss(model, inputs).item()
    logps, _ = per_token_logps(model, *ids, temperature=args.temperature)
    ours_loss, stats = policy_loss(
        logps,
        inputs["old_per_token_logps"],
        inputs["advantages"],
        mask,
        ref_logps=inputs["ref_per_token_logps"],
        beta=args.beta,
        epsilon=args.epsilon,
        epsilon_high=args.epsilon_high,
        loss_type=args.loss_type,
        max_completion_length=args.max_completion_length,
    )
    return {
        "rewards": rewards,
        "trl_advantages": inputs["advantages"],
        "labkit_advantages": ours_advantages,
        "advantage_gap": (ours_advantages - inputs["advantages"]).abs().max().item(),
        "trl_loss": trl_loss,
        "labkit_loss": ours_loss.item(),
        "loss_gap": abs(ours_loss.item() - trl_loss),
        "clip_ratio": stats["clip_ratio/region_mean"],
    }


class HeldOutEval(TrainerCallback):
    """Greedy held-out accuracy every `eval_steps` steps of a TRL trainer, measured as labkit's loop
    measures its `eval/accuracy` (same `evaluate` call, the global RNG restored afterwards)."""

    def __init__(self, tokenizer: PreTrainedTokenizerBase, records: list[dict], eval_steps: int, max_new_tokens: int):
        self.tokenizer, self.records, self.eval_steps, self.max_new_tokens = tokenizer, records, eval_steps, max_new_tokens
        self.history: list[dict] = []

    def on_step_end(self, args, state, control, model=None, **kwargs):
        if state.global_step % self.eval_steps == 0:
            rng = torch.get_rng_state()
            held_out = evaluate(model, self.tokenizer, self.records, k=0, forced=False, max_new_tokens=self.max_new_tokens)
            torch.set_rng_state(rng)
            model.train()
            self.history.append({"step": state.global_step, "eval/accuracy": held_out["accuracy"]})


def learning_curves(
    base: str, train: list[dict], held_out: list[dict], config: GRPOLoopConfig, seeds: list[int]
) -> dict[str, dict[int, list[tuple[int, float]]]]:
    """Held-out accuracy against step for labkit's loop and GRPOTrainer, from the same saved base model,
    with the same `GRPOLoopConfig` (TRL gets it by name), once per seed.

    Returns {"labkit": {seed: [(step, accuracy), ...]}, "TRL": {...}}, evaluated every `config.eval_steps`
    steps, step 0 (the base) included. If the two compute the same thing, the curves should overlap
    within the spread between seeds.
    """
    from ..grpo_loop import train_grpo
    from ..models import load_model

    if not config.eval_steps:
        raise LabkitError("learning_curves needs config.eval_steps > 0 (how often to evaluate)")
    curves: dict[str, dict[int, list[tuple[int, float]]]] = {"labkit": {}, "TRL": {}}
    for seed in seeds:
        seeded = dataclasses.replace(config, seed=seed)
        model, tokenizer = load_model(base)
        start = evaluate(model, tokenizer, held_out, k=0, forced=False, max_new_tokens=config.max_completion_length)["accuracy"]
        history = train_grpo(model, tokenizer, train, seeded, eval_records=held_out)
        curves["labkit"][seed] = [(0, start)] + [(m["step"], m["eval/accuracy"]) for m in history if "eval/accuracy" in m]
        model, tokenizer = load_model(base)
        callback = HeldOutEval(tokenizer, held_out, config.eval_steps, config.max_completion_length)
        grpo_trainer(model, tokenizer, train, config=seeded, callbacks=[callback]).train()
        curves["TRL"][seed] = [(0, start)] + [(m["step"], m["eval/accuracy"]) for m in callback.history]
    return curves
