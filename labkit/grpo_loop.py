"""labkit's own GRPO training loop, from scratch, small enough to read in one sitting.

    for each step:
        draw B prompts; sample G completions each            (sampling.generate_completions)
        score each completion with the rule rewards           (rewards.py)
        advantages relative to the group                      (grpo.group_advantages)
        repeat num_iterations (mu) times:
            log-probs under the current policy                (sampling.per_token_logps)
            clipped surrogate (+ beta KL) -> backward -> step  (grpo.policy_loss)
        log metrics with TRL's names; every N steps evaluate and checkpoint

Cost on 2 CPU cores, 1M teacher, 8 prompts x 8 samples, 40 tokens: about 0.3-0.45 s a
step. A `KeyboardInterrupt` (the stop button in a notebook) saves a checkpoint of the
last finished step before it propagates, wherever it lands: the random states are
snapshotted where each step starts, so a step interrupted while sampling is redrawn
whole; an interrupt during the update is held until the update and its record finish
(the model never holds half an update). `resume=True` continues from the checkpoint and
ends with the same weights as a run that was never interrupted (same seed, CPU).
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from tqdm.auto import tqdm
from transformers import PreTrainedTokenizerBase

from .evaluate import evaluate
from .grpo import LOSS_TYPES, SCALES, _as_groups, _masked_mean, group_advantages, policy_loss, zero_std_fraction
from .runtime import LabkitError, set_seed
from .sampling import MAX_COMPLETION_LENGTH, generate_completions, per_token_logps
from .tasks import Task, task_of
from .training import SCHEDULES, lr_multiplier, warmup_step_count

RewardFunction = Callable[..., list[float]]
CHECKPOINT = "grpo_checkpoint.pt"


def reward_names(reward_funcs: Sequence[RewardFunction]) -> list[str]:
    """A unique name per reward function, for `rewards/<name>/mean` (partials included)."""
    names = []
    for index, fn in enumerate(reward_funcs):
        name = getattr(fn, "__name__", None) or getattr(getattr(fn, "func", None), "__name__", None) or f"reward_{index}"
        names.append(name if name not in names else f"{name}_{index}")
    return names


# Fields of GRPOLoopConfig that TRL's GRPOConfig does not have. Every other field has TRL's
# name (tests/test_grpo.py checks it against trl.GRPOConfig) and its meaning, with one
# difference that trl_grpo_config translates: labkit's max_steps counts sampled batches,
# TRL's counts optimiser steps (num_iterations of them a batch).
LABKIT_ONLY_FIELDS = ("prompts_per_step", "lr_schedule")
# TRL has these too, but they need its evaluation and saving machinery; labkit's loop evaluates
# and checkpoints by itself, so they are not passed on.
NOT_PASSED_TO_TRL = ("eval_steps", "save_steps")


def _setting(default, help: str, **more):
    """A config field with its help text in `metadata`, as TRL's configs carry it: `HfArgumentParser` makes a
    command-line flag of it (`labkit.hub.scale`), so the flag and the field cannot drift apart."""
    return field(default=default, metadata={"help": help, **more})


@dataclass
class GRPOLoopConfig:
    """The settings of labkit's GRPO loop, named as `trl.GRPOConfig` names them."""

    max_steps: int = _setting(100, "sampled batches (each gets num_iterations optimiser steps)")
    prompts_per_step: int = _setting(
        8, "prompts a step, per process; TRL counts completions (per_device_train_batch_size = this x G)"
    )
    num_generations: int = _setting(8, "G, the group size: completions sampled per prompt")
    temperature: float = _setting(1.0, "sampling temperature (and of the log-probs scored); must be > 0")
    max_completion_length: int = _setting(MAX_COMPLETION_LENGTH, "tokens a completion may have (a profile sets it)")
    learning_rate: float = _setting(
        1e-4, "AdamW, no weight decay (TRL's 1e-6 default suits pretrained LLMs, not the lab's tiny models)"
    )
    lr_schedule: str = _setting(
        "constant", "constant, or cosine down to 10%% (TRL's cosine_with_min_lr, min_lr_rate=0.1)", choices=SCHEDULES
    )
    warmup_steps: float = _setting(0, "linear warm-up: steps, or a share of max_steps below 1 (as TRL)")
    num_iterations: int = _setting(1, "mu: updates on each sampled batch (1: the ratio is 1 and clipping never binds)")
    beta: float = _setting(0.0, "weight of the k3 KL to a reference model (0: no reference model, TRL's default)")
    epsilon: float = _setting(0.2, "clip range below 1")
    epsilon_high: float | None = _setting(None, "clip range above 1 (None: epsilon; DAPO uses 0.28)")
    loss_type: str = _setting("dapo", "how per-token losses are averaged", choices=LOSS_TYPES)
    scale_rewards: str = _setting("group", "advantage scaling (none: Dr. GRPO)", choices=SCALES)
    max_grad_norm: float = _setting(1.0, "gradient clipping")
    eval_steps: int = _setting(0, "evaluate greedy accuracy on eval_records every N steps (0: never)")
    save_steps: int = _setting(0, "checkpoint every N steps (0: only on interrupt and at the end)")
    seed: int = _setting(0, "prompts drawn, samples, and the global RNG")

    def __post_init__(self) -> None:
        if not self.temperature > 0:  # sampling divides by it: 0 would turn every weight into NaN, silently
            raise LabkitError(f"temperature must be > 0 (got {self.temperature}): GRPO samples its groups at it; try 1.0")
        if self.num_generations < 2:
            raise LabkitError("num_generations must be at least 2: a group of one has no baseline to compare with")
        if self.loss_type not in LOSS_TYPES:
            raise LabkitError(f"unknown loss_type {self.loss_type!r}; choose one of {', '.join(LOSS_TYPES)}")
        if self.scale_rewards not in SCALES:
            raise LabkitError(f"unknown scale_rewards {self.scale_rewards!r}; choose one of {', '.join(SCALES)}")
        if self.lr_schedule not in SCHEDULES:
            raise LabkitError(f"unknown lr_schedule {self.lr_schedule!r}; choose one of {', '.join(SCHEDULES)}")


