"""R1's distillation-vs-RL comparison (its Table 6), with clean arms, over seeds.

    .venv/bin/python benchmarks/distill_vs_rl.py [--task sums] [--profile default] [--seeds 0 1 2]
                                                 [--out-root runs/bench] [--steps N] [--arms LABEL ...]

DeepSeek-R1 found that a small model distilled from a large reasoning model beats the same small model
trained by RL on its own. A student base warmed up with the scratchpad planted (a fifth of its corpus
thinks first, the lab's default until wave 3) confounds "the student inherited the teacher's reasoning":
it knew the scratchpad before it saw a trace. Here every arm names what its base was given (the run's own
student base is reused for the arm whose warm-up it had: the clean one, in today's profiles):

    base            warm-up corpus                       then, on one budget (the profile's distill steps)
    planted         20% scratchpads                       GRPO
    planted         20% scratchpads                       sequence KD on the teacher's kept traces
    clean           direct answers only, never a <think>  sequence KD on the teacher's kept traces
    clean           direct answers only                   GRPO with the rule rewards
    clean           direct answers only                   SFT on the solver's traces (control: no teacher)
    clean           direct answers only                   the same, on only the problems the teacher kept a trace of
                                                          (the control matched on data)

For each seed the teacher and its traces come from `labkit run` in `OUT_ROOT/[TASK-]PROFILE-seedN`
(reused if `benchmarks/profile_run.py` made it, else made here). Each arm is evaluated on the profile's
test problems: greedy accuracy, and accuracy when made to think and when made to answer directly; and
on the task's harder variants, never trained on (`Task.out_of_distribution`: four operands and
three-digit sums, four Countdown numbers), greedy and made to think: did the decomposition carry over?
The tables give mean (min-max) over seeds; the last line is the headline. Report it whichever way it
comes out: the lab must not claim a win it did not measure.
"""

import argparse
import copy
import dataclasses
import json
import platform
import statistics
import time
import warnings
from pathlib import Path

import psutil
import torch

from labkit.evaluate import evaluate, model_row
from labkit.models import build_model, load_model
from labkit.pretrain import train_warmup
from labkit.run.pipeline import run_pipeline
from labkit.run.profiles import get_profile, task_for_profile
from labkit.run.students import STUDENT_RECIPES, StudentInputs, make_student
from labkit.tasks import out_of_distribution_records, read_records
from labkit.traces import load_traces

warnings.filterwarnings("ignore")
parser = argparse.ArgumentParser()
parser.add_argument("--task", default=None, help="sums (default), countdown, multiply, or module:Class")
parser.add_argument("--profile", default="default")
parser.add_argument("--seeds", type=int, nargs="+", default=[0])
parser.add_argument("--out-root", default="runs/bench")
parser.add_argument("--steps", type=int, default=None, help="the arms' budget in steps (default: the profile's distill steps)")
parser.add_argument("--json", default=None, help="write every seed's rows here")
parser.add_argument(
    "--arms", nargs="+", default=None, help="run only these arms, by label (default: all), e.g. 'clean base, GRPO'"
)
parser.add_argument("--ood-problems", type=int, default=200, help="problems per harder variant (0: skip them)")
args = parser.parse_args()

profile = get_profile(args.profile)
task = task_for_profile(profile, args.task)  # the gpu profile runs Countdown with 4 numbers
if args.steps is not None:
    profile = dataclasses.replace(profile, distill=dataclasses.replace(profile.distill, max_steps=args.steps))
prefix = "" if task.name == "sums" else f"{task.name}-"
train, test = read_records("train", task), read_records("test", task)[: profile.eval_problems]
variants = task.out_of_distribution() if args.ood_problems else {}
shifted = out_of_distribution_records(task, problems=args.ood_problems) if variants else {}
PLANTED_FRACTION = 0.2  # the planted base's warm-up: a fifth of its answers with the scratchpad (the lab's default until wave 3)
ARMS = (
    ("planted", "grpo", "planted base, GRPO"),
    ("planted", "sequence_kd", "planted base, sequence KD"),
    ("clean", "sequence_kd", "clean base, sequence KD"),
    ("clean", "grpo", "clean base, GRPO"),
    ("clean", "ground_truth", "clean base, solver traces"),
    ("clean", "ground_truth_matched", "clean base, solver traces, kept problems"),
)
unknown = set(args.arms or ()) - {label for _, _, label in ARMS}
if unknown:
    parser.error(f"unknown arm {sorted(unknown)[0]!r}; choose from: {'; '.join(label for _, _, label in ARMS)}")


def evaluate_row(model, tokenizer, seed: int) -> dict:
    row = model_row(
        model,
        tokenizer,
        test,
        forced=True,
        max_new_tokens=profile.max_completion_length,
        seed=seed,
        task=task,
        latency_problems=0,
    )
    measured = {key: row[key] for key in ("accuracy", "forced_think_accuracy", "forced_direct_accuracy", "scratchpad_share")}
    if shifted:
        measured["out_of_distribution"] = {}
    for name, records in shifted.items():
        variant = variants[name]
        length = max(profile.max_completion_length, variant.max_completion_length)
        metrics = evaluate(model, tokenizer, records, k=0, forced=True, max_new_tokens=length, seed=seed, task=variant)
        measured["out_of_distribution"][name] = {
            key: metrics[key] for key in ("accuracy", "forced_think_accuracy", "scratchpad_share")
        }
    return measured


