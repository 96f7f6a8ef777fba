"""The teacher and the student on the runtimes an edge device has: PyTorch and ONNX Runtime, fp32 and int8.

    .venv/bin/python benchmarks/edge.py [--run runs/default] [--problems 100] [--threads 1]

Reads `teacher_grpo/` and `student_sequence_kd/` from a finished `labkit run` folder, exports each
(`labkit.edge.export`, int8 too), and measures, side by side in this one process on the same test
problems, one problem at a time and greedy (as a device answers one user): size on disk, load time,
accuracy, latency per answer and tokens/s, for PyTorch fp32, PyTorch int8 (`models.quantize_int8`),
ONNX Runtime fp32 and ONNX Runtime int8; and how often each copy's answer is the fp32 PyTorch model's.
`--threads` pins both runtimes to that many threads (a phone's app gets a core or two). The headline,
the student on ONNX Runtime against the teacher on PyTorch, is the last line.
"""

import argparse
import tempfile
import time
import warnings
from pathlib import Path

import torch

from labkit.edge.export import INT8_FILE, MODEL_FILE, OnnxGreedy, export_onnx
from labkit.models import load_model, quantize_int8, size_on_disk, state_dict_bytes
from labkit.run.pipeline import default_runs_dir
from labkit.runtime import describe_machine
from labkit.sampling import generate_completions
from labkit.tasks import get_task, read_records

warnings.filterwarnings("ignore")
parser = argparse.ArgumentParser()
parser.add_argument("--run", default=str(default_runs_dir() / "default"))
parser.add_argument("--problems", type=int, default=100)
parser.add_argument("--threads", type=int, default=1)
args = parser.parse_args()
torch.set_num_threads(args.threads)
task = get_task()
records = read_records("test", task)[: args.problems]
prompts = [r["prompt"] for r in records]
cap = task.max_completion_length


def pytorch_answers(model, tokenizer) -> tuple[list[str], float, int]:
    texts, tokens, start = [], 0, time.perf_counter()
    for prompt in prompts:  # one at a time, as a device answers one user
        generation = generate_completions(model, tokenizer, [prompt], temperature=0.0, max_new_tokens=cap)
        texts.append(generation.texts[0])
        tokens += int(generation.lengths.sum())
    return texts, time.perf_counter() - start, tokens


rows, answers = [], {}
for role, folder in (("teacher", "teacher_grpo"), ("student", "student_sequence_kd")):
    path = Path(args.run) / folder
    if not (path / "config.json").exists():
        raise SystemExit(f"no {path}: run `labkit run` first (or pass --run)")
    start = time.perf_counter()
    model, tokenizer = load_model(path)
    load_seconds = time.perf_counter() - start
    exported = export_onnx(model, Path(tempfile.mkdtemp(prefix="labkit-edge-")) / folder, tokenizer=tokenizer, int8=True)
    start = time.perf_counter()
    small = quantize_int8(model)
    quantize_seconds = time.perf_counter() - start
    copies = {
        "PyTorch fp32": (size_on_disk(path), load_seconds, lambda m=model, t=tokenizer: pytorch_answers(m, t)),
        "PyTorch int8": (
            state_dict_bytes(small),
            load_seconds + quantize_seconds,
            lambda m=small, t=tokenizer: pytorch_answers(m, t),
        ),
    }
    for name, int8, file in (("ONNX Runtime fp32", False, MODEL_FILE), ("ONNX Runtime int8", True, INT8_FILE)):
        start = time.perf_counter()
        session = OnnxGreedy(exported, int8=int8, threads=args.threads)
        seconds = time.perf_counter() - start

        def run(session=session):
            texts, timing = session.answers(prompts, cap)
            return texts, timing["seconds"], timing["tokens"]

        copies[name] = ((exported / file).stat().st_size, seconds, run)
    for runtime, (size, load, answer) in copies.items():
        answer()  # once to warm up (first calls allocate), then measured
        texts, seconds, tokens = answer()
        answers[(role, runtime)] = texts
        reference = answers[(role, "PyTorch fp32")]
        rows.append(
            {
                "model": role,
                "runtime": runtime,
                "KB": size / 1e3,
                "load ms": 1000 * load,
                "accuracy": sum(task.is_correct(t, r) for t, r in zip(texts, records)) / len(records),
                "same as fp32": sum(a == b for a, b in zip(texts, reference)) / len(records),
                "latency ms": 1000 * seconds / len(prompts),
                "tokens/s": tokens / seconds,
            }
        )

machine = f"{describe_machine()}, torch {torch.__version__}, {args.threads} thread(s)"
print(f"{len(records)} {task.name} test problems, one at a time, greedy; {machine}")
print(f"{'model':<9}{'runtime':<19}{'KB':>9}{'load ms':>9}{'accuracy':>10}{'same as fp32':>14}{'latency ms':>12}{'tokens/s':>10}")
for row in rows:
    print(
        f"{row['model']:<9}{row['runtime']:<19}{row['KB']:>9,.0f}{row['load ms']:>9,.0f}{row['accuracy']:>10.1%}"
        f"{row['same as fp32']:>14.0%}{row['latency ms']:>12.1f}{row['tokens/s']:>10,.0f}"
    )
pick = {(r["model"], r["runtime"]): r for r in rows}
student, teacher = pick[("student", "ONNX Runtime int8")], pick[("teacher", "PyTorch fp32")]
print(
    f"student on ONNX Runtime int8: {student['KB']:,.0f} KB, {student['latency ms']:.1f} ms an answer, {student['accuracy']:.1%}; "
    f"teacher on PyTorch fp32: {teacher['KB']:,.0f} KB, {teacher['latency ms']:.1f} ms, {teacher['accuracy']:.1%} "
    f"({teacher['latency ms'] / student['latency ms']:.1f}x the student's latency)"
)
