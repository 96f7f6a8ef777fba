"""On-policy KD: from which student does it work? Over seeds, on the lab's finished runs.

    .venv/bin/python benchmarks/on_policy_kd.py [--task sums] [--profile default] [--seeds 0 1 2]
                                                [--out-root runs/bench] [--arms LABEL ...] [--json FILE]

On-policy KD (GKD with lambda = 1, TRL's `DistillationTrainer`) trains the student on its own samples,
graded token by token by the teacher (reverse KL). It only ever sees what the student writes. From the
lab's clean student base, which answers directly and has never written a scratchpad, notebook 04's run of
it (a tenth of the distillation steps, at the distillation rate) ends below the base. Is that the rate,
the budget, or the base? Each arm starts from a model of the run and names what it changes:

    start from                 rate                steps (of the profile's distill batch)
    clean student base         the profile's       a tenth of the profile's distill steps    notebook 04's arm
    clean student base         a tenth of it       a tenth
    clean student base         a tenth of it       all of them (ten times the arm above)
    sequence-KD student        a tenth of it       a tenth                                   Qwen3's order: off-policy, then on-policy

For each seed the teacher, the student base and the sequence-KD student come from `labkit run` in
`OUT_ROOT/[TASK-]PROFILE-seedN` (reused if `profile_run.py` or `labkit run --out` made it, else made
here). Each arm reports its greedy accuracy on the profile's test problems, the share of its answers that
open a scratchpad, and its training loss in the first and last fifth of the logged steps (a distillation
loss that ends above its start went wrong). The tables give mean (min-max) over seeds; the last line is
the headline, reported whichever way it comes out.
"""

import argparse
import dataclasses
import json
import statistics
import time
import warnings
from pathlib import Path

from labkit.evaluate import evaluate
from labkit.models import load_model
from labkit.readings import versus_seeds_paired
from labkit.run.pipeline import run_pipeline
from labkit.run.profiles import get_profile, task_for_profile
from labkit.run.students import StudentInputs, make_student
from labkit.runtime import describe_machine
from labkit.tasks import read_records

warnings.filterwarnings("ignore")
parser = argparse.ArgumentParser()
parser.add_argument("--task", default=None, help="sums (default), countdown, multiply, or module:Class")
parser.add_argument("--profile", default="default")
parser.add_argument("--seeds", type=int, nargs="+", default=[0])
parser.add_argument("--out-root", default="runs/bench")
parser.add_argument("--json", default=None, help="write every seed's rows here")
parser.add_argument("--arms", nargs="+", default=None, help="run only these arms, by label (default: all)")
args = parser.parse_args()

