"""Countdown's verifier: reach a target with the given numbers, each used once.

A completion answers `3 7 5>26:` with an expression, `<answer>3*7+5</answer>`.
Model output is untrusted, so the expression is never `eval`ed: a character
filter and a length cap run first, then `ast.parse`, then a walk of the syntax
tree that allows only integers, `+ - * /` and parentheses, with exact fractions
and a magnitude cap. Every call returns quickly, whatever the text.
"""

from __future__ import annotations

import ast
from collections import Counter
from fractions import Fraction
from typing import Any

from .rewards import _check_columns, completion_text, extract_answer

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
