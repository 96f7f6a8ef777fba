"""GRPO beside PPO with a critic of the policy's size: time per step, parameters, memory.

    .venv/bin/python benchmarks/grpo_vs_ppo.py [--model teacher] [--steps 5]

Each method runs in its own process (labkit.run.costs); the ratios are measured side by
side in one run, so a busy machine slows both alike.
"""

import argparse

from labkit.run.costs import compare

parser = argparse.ArgumentParser()
parser.add_argument("--model", default="teacher")
parser.add_argument("--steps", type=int, default=5)
args = parser.parse_args()

results = compare(args.model, args.steps)
print(f"model {args.model}, {results['grpo']['completions_per_step']} completions a step, {args.steps} timed steps")
print(f"{'':<22}{'GRPO':>12}{'PPO':>12}{'PPO / GRPO':>12}")
for key, label in (
    ("update_seconds", "update seconds"),
    ("seconds_per_step", "seconds per step"),
    ("trained_parameters", "trained parameters"),
    ("peak_memory_mb", "peak memory MB"),
    ("training_memory_mb", "training memory MB"),
):
    print(f"{label:<22}{results['grpo'][key]:>12.3g}{results['ppo'][key]:>12.3g}{results['ratios'][key]:>12.2f}")
print(
    f"GRPO takes {1 - 1 / results['ratios']['update_seconds']:.0%} less time per update and "
    f"{1 - 1 / results['ratios']['seconds_per_step']:.0%} less per step (sampling included) than PPO with a critic"
)
