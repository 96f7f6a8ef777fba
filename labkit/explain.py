"""Rule rewards in words: the verdict under an answer, and why each reward said what it said.

The demo's Compare tab writes `describe_answers` under each column and its Reward
tab shows `explain_rewards`. Values and reasons both come from `labkit.rewards`'
`check_*` functions. Model output is untrusted: it is searched and split, never evaluated.
"""

from __future__ import annotations

import re

from .evaluate import majority_answer
from .rewards import (
    check_answer,
    check_format,
    check_steps,
    correctness_reward,
    extract_answer,
    format_reward,
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


def explain_rewards(completion: str, reference: str) -> list[tuple[str, float, str]]:
    """(reward, value, why) for each rule reward of one completion.

    Value and reason are the same `Verdict` of `labkit.rewards`' checks, so they
    cannot disagree. The text is only searched and split, never evaluated.
    """
    reference = str(reference).strip()
    checks = [
        ("correctness", check_answer(completion, reference)),
        ("format", check_format(completion)),
        ("steps add up", check_steps(completion)),
    ]
    return [(name, 1.0 if verdict.ok else 0.0, verdict.reason) for name, verdict in checks]
