"""The embedded task: column sums with a scratchpad, and its fixed data splits.

A problem is a sum of a few numbers, `23+58+91=`. A model may answer at once,

    <answer>172</answer>

or first work column by column, units first, writing the carry first:

    <think>3+8+1=12 1+2+5+9=17</think><answer>172</answer>

Each scratchpad step adds a handful of single digits, which a tiny model learns
far more reliably than producing a three-digit sum in one go. That gap is what
RL can discover: thinking longer pays. (Measured by `labkit run`: the warmed-up
1M teacher is right 83% of the time when made to open a scratchpad, 12% when
made to answer directly.)

Records use TRL's column names (`prompt`, `answer`) plus metadata. The splits in
`data/` are made by `make_splits` with a fixed seed; `labkit data` rewrites them
byte for byte. Test and validation problems never appear in training, not even
with their numbers in another order.

A task is a dataclass with `name`, `sample_operands`, `prompt`, `answer`,
`scratchpad` and `record`, registered in `TASKS` (only the sums so far;
Countdown's verifier is in `countdown.py`, its generator is still to come).
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass
from pathlib import Path

from datasets import Dataset

from .runtime import LabkitError

SPLIT_SIZES = {"train": 20_000, "validation": 500, "test": 1_000}
SPLITS_SEED = 1234
# The repository's data folder; absent when labkit is installed without the repo.
DATA_DIR = Path(__file__).resolve().parent.parent / "data"


@dataclass(frozen=True)
class ColumnSums:
    """Sums of `num_operands` numbers of exactly `digits` digits each."""

    digits: int = 2
    num_operands: int = 3
    name: str = "sums"

    def __post_init__(self) -> None:
        if not 1 <= self.digits <= 6:
            raise LabkitError(f"digits must be between 1 and 6, got {self.digits}")
        if not 2 <= self.num_operands <= 6:
            raise LabkitError(f"num_operands must be between 2 and 6, got {self.num_operands}")

    def sample_operands(self, rng: random.Random) -> tuple[int, ...]:
        low = 10 ** (self.digits - 1) if self.digits > 1 else 0
        high = 10**self.digits - 1
        return tuple(rng.randint(low, high) for _ in range(self.num_operands))

    def prompt(self, operands: tuple[int, ...]) -> str:
        return "+".join(str(n) for n in operands) + "="

    def answer(self, operands: tuple[int, ...]) -> str:
        return str(sum(operands))

    def scratchpad(self, operands: tuple[int, ...]) -> str:
        """Column-by-column working, units first, each column's carry written first.

        Column c adds digit c of every operand (and the carry from column c-1)
        and writes the column total; its tens are the next carry. The last
        column's total followed by the units of the earlier totals, last to
        first, is the answer: 3+8+1=12 1+2+5+9=17 -> 17|2 -> 172.
        """
        steps = []
        carry = None
        for column in range(self.digits):
            column_digits = [(n // 10**column) % 10 for n in operands]
            terms = column_digits if carry is None else [carry, *column_digits]
            total = sum(terms)
            steps.append("+".join(str(t) for t in terms) + f"={total}")
            carry = total // 10
        return " ".join(steps)

    def record(self, operands: tuple[int, ...]) -> dict:
        return {
            "prompt": self.prompt(operands),
            "answer": self.answer(operands),
            "scratchpad": self.scratchpad(operands),
            "operands": list(operands),
            "task": self.name,
        }


TASKS = {"sums": ColumnSums}


def completion(record: dict, *, scratchpad: bool) -> str:
    """The reference completion of a record, with or without the scratchpad."""
    answer = f"<answer>{record['answer']}</answer>"
    if scratchpad:
        return f"<think>{record['scratchpad']}</think>{answer}"
    return answer


def uses_scratchpad(completion_text: str) -> bool:
    """Did this completion open with a scratchpad?"""
    return completion_text.lstrip().startswith("<think>")


def make_splits(
    task: ColumnSums | None = None,
    sizes: dict[str, int] | None = None,
    seed: int = SPLITS_SEED,
) -> dict[str, list[dict]]:
    """Draw disjoint splits of unique problems, test first, then validation, then train.

    Two problems with the same numbers in another order count as the same
    problem, so a held-out sum is never seen in training in any order.
    """
    task = task or ColumnSums()
    sizes = sizes or SPLIT_SIZES
    rng = random.Random(seed)
    seen: set[tuple[int, ...]] = set()
    splits: dict[str, list[dict]] = {}
    for split in ("test", "validation", "train"):
        records = []
        attempts = 0
        while len(records) < sizes[split]:
            attempts += 1
            if attempts > 50 * sum(sizes.values()) + 1000:
                raise LabkitError(
                    f"cannot draw {sizes[split]} unique {split} problems from {task}; "
                    "ask for fewer problems or more digits/operands"
                )
            operands = task.sample_operands(rng)
            key = tuple(sorted(operands))
            if key in seen:
                continue
            seen.add(key)
            records.append(task.record(operands))
        splits[split] = records
    return splits


def write_splits(out_dir: str | Path, splits: dict[str, list[dict]] | None = None) -> list[Path]:
    """Write each split as JSONL (one record a line, keys in a fixed order)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    splits = splits or make_splits()
    paths = []
    for split, records in splits.items():
        path = out_dir / f"{split}.jsonl"
        with path.open("w", encoding="utf-8", newline="\n") as f:
            for record in records:
                f.write(json.dumps(record, separators=(",", ":")) + "\n")
        paths.append(path)
    return paths


def read_records(split: str, data_dir: str | Path | None = None) -> list[dict]:
    """The records of one split, from `data/` or, if labkit was installed
    without the repository, regenerated in memory (the generator is exact)."""
    if split not in SPLIT_SIZES:
        raise LabkitError(f"unknown split {split!r}; choose one of {', '.join(SPLIT_SIZES)}")
    path = Path(data_dir or DATA_DIR) / f"{split}.jsonl"
    if path.exists():
        with path.open(encoding="utf-8") as f:
            return [json.loads(line) for line in f if line.strip()]
    if data_dir is not None:
        raise LabkitError(f"{path} does not exist; run `labkit data --out {data_dir}` to write the splits")
    return make_splits()[split]


def split_digest(split: str, data_dir: str | Path | None = None) -> str:
    """A short fingerprint of a split's records: a run reruns what was built on a split that changed."""
    records = read_records(split, data_dir)
    return hashlib.sha256("\n".join(json.dumps(r, separators=(",", ":")) for r in records).encode()).hexdigest()[:16]


def load_split(split: str, data_dir: str | Path | None = None, limit: int | None = None) -> Dataset:
    """One split of the embedded task as a `datasets.Dataset` (TRL's input)."""
    records = read_records(split, data_dir)
    if limit is not None:
        records = records[:limit]
    return Dataset.from_list(records)