def learning_rate_factor(step: int, config: GRPOLoopConfig) -> float:
    """Multiplier of the learning rate at `step` (0-based): `training.lr_multiplier` for this config."""
    warmup = warmup_step_count(config.warmup_steps, config.max_steps)
    return lr_multiplier(step, config.max_steps, warmup, config.lr_schedule)


def random_states(generator: torch.Generator, reward_funcs: Sequence[RewardFunction]) -> dict:
    """Every random state a step draws from: the prompt generator, torch's global RNG (sampling) and
    the own `rng` of any reward that has one (`rewards.make_random_reward`)."""
    return {
        "prompt_generator": generator.get_state(),
        "torch_rng": torch.get_rng_state(),
        "reward_rngs": [fn.rng.getstate() if hasattr(fn, "rng") else None for fn in reward_funcs],
    }


def restore_random_states(state: dict, generator: torch.Generator, reward_funcs: Sequence[RewardFunction]) -> None:
    generator.set_state(state["prompt_generator"])
    torch.set_rng_state(state["torch_rng"])
    for fn, saved in zip(reward_funcs, state.get("reward_rngs", [])):
        if saved is not None and hasattr(fn, "rng"):
            fn.rng.setstate(_as_tuples(saved))


def _as_tuples(value):
    """random.Random.setstate wants the tuples it gave; a checkpoint may hand them back as lists."""
    return tuple(_as_tuples(v) for v in value) if isinstance(value, (list, tuple)) else value


