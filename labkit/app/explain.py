"""Rule rewards in words: the verdict under an answer, and why each reward said what it said.

The demo's Compare tab writes `describe_answers` under each column and its Reward
tab shows `explain_rewards`; `about(task)` is its short explainer (`ABOUT`, unless the task
brings its own, as GSM8K does). Values and reasons both come from the task's `check_*` verdicts. Model output is untrusted: it is
searched and split, never evaluated.
"""

from __future__ import annotations

from ..evaluate import answer_votes
from ..tasks import Task, get_task

# No measured figure here on purpose: the app serves any run, and a number would be wrong for most.
ABOUT = """\
**`<think>`.** A model may write its working between `<think>` and `</think>` before its final
`<answer>...</answer>`, as DeepSeek-R1 does. The working is a scratchpad: only the answer is graded
right or wrong, but the steps can be checked too.

**The rule rewards** (the Reward tab explains each one for any text you paste):

- *correctness*: is the text in `<answer>` right for this problem, by the task's own rule?
- *format*: an optional `<think>...</think>`, then exactly one `<answer>...</answer>`, and nothing else.
- *steps*: does each step of the scratchpad check out (for the sums: does each column add up)?
  An answer without a scratchpad has no steps to check.

**Why a student a tenth the size can beat its teacher.** The student is trained on the teacher's
traces, but only on the right ones: rejection sampling draws several answers from the teacher and
keeps those the rules accept. So the student copies the teacher at its best, not its average,
while the teacher still makes its usual mistakes when it answers here.

**Sample k** asks each model for k answers at a temperature above 0; the *majority answer* is the
one with more votes than any other, and there is none when answers tie.
"""


def about(task: str | Task | None = None) -> str:
    """The app's explainer for `task`: its own (`Task.about`, GSM8K's) or the lab's tags and rewards."""
    return get_task(task).about or ABOUT


# --- What the numbers under each answer say ------------------------------------------------------


def known_record(prompt: str, records_by_prompt: dict[str, dict], task: str | Task | None = None) -> dict | None:
    """The record of `prompt`: from the records, else made by the task if it can (`Task.record_of_prompt`:
    any sum, any Countdown problem with a solution), else None."""
    if prompt in records_by_prompt:
        return records_by_prompt[prompt]
    return get_task(task).record_of_prompt(prompt)


def _as_record(record: dict | str | None) -> dict | None:
    """A bare reference answer (the sums') stands for a record with only that answer."""
    return {"answer": record} if isinstance(record, str) else record


def verdict(text: str, record: dict | str | None, task: str | Task | None = None) -> str:
    """'correct' or 'wrong' for the problem `record`, 'unknown' without one."""
    record = _as_record(record)
    if record is None:
        return "unknown"
    return "correct" if get_task(task).is_correct(text, record) else "wrong"


def majority_line(texts: list[str], record: dict | None, task: Task) -> str:
    """The majority answer of k samples (`Task.answer_key`) and its votes, or why there is none.

    A majority needs more votes than any other answer: eight different answers, or a 2-2
    tie, have none. (`evaluate.majority_answer` counts the same `answer_votes` but breaks ties by the first seen, which suits
    maj@k accuracy, not a line that calls the answer a majority.)
    """
    k = len(texts)
    votes = answer_votes(texts, task).most_common()
    if not votes:
        return f"no majority: none of the {k} has an answer to agree on"
    top = votes[0][1]
    tied = [answer for answer, count in votes if count == top]
    if len(tied) > 1:
        which = f"{len(tied)} different answers" if len(tied) > 3 else ", ".join(tied[:-1]) + f" and {tied[-1]}"
        return f"no majority: {which} have {top} of {k} votes each"
    majority = tied[0]
    right = record is not None and task.is_correct(f"<answer>{majority}</answer>", record)
    judged = "" if record is None else (" (right)" if right else " (wrong)")
    return f"majority answer {majority}{judged} with {top} of {k} votes (agreement {top / k:.0%})"


def steps_value(texts: list[str], record: dict | None, task: Task) -> str:
    """The steps reward of the answers that show steps; a dash and why when none can be checked."""
    if type(task).check_steps is Task.check_steps:
        return f"– ({task.name} has no process check)"
    # Without working a process check passes vacuously, and showing that pass as "steps 1" would say the steps were checked.
    shown = [text for text in texts if task.has_steps(text)]
    if not shown:
        return "– (no steps to check)"
    value = sum(task.check_steps(text, record).ok for text in shown) / len(shown)
    return f"{value:.2g}" + ("" if len(shown) == len(texts) else f" ({len(shown)} of {len(texts)} show steps)")


def describe_answers(
    texts: list[str], tokens: int, seconds: float, record: dict | str | None, task: str | Task | None = None
) -> str:
    """The Markdown under a column: verdict, rule rewards, tokens, latency, tokens/s.

    One answer: `verdict: correct | wrong | unknown`. k answers: how many are
    right, and the majority answer with its votes, if one answer has more votes
    than any other (`majority_line`). The steps reward counts only answers that
    show steps (`steps_value`).
    """
    task, record, k = get_task(task), _as_record(record), len(texts)
    correct = None if record is None else [task.is_correct(t, record) for t in texts]
    form = [task.check_format(text).ok for text in texts]
    if k == 1:
        note = "no known answer" if record is None else f"reference {record['answer']}"
        lines = [f"**verdict: {verdict(texts[0], record, task)}** ({note})"]
    else:
        tally = "unknown (no known answer)" if correct is None else f"{int(sum(correct))} of {k} correct"
        lines = [f"**verdict: {tally}**", majority_line(texts, record, task)]
    rewards = [
        ("correctness", "–" if correct is None else f"{sum(correct) / k:.2g}"),
        ("format", f"{sum(form) / k:.2g}"),
        ("steps", steps_value(texts, record, task)),
    ]
    mean = "" if k == 1 else f"mean of {k}: "
    lines.append(mean + " · ".join(f"{name} {value}" for name, value in rewards))
    speed = tokens / seconds if seconds > 0 else 0.0
    lines.append(f"{tokens} tokens · {1000 * seconds:.0f} ms · {speed:.0f} tokens/s")
    return "  \n".join(lines)


# --- Reward explanations ---------------------------------------------------------------------------


def explain_rewards(completion: str, record: dict | str, task: str | Task | None = None) -> list[tuple[str, float, str]]:
    """(reward, value, why) for each rule reward of one completion to the problem `record`
    (for the sums, a bare reference answer will do).

    Value and reason are the same `Verdict` of the task's checks, so they
    cannot disagree. The text is only searched and split, never evaluated.
    """
    task = get_task(task)
    record = _as_record(record.strip() if isinstance(record, str) else record)
    checks = [
        ("correctness", task.check_answer(completion, record)),
        ("format", task.check_format(completion)),
        ("steps", task.check_steps(completion, record)),
    ]
    return [(name, 1.0 if verdict.ok else 0.0, verdict.reason) for name, verdict in checks]
