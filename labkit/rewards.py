"""Rule-based rewards, with TRL's reward-function signature.

DeepSeek-R1 used two rule rewards and no learned reward model: is the final
answer right, and is the output in the expected format. Each function here takes
`completions` (strings, or chat message lists as TRL passes them for
conversational data) plus data set columns as keyword arguments, and returns one
float in [0, 1] per completion:

    reward_fn(completions, answer=[...], **kwargs) -> list[float]

Model output is untrusted text. These functions never `eval` it: tags are found
with `str.find`/`rfind` (linear time, no regular-expression backtracking), and
the Countdown verifier walks the syntax tree of a short, character-filtered
expression with exact fractions and a magnitude cap. Every reward returns a
float in [0, 1] for any input, quickly.
"""

from __future__ import annotations

import ast
import re
from collections import Counter
from fractions import Fraction
from typing import Any

from .runtime import LabkitError

OPEN_THINK, CLOSE_THINK = "<think>", "</think>"
OPEN_ANSWER, CLOSE_ANSWER = "<answer>", "</answer>"
# Longer answers than this are not numbers we asked for; refuse to normalise them.
MAX_ANSWER_CHARS = 64


def completion_text(completion: Any) -> str:
    """The text of a completion: a string, or the last message's content."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, list) and completion:
        last = completion[-1]
        if isinstance(last, dict):
            content = last.get("content", "")
            return content if isinstance(content, str) else ""
    return ""


def extract_answer(text: str) -> str | None:
    """The text inside the last `<answer>...</answer>`, or None."""
    end = text.rfind(CLOSE_ANSWER)
    if end < 0:
        return None
    start = text.rfind(OPEN_ANSWER, 0, end)
    if start < 0:
        return None
    return text[start + len(OPEN_ANSWER) : end]


def normalize_answer(answer: str) -> str | None:
    """Canonical form of a numeric answer: no spaces, no leading zeros, no '.0'.

    Only ASCII digits count (a model emitting another script's digits is not
    giving the answer we asked for). Returns None for anything else.
    """
    if len(answer) > 4 * MAX_ANSWER_CHARS:  # bound the work before splitting
        return None
    text = "".join(answer.split())
    if not text or len(text) > MAX_ANSWER_CHARS:
        return None
    # Thousands separators, only where they are well placed: 1,000 and 12,345,678.
    if "," in text:
        head, *groups = text.lstrip("+-").split(",")
        if not (1 <= len(head) <= 3 and all(len(g) == 3 for g in groups)):
            return None
        text = text.replace(",", "")
    sign = ""
    if text[0] in "+-":
        sign, text = ("-" if text[0] == "-" else ""), text[1:]
    if text.endswith(".0"):
        text = text[:-2]
    if not text or not all("0" <= ch <= "9" for ch in text):
        return None
    digits = text.lstrip("0") or "0"
    return ("" if digits == "0" else sign) + digits


def is_correct(text: str, reference: str) -> bool:
    """Is the final answer in `text` equal to `reference` after normalisation?"""
    predicted = extract_answer(text)
    if predicted is None:
        return False
    predicted_norm = normalize_answer(predicted)
    return predicted_norm is not None and predicted_norm == normalize_answer(str(reference))


def _check_columns(completions: list[Any], **columns: Any) -> None:
    """Data columns must be lists with one entry per completion (TRL's layout)."""
    for name, values in columns.items():
        if isinstance(values, str) or not hasattr(values, "__len__"):
            raise LabkitError(f"{name} must be a list with one entry per completion, got {type(values).__name__}")
        if len(values) != len(completions):
            raise LabkitError(f"{len(completions)} completions but {len(values)} values of {name}; give one each")


def correctness_reward(completions: list[Any], answer: list[Any], **kwargs: Any) -> list[float]:
    """1.0 when the final `<answer>` equals the reference answer, else 0.0."""
    _check_columns(completions, answer=answer)
    return [1.0 if is_correct(completion_text(c), str(a)) else 0.0 for c, a in zip(completions, answer)]


def is_well_formed(text: str) -> bool:
    """Optional `<think>...</think>`, then exactly one `<answer>...</answer>`, then nothing."""
    text = text.strip()
    if text.startswith(OPEN_THINK):
        close = text.find(CLOSE_THINK)
        if close < 0:
            return False
        thought = text[len(OPEN_THINK) : close]
        if OPEN_THINK in thought or OPEN_ANSWER in thought:
            return False
        text = text[close + len(CLOSE_THINK) :].lstrip()
    if not (text.startswith(OPEN_ANSWER) and text.endswith(CLOSE_ANSWER)):
        return False
    inner = text[len(OPEN_ANSWER) : -len(CLOSE_ANSWER)]
    return not any(tag in inner for tag in (OPEN_ANSWER, CLOSE_ANSWER, OPEN_THINK, CLOSE_THINK))


def format_reward(completions: list[Any], **kwargs: Any) -> list[float]:
    """1.0 when the completion has the expected shape, else 0.0."""
    return [1.0 if is_well_formed(completion_text(c)) else 0.0 for c in completions]


# One scratchpad step: digits joined by "+", "=", the total. Bounded lengths, no nested
# quantifiers, so matching is linear in the (capped) text.
_STEP = re.compile(r"\d{1,6}(?:\+\d{1,6}){0,15}=\d{1,7}")
MAX_THOUGHT_CHARS = 2000


def steps_add_up(text: str) -> bool:
    """A process check: does every step of the scratchpad add up?

    True for `<think>3+8+1=12 1+2+5+9=17</think>...` and for a completion with no
    scratchpad (nothing to check); False when a step is wrong (`3+8+1=13`), is not
    a sum at all, or the scratchpad is cut off or too long. It checks each step's
    arithmetic, not that the steps use the right digits: a verifier that needs no
    reference solution, unlike comparing with the task's own scratchpad.
    """
    text = text.strip()
    if not text.startswith(OPEN_THINK):
        return True
    close = text.find(CLOSE_THINK)
    if close < 0 or close > MAX_THOUGHT_CHARS:
        return False
    steps = text[len(OPEN_THINK) : close].split()
    if not steps:
        return False
    for step in steps:
        if not _STEP.fullmatch(step):
            return False
        terms, total = step.split("=")
        if sum(int(t) for t in terms.split("+")) != int(total):
            return False
    return True


def steps_reward(completions: list[Any], **kwargs: Any) -> list[float]:
    """1.0 when every scratchpad step adds up (see `steps_add_up`), else 0.0."""
    return [1.0 if steps_add_up(completion_text(c)) else 0.0 for c in completions]


def length_heuristic_reward(completions: list[Any], max_chars: int = 80, **kwargs: Any) -> list[float]:
    """A deliberately hackable heuristic: "longer reasoning is better".

    DeepSeek-R1's answers grew longer as RL went on, so rewarding length looks
    tempting. It is the kind of proxy a learned reward model can drift into, and
    notebook 01 optimises against it to show what happens: the model learns to
    ramble, not to answer. Never use it to train for real.
        r = min(1, characters / max_chars)
    """
    if max_chars <= 0:
        raise LabkitError(f"max_chars must be positive, got {max_chars}")
    return [min(1.0, len(completion_text(c)) / max_chars) for c in completions]


def make_random_reward(probability: float, seed: int = 0):
    """A control: reward 1 with `probability`, whatever the completion says.

    Trained on it, GRPO has nothing to learn from the text, so accuracy, length
    and scratchpad use should not rise. Deterministic for a given seed.
    """
    if not 0.0 <= probability <= 1.0:
        raise LabkitError(f"probability must be in [0, 1], got {probability}")
    import random

    rng = random.Random(seed)

    def random_reward(completions: list[Any], **kwargs: Any) -> list[float]:
        return [1.0 if rng.random() < probability else 0.0 for _ in completions]

    return random_reward


# --- Countdown: reach a target with the given numbers ------------------------------------------

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


def countdown_correct(text: str, numbers: list[int], target: int) -> bool:
    """Does the final `<answer>` hold an expression that uses each given number
    exactly once and equals `target`?"""
    expression = extract_answer(text)
    if expression is None:
        return False
    try:
        value, used = evaluate_expression(expression)
    except UnsafeExpression:
        return False
    return Counter(used) == Counter(int(n) for n in numbers) and value == target


def countdown_reward(completions: list[Any], numbers: list[list[int]], target: list[int], **kwargs: Any) -> list[float]:
    """1.0 when the answer expression reaches the target with each number once, else 0.0."""
    _check_columns(completions, numbers=numbers, target=target)
    return [1.0 if countdown_correct(completion_text(c), n, t) else 0.0 for c, n, t in zip(completions, numbers, target)]
