"""Rule rewards in words: the verdict under an answer, and why each reward said what it said.

The demo's Compare tab writes `describe_answers` under each column and its Reward
tab shows `explain_rewards`. Values always come from `labkit.rewards`; the
reasons retrace the same checks in the same order. Model output is untrusted:
it is searched and split, never evaluated.
"""

from __future__ import annotations

import re

from .evaluate import majority_answer
from .rewards import (
    CLOSE_ANSWER,
    CLOSE_THINK,
    MAX_THOUGHT_CHARS,
    OPEN_ANSWER,
    OPEN_THINK,
    correctness_reward,
    extract_answer,
    format_reward,
    is_well_formed,
    normalize_answer,
    steps_add_up,
)

# --- What the numbers under each answer say ------------------------------------------------------


# A sum of small numbers: its answer is known even when it is not one of the records.
_SUM_PROMPT = re.compile(r"\d{1,9}(?:\+\d{1,9}){1,9}=")


def known_answer(prompt: str, references: dict[str, str]) -> str | None:
    """The reference answer of `prompt`: from the records, else computed if the prompt is a sum, else None."""
    if prompt in references:
        return references[prompt]
    if _SUM_PROMPT.fullmatch(prompt):
        return str(sum(int(n) for n in prompt[:-1].split("+")))
    return None


def verdict(text: str, reference: str | None) -> str:
    """'correct' or 'wrong' against the reference answer, 'unknown' without one."""
    if reference is None:
        return "unknown"
    return "correct" if correctness_reward([text], answer=[reference])[0] == 1.0 else "wrong"


def describe_answers(texts: list[str], tokens: int, seconds: float, reference: str | None) -> str:
    """The Markdown under a column: verdict, rule rewards, tokens, latency, tokens/s.

    One answer: `verdict: correct | wrong | unknown`. k answers: how many are
    right, the majority answer and the agreement (share of the k answers equal to it).
    """
    k = len(texts)
    correct = None if reference is None else correctness_reward(texts, answer=[reference] * k)
    form = format_reward(texts)
    steps = [1.0 if steps_add_up(t) else 0.0 for t in texts]
    if k == 1:
        note = "no known answer" if reference is None else f"reference {reference}"
        lines = [f"**verdict: {verdict(texts[0], reference)}** ({note})"]
    else:
        tally = "unknown (no known answer)" if correct is None else f"{int(sum(correct))} of {k} correct"
        lines = [f"**verdict: {tally}**"]
        majority = majority_answer(texts)
        if majority is None:
            lines.append(f"no answer to agree on among the {k}, agreement 0/{k} = 0%")
        else:
            agreeing = sum(normalize_answer(extract_answer(t) or "") == majority for t in texts)
            judged = "" if reference is None else (" (right)" if majority == normalize_answer(reference) else " (wrong)")
            lines.append(f"majority answer {majority}{judged}, agreement {agreeing}/{k} = {agreeing / k:.0%}")
    mean = "" if k == 1 else f" (mean of {k})"
    rewards = [
        ("correctness", None if correct is None else sum(correct) / k),
        ("format", sum(form) / k),
        ("steps add up", sum(steps) / k),
    ]
    lines.append(" · ".join(f"{name} {'–' if value is None else f'{value:.2g}'}" for name, value in rewards) + mean)
    speed = tokens / seconds if seconds > 0 else 0.0
    lines.append(f"{tokens} tokens · {1000 * seconds:.0f} ms · {speed:.0f} tokens/s")
    return "  \n".join(lines)


# --- Reward explanations ---------------------------------------------------------------------------


def _correctness_why(text: str, reference: str) -> str:
    predicted = extract_answer(text)
    if predicted is None:
        if CLOSE_ANSWER in text:
            return f"{CLOSE_ANSWER} without an {OPEN_ANSWER} before it"
        return f"{OPEN_ANSWER} is never closed with {CLOSE_ANSWER}" if OPEN_ANSWER in text else f"no {OPEN_ANSWER} tag"
    predicted_norm, reference_norm = normalize_answer(predicted), normalize_answer(reference)
    if reference_norm is None:
        return f"reference {reference[:40]!r} is not a number"
    if predicted_norm is None:
        return f"answer {predicted[:40]!r} is not a number"
    sign = "==" if predicted_norm == reference_norm else "!="
    return f"answer {predicted_norm} {sign} {reference_norm}"


def _format_why(text: str) -> str:
    """Why `is_well_formed` says what it says, walking the same checks in the same order."""
    if is_well_formed(text):
        return "well formed: an optional <think>...</think>, then one <answer>...</answer>"
    rest = text.strip()
    if rest.startswith(OPEN_THINK):
        close = rest.find(CLOSE_THINK)
        if close < 0:
            return f"{OPEN_THINK} is never closed with {CLOSE_THINK}"
        if OPEN_THINK in rest[len(OPEN_THINK) : close] or OPEN_ANSWER in rest[len(OPEN_THINK) : close]:
            return "a tag inside the scratchpad"
        rest = rest[close + len(CLOSE_THINK) :].lstrip()
    if not rest.startswith(OPEN_ANSWER):
        return f"no {OPEN_ANSWER} tag" if OPEN_ANSWER not in rest else f"text before {OPEN_ANSWER}"
    if not rest.endswith(CLOSE_ANSWER):
        return f"text after {CLOSE_ANSWER}" if CLOSE_ANSWER in rest else f"{OPEN_ANSWER} is never closed with {CLOSE_ANSWER}"
    return "more than one answer, or a tag inside the answer"


def _is_digits(text: str) -> bool:
    return bool(text) and all("0" <= ch <= "9" for ch in text)  # ASCII only: str.isdigit accepts '²'


def _steps_why(text: str) -> str:
    """Why `steps_add_up` says what it says: the first step that fails, if any."""
    rest = text.strip()
    if not rest.startswith(OPEN_THINK):
        return "no scratchpad, nothing to check"
    close = rest.find(CLOSE_THINK)
    if close < 0:
        return f"the scratchpad is never closed with {CLOSE_THINK}"
    if close > MAX_THOUGHT_CHARS:
        return f"the scratchpad is longer than {MAX_THOUGHT_CHARS} characters"
    steps = rest[len(OPEN_THINK) : close].split()
    if not steps:
        return "the scratchpad is empty"
    for number, step in enumerate(steps, start=1):
        if steps_add_up(f"{OPEN_THINK}{step}{CLOSE_THINK}"):  # the library's own check, one step at a time
            continue
        terms, _, total = step.partition("=")
        numbers = terms.split("+")
        if len(step) <= 60 and all(_is_digits(n) for n in (*numbers, total)) and sum(int(n) for n in numbers) != int(total):
            return f"step {number}: {step} does not add up ({terms} is {sum(int(n) for n in numbers)})"
        return f"step {number}: {step[:40]!r} is not a short sum like 3+8+1=12"
    return f"all {len(steps)} steps add up"


def explain_rewards(completion: str, reference: str) -> list[tuple[str, float, str]]:
    """(reward, value, why) for each rule reward of one completion.

    The values come from `labkit.rewards`; the reasons retrace its checks.
    The text is only searched and split, never evaluated.
    """
    reference = str(reference).strip()
    return [
        ("correctness", correctness_reward([completion], answer=[reference])[0], _correctness_why(completion, reference)),
        ("format", format_reward([completion])[0], _format_why(completion)),
        ("steps add up", 1.0 if steps_add_up(completion) else 0.0, _steps_why(completion)),
    ]
