"""Teacher traces by rejection sampling: the data DeepSeek-R1's small models were made from.

R1's large model wrote about 800k answers; only those a rule check accepted were
kept, and the small models were fine-tuned on them. At toy scale:

    for each training prompt: k samples from the teacher at temperature T
    judge each one (`judge_trace`):  well formed?  right answer?  every step adds up?  seen before?
    keep the well-formed, right, distinct ones (and, with check_steps, only those whose steps add up)

`judge_trace` is the one rule that decides; `teacher_traces` counts its verdicts
and notebook 04 prints them next to fresh samples. Recipe on the CPU
(docs/design.md, "measured"): 4 samples per prompt at T = 0.8 keep about half.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm.auto import tqdm
from transformers import PreTrainedTokenizerBase

from .runtime import LabkitError, set_seed
from .sampling import MAX_COMPLETION_LENGTH, generate_completions
from .tasks import Task, completion, get_task, task_of


@dataclass
class TraceConfig:
    prompts: int = 4000  # training prompts to sample
    samples_per_prompt: int = 4  # k samples of each prompt
    temperature: float = 0.8  # sampling temperature
    max_completion_length: int = MAX_COMPLETION_LENGTH  # tokens a sample may have (a profile sets it)
    batch_size: int = 512  # completions per generate call
    check_steps: bool = False  # also reject traces with a scratchpad step that does not add up


@dataclass(frozen=True)
class TraceVerdict:
    """What rejection sampling says of one sample, and why."""

    well_formed: bool
    correct: bool
    steps_add_up: bool
    duplicate: bool
    kept: bool
    reason: str  # 'kept', or the first check that failed


def judge_trace(
    text: str, record: dict | str, seen: set[str], *, check_steps_too: bool = False, task: str | Task | None = None
) -> TraceVerdict:
    """Judge one sample of one prompt; `seen` holds the kept completions of that prompt.

    A sample is kept when it is well formed, its answer is right for `record`
    (`Task.check_answer`; a plain string is a sum's answer), it is not a
    duplicate (kept texts are added to `seen`) and, with `check_steps_too`, every
    scratchpad step passes the task's process check. Every check is run, so
    callers can count each one.
    """
    record = {"answer": record} if isinstance(record, str) else record
    task = get_task(task if task is not None else record.get("task"))
    formed, right, steps = task.check_format(text), task.check_answer(text, record), task.check_steps(text, record)
    duplicate = text in seen
    if not formed.ok:
        reason = f"dropped: malformed ({formed.reason})"
    elif not right.ok:
        reason = f"dropped: wrong answer ({right.reason})"
    elif check_steps_too and not steps.ok:
        reason = f"dropped: {steps.reason}"
    elif duplicate:
        reason = "dropped: duplicate"
    else:
        reason = "kept" if steps.ok else f"kept, though right for the wrong reasons ({steps.reason})"
    kept = reason.startswith("kept")
    if kept:
        seen.add(text)
    return TraceVerdict(formed.ok, right.ok, steps.ok, duplicate, kept, reason)


def teacher_traces(
    teacher: torch.nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    records: list[dict],
    config: TraceConfig | None = None,
    *,
    seed: int = 0,
    progress: bool = False,
    task: str | Task | None = None,
) -> tuple[list[dict], dict]:
    """Rejection sampling: k samples per prompt, keep those `judge_trace` keeps.

    Returns (traces, counts): traces are {prompt, completion, answer} dicts;
    counts say how many samples were drawn, correct, well formed, right for
    the wrong reasons (`wrong_steps`: right answer and form, a step that does
    not add up; dropped only with `check_steps`), kept, and dropped as
    duplicates (the same prompt and completion twice), and how the kept ones
    look (scratchpad share, share equal to the generator's own trace).
    """
    config = config or TraceConfig()
    task = task_of(records, task)
    set_seed(seed)
    chosen = records[: config.prompts]
    start = time.perf_counter()
    traces = []
    counts = dict(prompts=len(chosen), samples=0, correct=0, well_formed=0, wrong_steps=0, kept=0, duplicates=0)
    canonical = 0
    seen: dict[str, set[str]] = {}  # the kept completions of each prompt
    per_call = max(1, config.batch_size // config.samples_per_prompt)
    batches = range(0, len(chosen), per_call)
    for begin in tqdm(batches, desc="teacher traces", disable=not progress, mininterval=1.0):
        batch = chosen[begin : begin + per_call]
        generation = generate_completions(
            teacher,
            tokenizer,
            [task.model_text(r["prompt"], tokenizer) for r in batch],
            num_generations=config.samples_per_prompt,
            temperature=config.temperature,
            max_new_tokens=config.max_completion_length,
            batch_size=config.batch_size,
        )
        for row, text in enumerate(generation.texts):
            record = batch[row // config.samples_per_prompt]
            verdict = judge_trace(
                text, record, seen.setdefault(record["prompt"], set()), check_steps_too=config.check_steps, task=task
            )
            counts["samples"] += 1
            counts["correct"] += verdict.correct
            counts["well_formed"] += verdict.well_formed
            if not (verdict.correct and verdict.well_formed):
                continue
            counts["wrong_steps"] += not verdict.steps_add_up
            counts["duplicates"] += verdict.duplicate and (verdict.steps_add_up or not config.check_steps)
            if verdict.kept:
                traces.append({**_columns(record), "completion": text})
                canonical += "scratchpad" in record and text == task.reference_completion(record)
    counts["kept"] = len(traces)
    counts["prompts_with_a_trace"] = len({t["prompt"] for t in traces})
    counts["keep_rate"] = counts["kept"] / max(1, counts["samples"])
    counts["scratchpad_share"] = sum(task.shows_working(t["completion"]) for t in traces) / max(1, len(traces))
    counts["canonical_share"] = canonical / max(1, len(traces))
    counts["seconds"] = round(time.perf_counter() - start, 1)
    return traces, counts


def _columns(record: dict) -> dict:
    """What a trace keeps of its record: the prompt and what judging it needs, not the reference working."""
    return {key: value for key, value in record.items() if key != "scratchpad"}


def strict_traces(traces: list[dict], task: str | Task | None = None) -> list[dict]:
    """The kept traces whose scratchpad passes the task's process check (what `check_steps=True` keeps)."""
    if not traces:
        return []
    task = task_of(traces, task)
    return [t for t in traces if task.check_steps(t["completion"], t).ok]


def ground_truth_traces(records: list[dict], limit: int | None = None) -> list[dict]:
    """The control: the task generator's own scratchpads, one per prompt, no teacher involved."""
    return [{**_columns(r), "completion": completion(r, scratchpad=True)} for r in records[:limit]]


def save_traces(traces: list[dict], path: str | Path) -> Path:
    """Write traces as JSONL, atomically (a crash never leaves half a file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_text("".join(json.dumps(t) + "\n" for t in traces))
    temporary.replace(path)
    return path


def load_traces(path: str | Path) -> list[dict]:
    """Traces written by `save_traces`."""
    path = Path(path)
    if not path.exists():
        raise LabkitError(f"no traces at {path}; make them with labkit.traces.teacher_traces (or `labkit run`)")
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
