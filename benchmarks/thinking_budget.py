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
import time
import warnings

import psutil
import torch

from labkit.models import build_model, count_parameters
from labkit.pretrain import WarmupConfig, train_warmup
from labkit.sampling import generate_completions
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
every = max(1, args.steps // 4)


def forced_accuracy(model, tokenizer, tag: str) -> float:
    """Greedy accuracy with the completion forced to start with `tag` (as `evaluate`'s forced_* metrics)."""
    out = generate_completions(
        model, tokenizer, [r["prompt"] + tag for r in test], temperature=0.0, max_new_tokens=task.max_completion_length
    )
    return sum(task.is_correct(tag + text, r) for text, r in zip(out.texts, test)) / len(test)


def curve(scratchpad: bool, budgets: int) -> tuple[list[tuple[int, float]], float, int]:
    """[(steps, forced accuracy)] every quarter budget, the training seconds, the parameters."""
    model, tokenizer = build_model(args.model, seed=args.seed)
    config = WarmupConfig(
        max_steps=args.steps * budgets,
        batch_size=args.batch_size,
        scratchpad_fraction=1.0 if scratchpad else 0.0,
        seed=args.seed,
    )
    tag = "<think>" if scratchpad else "<answer>"
    points, evaluating = [], [0.0]

    def measure(metrics: dict) -> None:
        start = time.perf_counter()
        state = torch.get_rng_state()
        model.eval()
        points.append((metrics["step"], forced_accuracy(model, tokenizer, tag)))
        model.train()
        torch.set_rng_state(state)
        evaluating[0] += time.perf_counter() - start

    summary = train_warmup(model, tokenizer, train, config, callback=measure, log_every=every, progress=False)
    return points, summary["seconds"] - evaluating[0], count_parameters(model)


# Each budget gets its own run: the learning rate decays over the whole run, so the 4x run at step
# 1,000 is not a 1x run (its rate is still high).
think, think_seconds, parameters = curve(scratchpad=True, budgets=1)
direct, direct_seconds, _ = curve(scratchpad=False, budgets=1)
longer, longer_seconds, _ = curve(scratchpad=False, budgets=args.times)

print(f"\n{task.describe()}; {args.model} ({parameters:,} parameters); batch {args.batch_size}; seed {args.seed}")
print(f"greedy accuracy on {len(test)} held-out problems, forced to think or to answer directly")
print(f"{'steps':>8}{'scratchpad, 1x':>16}{'direct, 1x':>12}{f'direct, {args.times}x':>12}")
think_at, direct_at, longer_at = dict(think), dict(direct), dict(longer)
for steps in sorted(set(think_at) | set(direct_at) | set(longer_at)):
    cells = [f"{at[steps]:.1%}" if steps in at else "" for at in (think_at, direct_at, longer_at)]
    print(f"{steps:>8}{cells[0]:>16}{cells[1]:>12}{cells[2]:>12}")
print(
    f"training seconds: scratchpad {think_seconds:.0f}, direct {direct_seconds:.0f} "
    f"({args.steps} steps each), direct {longer_seconds:.0f} ({args.steps * args.times} steps)"
)
print(
    f"machine: {psutil.cpu_count(logical=True)} CPU cores, {psutil.virtual_memory().total / 2**30:.0f} GiB, "
    f"{platform.machine()}, torch {torch.__version__}"
)
print(
    f"{task.name}, {args.model}: scratchpad {think_at[args.steps]:.1%} vs direct {direct_at[args.steps]:.1%} "
    f"after {args.steps} steps; direct {longer_at[args.steps * args.times]:.1%} after {args.steps * args.times}"
)
