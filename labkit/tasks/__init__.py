"""The lab's tasks and their fixed data splits.

    base.py       the `Task` interface every task implements
    sums.py       column sums, `23+58+91=` (the first task)
    countdown.py  Countdown, `3 7 5>26:` -> `3*7+5` (many right answers); countdown4, four numbers
    multiply.py   long multiplication, `347*28=` (the scratchpad is needed)
    gsm8k.py      GSM8K's word problems, from a data set (notebook 06's chat models; not generated)

`get_task("sums")` gives a registered task; any `Task` object works wherever a
name does, so a task defined in a notebook needs no change to labkit (notebook
07). Records use TRL's column names (`prompt`, `answer`) plus what the task's
rewards read. The splits in `data/NAME/` are made by `make_splits` with the
task's fixed seed; `labkit data` rewrites them byte for byte. Test and
validation problems never appear in training, not even reordered
(`Task.problem_key`). A task without files in `data/` is generated in memory.
"""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path

from datasets import Dataset

from ..runtime import LabkitError
from ..tokenizer import ALPHABET
from ..tokenizer import CHAT_TEMPLATE as LAB_CHAT_TEMPLATE
from .base import Task, check_task
from .countdown import Countdown, Countdown4
from .gsm8k import GSM8K
from .multiply import Multiply
from .sums import ColumnSums

TASKS: dict[str, type[Task]] = {"sums": ColumnSums, "countdown": Countdown, "countdown4": Countdown4, "multiply": Multiply}
# Tasks whose problems come from a data set: known by name to `get_task` and to records, but not
# generated (`labkit data`) nor trained from scratch (`labkit run`): the tiny models cannot spell them.
DATA_TASKS: dict[str, type[Task]] = {"gsm8k": GSM8K}
KNOWN_TASKS = {**TASKS, **DATA_TASKS}  # what `get_task` takes by name
DEFAULT_TASK = "sums"
SPLITS = ("train", "validation", "test")
SPLIT_SIZES = ColumnSums.split_sizes  # the sums' sizes, which most tasks share
# The repository's data folder; absent when labkit is installed without the repo.
DATA_DIR = Path(__file__).resolve().parent.parent.parent / "data"

__all__ = [
    "TASKS",
    "ColumnSums",
    "Countdown",
    "Countdown4",
    "DATA_TASKS",
    "GSM8K",
    "Multiply",
    "Task",
    "completion",
    "get_task",
    "held_out_records",
    "task_for",
    "load_split",
    "make_splits",
    "out_of_distribution_records",
    "read_records",
    "split_digest",
    "task_of",
    "task_spec",
    "uses_scratchpad",
    "write_splits",
]


def get_task(task: str | Task | None = None) -> Task:
    """A task by name (`TASKS`), by `module:Class` (a Task subclass in your own module, importable from
    the working folder), or the Task object itself; None is the default task (the sums)."""
    if task is None:
        task = DEFAULT_TASK
    if isinstance(task, str) and ":" in task:
        return check_task(_import_task(task)())
    if isinstance(task, str):
        if task not in KNOWN_TASKS:
            raise LabkitError(
                f"unknown task {task!r}; choose one of {', '.join(KNOWN_TASKS)}, pass module:Class for your own, or a Task object"
            )
        return KNOWN_TASKS[task]()
    return check_task(task)


def _import_task(spec: str) -> type[Task]:
    """The class named by `module:Class`, imported with the working folder on the path (the command line's case)."""
    import importlib
    import os
    import sys

    module_name, _, class_name = spec.partition(":")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        found = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError) as error:
        raise LabkitError(f"cannot load task {spec!r} ({error}); run from the folder that holds {module_name}.py") from None
    if not (isinstance(found, type) and issubclass(found, Task)):
        raise LabkitError(f"{spec!r} is not a labkit.tasks.Task subclass")
    return found


def task_spec(task: Task) -> str:
    """What `get_task` needs to make `task` again: its name if registered, else `module:Class`."""
    if KNOWN_TASKS.get(task.name) is type(task):
        return task.name
    return f"{type(task).__module__}:{type(task).__qualname__}"


def task_of(records: list[dict], task: str | Task | None = None) -> Task:
    """The task `records` belong to: `task` if given (and it agrees with the records), else the one they name.

    A record names its task (`"task": "sums"`); judging Countdown answers as sums
    would score every one wrong without a word, so a mismatch is an error.
    """
    named = records[0].get("task") if records else None
    if task is None:
        if named is not None and named not in KNOWN_TASKS:
            raise LabkitError(f"these records are of task {named!r}, which is not registered; pass task= (the Task object)")
        return get_task(named)
    chosen = get_task(task)
    if named is not None and named != chosen.name:
        raise LabkitError(f"these records are of task {named!r}, not {chosen.name!r}; pass the task they were made by")
    return chosen


def completion(record: dict, *, scratchpad: bool) -> str:
    """The reference completion of a record, with or without the scratchpad."""
    return Task().reference_completion(record, scratchpad)


def uses_scratchpad(completion_text: str) -> bool:
    """Did this completion open with a scratchpad? (`Task.shows_working` of the lab's own tasks)"""
    return Task().shows_working(completion_text)


