"""The task interface: everything the lab needs to know about a verifiable task.

A task makes problems and judges answers. The pipeline, evaluation, traces,
students, dashboards and demo take a `Task` and never look inside a problem:

    name                    what runs, data folders and tables call it
    sample_problem(rng)     a random problem (any hashable value); difficulty knobs are fields
    problem_key(problem)    problems with the same key count as one (never in two splits)
    prompt / answer         the text the model sees, and one right answer
    scratchpad(problem)     the canonical working (the clean-data control, the warm-up's thinking)
    columns(problem)        what the rewards read besides `answer` (Countdown: numbers, target)
    check_answer(text, r)   the correctness rule, with a reason (`rewards.Verdict`)
    check_format(text)      the format rule (default: `<think>...</think><answer>...</answer>`)
    check_steps(text, r)    an optional process check of the scratchpad (default: none)
    answer_key(text)        what majority voting counts as "the same answer"
    solutions(r)            every right answer, where they can be listed (default: unknown)
    record_of_prompt(text)  the record of a typed prompt, where the task can make one (the demo)
    messages(prompt)        the conversation a chat model is given (default: none, the prompt is the text)
    model_text(prompt, tok) what a model reads: `messages` in its tokenizer's chat template, or the prompt
    shows_working(text)     does a completion write its working before the answer?
    has_steps(text)         does it hold steps `check_steps` reads (else the check passes vacuously)?
    reference_completion(r) the record's worked answer, written as the task asks for answers
    out_of_distribution()   harder variants never trained on (did the decomposition carry over?)

A record (one line of `data/NAME/*.jsonl`, one row of a data set) is

    {"prompt", "answer", "scratchpad", **columns(problem), "task": name}

with TRL's column names, so `correctness_reward` has TRL's reward signature and
goes to `GRPOTrainer` as it is. A new task is a subclass with `name`,
`sample_problem`, `prompt`, `answer` and `scratchpad` (and `check_answer` when an
answer is not a number); notebook 07 writes one in about 40 lines.
"""

from __future__ import annotations

import random
from collections.abc import Hashable
from typing import Any

from ..rewards import (
    CLOSE_ANSWER,
    CLOSE_THINK,
    OPEN_ANSWER,
    OPEN_THINK,
    Verdict,
    _check_columns,
    check_answer,
    check_format,
    completion_text,
    extract_answer,
    normalize_answer,
)
from ..runtime import LabkitError


