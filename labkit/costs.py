"""What the critic costs: GRPO and PPO steps on the same model size and batch, measured.

Each method runs in its own Python process, so that peak memory (the process's
maximum resident set) belongs to that method alone:

    python -m labkit.costs grpo|ppo [--model teacher] [--steps 5]

prints one JSON line; `compare()` runs both and returns them side by side with
the ratios. Same batch: GRPO samples G completions for each of B prompts, PPO
one completion for each of B x G prompts, so both train on B x G completions.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

import torch

from .models import build_model, count_parameters
from .runtime import peak_memory_mb, set_seed
from .tasks import read_records


def measure(method: str, model_name: str = "teacher", steps: int = 5, prompts: int = 8, generations: int = 8) -> dict:
    """Seconds per step, parameters trained, optimizer state and peak memory of one method."""
    from .grpo_loop import GRPOConfig, _grpo_step, reward_names
    from .ppo import ValueModel, ppo_step
    from .rewards import correctness_reward

    set_seed(0)
    policy, tokenizer = build_model(model_name)
    records = read_records("train")
    baseline_mb = peak_memory_mb()
    policy_optimizer = torch.optim.AdamW(policy.parameters(), lr=1e-4)
    held = [policy]
    if method == "grpo":
        config = GRPOConfig(steps=steps, prompts_per_step=prompts, num_generations=generations)
        generator = torch.Generator().manual_seed(0)
        funcs = (correctness_reward,)

        def step() -> None:
            _grpo_step(policy, tokenizer, records, config, generator, policy_optimizer, funcs, reward_names(funcs), [1.0], None)

    elif method == "ppo":
        critic = ValueModel(policy.config)
        held.append(critic)
        critic_optimizer = torch.optim.AdamW(critic.parameters(), lr=1e-4)
        batch_size = prompts * generations

        def step() -> None:
            rows = torch.randint(0, len(records), (batch_size,)).tolist()
            ppo_step(policy, critic, tokenizer, [records[r] for r in rows], policy_optimizer, critic_optimizer)

    else:
        raise ValueError(f"unknown method {method!r}; choose 'grpo' or 'ppo'")

    step()  # warm-up: first-call allocations and lazy optimizer state
    start = time.perf_counter()
    for _ in range(steps):
        step()
    seconds = (time.perf_counter() - start) / steps
    parameters = sum(count_parameters(m) for m in held)
    return {
        "method": method,
        "model": model_name,
        "completions_per_step": prompts * generations,
        "seconds_per_step": seconds,
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
            [sys.executable, "-m", "labkit.costs", method, "--model", model_name, "--steps", str(steps)],
            capture_output=True,
            text=True,
            check=True,
        )
        results[method] = json.loads(output.stdout.strip().splitlines()[-1])
    grpo, ppo = results["grpo"], results["ppo"]
    results["ratios"] = {
        key: ppo[key] / grpo[key]
        for key in ("seconds_per_step", "trained_parameters", "peak_memory_mb", "training_memory_mb")
        if grpo[key] > 0
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