def make_splits(
    task: str | Task | None = None,
    sizes: dict[str, int] | None = None,
    seed: int | None = None,
) -> dict[str, list[dict]]:
    """Draw disjoint splits of unique problems, test first, then validation, then train.

    Two problems with the same `problem_key` (for the sums: the same numbers in
    another order) count as the same problem, so a held-out problem is never
    seen in training in any form. Every prompt and reference completion must
    be written in the tokenizer's alphabet.
    """
    task = get_task(task)
    sizes = sizes or task.split_sizes
    rng = random.Random(task.splits_seed if seed is None else seed)
    seen: set = set()
    splits: dict[str, list[dict]] = {}
    for split in ("test", "validation", "train"):
        records = []
        attempts = 0
        while len(records) < sizes[split]:
            attempts += 1
            if attempts > 50 * sum(sizes.values()) + 1000:
                raise LabkitError(
                    f"cannot draw {sizes[split]} unique {split} problems from {task}; "
                    "ask for fewer problems or make the problems harder (more digits or numbers)"
                )
            problem = task.sample_problem(rng)
            key = task.problem_key(problem)
            if key in seen:
                continue
            seen.add(key)
            records.append(task.record(problem))
        splits[split] = records
    _check_alphabet(task, [record for records in splits.values() for record in records])
    return splits


def _check_alphabet(task: Task, records: list[dict]) -> None:
    """The tiny models' tokenizer knows only `tokenizer.ALPHABET` and the tags: fail early, in one line."""
    for record in records:
        for text in (record["prompt"], record["answer"], record["scratchpad"]):
            unknown = sorted(set(text) - set(ALPHABET))
            if unknown:
                raise LabkitError(
                    f"task {task.name!r} writes {''.join(unknown)!r} in {text[:40]!r}, which the tiny models' "
                    f"tokenizer cannot spell; use only {ALPHABET!r}"
                )


def out_of_distribution_records(task: str | Task | None = None, problems: int = 200, seed: int = 4321) -> dict[str, list[dict]]:
    """Test problems of each of the task's harder variants (`Task.out_of_distribution`), by name.

    A variant's problems cannot be training problems (they have more numbers, or longer ones), and
    they are judged by the same rule. Its completions may need more tokens: see each variant's
    `max_completion_length`.
    """
    variants = get_task(task).out_of_distribution()
    sizes = {"train": 0, "validation": 0, "test": problems}
    return {name: make_splits(variant, sizes=sizes, seed=seed)["test"] for name, variant in variants.items()}


def task_for(tokenizer: object, task: str | Task | None = None) -> Task:
    """`task` if given; else GSM8K for a chat model, else the sums. A chat model's tokenizer has a chat
    template of its own; the lab's tokenizer has one too, a plain one (`tokenizer.CHAT_TEMPLATE`, for TRL's
    conversational paths), which does not make its models chat models."""
    if task is not None:
        return get_task(task)
    template = getattr(tokenizer, "chat_template", None)
    return GSM8K() if template is not None and template != LAB_CHAT_TEMPLATE else get_task(None)


def held_out_records(task: str | Task | None = None, data: str | None = None) -> list[dict]:
    """The test records a model is judged on: a lab task's test split (`read_records`), or for GSM8K the
    test split of `data` (`tasks.gsm8k.load_gsm8k`: "openai/gsm8k" by default; "sample" or a local copy offline)."""
    task = get_task(task)
    if isinstance(task, GSM8K):
        from .gsm8k import load_gsm8k

        return load_gsm8k(data or "openai/gsm8k", split="test")
    if data is not None:
        raise LabkitError(f"data= names GSM8K's records; the {task.name} task has its own test split (leave it out)")
    return read_records("test", task)


def data_dir_of(task: str | Task | None = None, data_dir: str | Path | None = None) -> Path:
    """Where a task's splits live: `data/NAME/` in the repository (or under `data_dir`)."""
    return Path(data_dir or DATA_DIR) / get_task(task).name


def write_splits(out_dir: str | Path, splits: dict[str, list[dict]] | None = None, task: str | Task | None = None) -> list[Path]:
    """Write each split as JSONL in `out_dir` (one record a line, keys in a fixed order)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    splits = splits or make_splits(task)
    paths = []
    for split, records in splits.items():
        path = out_dir / f"{split}.jsonl"
        with path.open("w", encoding="utf-8", newline="\n") as f:
            for record in records:
                f.write(json.dumps(record, separators=(",", ":")) + "\n")
        paths.append(path)
    return paths


def read_records(split: str, task: str | Task | None = None, data_dir: str | Path | None = None) -> list[dict]:
    """The records of one split of `task` (default: the sums), from `data/NAME/` or, where there
    is no such file (a task defined in a notebook, labkit installed without the repository),
    generated in memory (the generator is exact)."""
    if split not in SPLITS:
        raise LabkitError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
    task = get_task(task)
    path = data_dir_of(task, data_dir) / f"{split}.jsonl"
    if path.exists():
        with path.open(encoding="utf-8") as f:
            return [json.loads(line) for line in f if line.strip()]
    if data_dir is not None:
        raise LabkitError(f"{path} does not exist; run `labkit data --task {task.name} --out {data_dir}` to write the splits")
    return _generated(task)[split]


_GENERATED: dict[Task, dict[str, list[dict]]] = {}


def _generated(task: Task) -> dict[str, list[dict]]:
    """The splits of a task without files, made once per task (Countdown's take a few seconds)."""
    try:
        if task not in _GENERATED:
            _GENERATED[task] = make_splits(task)
        return _GENERATED[task]
    except TypeError:  # a task object that cannot be hashed: make them each time
        return make_splits(task)


def split_digest(split: str, task: str | Task | None = None, data_dir: str | Path | None = None) -> str:
    """A short fingerprint of a split's records: a run reruns what was built on a split that changed."""
    records = read_records(split, task, data_dir)
    return hashlib.sha256("\n".join(json.dumps(r, separators=(",", ":")) for r in records).encode()).hexdigest()[:16]


def load_split(
    split: str, task: str | Task | None = None, data_dir: str | Path | None = None, limit: int | None = None
) -> Dataset:
    """One split of a task as a `datasets.Dataset` (TRL's input)."""
    records = read_records(split, task, data_dir)
    if limit is not None:
        records = records[:limit]
    return Dataset.from_list(records)