class Task:
    """Base class of a task; subclasses set `name` and override the problem methods."""

    name: str = "task"
    # Tokens a completion may need: the longest scratchpad, the answer, the four tags and EOS.
    max_completion_length: int = 40
    # How many problems each split holds, and the seed they are drawn with (`tasks.make_splits`).
    split_sizes: dict[str, int] = {"train": 20_000, "validation": 500, "test": 1_000}
    splits_seed: int = 1234
    prompt_end: str = "="  # every prompt ends with it (the demo adds it to a typed problem)
    about: str | None = None  # the demo's explainer in Markdown (None: `app.explain.ABOUT`, the lab's tags)

    # --- Making problems -------------------------------------------------------------------------

    def sample_problem(self, rng: random.Random) -> Hashable:
        raise NotImplementedError(f"{type(self).__name__} must define sample_problem(rng)")

    def problem_key(self, problem: Hashable) -> Hashable:
        """Problems with equal keys are the same problem (default: the problem itself)."""
        return problem

    def prompt(self, problem: Hashable) -> str:
        raise NotImplementedError(f"{type(self).__name__} must define prompt(problem)")

    def answer(self, problem: Hashable) -> str:
        raise NotImplementedError(f"{type(self).__name__} must define answer(problem)")

    def scratchpad(self, problem: Hashable) -> str:
        raise NotImplementedError(f"{type(self).__name__} must define scratchpad(problem)")

    def columns(self, problem: Hashable) -> dict[str, Any]:
        """Extra record columns (JSON values) the rewards or a reader need."""
        return {}

    def record(self, problem: Hashable) -> dict:
        return {
            "prompt": self.prompt(problem),
            "answer": self.answer(problem),
            "scratchpad": self.scratchpad(problem),
            **self.columns(problem),
            "task": self.name,
        }

    # --- Judging answers --------------------------------------------------------------------------

    def check_answer(self, text: str, record: dict) -> Verdict:
        """Is the final `<answer>` in `text` right for `record`? Default: equal to `record["answer"]` as a number."""
        return check_answer(text, str(record["answer"]))

    def is_correct(self, text: str, record: dict) -> bool:
        return self.check_answer(text, record).ok

    def check_steps(self, text: str, record: dict | None = None) -> Verdict:
        """A process check of the scratchpad; the default has none and passes everything."""
        return Verdict(True, f"{self.name} has no process check")

    def check_format(self, text: str) -> Verdict:
        """Is the completion in the asked-for shape? Default: an optional `<think>...</think>`, then one `<answer>`."""
        return check_format(text)

    def shows_working(self, text: str) -> bool:
        """Does the completion write its working before the answer? Default: it opens a `<think>` scratchpad."""
        return text.lstrip().startswith(OPEN_THINK)

    def has_steps(self, text: str) -> bool:
        """Does the completion hold steps `check_steps` reads? Without any, the check passes vacuously, and a
        verdict that says "steps 1" would claim they were checked. Default: it shows its working."""
        return self.shows_working(text)

    def reference_completion(self, record: dict, scratchpad: bool = True) -> str:
        """The record's answer as the task asks a model to write it, with or without its scratchpad."""
        answer = f"{OPEN_ANSWER}{record['answer']}{CLOSE_ANSWER}"
        if scratchpad:
            return f"{OPEN_THINK}{record['scratchpad']}{CLOSE_THINK}{answer}"
        return answer

    # --- What a model reads -----------------------------------------------------------------------

    def messages(self, prompt: str) -> list[dict[str, str]] | None:
        """The conversation a chat model starts from; None (the default): the prompt itself is the text."""
        return None

    @property
    def chat(self) -> bool:
        """Is the task asked of chat models (it gives them a conversation, `messages`)?"""
        return self.messages("") is not None

    def model_text(self, prompt: str, tokenizer: Any = None) -> str:
        """What a model reads for `prompt`: the prompt as it is when the task has no `messages` (the lab's tiny
        models), else the messages in the tokenizer's chat template with the assistant's turn opened."""
        messages = self.messages(prompt)
        if messages is None:
            return prompt
        if getattr(tokenizer, "chat_template", None) is None:
            raise LabkitError(
                f"the {self.name} task is asked of chat models, and this tokenizer has no chat_template; use an "
                "-Instruct model, or set tokenizer.chat_template"
            )
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)

    def answer_key(self, text: str) -> str | None:
        """What majority voting compares (default: the normalised number in `<answer>`)."""
        answer = extract_answer(text)
        return None if answer is None else normalize_answer(answer)

    def solutions(self, record: dict) -> list[str] | None:
        """Every right answer to `record`, where they can be listed; None when they cannot."""
        return None

    def record_of_prompt(self, prompt: str) -> dict | None:
        """The record of a prompt typed by hand, if the task can make it (default: it cannot)."""
        return None

    def describe(self) -> str:
        """One line for a page title: what the problems are."""
        return f"the {self.name} task"

    def out_of_distribution(self) -> dict[str, Task]:
        """Variants of the task with problems unlike any in training (more numbers, longer numbers),
        judged by the same rule; none by default."""
        return {}

    # --- Rewards with TRL's signature -------------------------------------------------------------

    def format_reward(self, completions: list[Any], **columns: Any) -> list[float]:
        """1.0 when `check_format` accepts the completion, else 0.0."""
        return [1.0 if self.check_format(completion_text(c)).ok else 0.0 for c in completions]

    def correctness_reward(self, completions: list[Any], **columns: Any) -> list[float]:
        """1.0 when `check_answer` accepts the completion, else 0.0; `columns` are the records' columns."""
        rows = _rows(completions, columns)
        return [1.0 if self.is_correct(completion_text(c), row) else 0.0 for c, row in zip(completions, rows)]

    def steps_reward(self, completions: list[Any], **columns: Any) -> list[float]:
        """1.0 when the process check passes, else 0.0."""
        rows = _rows(completions, columns)
        return [1.0 if self.check_steps(completion_text(c), row).ok else 0.0 for c, row in zip(completions, rows)]

    def reward_funcs(self) -> list:
        """The rule rewards GRPO trains on: correctness and format, as DeepSeek-R1's."""
        return [self.correctness_reward, self.format_reward]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"


# What TRL's GRPOTrainer passes a reward function besides the data set's columns.
TRL_REWARD_EXTRAS = ("prompts", "completion_ids", "trainer_state", "log_extra", "log_metric", "environments")


def _rows(completions: list[Any], columns: dict[str, Any]) -> list[dict]:
    """The records behind a batch of completions, rebuilt from TRL's column lists (one value per completion)."""
    columns = {k: v for k, v in columns.items() if k not in TRL_REWARD_EXTRAS}
    _check_columns(completions, **columns)
    return [dict(zip(columns, values)) for values in zip(*columns.values())] if columns else [{}] * len(completions)


def check_task(task: Any) -> Task:
    """`task` if it is a usable Task, else one line saying what is missing."""
    if not isinstance(task, Task):
        raise LabkitError(f"expected a labkit.tasks.Task, got {type(task).__name__}; subclass Task to define one")
    if not task.name or not all(ch.isalnum() or ch in "-_" for ch in task.name):
        raise LabkitError(f"task name {task.name!r} must be letters, digits, '-' or '_' (it names a folder)")
    return task
