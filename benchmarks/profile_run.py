"""A profile's whole lab, end to end, for one or more seeds: the figures table.

    .venv/bin/python benchmarks/profile_run.py [--task sums] [--profile default] [--seeds 0 1 2] [--out-root runs/bench]
    bash benchmarks/gpu.sh        # the gpu profile on one GPU (this script, with the GPU's settings)

Each seed is a fresh `labkit run` in its own folder (`OUT_ROOT/[TASK-]PROFILE-seedN`,
started over). Prints, for every model the run makes, greedy accuracy on the
test problems as mean, min and max over the seeds; then each stage's wall time
(mean, min, max); then the machine. Figures travel badly between machines: quote
them with the machine line and the number of seeds. `--json` keeps every seed's
results. The headline (the GRPO teacher's accuracy and the whole run's time) is
the last line.
"""

import argparse
import json
import platform
import statistics
import warnings
from pathlib import Path

import psutil
import torch

from labkit.pipeline import run_pipeline
from labkit.profiles import get_profile, task_for_profile
from labkit.report import summary_rows
from labkit.runtime import describe_device, pick_device

warnings.filterwarnings("ignore")
parser = argparse.ArgumentParser()
parser.add_argument("--task", default=None, help="sums (default), countdown, multiply, or module:Class")
parser.add_argument("--profile", default="default")
parser.add_argument("--seeds", type=int, nargs="+", default=[0])
parser.add_argument("--out-root", default="runs/bench")
parser.add_argument("--device", default=None)
parser.add_argument("--json", default=None, help="write every seed's results here")
args = parser.parse_args()

profile = get_profile(args.profile)
task = task_for_profile(profile, args.task)  # the gpu profile runs Countdown with 4 numbers
device = pick_device(args.device)
prefix = "" if task.name == "sums" else f"{task.name}-"
runs = {}
for seed in args.seeds:
    out = Path(args.out_root) / f"{prefix}{profile.name}-seed{seed}"
    runs[seed] = run_pipeline(profile, out, seed=seed, force=True, device=str(device), task=task)


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
print(f"{'model':<26}{'greedy acc, mean (min-max)':>30}{'train s':>22}")
for label, train_stage, eval_stage in summary_rows():
    accuracy = [r[eval_stage]["accuracy"] for r in runs.values() if eval_stage in r and "accuracy" in r[eval_stage]]
    seconds = [r[train_stage]["seconds"] for r in runs.values() if "seconds" in r.get(train_stage, {})]
    if accuracy:
        print(f"{label:<26}{spread(accuracy, '.1%'):>30}{spread(seconds, '.1f'):>22}")

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
    f"{describe_device(device)}, {psutil.cpu_count(logical=True)} CPU cores, {psutil.virtual_memory().total / 2**30:.0f} GiB, "
    f"{platform.machine()}, torch {torch.__version__}"
)
print(f"\nmachine: {machine}")
print(f"peak memory {spread(memory, '.0f')} MB" + (f", peak GPU memory {spread(gpu_memory, '.0f')} MB" if gpu_memory else ""))
if args.json:
    Path(args.json).write_text(
        json.dumps({"task": task.name, "profile": profile.name, "machine": machine, "runs": runs}, indent=2, default=str)
    )
teacher = [r["eval_teacher_grpo"]["accuracy"] for r in runs.values() if "accuracy" in r.get("eval_teacher_grpo", {})]
print(
    f"{task.name + ', ' if prefix else ''}{profile.name} profile on {describe_device(device)}: teacher after GRPO {spread(teacher, '.1%')} greedy, "
    f"whole lab {spread(wall, '.0f')} s, over {n} seed{'s' * (n > 1)}"
)
