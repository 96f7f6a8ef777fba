"""GSM8K: grade-school word problems, the real task of notebook 06 and `labkit.hub.scale`.

    load_gsm8k(name_or_path, split)  records {prompt, answer, scratchpad, task} from the hub
                                     ("openai/gsm8k") or a local copy in GSM8K's own format
                                     ("sample": the small made-up set of `tasks.gsm8k_sample`)
    chat_prompt(question)            the messages a chat model is given (TRL applies its template)
    final_number(text)               the model's final answer, read without `eval`, in bounded time
    check_final_number, check_gsm8k_format, check_notes
                                     the rules, each a verdict with its reason in words
    GSM8K                            the Task: its rewards (`correctness_reward`, `format_reward`,
                                     `steps_reward`) are these rules, with TRL's signature
    gsm8k_correctness_reward, gsm8k_format_reward
                                     the task's two rewards, bound once, for a TRL reward list

GSM8K's reference solutions end with `#### 72`, and so does the answer a model is
asked for. A model that forgets the marker is still graded: the reader falls back
to `<answer>...</answer>`, then `\\boxed{...}`, then the last number in the text's
tail, as graders of GSM8K usually do; the format reward is what asks for the marker.

Its problems come from a data set (the hub's openai/gsm8k, or a local copy such as
data/gsm8k_sample); it cannot draw new ones, and the lab's tiny character-level models cannot
spell them, so `labkit data` and `labkit run` do not take it. `get_task("gsm8k")` does, and so
does every reader of records: evaluation, the demo's app, the traces' filter (`traces.judge_trace`).
"""

from __future__ import annotations

import random
import re
from collections.abc import Hashable
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from pathlib import Path
from typing import Any

from ..rewards import Verdict, completion_text, extract_answer
from ..runtime import LabkitError
from .base import Task

MARKER = "####"
SYSTEM_PROMPT = "Solve the math problem. Reason step by step, then give the final answer on the last line as '#### <number>'."
MAX_SCAN_CHARS = 4000  # only the tail of a completion is read: the answer is at its end
# Bounded repeats: linear time on any input (no backtracking blow-up on hostile text).
# Whole numbers only: a run of digits longer than the bounds is no number at all (not its last 24 digits),
# and a decimal is read whole or not at all: never its integer part alone (2.3333333333333335 is not 2).
_NUMBER = re.compile(
    r"(?<![\d.])(?<!\d,)(?:[-+]?\$?\d{1,3}(?:,\d{3}){1,6}(?:\.\d{1,24})?|[-+]?\$?\d{1,24}(?:\.\d{1,24})?)(?!\d|,\d|\.\d)",
    re.ASCII,
)


def chat_prompt(question: str) -> list[dict[str, str]]:
    """The conversation a chat model starts from: instructions, then the problem."""
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": question}]


def _number(text: str, last: bool = False) -> str | None:
    """The first (or last) number in `text`, canonical: no sign for 0, no commas, no '$', no trailing '.0'."""
    found = _NUMBER.findall(text)
    if not found:
        return None
    raw = (found[-1] if last else found[0]).replace(",", "").replace("$", "")
    try:
        value = Decimal(raw)
    except InvalidOperation:
        return None
    if value == value.to_integral_value():
        return str(int(value))
    return format(value.normalize(), "f")


def final_number(completion: Any) -> str | None:
    """The model's final answer as a canonical number string, or None.

    In order: the number after the last '####'; inside the last <answer></answer>;
    inside the last \\boxed{}; the last number in the final 200 characters.
    """
    text = completion_text(completion)[-MAX_SCAN_CHARS:]
    marker = text.rfind(MARKER)
    if marker >= 0:
        return _number(text[marker + len(MARKER) : marker + len(MARKER) + 80])
    tagged = extract_answer(text)
    if tagged is not None:
        return _number(tagged[:200])
    boxed = text.rfind("\\boxed{")
    if boxed >= 0:
        end = text.find("}", boxed)
        return _number(text[boxed + 7 : end if end >= 0 else boxed + 87])
    return _number(text[-200:], last=True)


def check_final_number(completion: Any, reference: Any) -> Verdict:
    """Is the completion's final number (`final_number`) the reference, as a number (72 == 72.00 == $72)? And why (not)."""
    predicted, expected = final_number(completion), _number(str(reference)[:80])
    if expected is None:
        return Verdict(False, f"the reference {str(reference)[:24]!r} is not a number")
    if predicted is None:
        return Verdict(False, "no final number found (no '####' line, <answer>, \\boxed{} or number near the end)")
    if predicted == expected:
        return Verdict(True, f"the final number {predicted} is the reference")
    return Verdict(False, f"the final number {predicted[:24]} is not the reference {expected}")


