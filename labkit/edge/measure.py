"""One model on the runtimes an edge device has, side by side: PyTorch and ONNX Runtime, fp32 and int8.

    runtimes_side_by_side(folder, records)   one row a runtime: size on disk, load time, accuracy, how often
                                             the answer is the fp32 PyTorch model's, latency per answer, tokens/s

Every copy answers the same problems one at a time and greedily, as a device answers one user, in this one
process, each once to warm up and then measured: the rows are ratios measured side by side, not figures that
travel (`benchmarks/edge.py` prints them for the teacher and the student; notebook 05 for the student).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import torch

from ..models import load_model, quantize_int8, size_on_disk, state_dict_bytes
from ..sampling import generate_completions
from ..tasks import Task, get_task
from .export import INT8_FILE, MODEL_FILE, OnnxGreedy, export_onnx

RUNTIMES = ("PyTorch fp32", "PyTorch int8", "ONNX Runtime fp32", "ONNX Runtime int8")


def _pytorch_answers(model, tokenizer, prompts: list[str], cap: int) -> tuple[list[str], float, int]:
    texts, tokens, start = [], 0, time.perf_counter()
    for prompt in prompts:
        generation = generate_completions(model, tokenizer, [prompt], temperature=0.0, max_new_tokens=cap)
        texts.append(generation.texts[0])
        tokens += int(generation.lengths.sum())
    return texts, time.perf_counter() - start, tokens


def runtimes_side_by_side(
    folder: str | Path,
    records: list[dict],
    *,
    task: str | Task | None = None,
    threads: int = 1,
    exported: str | Path | None = None,
) -> list[dict]:
    """The saved model in `folder` on each of `RUNTIMES` (exported to `exported`, else a temporary folder), on
    `records`, `threads` threads for both runtimes. Returns one dict a runtime: runtime, KB, load ms, accuracy,
    same as fp32, latency ms, tokens/s."""
    task, folder = get_task(task), Path(folder)
    prompts, cap = [r["prompt"] for r in records], task.max_completion_length
    threads_before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        start = time.perf_counter()
        model, tokenizer = load_model(folder)
        load_seconds = time.perf_counter() - start
        out = Path(exported) if exported else Path(tempfile.mkdtemp(prefix="labkit-edge-")) / folder.name
        export_onnx(model, out, tokenizer=tokenizer, int8=True)
        start = time.perf_counter()
        small = quantize_int8(model)
        copies = {
            "PyTorch fp32": (size_on_disk(folder), load_seconds, lambda: _pytorch_answers(model, tokenizer, prompts, cap)),
            "PyTorch int8": (
                state_dict_bytes(small),
                load_seconds + time.perf_counter() - start,
                lambda: _pytorch_answers(small, tokenizer, prompts, cap),
            ),
        }
        for name, int8, file in (("ONNX Runtime fp32", False, MODEL_FILE), ("ONNX Runtime int8", True, INT8_FILE)):
            start = time.perf_counter()
            session = OnnxGreedy(out, int8=int8, threads=threads)
            seconds = time.perf_counter() - start

            def answers(session=session):
                texts, timing = session.answers(prompts, cap)
                return texts, timing["seconds"], timing["tokens"]

            copies[name] = ((out / file).stat().st_size, seconds, answers)
        rows, reference = [], None
        for runtime, (size, load, answer) in copies.items():
            answer()  # once to warm up (first calls allocate), then measured
            texts, seconds, tokens = answer()
            reference = reference or texts  # PyTorch fp32 comes first
            rows.append(
                {
                    "runtime": runtime,
                    "KB": size / 1e3,
                    "load ms": 1000 * load,
                    "accuracy": sum(task.is_correct(t, r) for t, r in zip(texts, records)) / len(records),
                    "same as fp32": sum(a == b for a, b in zip(texts, reference)) / len(records),
                    "latency ms": 1000 * seconds / len(prompts),
                    "tokens/s": tokens / seconds if seconds > 0 else 0.0,
                }
            )
        return rows
    finally:
        torch.set_num_threads(threads_before)
