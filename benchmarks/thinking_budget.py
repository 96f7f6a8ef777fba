"""What does the scratchpad buy: a skill the model cannot learn otherwise, or the same skill sooner?

    .venv/bin/python benchmarks/thinking_budget.py [--task multiply] [--model teacher] [--steps 1000] [--times 4]

Warms up one fresh model of the given size on the task's training split twice, from the same seed:
every completion with the scratchpad, and every completion a direct answer; then the direct one again,
`--times` as long (4x the budget by default). All are evaluated greedily on held-out problems every
quarter of the budget, the scratchpad model made to open `<think>`, the direct one `<answer>`. One
table row per checkpoint, then the machine; the last line is the headline: both accuracies at 1x the
budget and the direct one at `--times` x.

Measured on the sums, the gap was a budget artifact (direct answers caught up by 2,000 steps of 128);
`multiply` is the task where it should not be. Batch 64 and the default warm-up recipe, as
`labkit run`'s default profile.
"""

import argparse
import platform
import warnings

import psutil
import torch

from labkit.course.thinking import thinking_curve
from labkit.tasks import get_task, read_records

warnings.filterwarnings("ignore")
parser = argparse.ArgumentParser()
parser.add_argument("--task", default="multiply")
parser.add_argument("--model", default="teacher")
parser.add_argument("--steps", type=int, default=1000, help="the budget: warm-up steps of --batch-size")
parser.add_argument("--batch-size", type=int, default=64)
parser.add_argument("--times", type=int, default=4, help="the direct model trains this many budgets")
parser.add_argument("--problems", type=int, default=200, help="held-out problems per evaluation")
parser.add_argument("--seed", type=int, default=0)
args = parser.parse_args()

task = get_task(args.task)
train, test = read_records("train", task), read_records("test", task)[: args.problems]
runs = {
    "scratchpad, 1x": (True, args.steps),
    "direct, 1x": (False, args.steps),
    f"direct, {args.times}x": (False, args.steps * args.times),
}
curves = {
    label: thinking_curve(
        args.model, train, test, task=task, scratchpad=scratchpad, steps=steps, batch_size=args.batch_size,
        checkpoints=4 * steps // args.steps, seed=args.seed,
    )
    for label, (scratchpad, steps) in runs.items()
}  # fmt: skip
think, direct, longer = curves.values()
parameters = think.parameters
print(f"\n{task.describe()}; {args.model} ({parameters:,} parameters); batch {args.batch_size}; seed {args.seed}")
print(f"greedy accuracy on {len(test)} held-out problems, forced to think or to answer directly")
print(f"{'steps':>8}{'scratchpad, 1x':>16}{'direct, 1x':>12}{f'direct, {args.times}x':>12}")
think_at, direct_at, longer_at = (dict(curve.points) for curve in curves.values())
for steps in sorted(set(think_at) | set(direct_at) | set(longer_at)):
    cells = [f"{at[steps]:.1%}" if steps in at else "" for at in (think_at, direct_at, longer_at)]
    print(f"{steps:>8}{cells[0]:>16}{cells[1]:>12}{cells[2]:>12}")
print(
    f"training seconds: scratchpad {think.seconds:.0f}, direct {direct.seconds:.0f} "
    f"({args.steps} steps each), direct {longer.seconds:.0f} ({args.steps * args.times} steps)"
)
print(
    f"machine: {psutil.cpu_count(logical=True)} CPU cores, {psutil.virtual_memory().total / 2**30:.0f} GiB, "
    f"{platform.machine()}, torch {torch.__version__}"
)
print(
    f"{task.name}, {args.model}: scratchpad {think_at[args.steps]:.1%} vs direct {direct_at[args.steps]:.1%} "
    f"after {args.steps} steps; direct {longer_at[args.steps * args.times]:.1%} after {args.steps * args.times}"
)