def check_gsm8k_format(completion: Any) -> Verdict:
    """Is the last non-empty line '#### N' (the format asked for)? And why (not)."""
    text = completion_text(completion)[-MAX_SCAN_CHARS:].rstrip()
    last_line = text[text.rfind("\n") + 1 :].strip()
    if not last_line.startswith(MARKER):
        return Verdict(False, f"the last line does not start with '{MARKER}'")
    if _NUMBER.fullmatch(last_line[len(MARKER) :].strip()) is None:
        return Verdict(False, f"the last line's '{MARKER}' is not followed by a number alone")
    return Verdict(True, f"ends with a '{MARKER} N' line")


_NOTE = re.compile(r"<<([^<>]{0,160})>>")
_NOTE_TOKEN = re.compile(r"\s*(?:(\d{1,12}(?:\.\d{0,6})?|\.\d{1,6})|(//|[-+*/()]))", re.ASCII)
_NOTE_RESULT = re.compile(r"\s*(-?)\s*(\d{1,24}(?:\.(\d{1,6}))?|\.(\d{1,6}))\s*", re.ASCII)
MAX_NOTES = 50
MAX_NOTE_TOKENS = 40  # numbers, operators and brackets in one note's expression


class _Malformed(ValueError):
    """A calculator note that is not arithmetic this check reads."""


