"""GSM8K as a `Task`: grade-school word problems, read from a data set rather than made here.

The rules are `labkit.gsm8k`'s, the same ones `GSM8K`'s rewards pay in notebook 06 and `labkit.scale`:

    check_answer   the final number (after '####', else <answer>, \\boxed{} or the last number) is the reference
    check_format   the last line is '#### N', as the system prompt asks
    check_steps    every <<6*10=60>> calculator note adds up (GSM8K's process check)
    messages       the system prompt and the question: chat models read it in their own template

Its problems come from `gsm8k.load_gsm8k` (the hub's openai/gsm8k, or a local copy such as
data/gsm8k_sample); it cannot draw new ones, and the lab's tiny character-level models cannot
spell them, so `labkit data` and `labkit run` do not take it. `get_task("gsm8k")` does, and so
does every reader of records: evaluation, the demo's app, the traces' filter (`traces.judge_trace`).
"""

from __future__ import annotations

import random
from collections.abc import Hashable

from ..gsm8k import MARKER, chat_prompt, check_final_number, check_gsm8k_format, check_notes, final_number
from ..rewards import Verdict
from ..runtime import LabkitError
from .base import Task

ABOUT = """\
**The task.** GSM8K's grade-school word problems. Each model reads the problem in its own chat template,
after a system prompt that asks it to reason step by step and end with a line `#### <number>`.

**The rule rewards** (the Reward tab explains each one for any text you paste):

- *correctness*: is the final number right? It is read after the last `####` if there is one, else inside
  `<answer>`, else in `\\boxed{}`, else the last number near the end; `72`, `72.00` and `$72` all count as
  72. Nothing is evaluated.
- *format*: is the last line `#### N`, as asked?
- *steps*: does every calculator note `<<6*10=60>>` (GSM8K's way of showing a calculation: numbers, + - * /
  and brackets, then `=` and the result, which may be rounded to the digits it writes) add up? A note of any
  other form counts as wrong; nothing in it is evaluated as code; an answer without notes has none to check. In notebook 06
  this is not a GRPO reward (GRPO pays correctness and format): it filters the traces the student learns from.

The app judges its own test problems: a problem you type gets answers, but no verdict.

**How notebook 06 made its student.** It is fine-tuned on the teacher's answers, but only the right ones
(rejection sampling): it copies the teacher at its best, as text, in its own tokenizer and template. Whether
that is enough for a smaller model to keep up is what the Arena tab measures. Two models served by hub id
were not distilled at all.

**Sample k** asks each model for k answers at a temperature above 0; the *majority answer* is the
final number with more votes than any other, and there is none when answers tie.
"""


class GSM8K(Task):
    name = "gsm8k"
    prompt_end = ""  # a question ends however it ends
    max_completion_length = 512  # tokens a hub model's answer may need (notebook 06 logs how many are cut)
    about = ABOUT

    def sample_problem(self, rng: random.Random) -> Hashable:
        raise LabkitError("GSM8K's problems come from a data set, not a generator: load them with labkit.gsm8k.load_gsm8k")

    def check_answer(self, text: str, record: dict) -> Verdict:
        return check_final_number(text, record["answer"])

    def check_format(self, text: str) -> Verdict:
        return check_gsm8k_format(text)

    def check_steps(self, text: str, record: dict | None = None) -> Verdict:
        return check_notes(text)

    def answer_key(self, text: str) -> str | None:
        return final_number(text)

    def shows_working(self, text: str) -> bool:
        """Any text before the last '####' (without one: any line before the last line)."""
        before = text.strip().rpartition(MARKER)[0] if MARKER in text else text.strip().rpartition("\n")[0]
        return bool(before.strip())

    def has_steps(self, text: str) -> bool:
        """Calculator notes to check: working without them has no steps this task can read."""
        return "<<" in text

    def reference_completion(self, record: dict, scratchpad: bool = True) -> str:
        final = f"{MARKER} {record['answer']}"
        return f"{record['scratchpad']}\n{final}" if scratchpad and record.get("scratchpad") else final

    def messages(self, prompt: str) -> list[dict[str, str]]:
        return chat_prompt(prompt)

    def describe(self) -> str:
        return "GSM8K word problems"