profile = get_profile(args.profile)
task = task_for_profile(profile, args.task)
prefix = "" if task.name == "sums" else f"{task.name}-"
train, test = read_records("train", task), read_records("test", task)[: profile.eval_problems]
RATE, STEPS = profile.distill.learning_rate, profile.distill.max_steps
SHORT = max(1, STEPS // 10)
ARMS = (  # label, the run's model it starts from, rate, steps
    ("clean base, the distillation rate", "student_base", RATE, SHORT),
    ("clean base, a tenth of the rate", "student_base", RATE / 10, SHORT),
    ("clean base, a tenth of the rate, 10x the steps", "student_base", RATE / 10, STEPS),
    ("sequence KD, then on-policy KD", "student_sequence_kd", RATE / 10, SHORT),
)
STARTS = {"student_base": "student base", "student_sequence_kd": "sequence KD"}
unknown = set(args.arms or ()) - {label for label, *_ in ARMS}
if unknown:
    parser.error(f"unknown arm {sorted(unknown)[0]!r}; choose from: {'; '.join(label for label, *_ in ARMS)}")


def accuracy_and_thinking(model, tokenizer, seed: int) -> dict:
    metrics = evaluate(
        model, tokenizer, test, k=0, forced=False, max_new_tokens=profile.max_completion_length, seed=seed, task=task
    )
    return {"accuracy": metrics["accuracy"], "scratchpad_share": metrics["scratchpad_share"]}


rows: dict[str, dict[int, dict]] = {}
for seed in args.seeds:
    folder = Path(args.out_root) / f"{prefix}{profile.name}-seed{seed}"
    run_pipeline(profile, folder, seed=seed, task=task, until="student_sequence_kd", verbose=False)
    teacher, tokenizer = load_model(folder / "teacher_grpo")
    for start, name in STARTS.items():
        rows.setdefault(name, {})[seed] = accuracy_and_thinking(load_model(folder / start)[0], tokenizer, seed)
    for label, start, rate, steps in ARMS:
        if args.arms and label not in args.arms:
            continue
        student = load_model(folder / start)[0]
        budget = dataclasses.replace(profile.distill, learning_rate=rate, max_steps=steps, seed=seed)
        inputs = StudentInputs(records=train, distill=budget, grpo=profile.grpo, teacher=teacher, task=task)
        logged: list[float] = []
        began = time.perf_counter()
        make_student("on_policy_kd", student, tokenizer, inputs, callback=lambda m, into=logged: into.append(m.get("loss")))
        losses = [loss for loss in logged if isinstance(loss, (int, float))]
        fifth = max(1, len(losses) // 5)
        rows.setdefault(label, {})[seed] = {
            **accuracy_and_thinking(student, tokenizer, seed),
            "loss_start": statistics.mean(losses[:fifth]) if losses else None,
            "loss_end": statistics.mean(losses[-fifth:]) if losses else None,
            "seconds": time.perf_counter() - began,
            "learning_rate": rate,
            "steps": steps,
        }
    print(f"seed {seed} done", flush=True)


def spread(values: list[float], fmt: str = ".1%") -> str:
    values = [v for v in values if v is not None]
    if not values:
        return "n/a"
    if len(values) == 1:
        return format(values[0], fmt)
    return f"{format(statistics.mean(values), fmt)} ({format(min(values), fmt)}-{format(max(values), fmt)})"


def column(label: str, key: str) -> list[float]:
    return [r[key] for r in rows.get(label, {}).values() if r.get(key) is not None]


n = len(args.seeds)
print(
    f"\n{task.name}, {profile.name} profile, {n} seed{'s' * (n > 1)}, {len(test)} test problems; on-policy KD batches of "
    f"{profile.distill.batch_size}, the distillation rate {RATE:g}"
)
print(f"{'model':<48}{'greedy':>22}{'thinks':>20}{'loss, first -> last fifth':>40}{'train s':>16}")
for label in rows:
    loss = (
        f"{spread(column(label, 'loss_start'), '.2f')} -> {spread(column(label, 'loss_end'), '.2f')}"
        if column(label, "loss_start")
        else ""
    )
    print(
        f"{label:<48}{spread(column(label, 'accuracy')):>22}{spread(column(label, 'scratchpad_share'), '.0%'):>20}"
        f"{loss:>40}{spread(column(label, 'seconds'), '.0f'):>16}"
    )
print()
readings = (
    ("sequence KD, then on-policy KD", "sequence KD"),
    ("clean base, a tenth of the rate", "student base"),
    ("clean base, the distillation rate", "student base"),
    ("clean base, a tenth of the rate, 10x the steps", "student base"),
)
for a, b in readings:  # each arm against the model of the same seed it started from: paired
    seeds = [seed for seed in rows.get(a, {}) if seed in rows.get(b, {})]
    if len(seeds) > 1:
        a_values, b_values = [rows[a][s]["accuracy"] for s in seeds], [rows[b][s]["accuracy"] for s in seeds]
        print("- " + versus_seeds_paired(a, a_values, b, b_values, len(test)))
machine = describe_machine()
print(f"machine: {machine}")
if args.json:
    Path(args.json).write_text(
        json.dumps(
            {
                "task": task.name,
                "profile": profile.name,
                "problems": len(test),
                "distill_rate": RATE,
                "distill_steps": STEPS,
                "machine": machine,
                "rows": rows,
            },
            indent=2,
        )
    )


def mean(label: str) -> float:
    values = column(label, "accuracy")
    return statistics.mean(values) if values else float("nan")


print(
    f"{task.name}: on-policy KD after sequence KD {mean('sequence KD, then on-policy KD'):.1%} vs sequence KD alone "
    f"{mean('sequence KD'):.1%}; from the clean base {mean('clean base, the distillation rate'):.1%} at the distillation "
    f"rate, {mean('clean base, a tenth of the rate, 10x the steps'):.1%} at a tenth of it for 10x the steps "
    f"(student base {mean('student base'):.1%}), mean of {n} seed{'s' * (n > 1)}"
)
