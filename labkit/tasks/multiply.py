"""Long multiplication with a scratchpad: the task on which thinking is needed.

A problem multiplies a three-digit number by a two-digit one, `347*28=`. A model
may answer at once,

    <answer>9716</answer>

or first multiply by each digit of the second number, shifted, then add:

    <think>347*8=2776 347*20=6940 2776+6940=9716</think><answer>9716</answer>

Unlike the sums, a tiny model does not learn the direct answer on a larger budget
(docs/design.md, "measured": `benchmarks/thinking_budget.py` warmed the 1M teacher
up 1,000 steps of 64 and it answered 88.0% when made to think, 1.0% directly, and
3.0% directly after 4,000 steps; one seed, one 2-core machine).
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

from ..rewards import Verdict, scratchpad_steps
from ..runtime import LabkitError
from .base import Task

_PROMPT = re.compile(r"(\d{1,6})\*(\d{1,6})=", re.ASCII)
_PRODUCT = re.compile(r"(\d{1,7})\*(\d{1,7})=(\d{1,14})", re.ASCII)
_SUM = re.compile(r"\d{1,14}(?:\+\d{1,14}){1,7}=\d{1,15}", re.ASCII)


@dataclass(frozen=True)
class Multiply(Task):
    """Products of a `digits`-digit number and a `multiplier_digits`-digit number."""

    digits: int = 3
    multiplier_digits: int = 2
    name: str = "multiply"

    def __post_init__(self) -> None:
        if not 1 <= self.digits <= 6 or not 1 <= self.multiplier_digits <= 4:
            raise LabkitError(f"digits must be 1-6 and multiplier_digits 1-4, got {self.digits} and {self.multiplier_digits}")

    @property
    def max_completion_length(self) -> int:
        """The longest reference completion in tokens: the largest problem's (one token a character),
        plus the four tags and EOS."""
        largest = (10**self.digits - 1, 10**self.multiplier_digits - 1)
        return len(self.scratchpad(largest)) + len(self.answer(largest)) + 5

    def sample_problem(self, rng: random.Random) -> tuple[int, int]:
        def number(digits: int) -> int:
            return rng.randint(10 ** (digits - 1) if digits > 1 else 0, 10**digits - 1)

        return number(self.digits), number(self.multiplier_digits)

    def prompt(self, problem: tuple[int, int]) -> str:
        return f"{problem[0]}*{problem[1]}="

    def answer(self, problem: tuple[int, int]) -> str:
        return str(problem[0] * problem[1])

    def scratchpad(self, problem: tuple[int, int]) -> str:
        """One partial product per digit of the multiplier, units first, shifted; then their sum.

        347*28: 347*8=2776 347*20=6940 2776+6940=9716. A zero digit still gets its
        step (347*0=0), so every problem of a size has the same number of steps.
        """
        a, b = problem
        partials, steps = [], []
        for place in range(self.multiplier_digits):
            factor = (b // 10**place % 10) * 10**place
            partials.append(a * factor)
            steps.append(f"{a}*{factor}={a * factor}")
        if len(partials) > 1:
            steps.append("+".join(map(str, partials)) + f"={sum(partials)}")
        return " ".join(steps)

    def columns(self, problem: tuple[int, int]) -> dict:
        return {"operands": list(problem)}

    def describe(self) -> str:
        return f"Products of a {self.digits}-digit and a {self.multiplier_digits}-digit number"

    def out_of_distribution(self) -> dict[str, Task]:
        if self.digits >= 6:
            return {}
        return {
            f"{self.digits + 1}-digit times {self.multiplier_digits}-digit": Multiply(self.digits + 1, self.multiplier_digits)
        }

    def record_of_prompt(self, prompt: str) -> dict | None:
        match = _PROMPT.fullmatch(prompt)
        if not match:
            return None
        problem = (int(match[1]), int(match[2]))
        return {"prompt": prompt, "answer": self.answer(problem), "scratchpad": "", "operands": list(problem), "task": self.name}

    def check_steps(self, text: str, record: dict | None = None) -> Verdict:
        """Every step is a right product or sum (`347*8=2776`, `2776+6940=9716`); it checks the
        arithmetic, not that the steps are the ones this problem needs."""
        steps = scratchpad_steps(text)
        if isinstance(steps, Verdict):
            return steps
        for number, step in enumerate(steps, start=1):
            if _SUM.fullmatch(step):
                terms, total = step.split("=")
                if sum(int(t) for t in terms.split("+")) != int(total):
                    return Verdict(False, f"step {number}: {step} does not add up")
                continue
            match = _PRODUCT.fullmatch(step)
            if not match:
                return Verdict(False, f"step {number}: {step[:40]!r} is not a product like 347*8=2776 or a sum")
            if int(match[1]) * int(match[2]) != int(match[3]):
                return Verdict(False, f"step {number}: {step} is wrong")
        return Verdict(True, f"all {len(steps)} steps are right")
