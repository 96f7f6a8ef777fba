"""Countdown (TinyZero's task, sized for a CPU): reach a target with the given numbers, each once.

A prompt lists the numbers, then the target: `3 7 5>26:`. A model may answer at once,

    <answer>3*7+5</answer>

or first write the steps of its plan, one operation each:

    <think>3*7=21 21+5=26</think><answer>3*7+5</answer>

Any expression that uses each number exactly once with `+ - * /` (and exact
division) and equals the target is right, so a problem has several right
answers (`Countdown.solutions` lists them): unlike the sums, a teacher's traces
are not the only right ones, and distilling it can be told apart from training
on the solver's own.

Model output is untrusted, so the expression is never `eval`ed: a character
filter and a length cap run first, then `ast.parse`, then a walk of the syntax
tree that allows only integers, `+ - * /` and parentheses, with exact fractions
and a magnitude cap. Every call returns quickly, whatever the text.

Problems: `count` numbers from 1 to `max_number`, and a target from 1 to
`max_target` that some expression over all of them reaches with whole,
positive steps (so every problem is solvable). The canonical answer is the
solver's first (`solve`: pairs in the order the numbers are given, operators
in the order `+ - * /`).
"""

from __future__ import annotations

import ast
import random
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from typing import Any

from ..rewards import Verdict, extract_answer, scratchpad_steps
from ..runtime import LabkitError
from .base import Task

MAX_EXPRESSION_CHARS = 100
MAX_MAGNITUDE = 10**12
ALLOWED_CHARACTERS = frozenset("0123456789+-*/() \t\n")
OPERATORS = {ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b, ast.Mult: lambda a, b: a * b, ast.Div: lambda a, b: a / b}


class UnsafeExpression(ValueError):
    """The expression is not a small arithmetic expression over integers."""


def evaluate_expression(expression: str) -> tuple[Fraction, list[int]]:
    """Value of `expression` and the integers it uses, without `eval`.

    Grammar: non-negative integers, binary `+ - * /`, parentheses. Anything else
    (names, calls, `**`, `//`, unary minus, floats) raises `UnsafeExpression`.
    Division is exact (`Fraction`); division by zero and any intermediate value
    beyond 10**12 raise too. The character filter and length cap run before
    `ast.parse`, so the parser only ever sees at most 100 safe characters.
    """
    if len(expression) > MAX_EXPRESSION_CHARS:
        raise UnsafeExpression(f"longer than {MAX_EXPRESSION_CHARS} characters")
    if not expression.strip() or not set(expression) <= ALLOWED_CHARACTERS:
        raise UnsafeExpression("only digits, + - * / ( ) and spaces are allowed")
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as error:
        raise UnsafeExpression(f"not an expression: {type(error).__name__}") from None
    numbers: list[int] = []

    def walk(node: ast.AST) -> Fraction:
        if isinstance(node, ast.Constant) and type(node.value) is int:
            numbers.append(node.value)
            value = Fraction(node.value)
        elif isinstance(node, ast.BinOp) and type(node.op) in OPERATORS:
            left, right = walk(node.left), walk(node.right)
            if isinstance(node.op, ast.Div) and right == 0:
                raise UnsafeExpression("division by zero")
            value = OPERATORS[type(node.op)](left, right)
        else:
            raise UnsafeExpression(f"{type(node).__name__} is not allowed")
        if abs(value) > MAX_MAGNITUDE:
            raise UnsafeExpression("a value exceeds 10**12")
        return value

    try:
        return walk(tree.body), numbers
    except RecursionError:
        raise UnsafeExpression("nested too deeply") from None


def check_expression(text: str, numbers: list[int], target: int) -> Verdict:
    """Does the final `<answer>` hold an expression that uses each given number
    exactly once and equals `target`? And why (not)."""
    expression = extract_answer(text)
    if expression is None:
        return Verdict(False, "no <answer>...</answer>")
    try:
        value, used = evaluate_expression(expression)
    except UnsafeExpression as error:
        return Verdict(False, f"{expression[:40]!r} is not allowed: {error}")
    if Counter(used) != Counter(int(n) for n in numbers):
        return Verdict(False, f"uses {' '.join(map(str, used))}, not each of {' '.join(map(str, numbers))} once")
    if value != target:
        return Verdict(False, f"{expression.strip()} = {_show(value)}, not {target}")
    return Verdict(True, f"{expression.strip()} = {target}, each number once")


def _show(value: Fraction) -> str:
    return str(value.numerator) if value.denominator == 1 else f"{value.numerator}/{value.denominator}"


# --- The task -------------------------------------------------------------------------------------

SYMBOLS = "+-*/"
PRECEDENCE = {"+": 1, "-": 1, "*": 2, "/": 2}


