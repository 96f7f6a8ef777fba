"""Rule-based rewards, with TRL's reward-function signature.

DeepSeek-R1 used two rule rewards and no learned reward model: is the final
answer right, and is the output in the expected format. Each function here takes
`completions` (strings, or chat message lists as TRL passes them for
conversational data) plus data set columns as keyword arguments, and returns one
float in [0, 1] per completion:

    reward_fn(completions, answer=[...], **kwargs) -> list[float]

Each rule is one `check_*` function that returns a `Verdict(ok, reason)`: the
reward is the verdict (`is_correct`, `is_well_formed`, `steps_add_up` drop the
reason), and `explain.py` prints the reason, so the two can never disagree.

Model output is untrusted text. These functions never `eval` it: tags are found
with `str.find`/`rfind` (linear time, no regular-expression backtracking), the
one regular expression has bounded repeats, and every reward returns a float in
[0, 1] for any input, quickly. (Each task's own rule is in `labkit/tasks/`: Countdown's expression verifier in `tasks/countdown.py`.)
"""

from __future__ import annotations

import re
from typing import Any, NamedTuple

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


class Verdict(NamedTuple):
    """A rule's decision and the reason for it, in words a learner can read."""

    ok: bool
    reason: str


def check_answer(text: str, reference: str) -> Verdict:
    """Is the final answer in `text` equal to `reference` after normalisation? And why (not)."""
    predicted = extract_answer(text)
    if predicted is None:
        if CLOSE_ANSWER in text:
            return Verdict(False, f"{CLOSE_ANSWER} without an {OPEN_ANSWER} before it")
        return Verdict(
            False, f"{OPEN_ANSWER} is never closed with {CLOSE_ANSWER}" if OPEN_ANSWER in text else f"no {OPEN_ANSWER} tag"
        )
    predicted_norm, reference_norm = normalize_answer(predicted), normalize_answer(str(reference))
    if reference_norm is None:
        return Verdict(False, f"reference {str(reference)[:40]!r} is not a number")
    if predicted_norm is None:
        return Verdict(False, f"answer {predicted[:40]!r} is not a number")
    if predicted_norm != reference_norm:
        return Verdict(False, f"answer {predicted_norm} != {reference_norm}")
    return Verdict(True, f"answer {predicted_norm} == {reference_norm}")


def is_correct(text: str, reference: str) -> bool:
    """Is the final answer in `text` equal to `reference`? (`check_answer` without the reason)"""
    return check_answer(text, reference).ok


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


def check_format(text: str) -> Verdict:
    """Optional `<think>...</think>`, then exactly one `<answer>...</answer>`, then nothing."""
    rest = text.strip()
    if rest.startswith(OPEN_THINK):
        close = rest.find(CLOSE_THINK)
        if close < 0:
            return Verdict(False, f"{OPEN_THINK} is never closed with {CLOSE_THINK}")
        thought = rest[len(OPEN_THINK) : close]
        if OPEN_THINK in thought or OPEN_ANSWER in thought:
            return Verdict(False, "a tag inside the scratchpad")
        rest = rest[close + len(CLOSE_THINK) :].lstrip()
    if not rest.startswith(OPEN_ANSWER):
        return Verdict(False, f"no {OPEN_ANSWER} tag" if OPEN_ANSWER not in rest else f"text before {OPEN_ANSWER}")
    if not rest.endswith(CLOSE_ANSWER):
        return Verdict(
            False, f"text after {CLOSE_ANSWER}" if CLOSE_ANSWER in rest else f"{OPEN_ANSWER} is never closed with {CLOSE_ANSWER}"
        )
    inner = rest[len(OPEN_ANSWER) : -len(CLOSE_ANSWER)]
    if any(tag in inner for tag in (OPEN_ANSWER, CLOSE_ANSWER, OPEN_THINK, CLOSE_THINK)):
        return Verdict(False, "more than one answer, or a tag inside the answer")
    return Verdict(True, "well formed: an optional <think>...</think>, then one <answer>...</answer>")


def is_well_formed(text: str) -> bool:
    """Does `text` have the expected shape? (`check_format` without the reason)"""
    return check_format(text).ok


def format_reward(completions: list[Any], **kwargs: Any) -> list[float]:
    """1.0 when the completion has the expected shape, else 0.0."""
    return [1.0 if is_well_formed(completion_text(c)) else 0.0 for c in completions]


# One scratchpad step: digits joined by "+", "=", the total. Bounded lengths, no nested
# quantifiers, so matching is linear in the (capped) text.
_STEP = re.compile(r"\d{1,6}(?:\+\d{1,6}){0,15}=\d{1,7}", re.ASCII)
MAX_THOUGHT_CHARS = 2000


def scratchpad_steps(text: str) -> list[str] | Verdict:
    """The whitespace-separated steps of a leading `<think>...</think>`, or the verdict a process check
    gives without reading steps: a pass with no scratchpad (nothing to check), a failure when it is
    never closed, longer than `MAX_THOUGHT_CHARS` or empty. Every task's `check_steps` starts here."""
    rest = text.strip()
    if not rest.startswith(OPEN_THINK):
        return Verdict(True, "no scratchpad, nothing to check")
    close = rest.find(CLOSE_THINK)
    if close < 0:
        return Verdict(False, f"the scratchpad is never closed with {CLOSE_THINK}")
    if close > MAX_THOUGHT_CHARS:
        return Verdict(False, f"the scratchpad is longer than {MAX_THOUGHT_CHARS} characters")
    steps = rest[len(OPEN_THINK) : close].split()
    return steps or Verdict(False, "the scratchpad is empty")


def check_steps(text: str) -> Verdict:
    """A process check: does every step of the scratchpad add up?

    Passes `<think>3+8+1=12 1+2+5+9=17</think>...` and a completion with no
    scratchpad (nothing to check); fails when a step is wrong (`3+8+1=13`), is not
    a sum at all, or the scratchpad is cut off, empty or too long. It checks each
    step's arithmetic, not that the steps use the right digits: a verifier that
    needs no reference solution, unlike comparing with the task's own scratchpad.
    """
    steps = scratchpad_steps(text)
    if isinstance(steps, Verdict):
        return steps
    for number, step in enumerate(steps, start=1):
        if not _STEP.fullmatch(step):
            return Verdict(False, f"step {number}: {step[:40]!r} is not a short sum like 3+8+1=12")
        terms, total = step.split("=")
        value = sum(int(t) for t in terms.split("+"))
        if value != int(total):
            return Verdict(False, f"step {number}: {step} does not add up ({terms} is {value})")
    return Verdict(True, f"all {len(steps)} steps add up")


def steps_add_up(text: str) -> bool:
    """Does every scratchpad step add up? (`check_steps` without the reason)"""
    return check_steps(text).ok


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
    and scratchpad use should not rise. Deterministic for a given seed. Its draws come
    from its own `random.Random`, exposed as `random_reward.rng`, so a checkpoint can save
    and restore where it is (`grpo_loop.save_checkpoint`).
    """
    if not 0.0 <= probability <= 1.0:
        raise LabkitError(f"probability must be in [0, 1], got {probability}")
    import random

    rng = random.Random(seed)

    def random_reward(completions: list[Any], **kwargs: Any) -> list[float]:
        return [1.0 if rng.random() < probability else 0.0 for _ in completions]

    random_reward.rng = rng
    return random_reward