rows: dict[str, dict[int, dict]] = {}
seconds: dict[str, list[float]] = {}
for seed in args.seeds:
    folder = Path(args.out_root) / f"{prefix}{profile.name}-seed{seed}"
    run_pipeline(profile, folder, seed=seed, task=task, until="teacher_traces", verbose=False)
    traces = load_traces(folder / "traces.jsonl")
    teacher, tokenizer = load_model(folder / "teacher_grpo")
    rows.setdefault("teacher after GRPO", {})[seed] = evaluate_row(teacher, tokenizer, seed)
    bases = {}
    for base_name, fraction in (("planted", PLANTED_FRACTION), ("clean", 0.0)):
        warmup = dataclasses.replace(profile.student_warmup, scratchpad_fraction=fraction, seed=seed)
        if warmup == dataclasses.replace(profile.student_warmup, seed=seed):  # the run's own student base is this one
            bases[base_name] = load_model(folder / "student_base")[0]
            continue
        start = time.perf_counter()
        bases[base_name], _ = build_model(profile.student, seed=seed)
        train_warmup(bases[base_name], tokenizer, train, warmup, progress=False)
        seconds.setdefault(f"{base_name} base warm-up", []).append(time.perf_counter() - start)
    for base_name, base in bases.items():
        rows.setdefault(f"{base_name} base", {})[seed] = evaluate_row(base, tokenizer, seed)
    inputs = StudentInputs(
        records=train,
        distill=dataclasses.replace(profile.distill, seed=seed),
        grpo=dataclasses.replace(profile.grpo, seed=seed),
        traces=traces,
        task=task,
    )
    for base_name, method, label in ARMS:
        if args.arms and label not in args.arms:
            continue
        student = copy.deepcopy(bases[base_name])
        if "traces" in STUDENT_RECIPES[method].uses and not traces:
            rows.setdefault(label, {})[seed] = {"skipped": "the teacher kept no traces"}
            continue
        summary = make_student(method, student, tokenizer, inputs)
        seconds.setdefault(label, []).append(summary["seconds"])
        rows.setdefault(label, {})[seed] = evaluate_row(student, tokenizer, seed)
        del student
    print(f"seed {seed} done", flush=True)


def spread(values: list[float]) -> str:
    if not values:
        return "n/a"
    if len(values) == 1:
        return f"{values[0]:.1%}"
    return f"{statistics.mean(values):.1%} ({min(values):.1%}-{max(values):.1%})"


n = len(args.seeds)
budget = f"{profile.distill.max_steps} steps (sequence KD and SFT: batches of {profile.distill.batch_size})"
print(f"\n{task.name}, {profile.name} profile, {n} seed{'s' * (n > 1)}, {len(test)} test problems; each arm {budget}")
print(f"{'model':<30}{'greedy':>24}{'made to think':>24}{'made to answer':>24}{'thinks':>9}")
for label, by_seed in rows.items():
    done = [r for r in by_seed.values() if "accuracy" in r]
    cells = [spread([r[key] for r in done]) for key in ("accuracy", "forced_think_accuracy", "forced_direct_accuracy")]
    thinks = statistics.mean(r["scratchpad_share"] for r in done) if done else float("nan")
    print(f"{label:<30}{cells[0]:>24}{cells[1]:>24}{cells[2]:>24}{thinks:>9.0%}")
for name in shifted:
    print(f"\n{name}, never trained on ({len(shifted[name])} problems): greedy, made to think, share that thinks")
    for label, by_seed in rows.items():
        done = [r["out_of_distribution"][name] for r in by_seed.values() if "out_of_distribution" in r]
        cells = [spread([r[key] for r in done]) for key in ("accuracy", "forced_think_accuracy")]
        thinks = statistics.mean(r["scratchpad_share"] for r in done) if done else float("nan")
        print(f"{label:<30}{cells[0]:>24}{cells[1]:>24}{thinks:>9.0%}")
print("\ntraining seconds, mean: " + ", ".join(f"{k} {statistics.mean(v):.0f}" for k, v in seconds.items()))
machine = f"{psutil.cpu_count(logical=True)} CPU cores, {psutil.virtual_memory().total / 2**30:.0f} GiB, {platform.machine()}, torch {torch.__version__}"
print(f"machine: {machine}")
if args.json:
    Path(args.json).write_text(
        json.dumps(
            {
                "task": task.name,
                "profile": profile.name,
                "problems": len(test),
                "ood_problems": {name: len(records) for name, records in shifted.items()},
                "steps": profile.distill.max_steps,
                "machine": machine,
                "rows": rows,
            },
            indent=2,
        )
    )
mean = {
    label: statistics.mean(r["accuracy"] for r in by_seed.values() if "accuracy" in r)
    for label, by_seed in rows.items()
    if any("accuracy" in r for r in by_seed.values())
}
print(
    f"{task.name}: clean base distilled {mean.get('clean base, sequence KD', float('nan')):.1%} vs GRPO "
    f"{mean.get('clean base, GRPO', float('nan')):.1%} (planted base GRPO {mean.get('planted base, GRPO', float('nan')):.1%}, "
    f"solver traces {mean.get('clean base, solver traces', float('nan')):.1%}), mean of {n} seed{'s' * (n > 1)}"
)
