"""The teacher beside its student (and the student's int8 copy): what the smaller model buys.

    .venv/bin/python benchmarks/teacher_vs_student.py [--run runs/default] [--problems 500]

Reads `teacher_grpo/` and `student_sequence_kd/` from a finished `labkit run`
folder (fresh untrained models of the same sizes if there is none: speed does
not depend on the weights, accuracy does). Measures, one after the other in
this process, on the same test problems, with `labkit.evaluate.model_row` (the
measurement behind `labkit run`'s table): greedy accuracy, batched greedy
tokens/s, median and p95 latency of one answer at batch 1, parameters and size.
"""

import argparse
import warnings
from pathlib import Path

import torch

from labkit.evaluate import model_row
from labkit.models import build_model, load_model, quantize_int8
from labkit.run.pipeline import default_runs_dir
from labkit.tasks import read_records

warnings.filterwarnings("ignore")
parser = argparse.ArgumentParser()
parser.add_argument("--run", default=str(default_runs_dir() / "default"))
parser.add_argument("--problems", type=int, default=500)
parser.add_argument("--latency-problems", type=int, default=50)
args = parser.parse_args()
records = read_records("test")[: args.problems]
run = Path(args.run)


def load(folder: str, fallback: str):
    if (run / folder / "model.safetensors").exists():
        return load_model(run / folder)[0], f"{run / folder}"
    return build_model(fallback)[0], f"fresh {fallback} (no {run / folder}: accuracy meaningless)"


teacher, teacher_source = load("teacher_grpo", "teacher")
student, student_source = load("student_sequence_kd", "student")
quantised = quantize_int8(student)
tokenizer = load_model(run / "teacher_grpo")[1] if (run / "teacher_grpo").exists() else build_model("teacher")[1]

print(f"teacher: {teacher_source}\nstudent: {student_source}\n{len(records)} test problems, {torch.get_num_threads()} threads")
measured = {}
for name, model in (("teacher", teacher), ("student", student), ("student int8", quantised)):
    measured[name] = m = model_row(model, tokenizer, records, latency_problems=args.latency_problems)
    print(
        f"{name:<13} {m['parameters']:>10,} params {m['bytes'] / 1e6:>6.2f} MB  accuracy {m['accuracy']:>6.1%}  "
        f"{m['tokens_per_s']:>8,.0f} tok/s batched  latency {m['latency_ms']:>6.1f} ms (p95 {m['latency_p95_ms']:.1f})"
    )
t, s, q = measured["teacher"], measured["student"], measured["student int8"]
print(
    f"student / teacher: parameters {s['parameters'] / t['parameters']:.3f}, batched tokens/s x{s['tokens_per_s'] / t['tokens_per_s']:.2f}, "
    f"latency x{s['latency_ms'] / t['latency_ms']:.2f}, accuracy kept {s['accuracy'] / max(t['accuracy'], 1e-9):.0%}"
)
print(
    f"int8 / float32 student: bytes {q['bytes'] / s['bytes']:.2f}, batched tokens/s x{q['tokens_per_s'] / s['tokens_per_s']:.2f}, "
    f"latency x{q['latency_ms'] / s['latency_ms']:.2f}, accuracy {s['accuracy']:.1%} -> {q['accuracy']:.1%}"
)
