"""What training costs: the FLOPs estimate of a run, and the critic's price, measured.

`training_flops` turns the tokens a method put through each model into FLOPs, the
usual estimate (Kaplan et al., 2020): a forward pass costs about 2 FLOPs per parameter
per token, forward and backward about 6,

    FLOPs ~ 6 N_student * trained + 2 N_student * forward_only + 2 N_teacher * teacher_read

`labkit run` prints it beside each student's training seconds. Below it, GRPO and PPO
steps on the same model size and batch, measured:

Each method runs in its own Python process, so that peak memory (the process's
maximum resident set) belongs to that method alone:

    python -m labkit.run.costs grpo|ppo [--model teacher] [--steps 5]

prints one JSON line; `compare()` runs both and returns them side by side with
the ratios. Same batch: both train on the same B x G sampled completions (GRPO
as B groups of G, PPO as B x G single samples), sampled once with the same seed.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

import torch

from ..models import build_model, count_parameters
from ..runtime import peak_memory_mb, set_seed
from ..tasks import read_records


def training_flops(parameters: int, tokens: dict[str, int], teacher_parameters: int = 0) -> float:
    """FLOPs of a training run from the tokens it put through each model.

    tokens: {"trained": tokens through the trained model's forward and backward passes,
             "forward": tokens through it without a backward pass (sampling, a reference model),
             "teacher": tokens the teacher read (forward only)}; a missing key counts 0.
    Attention's own term (about 2 x layers x context x width a token) is left out: at the lab's
    lengths (under 60 tokens) it adds under a tenth. Padding is not counted.
    """
    unknown = set(tokens) - {"trained", "forward", "teacher"}
    if unknown:
        raise ValueError(f"unknown token count {sorted(unknown)[0]!r}; use trained, forward and teacher")
    if tokens.get("teacher") and not teacher_parameters:
        raise ValueError("tokens the teacher read need teacher_parameters")
    return (
        6 * parameters * tokens.get("trained", 0)
        + 2 * parameters * tokens.get("forward", 0)
        + 2 * teacher_parameters * tokens.get("teacher", 0)
    )


def _timed(function, repeats: int) -> tuple[float, float]:
    """(median, interquartile range) seconds of `repeats` calls of `function`, after one untimed warm-up
    call. The interquartile range, not max - min: one call slowed by a neighbour should not hide a gap."""
    function()  # first-call allocations, lazy initialisation, Adam's lazily created moments
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    if len(times) < 2:
        return times[0], 0.0
    first, _, third = statistics.quantiles(times, n=4)
    return statistics.median(times), third - first


def measure(method: str, model_name: str = "teacher", steps: int = 5, prompts: int = 8, generations: int = 8) -> dict:
    """Seconds per update, parameters trained and memory of one method, on one fixed batch.

    Both methods learn from the same B x G completions, sampled with one seed.
    Sampling is the same work for both (same policy, same completions), but it is
    timed in each process all the same, like the update: one warm-up call, then
    `steps` timed calls; the median is reported with the spread (interquartile range).
    """
    from ..grpo import group_advantages
    from ..grpo_loop import GRPOLoopConfig, grpo_update
    from ..ppo import ValueModel, ppo_update
    from ..rewards import correctness_reward
    from ..sampling import generate_completions

    if method not in ("grpo", "ppo"):
        raise ValueError(f"unknown method {method!r}; choose 'grpo' or 'ppo'")
    set_seed(0)
    policy, tokenizer = build_model(model_name)
    records = read_records("train")[:prompts]

    def sample():
        set_seed(1)  # the same completions every time, so every timed call does the same work
        return generate_completions(policy, tokenizer, [r["prompt"] for r in records], num_generations=generations)

    generation = sample()
    sampling_seconds, sampling_spread = _timed(sample, steps)
    rewards = torch.tensor(
        correctness_reward(generation.texts, answer=[r["answer"] for r in records for _ in range(generations)])
    )
    baseline_mb = peak_memory_mb()
    policy_optimizer = torch.optim.AdamW(policy.parameters(), lr=1e-4)
    held = [policy]
    if method == "grpo":
        advantages = group_advantages(rewards, generations)
        config = GRPOLoopConfig(num_generations=generations)

        def update() -> None:
            grpo_update(policy, policy_optimizer, generation, advantages, config)

    else:  # PPO treats the B x G completions as B x G prompts with one sample each
        critic = ValueModel(policy.config)
        held.append(critic)
        critic_optimizer = torch.optim.AdamW(critic.parameters(), lr=1e-4)

        def update() -> None:
            ppo_update(policy, critic, generation, rewards, policy_optimizer, critic_optimizer)

    update_seconds, update_spread = _timed(update, steps)
    parameters = sum(count_parameters(m) for m in held)
    return {
        "method": method,
        "model": model_name,
        "completions_per_step": prompts * generations,
        "completion_tokens": int(generation.completion_mask.sum()),
        "sampling_seconds": sampling_seconds,
        "sampling_spread": sampling_spread,
        "update_seconds": update_seconds,
        "update_spread": update_spread,
        "seconds_per_step": sampling_seconds + update_seconds,
        "trained_parameters": parameters,
        "optimizer_state_values": 2 * parameters,  # Adam keeps two moments per parameter
        "peak_memory_mb": peak_memory_mb(),
        "training_memory_mb": peak_memory_mb() - baseline_mb,
    }


def compare(model_name: str = "teacher", steps: int = 5) -> dict:
    """Run GRPO and PPO in separate processes; return both and the ratios PPO / GRPO."""
    results = {}
    for method in ("grpo", "ppo"):
        output = subprocess.run(
            [sys.executable, "-m", "labkit.run.costs", method, "--model", model_name, "--steps", str(steps)],
            capture_output=True,
            text=True,
            check=True,
        )
        results[method] = json.loads(output.stdout.strip().splitlines()[-1])
    grpo, ppo = results["grpo"], results["ppo"]
    results["ratios"] = {
        key: ppo[key] / grpo[key] if grpo[key] > 0 else float("nan")
        for key in (
            "sampling_seconds",
            "update_seconds",
            "seconds_per_step",
            "trained_parameters",
            "peak_memory_mb",
            "training_memory_mb",
        )
    }
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("method", choices=["grpo", "ppo"])
    parser.add_argument("--model", default="teacher")
    parser.add_argument("--steps", type=int, default=5)
    args = parser.parse_args()
    print(json.dumps(measure(args.method, args.model, args.steps)))


if __name__ == "__main__":
    main()
