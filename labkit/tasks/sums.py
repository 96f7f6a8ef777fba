"""Column sums with a scratchpad: the lab's first task.

A problem is a sum of a few numbers, `23+58+91=`. A model may answer at once,

    <answer>172</answer>

or first work column by column, units first, writing the carry first:

    <think>3+8+1=12 1+2+5+9=17</think><answer>172</answer>

Each scratchpad step adds a handful of single digits. Whether that makes the sum
easier for a tiny model is a matter of budget, not of the task: warmed up on
direct answers alone for long enough, the 96k student adds three two-digit
numbers 99.7% right (docs/design.md, "measured"). `multiply.py` is the task on
which the scratchpad is needed.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

from ..rewards import Verdict, check_steps
from ..runtime import LabkitError
from .base import Task

# A sum of small numbers, as a learner might type it: its record can be made even when it is not in the data.
_SUM_PROMPT = re.compile(r"\d{1,9}(?:\+\d{1,9}){1,9}=")


@dataclass(frozen=True)
class ColumnSums(Task):
    """Sums of `num_operands` numbers of exactly `digits` digits each."""

    digits: int = 2
    num_operands: int = 3
    name: str = "sums"

    def __post_init__(self) -> None:
        if not 1 <= self.digits <= 6:
            raise LabkitError(f"digits must be between 1 and 6, got {self.digits}")
        if not 2 <= self.num_operands <= 6:
            raise LabkitError(f"num_operands must be between 2 and 6, got {self.num_operands}")

    def sample_problem(self, rng: random.Random) -> tuple[int, ...]:
        low = 10 ** (self.digits - 1) if self.digits > 1 else 0
        high = 10**self.digits - 1
        return tuple(rng.randint(low, high) for _ in range(self.num_operands))

    def problem_key(self, operands: tuple[int, ...]) -> tuple[int, ...]:
        return tuple(sorted(operands))  # 58+23+91 is the same problem as 23+58+91

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

    def describe(self) -> str:
        return f"Sums of {self.num_operands} {self.digits}-digit numbers"

    def out_of_distribution(self) -> dict[str, Task]:
        variants = {}
        if self.num_operands < 6:
            variants[f"{self.num_operands + 1} numbers"] = ColumnSums(self.digits, self.num_operands + 1)
        if self.digits < 6:
            variants[f"{self.digits + 1}-digit numbers"] = ColumnSums(self.digits + 1, self.num_operands)
        return variants

    def columns(self, operands: tuple[int, ...]) -> dict:
        return {"operands": list(operands)}

    def check_steps(self, text: str, record: dict | None = None) -> Verdict:
        """Every scratchpad step adds up (`rewards.check_steps`)."""
        return check_steps(text)

    def record_of_prompt(self, prompt: str) -> dict | None:
        """Any sum of up to ten numbers of up to nine digits, `12+34=`, whatever its digits and operands."""
        if not _SUM_PROMPT.fullmatch(prompt):
            return None
        operands = tuple(int(n) for n in prompt[:-1].split("+"))
        digits = max(len(str(n)) for n in operands)
        if digits > 6 or len(operands) > 6:  # past the generator's knobs: the answer, without the working
            return {
                "prompt": prompt,
                "answer": self.answer(operands),
                "scratchpad": "",
                "operands": list(operands),
                "task": self.name,
            }
        return {**ColumnSums(digits=digits, num_operands=len(operands)).record(operands), "task": self.name}