def note_value(expression: str) -> Fraction:
    """The exact value of a calculator note's left side: numbers (`12`, `0.8`, `.8`), + - * / and // (floor
    division), brackets and a leading sign, as GSM8K writes them (`<<2*3*4=24>>`, `<<(12-2)*5=50>>`,
    `<<1200*.2=240>>`, `<<+30+46=76>>`, `<<560//10=56>>`).

    A small recursive-descent parser over at most `MAX_NOTE_TOKENS` tokens, exact in `Fraction`; never
    `eval`. Raises ValueError for anything else (letters, `**`, a division by zero, unbalanced brackets).
        expression := term (('+' | '-') term)*
        term       := factor (('*' | '/' | '//') factor)*
        factor     := number | '(' expression ')' | ('-' | '+') factor
    """
    tokens, position = [], 0
    while position < len(expression.rstrip()):
        match = _NOTE_TOKEN.match(expression, position)
        if match is None or len(tokens) >= MAX_NOTE_TOKENS:
            raise _Malformed("not arithmetic")
        tokens.append(Fraction(match[1]) if match[1] else match[2])
        position = match.end()
    at = 0

    def peek() -> object:
        return tokens[at] if at < len(tokens) else None

    def take() -> object:
        nonlocal at
        at += 1
        return tokens[at - 1] if at <= len(tokens) else None

    # Every call below takes a token before it recurses, so the depth is at most MAX_NOTE_TOKENS.
    def factor() -> Fraction:
        token = take()
        if isinstance(token, Fraction):
            return token
        if token in ("-", "+"):
            return -factor() if token == "-" else factor()
        if token == "(":
            value = sum_of()
            if take() != ")":
                raise _Malformed("unbalanced brackets")
            return value
        raise _Malformed("a number was expected")

    def term() -> Fraction:
        value = factor()
        while peek() in ("*", "/", "//"):
            operator, right = take(), factor()
            if operator != "*" and right == 0:
                raise _Malformed("divides by zero")
            value = value * right if operator == "*" else value / right if operator == "/" else Fraction(value // right)
        return value

    def sum_of() -> Fraction:
        value = term()
        while peek() in ("+", "-"):
            value = value + term() if take() == "+" else value - term()
        return value

    value = sum_of()
    if at != len(tokens):
        raise _Malformed("text after the arithmetic")
    return value


def check_notes(completion: Any) -> Verdict:
    """Is every GSM8K calculator note `<<expression=result>>` arithmetically right? And why (not).

    A process check, like `rewards.check_steps` for the sums: a final number can be right by luck
    while the working is nonsense. The expression is read by `note_value` (exact, no `eval`), and the
    result must be exact; only a value with no exact decimal of 6 digits or fewer (100/3) may be written
    rounded to the digits the note shows (`<<100/3=33.33>>`: within half a unit of its last digit).
    Every readable note in GSM8K's own 8,792 solutions is exact. Passes when there are no notes (hub
    models rarely write them); fails for a note that is malformed, wrong, past the first `MAX_NOTES`,
    or in a text over 8,000 characters.
    """
    text = completion_text(completion)
    if len(text) > 2 * MAX_SCAN_CHARS:  # longer than any trace worth keeping: not read
        return Verdict(False, f"longer than {2 * MAX_SCAN_CHARS:,} characters: not read")
    opened = text.count("<<")
    if opened > MAX_NOTES:
        return Verdict(False, f"more than {MAX_NOTES} calculator notes")
    notes = _NOTE.findall(text)
    if opened != len(notes):
        return Verdict(False, "a calculator note is not closed by >> within 160 characters (or holds another <<)")
    if not notes:
        return Verdict(True, "no calculator notes, nothing to check")
    for note in notes:
        shown = f"<<{note[:40]}{'...' if len(note) > 40 else ''}>>"
        expression, equals, written = note.rpartition("=")
        result = _NOTE_RESULT.fullmatch(written)
        if not equals or result is None:
            return Verdict(False, f"{shown} is not of the form <<arithmetic=number>>")
        try:
            value = note_value(expression)
        except _Malformed as why:
            return Verdict(False, f"{shown} is not arithmetic this check reads ({why})")
        decimals = len(result[3] or result[4] or "")
        stated = Fraction(result[2]) * (-1 if result[1] else 1)
        exact_decimal = (value * 10**6).denominator == 1  # then it can be written exactly, and must be
        if value != stated and (exact_decimal or abs(value - stated) > Fraction(1, 2 * 10**decimals)):
            return Verdict(False, f"{shown} is wrong")
    return Verdict(True, f"all {len(notes)} calculator notes add up" if len(notes) > 1 else "its one calculator note adds up")


def notes_add_up(completion: Any) -> bool:
    """`check_notes` without the reason."""
    return check_notes(completion).ok


# --- Data ----------------------------------------------------------------------------------------------


def sample_dir() -> Path:
    """data/gsm8k_sample of this checkout, or the same files written once to the temporary
    folder when labkit was installed without its data (a wheel, Colab)."""
    import tempfile

    from . import DATA_DIR
    from .gsm8k_sample import write_sample

    if (DATA_DIR / "gsm8k_sample" / "test.jsonl").exists():
        return DATA_DIR / "gsm8k_sample"
    folder = Path(tempfile.gettempdir()) / "labkit-gsm8k-sample"
    if not (folder / "test.jsonl").exists():
        write_sample(folder)
    return folder


def load_gsm8k(name_or_path: str = "openai/gsm8k", split: str = "test") -> list[dict]:
    """GSM8K as records {prompt, answer, scratchpad, task}, from the hub or a local copy.

    "sample" names the small made-up set in GSM8K's format (`sample_dir`).

    The hub id needs a network (then the cache); a local folder does not: one made
    with `Dataset.save_to_disk`, or holding GSM8K's files (`train.jsonl`/`test.jsonl`
    or Parquet) with its two columns, `question` and `answer` ending in '#### N'.
    `prompt` is the question; `answer` the number after '####'; `scratchpad` the working before it.
    """
    import datasets

    if name_or_path == "sample":
        name_or_path = str(sample_dir())
    path = Path(name_or_path)
    try:
        if (path / "dataset_info.json").exists() or (path / "state.json").exists():
            data = datasets.load_from_disk(str(path))
            if isinstance(data, datasets.DatasetDict):
                data = data[split]
        elif path.is_dir():
            data = datasets.load_dataset(str(path), split=split)
        else:
            data = datasets.load_dataset(name_or_path, "main", split=split)
    except (OSError, ValueError, FileNotFoundError, ConnectionError) as error:
        raise LabkitError(
            f"could not load GSM8K from {name_or_path!r} ({type(error).__name__}): {str(error)[:200]}; "
            "without a network use a local copy, e.g. data/gsm8k_sample"
        ) from None
    if "question" not in data.column_names or "answer" not in data.column_names:
        raise LabkitError(f"{name_or_path!r} has columns {data.column_names}, not GSM8K's 'question' and 'answer'")
    records = []
    for row in data:
        working, _, final = row["answer"].rpartition(MARKER)
        records.append(
            {"prompt": row["question"], "answer": final.strip().replace(",", ""), "scratchpad": working.strip(), "task": "gsm8k"}
        )
    return records


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
        raise LabkitError("GSM8K's problems come from a data set, not a generator: load them with labkit.tasks.gsm8k.load_gsm8k")

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


# The task's own two rewards, bound once, for a TRL reward list: no second definition to drift. TRL names a
# reward by its function, so they log as `rewards/correctness_reward/mean` and `rewards/format_reward/mean`,
# the names every task's rewards log under (and the dashboards read).
gsm8k_correctness_reward, gsm8k_format_reward = GSM8K().reward_funcs()