@contextlib.contextmanager
def finish_before_interrupt():
    """Hold a Ctrl-C (the notebook's stop button) until the block ends, then raise it.

    The update and the record of a step form one unit: interrupted inside it, a run would hold half an
    update (some parameters stepped, others not) that no checkpoint describes. Only the main thread can
    take over SIGINT; elsewhere the block runs as it is."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received = []
    previous = signal.signal(signal.SIGINT, lambda *_: received.append(True))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if received:
        raise KeyboardInterrupt


def save_checkpoint(path: Path, model, optimizer, scheduler, random_state: dict, history: list[dict]) -> None:
    """Everything a resumed run needs to continue bit for bit, written atomically: the weights and
    optimiser after the last recorded step, and the random states where the next step starts."""
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        **random_state,
        "history": history,
    }
    temporary = path.with_suffix(".tmp")
    torch.save(state, temporary)
    os.replace(temporary, path)  # a crash mid-write never leaves a half checkpoint


def _checked_arguments(records, config, task, reward_funcs, reward_weights, ref_model, eval_records, output_dir, resume):
    """`train_grpo`'s arguments checked before anything runs: (task, reward functions, weights, checkpoint path),
    or one `LabkitError` line that says how to fix them."""
    task = task_of(records, task)
    if reward_funcs is None:
        reward_funcs = task.reward_funcs()
    weights = list(reward_weights) if reward_weights is not None else [1.0] * len(reward_funcs)
    if len(weights) != len(reward_funcs):
        raise LabkitError(f"{len(reward_funcs)} reward functions but {len(weights)} reward weights; give one weight each")
    if config.beta > 0 and ref_model is None:
        raise LabkitError("beta > 0 needs a reference model: pass ref_model (a frozen copy of the starting model)")
    if config.eval_steps and not eval_records:
        raise LabkitError("eval_steps > 0 needs eval_records (held-out problems)")
    checkpoint = Path(output_dir) / CHECKPOINT if output_dir is not None else None
    if resume and checkpoint is None:
        raise LabkitError("resume=True needs output_dir, the folder holding the checkpoint")
    return task, list(reward_funcs), weights, checkpoint


def _held_out_metrics(model, tokenizer, eval_records, config: GRPOLoopConfig, task: Task) -> dict:
    """Greedy accuracy, scratchpad share and length on the held-out records, as `eval/...`; the global RNG is
    put back afterwards (evaluation reseeds it, and training must not notice)."""
    rng = torch.get_rng_state()
    held_out = evaluate(model, tokenizer, eval_records, k=0, forced=False, max_new_tokens=config.max_completion_length, task=task)
    torch.set_rng_state(rng)
    return {f"eval/{key}": held_out[key] for key in ("accuracy", "scratchpad_share", "mean_length")}


def train_grpo(
    model: torch.nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    records: list[dict],
    config: GRPOLoopConfig,
    *,
    reward_funcs: Sequence[RewardFunction] | None = None,
    reward_weights: Sequence[float] | None = None,
    callback: Callable[[dict], None] | None = None,
    ref_model: torch.nn.Module | None = None,
    eval_records: list[dict] | None = None,
    output_dir: str | os.PathLike | None = None,
    resume: bool = False,
    progress: bool = False,
    task: str | Task | None = None,
) -> list[dict]:
    """GRPO on `records` (dicts with `prompt` and the columns the rewards need).

    Each step: draw `prompts_per_step` prompts, sample `num_generations` each,
    score with the weighted sum of `reward_funcs` (default: the task's rule
    rewards, `Task.reward_funcs`, for the task the records name; weights 1 by
    default, as in TRL; a weight of 0 logs a reward without training on it), compute group
    advantages, then make `num_iterations` updates on that batch. Returns one
    metrics dict per step, named as TRL names them (plus `eval/...` every
    `eval_steps` steps); `callback(metrics)` sees each as it is made.
    With `output_dir`, a checkpoint is written there every `save_steps` steps,
    at the end, and on `KeyboardInterrupt`; `resume=True` continues from it.
    """
    task, reward_funcs, weights, checkpoint = _checked_arguments(
        records, config, task, reward_funcs, reward_weights, ref_model, eval_records, output_dir, resume
    )
    names = reward_names(reward_funcs)
    set_seed(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=0.0)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: learning_rate_factor(s, config))
    history: list[dict] = []
    if resume and checkpoint.exists():
        state = torch.load(checkpoint, weights_only=True)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        restore_random_states(state, generator, reward_funcs)
        history = state["history"]
    # Where the next step starts: a checkpoint saves these, not the states of a step cut off midway.
    step_start = random_states(generator, reward_funcs)

    def save() -> None:
        if checkpoint is not None:
            save_checkpoint(checkpoint, model, optimizer, scheduler, step_start, history)

    bar = tqdm(range(len(history), config.max_steps), desc="GRPO", disable=not progress, mininterval=1.0)
    try:
        for step in bar:
            batch = _sample_and_score(model, tokenizer, records, task, config, generator, reward_funcs, names, weights)
            with finish_before_interrupt():
                metrics = _learn(model, optimizer, batch, config, ref_model)
                scheduler.step()
                # TRL's num_tokens: prompt and completion tokens sampled (and trained on) so far.
                metrics["num_tokens"] = (history[-1].get("num_tokens", 0) if history else 0) + metrics.pop("batch_tokens")
                metrics["step"] = step + 1
                metrics["learning_rate"] = scheduler.get_last_lr()[0]
                history.append(metrics)
                step_start = random_states(generator, reward_funcs)
            if config.eval_steps and (step + 1) % config.eval_steps == 0:
                metrics.update(_held_out_metrics(model, tokenizer, eval_records, config, task))
            bar.set_postfix(reward=f"{metrics['reward']:.2f}", length=f"{metrics['completions/mean_length']:.1f}")
            if callback is not None:
                callback(metrics)
            if config.save_steps and (step + 1) % config.save_steps == 0:
                save()
    except KeyboardInterrupt:
        save()  # the last recorded step; one cut off while sampling is redrawn whole on resume
        raise
    save()
    return history


def tokens_of_run(history: list[dict], config: GRPOLoopConfig) -> dict[str, int]:
    """What a finished run put through its model, for `run.costs.training_flops`: every prompt and
    completion token was sampled once (a forward pass), trained on `num_iterations` times, and read
    by the reference model when beta > 0."""
    sampled = history[-1]["num_tokens"] if history else 0
    return {"trained": sampled * config.num_iterations, "forward": sampled * (2 if config.beta > 0 else 1)}


def grpo_update(model, optimizer, generation, advantages, config: GRPOLoopConfig, ref_logps=None):
    """The learning half of a step: `num_iterations` updates on one sampled batch.

    Returns (loss, stats, entropy (N, C), grad_norm) of the last update.
    """
    inputs = (generation.prompt_ids, generation.prompt_mask, generation.completion_ids, generation.completion_mask)
    model.train()
    for _ in range(config.num_iterations):
        logps, entropy = per_token_logps(model, *inputs, temperature=config.temperature, with_entropy=True)
        old_logps = generation.logps if generation.logps is not None else logps.detach()
        loss, stats = policy_loss(
            logps,
            old_logps,
            advantages,
            generation.completion_mask,
            ref_logps=ref_logps,
            beta=config.beta,
            epsilon=config.epsilon,
            epsilon_high=config.epsilon_high,
            loss_type=config.loss_type,
            max_completion_length=config.max_completion_length,
        )
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), config.max_grad_norm).item()
        optimizer.step()
    model.eval()
    return loss, stats, entropy, grad_norm


def _length_by_outcome(lengths: torch.Tensor, correct: list[float] | None) -> dict:
    """labkit's own metrics (TRL has none): mean length of the right and of the wrong completions, NaN
    where a step has none. Dr. GRPO's point is that per-sequence averaging (`loss_type="grpo"`) lets
    wrong answers grow long; the overall mean length hides which kind grows."""
    if correct is None:
        return {}
    right = torch.tensor(correct, device=lengths.device) > 0
    mean = lambda chosen: lengths[chosen].float().mean().item() if chosen.any() else float("nan")  # noqa: E731
    return {"completions/mean_length_correct": mean(right), "completions/mean_length_wrong": mean(~right)}


def _sample_and_score(model, tokenizer, records, task, config, generator, reward_funcs, names, weights) -> dict:
    """The first half of a GRPO step: draw prompts, sample a group each, score them, group advantages.

    The model reads what `task.model_text` makes of each prompt: the prompt itself for the lab's tiny
    models, the conversation in the model's chat template for a chat task (GSM8K on a hub model).
    Nothing here changes the model, so an interrupt here loses only random draws, which resume redraws."""
    start = time.perf_counter()
    rows = torch.randint(0, len(records), (config.prompts_per_step,), generator=generator).tolist()
    batch = [records[r] for r in rows]
    generation = generate_completions(
        model,
        tokenizer,
        [task.model_text(r["prompt"], tokenizer) for r in batch],
        num_generations=config.num_generations,
        temperature=config.temperature,
        max_new_tokens=config.max_completion_length,
        return_logps=config.num_iterations > 1,
    )
    columns = {key: [r[key] for r in batch for _ in range(config.num_generations)] for key in batch[0] if key != "prompt"}
    per_function = {name: fn(generation.texts, **columns) for name, fn in zip(names, reward_funcs)}
    # float32 whatever the functions and weights return (integers included), as TRL does
    rewards = torch.tensor(list(per_function.values()), dtype=torch.float32).T @ torch.tensor(weights, dtype=torch.float32)
    # Rewards are scored on the CPU (text); the advantages join the log-probs on the model's device.
    advantages = group_advantages(rewards, config.num_generations, scale=config.scale_rewards).to(
        generation.completion_ids.device
    )
    return {
        "start": start,
        "generation": generation,
        "per_function": per_function,
        "rewards": rewards,
        "advantages": advantages,
        "scratchpad_share": sum(task.shows_working(t) for t in generation.texts) / len(generation.texts),
    }


def _learn(model, optimizer, batch: dict, config: GRPOLoopConfig, ref_model) -> dict:
    """The second half: the reference log-probs (beta > 0), `num_iterations` updates, and the step's metrics."""
    generation, rewards, advantages, per_function = (batch[k] for k in ("generation", "rewards", "advantages", "per_function"))
    inputs = (generation.prompt_ids, generation.prompt_mask, generation.completion_ids, generation.completion_mask)
    ref_logps = None
    if ref_model is not None and config.beta > 0:
        with torch.no_grad():
            ref_logps, _ = per_token_logps(ref_model, *inputs, temperature=config.temperature)

    loss, stats, entropy, grad_norm = grpo_update(model, optimizer, generation, advantages, config, ref_logps)

    return {
        "loss": loss.item(),
        "reward": rewards.mean().item(),
        # As TRL logs it: the mean of the per-group standard deviations.
        "reward_std": _as_groups(rewards, config.num_generations).std(dim=1).mean().item(),
        **{f"rewards/{name}/mean": sum(values) / len(values) for name, values in per_function.items()},
        "frac_reward_zero_std": zero_std_fraction(rewards, config.num_generations),
        "completions/mean_length": generation.lengths.float().mean().item(),
        "batch_tokens": int(generation.prompt_mask.sum() + generation.completion_mask.sum()),
        **_length_by_outcome(generation.lengths, per_function.get("correctness_reward")),
        "scratchpad_share": batch["scratchpad_share"],
        "entropy": _masked_mean(entropy.detach(), generation.completion_mask.float()).item(),
        "grad_norm": grad_norm,
        "step_seconds": time.perf_counter() - batch["start"],
        **stats,
        # The first group, for dashboards: what the model wrote and how it was scored.
        "samples": [
            {
                "prompt": generation.prompts[i],
                "completion": generation.texts[i],
                "reward": rewards[i].item(),
                "advantage": advantages[i].item(),
            }
            for i in range(config.num_generations)
        ],
    }
