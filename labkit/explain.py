"""Rule rewards in words: the verdict under an answer, and why each reward said what it said.

The demo's Compare tab writes `describe_answers` under each column and its Reward
tab shows `explain_rewards`. Values and reasons both come from `labkit.rewards`'
`check_*` functions. Model output is untrusted: it is searched and split, never evaluated.
"""

from __future__ import annotations

from .evaluate import majority_answer
from .rewards import check_format, format_reward
from .tasks import Task, get_task

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


def describe_answers(
    texts: list[str], tokens: int, seconds: float, record: dict | str | None, task: str | Task | None = None
) -> str:
    """The Markdown under a column: verdict, rule rewards, tokens, latency, tokens/s.

    One answer: `verdict: correct | wrong | unknown`. k answers: how many are
    right, the majority answer (`Task.answer_key`) and the agreement (share of
    the k answers equal to it).
    """
    task, record, k = get_task(task), _as_record(record), len(texts)
    correct = None if record is None else [task.is_correct(t, record) for t in texts]
    form = format_reward(texts)
    steps = [task.check_steps(t, record).ok for t in texts]
    if k == 1:
        note = "no known answer" if record is None else f"reference {record['answer']}"
        lines = [f"**verdict: {verdict(texts[0], record, task)}** ({note})"]
    else:
        tally = "unknown (no known answer)" if correct is None else f"{int(sum(correct))} of {k} correct"
        lines = [f"**verdict: {tally}**"]
        majority = majority_answer(texts, task)
        if majority is None:
            lines.append(f"no answer to agree on among the {k}, agreement 0/{k} = 0%")
        else:
            agreeing = sum(task.answer_key(t) == majority for t in texts)
            right = record is not None and task.is_correct(f"<answer>{majority}</answer>", record)
            judged = "" if record is None else (" (right)" if right else " (wrong)")
            lines.append(f"majority answer {majority}{judged}, agreement {agreeing}/{k} = {agreeing / k:.0%}")
    mean = "" if k == 1 else f" (mean of {k})"
    rewards = [
        ("correctness", None if correct is None else sum(correct) / k),
        ("format", sum(form) / k),
        ("steps", sum(steps) / k),
    ]
    lines.append(" · ".join(f"{name} {'–' if value is None else f'{value:.2g}'}" for name, value in rewards) + mean)
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
        ("format", check_format(completion)),
        ("steps", task.check_steps(completion, record)),
    ]
    return [(name, 1.0 if verdict.ok else 0.0, verdict.reason) for name, verdict in checks]
