"""The teacher and the student on the runtimes an edge device has: PyTorch and ONNX Runtime, fp32 and int8.

    .venv/bin/python benchmarks/edge.py [--run runs/default] [--problems 100] [--threads 1]

Reads `teacher_grpo/` and `student_sequence_kd/` from a finished `labkit run` folder and sets each on the four
runtimes side by side in this one process (`labkit.edge.measure.runtimes_side_by_side`): size on disk, load
time, accuracy, how often the answer is the fp32 PyTorch model's, latency per answer and tokens/s, one problem
at a time and greedy, as a device answers one user. `--threads` pins both runtimes (a phone's app gets a core
or two). The headline, the student on ONNX Runtime (fp32, and its int8 copy) against the teacher on PyTorch, is the last line.
"""

import argparse
import warnings
from pathlib import Path

import torch

from labkit.edge.measure import runtimes_side_by_side
from labkit.run.pipeline import default_runs_dir
from labkit.runtime import describe_machine
from labkit.tasks import get_task, read_records

warnings.filterwarnings("ignore")
parser = argparse.ArgumentParser()
parser.add_argument("--run", default=str(default_runs_dir() / "default"))
parser.add_argument("--problems", type=int, default=100)
parser.add_argument("--threads", type=int, default=1)
args = parser.parse_args()
task = get_task()
records = read_records("test", task)[: args.problems]
rows = []
for role, folder in (("teacher", "teacher_grpo"), ("student", "student_sequence_kd")):
    path = Path(args.run) / folder
    if not (path / "config.json").exists():
        raise SystemExit(f"no {path}: run `labkit run` first (or pass --run)")
    rows += [{"model": role, **row} for row in runtimes_side_by_side(path, records, task=task, threads=args.threads)]

print(
    f"{len(records)} {task.name} test problems, one at a time, greedy; {describe_machine()}, torch {torch.__version__}, {args.threads} thread(s)"
)
print(f"{'model':<9}{'runtime':<19}{'KB':>9}{'load ms':>9}{'accuracy':>10}{'same as fp32':>14}{'latency ms':>12}{'tokens/s':>10}")
for row in rows:
    print(
        f"{row['model']:<9}{row['runtime']:<19}{row['KB']:>9,.0f}{row['load ms']:>9,.0f}{row['accuracy']:>10.1%}"
        f"{row['same as fp32']:>14.0%}{row['latency ms']:>12.1f}{row['tokens/s']:>10,.0f}"
    )
pick = {(r["model"], r["runtime"]): r for r in rows}
student, small, teacher = (
    pick[k] for k in (("student", "ONNX Runtime fp32"), ("student", "ONNX Runtime int8"), ("teacher", "PyTorch fp32"))
)
print(
    f"student on ONNX Runtime fp32: {student['KB']:,.0f} KB, {student['latency ms']:.1f} ms an answer, {student['accuracy']:.1%} "
    f"(int8: {small['KB']:,.0f} KB, {small['latency ms']:.1f} ms, {small['accuracy']:.1%}); teacher on PyTorch fp32: "
    f"{teacher['KB']:,.0f} KB, {teacher['latency ms']:.1f} ms, {teacher['accuracy']:.1%} ({teacher['latency ms'] / student['latency ms']:.1f}x the student's latency)"
)