def _apply(a: int, op: str, b: int) -> int | None:
    """a op b when it is a whole, positive number (the game's rule for every step), else None."""
    if op == "+":
        return a + b
    if op == "-":
        return a - b if a > b else None
    if op == "*":
        return a * b
    return a // b if b and a % b == 0 else None


@dataclass(frozen=True)
class Plan:
    """One way to the target: steps like '3*7=21' and the answer expression '3*7+5'."""

    steps: tuple[str, ...]
    expression: str
    value: int


def _join(left: tuple[str, int], op: str, right: tuple[str, int]) -> str:
    """left op right with the parentheses precedence needs ((3+7)*5, 10-(3+5)), no others."""
    (left_text, left_prec), (right_text, right_prec) = left, right
    if left_prec < PRECEDENCE[op]:
        left_text = f"({left_text})"
    if right_prec < PRECEDENCE[op] or (right_prec == PRECEDENCE[op] and op in "-/"):
        right_text = f"({right_text})"
    return left_text + op + right_text


def iter_plans(numbers: tuple[int, ...]) -> Iterator[Plan]:
    """Every plan that uses all `numbers`, combining two at a time with whole, positive steps.

    Pairs in the order the numbers are given, both orders of a pair, operators
    in the order + - * /; the result goes first, so a plan reads left to right (3*7=21 21+5=26: 3*7+5).
    Exhaustive: 3 numbers give at most 3 x 2 x 4 x 2 x 4 = 192 plans, 4 numbers some thousands, so
    this yields them one at a time (the first that reaches a target is found without the rest).
    """
    start = [(n, (str(n), 3), ()) for n in numbers]  # value, (text, precedence), steps

    def search(items):
        if len(items) == 1:
            value, (text, _), steps = items[0]
            yield Plan(steps, text, value)
            return
        for i in range(len(items)):
            for j in range(len(items)):
                if i == j:
                    continue
                (a, a_text, a_steps), (b, b_text, b_steps) = items[i], items[j]
                for op in SYMBOLS:
                    if op in "+*" and i > j:
                        continue  # a+b and b+a are one plan
                    value = _apply(a, op, b)
                    if value is None:
                        continue
                    joined = (value, (_join(a_text, op, b_text), PRECEDENCE[op]), (*a_steps, *b_steps, f"{a}{op}{b}={value}"))
                    rest = [item for k, item in enumerate(items) if k not in (i, j)]
                    yield from search([joined, *rest])

    yield from search(start)


def plans(numbers: tuple[int, ...]) -> list[Plan]:
    """All of `iter_plans`, in its order."""
    return list(iter_plans(numbers))


@lru_cache(maxsize=256)
def reachable(numbers: tuple[int, ...]) -> frozenset[int]:
    """The values some plan over all `numbers` reaches: {p.value for p in plans(numbers)}, without
    writing the plans out. A plan is a binary tree over the numbers, so the values over a set of
    numbers are those of every split into two groups, combined by one whole, positive step."""
    if len(numbers) == 1:
        return frozenset(numbers)
    values = set()
    n = len(numbers)
    for mask in range(1, 2**n - 1):
        left = tuple(numbers[k] for k in range(n) if mask >> k & 1)
        right = tuple(numbers[k] for k in range(n) if not mask >> k & 1)
        for a in reachable(left):
            for b in reachable(right):
                for op in SYMBOLS:
                    value = _apply(a, op, b)
                    if value is not None:
                        values.add(value)
    return frozenset(values)


