"""A profile's whole lab, end to end, for one or more seeds: the figures table.

    .venv/bin/python benchmarks/profile_run.py [--task sums] [--profile default] [--seeds 0 1 2] [--out-root runs/bench]
                                               [--json FILE | --from-json FILE]
    bash benchmarks/gpu.sh        # the gpu profile on one GPU (this script, with the GPU's settings)

Each seed is a fresh `labkit run` in its own folder (`OUT_ROOT/[TASK-]PROFILE-seedN`,
started over; `--reuse` keeps the stages it finished, and its whole-lab time is then only what ran). Prints, for every model the run makes, greedy accuracy on the
test problems as mean, min and max over the seeds; then each stage's wall time
(mean, min, max); then the machine. Figures travel badly between machines: quote
them with the machine line and the number of seeds. `--json` keeps every seed's
results. The headline (the GRPO teacher's accuracy and the whole run's time) is
the last line. `--from-json` prints the tables of a saved file again (docs/measured/ keeps them).
"""

import argparse
import json
import platform
import statistics
import warnings
from pathlib import Path

import psutil
import torch

from labkit.readings import versus_seeds_paired
from labkit.run.pipeline import run_pipeline
from labkit.run.profiles import get_profile, task_for_profile
from labkit.run.report import summary_rows
from labkit.runtime import describe_device, pick_device

warnings.filterwarnings("ignore")
parser = argparse.ArgumentParser()
parser.add_argument("--task", default=None, help="sums (default), countdown, multiply, or module:Class")
parser.add_argument("--profile", default="default")
parser.add_argument("--seeds", type=int, nargs="+", default=[0])
parser.add_argument("--out-root", default="runs/bench")
parser.add_argument("--device", default=None)
parser.add_argument("--json", default=None, help="write every seed's results here")
parser.add_argument("--from-json", default=None, help="print the tables of a file --json wrote, running nothing")
parser.add_argument(
    "--reuse",
    action="store_true",
    help="keep the stages a run in --out-root already finished (default: start afresh, so the times are this run's)",
)
args = parser.parse_args()

profile = get_profile(args.profile)
task = task_for_profile(profile, args.task)  # the gpu profile runs Countdown with 4 numbers
device = pick_device(args.device)
prefix = "" if task.name == "sums" else f"{task.name}-"
saved = json.loads(Path(args.from_json).read_text()) if args.from_json else None
runs = {int(seed): run for seed, run in saved["runs"].items()} if saved else {}
for seed in args.seeds if saved is None else ():
    out = Path(args.out_root) / f"{prefix}{profile.name}-seed{seed}"
    runs[seed] = run_pipeline(profile, out, seed=seed, force=not args.reuse, device=str(device), task=task)


def spread(values: list[float], fmt: str) -> str:
    """mean (min-max) of the seeds' values; the mean alone for one seed."""
    if not values:
        return "n/a"
    if len(values) == 1:
        return format(values[0], fmt)
    return f"{format(statistics.mean(values), fmt)} ({format(min(values), fmt)}-{format(max(values), fmt)})"


n = len(runs)
print(
    f"\n{task.name}, {profile.name} profile, {n} seed{'s' * (n > 1)} ({', '.join(map(str, runs))}), {profile.eval_problems} test problems"
)
print(f"{'model':<26}{'greedy acc, mean (min-max)':>30}{'made to answer directly':>28}{'train s':>22}{'TFLOP':>20}")
for label, train_stage, eval_stage in summary_rows():  # every student the runs made
    accuracy = [r[eval_stage]["accuracy"] for r in runs.values() if eval_stage in r and "accuracy" in r[eval_stage]]
    direct = [r[eval_stage]["forced_direct_accuracy"] for r in runs.values() if "forced_direct_accuracy" in r.get(eval_stage, {})]
    seconds = [r[train_stage]["seconds"] for r in runs.values() if "seconds" in r.get(train_stage, {})]
    flops = [r[train_stage]["train_flops"] / 1e12 for r in runs.values() if "train_flops" in r.get(train_stage, {})]
    if accuracy:
        print(
            f"{label:<26}{spread(accuracy, '.1%'):>30}{spread(direct, '.1%'):>28}{spread(seconds, '.1f'):>22}{spread(flops, '.2f'):>20}"
        )


# R1's findings over the seeds, each read seed by seed (readings.versus_seeds_paired): both sides of a
# comparison come from one seed's run, with its teacher and student base.
readings = (
    ("sequence KD", ("eval_student_sequence_kd", "accuracy"), "GRPO only (same base)", ("eval_student_grpo", "accuracy")),
    (
        "sequence KD made to answer directly",
        ("eval_student_sequence_kd", "forced_direct_accuracy"),
        "sequence KD",
        ("eval_student_sequence_kd", "accuracy"),
    ),
    (
        "teacher after GRPO made to think",
        ("eval_teacher_grpo", "forced_think_accuracy"),
        "teacher base made to think",
        ("eval_teacher_base", "forced_think_accuracy"),
    ),
    ("sequence KD", ("eval_student_sequence_kd", "accuracy"), "true traces", ("eval_student_ground_truth", "accuracy")),
)
if n > 1:
    print()
    for name_a, (stage_a, key_a), name_b, (stage_b, key_b) in readings:  # both from each seed's run: paired
        both = [r for r in runs.values() if key_a in r.get(stage_a, {}) and key_b in r.get(stage_b, {})]
        if len(both) > 1:
            a, b = [r[stage_a][key_a] for r in both], [r[stage_b][key_b] for r in both]
            print("- " + versus_seeds_paired(name_a, a, name_b, b, profile.eval_problems))

print(f"\n{'stage':<34}{'wall s, mean (min-max)':>30}")
stage_names = [
    name for name, result in next(iter(runs.values())).items() if isinstance(result, dict) and "stage_seconds" in result
]
for name in stage_names:
    print(f"{name:<34}{spread([r[name]['stage_seconds'] for r in runs.values() if name in r], '.1f'):>30}")

wall = [r["wall_seconds"] for r in runs.values()]
memory = [r["peak_memory_mb"] for r in runs.values()]
gpu_memory = [r["peak_gpu_memory_mb"] for r in runs.values() if "peak_gpu_memory_mb" in r]
machine = (
    saved["machine"]
    if saved
    else (
        f"{describe_device(device)}, {psutil.cpu_count(logical=True)} CPU cores, {psutil.virtual_memory().total / 2**30:.0f} GiB, "
        f"{platform.machine()}, torch {torch.__version__}"
    )
)
print(f"\nmachine: {machine}")
print(f"peak memory {spread(memory, '.0f')} MB" + (f", peak GPU memory {spread(gpu_memory, '.0f')} MB" if gpu_memory else ""))
if args.json:
    Path(args.json).write_text(
        json.dumps({"task": task.name, "profile": profile.name, "machine": machine, "runs": runs}, indent=2, default=str)
    )
teacher = [r["eval_teacher_grpo"]["accuracy"] for r in runs.values() if "accuracy" in r.get("eval_teacher_grpo", {})]
print(
    f"{task.name + ', ' if prefix else ''}{profile.name} profile on {machine.split(',')[0]}: teacher after GRPO {spread(teacher, '.1%')} greedy, "
    f"whole lab {spread(wall, '.0f')} s, over {n} seed{'s' * (n > 1)}"
)
