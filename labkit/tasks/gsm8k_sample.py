"""A small made-up set in GSM8K's format, for the offline path: `load_gsm8k("sample")` reads it.

write_sample(folder)   train.jsonl and test.jsonl, the same bytes every time
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from .gsm8k import MARKER

# Made-up problems in GSM8K's format (two or three steps, GSM8K's <<a*b=c>> calculator notes), with
# small numbers so that a tiny model learns some of them in a minute: the offline setting runs the
# same code on the same file layout. Not GSM8K's problems, and far easier.
_NAMES = ["Ava", "Ben", "Chen", "Dara", "Eli", "Fatima", "Goran", "Hana", "Ivan", "Jaya", "Kofi", "Lena"]
_THINGS = ["apples", "stickers", "marbles", "books", "pencils", "shells", "cards", "coins"]


def _sample_problem(rng: random.Random) -> dict:
    name, thing = rng.choice(_NAMES), rng.choice(_THINGS)
    start, bags, per_bag = rng.randint(2, 20), rng.randint(2, 5), rng.randint(2, 6)
    kind = rng.randrange(3)
    bought = bags * per_bag
    if kind == 0:
        total = start + bought
        question = f"{name} has {start} {thing}. {name} buys {bags} bags with {per_bag} {thing} in each. How many {thing} does {name} have now?"
        working = f"{name} buys {bags}*{per_bag} = <<{bags}*{per_bag}={bought}>>{bought} {thing}.\nNow {name} has {start}+{bought} = <<{start}+{bought}={total}>>{total} {thing}."
    elif kind == 1:
        given = rng.randint(1, start + bought - 1)
        total = start + bought - given
        question = (
            f"{name} has {start} {thing} and gets {bags} boxes of {per_bag} {thing}. "
            f"Then {name} gives away {given} {thing}. How many {thing} are left?"
        )
        working = (
            f"The boxes hold {bags}*{per_bag} = <<{bags}*{per_bag}={bought}>>{bought} {thing}.\n"
            f"{name} has {start}+{bought} = <<{start}+{bought}={start + bought}>>{start + bought} {thing}.\n"
            f"After giving some away: {start + bought}-{given} = <<{start + bought}-{given}={total}>>{total} {thing}."
        )
    else:
        price = rng.randint(2, 5)
        total = bought * price
        question = f"A shop sells {bags} packs of {per_bag} {thing}. Each of the {thing} costs ${price}. How many dollars does the shop take in?"
        working = (
            f"There are {bags}*{per_bag} = <<{bags}*{per_bag}={bought}>>{bought} {thing}.\n"
            f"They cost {bought}*{price} = <<{bought}*{price}={total}>>{total} dollars."
        )
    return {"question": question, "answer": f"{working}\n{MARKER} {total}"}


def write_sample(folder: str | Path = "data/gsm8k_sample", train: int = 400, test: int = 100, seed: int = 8) -> list[Path]:
    """Write `train.jsonl` and `test.jsonl` in GSM8K's format; the same bytes every time."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    written = []
    for split, count in (("train", train), ("test", test)):
        path = folder / f"{split}.jsonl"
        path.write_text("".join(json.dumps(_sample_problem(rng)) + "\n" for _ in range(count)))
        written.append(path)
    return written