@dataclass(frozen=True)
class Countdown(Task):
    """Reach a target from 1 to `max_target` with `count` numbers from 1 to `max_number`."""

    count: int = 3
    max_number: int = 15
    max_target: int = 100
    name: str = "countdown"
    # 3 numbers up to 15 make about 8,200 distinct problems (numbers in any order, and a target).
    split_sizes = {"train": 6_000, "validation": 300, "test": 1_000}
    prompt_end = ":"

    def __post_init__(self) -> None:
        if not 2 <= self.count <= 4:
            raise LabkitError(f"count must be 2, 3 or 4 numbers, got {self.count}")
        if not 2 <= self.max_number <= 99 or not 1 <= self.max_target <= 9999:
            raise LabkitError("max_number must be 2-99 and max_target 1-9999")

    @property
    def max_completion_length(self) -> int:  # steps of up to 10 tokens, an answer of up to 4 a number, tags, EOS
        return 8 + 10 * (self.count - 1) + 4 * self.count

    def sample_problem(self, rng: random.Random) -> tuple[tuple[int, ...], int]:
        """Numbers, and the target of a random whole-step plan over them that lands in range."""
        while True:
            numbers = tuple(rng.randint(1, self.max_number) for _ in range(self.count))
            targets = sorted(v for v in reachable(numbers) if 1 <= v <= self.max_target)
            if targets:
                return numbers, rng.choice(targets)

    def problem_key(self, problem: tuple[tuple[int, ...], int]) -> tuple:
        numbers, target = problem
        return (*sorted(numbers), target)

    def prompt(self, problem: tuple[tuple[int, ...], int]) -> str:
        numbers, target = problem
        return " ".join(map(str, numbers)) + f">{target}:"

    def solve(self, problem: tuple[tuple[int, ...], int]) -> list[Plan]:
        """The plans that reach the target, first found first; distinct answer expressions."""
        numbers, target = problem
        seen, found = set(), []
        for plan in iter_plans(numbers):
            if plan.value == target and plan.expression not in seen:
                seen.add(plan.expression)
                found.append(plan)
        return found

    def first_plan(self, problem: tuple[tuple[int, ...], int]) -> Plan:
        """The solver's first plan to the target (the record's answer and scratchpad)."""
        numbers, target = problem
        return next(plan for plan in iter_plans(numbers) if plan.value == target)

    def answer(self, problem) -> str:
        return self.first_plan(problem).expression

    def scratchpad(self, problem) -> str:
        return " ".join(self.first_plan(problem).steps)

    def columns(self, problem) -> dict:
        numbers, target = problem
        return {"numbers": list(numbers), "target": target}

    def check_answer(self, text: str, record: dict) -> Verdict:
        return check_expression(text, record["numbers"], record["target"])

    def answer_key(self, text: str) -> str | None:
        answer = extract_answer(text)
        return None if answer is None or len(answer) > MAX_EXPRESSION_CHARS else "".join(answer.split())

    def solutions(self, record: dict) -> list[str]:
        return [plan.expression for plan in self.solve((tuple(record["numbers"]), record["target"]))]

    def describe(self) -> str:
        return f"Countdown: reach the target with {self.count} numbers from 1 to {self.max_number}, each once"

    def out_of_distribution(self) -> dict[str, Task]:
        if self.count >= 4:
            return {}
        return {f"{self.count + 1} numbers": Countdown(self.count + 1, self.max_number, self.max_target)}

    def record_of_prompt(self, prompt: str) -> dict | None:
        """A typed problem, `3 7 5>26:` (2 to 4 numbers up to 99, a target up to 9999), if it has a solution."""
        match = _PROMPT.fullmatch(prompt)
        if not match:
            return None
        problem = (tuple(int(n) for n in match[1].split()), int(match[2]))
        return self.record(problem) if self.solve(problem) else None

    def check_steps(self, text: str, record: dict | None = None) -> Verdict:
        """Each step `a op b=c` is right, and uses numbers still on the table (given or made, each once)."""
        return check_plan_steps(text, None if record is None else record["numbers"])


@dataclass(frozen=True)
class Countdown4(Countdown):
    """Countdown with four numbers: the `gpu` profile's Countdown (`Profile.task_variants`), and the
    variant the 3-number models are tested on out of distribution."""

    count: int = 4
    name: str = "countdown4"


def countdown_reward(completions: list[Any], numbers: list[list[int]], target: list[int], **kwargs: Any) -> list[float]:
    """1.0 when the answer expression reaches the target with each number once, else 0.0: the task's
    `correctness_reward` as a plain function of its two columns, for a TRL `reward_funcs` list."""
    return Countdown().correctness_reward(completions, numbers=numbers, target=target)


_PROMPT = re.compile(r"(\d{1,2}(?: \d{1,2}){1,3})>(\d{1,4}):", re.ASCII)
_PLAN_STEP = re.compile(r"(\d{1,6})([-+*/])(\d{1,6})=(\d{1,7})", re.ASCII)


def check_plan_steps(text: str, numbers: list[int] | None) -> Verdict:
    """A process check of a Countdown scratchpad: `3*7=21 21+5=26`.

    Every step must be one whole, positive operation that is right, on two
    numbers on the table: the given ones and the results of earlier steps, each
    used once (with `numbers` None, only the arithmetic is checked).
    """
    steps = scratchpad_steps(text)
    if isinstance(steps, Verdict):
        return steps
    table = Counter(int(n) for n in numbers) if numbers is not None else None
    for number, step in enumerate(steps, start=1):
        match = _PLAN_STEP.fullmatch(step)
        if not match:
            return Verdict(False, f"step {number}: {step[:40]!r} is not one operation like 3*7=21")
        a, op, b, result = int(match[1]), match[2], int(match[3]), int(match[4])
        if _apply(a, op, b) != result:
            return Verdict(False, f"step {number}: {step} is wrong")
        if table is not None:
            needed = Counter([a, b])
            if any(table[n] < k for n, k in needed.items()):
                on_table = " ".join(str(n) for n in sorted(table.elements()))
                return Verdict(False, f"step {number}: {step} uses a number not on the table ({on_table})")
            table = table - needed + Counter([result])
    return Verdict(True, f"all {len(steps)} steps are right")
