"""The demo's state and handlers: what the app does, apart from how the page is laid out (`app.demo`).

    DemoState      what every handler reads (models, tokenizers, known problems, task, caps), built and
                   checked once by `DemoState.build`
    compare        Compare: both models answer one prompt, streamed, then the verdicts
    random_problem a known problem, drawn
    arena          Arena: N known problems through both models, greedy and batched (`evaluate.model_row`)
    score          Reward: each rule reward of a completion, and why
    check_prompt   a typed prompt as the models see it, or a `gr.Error` saying what is wrong

The handlers are plain functions of the state: a test calls them without gradio's `Blocks`, and
`app.demo.build_app` binds each to its state for the page. Inputs are capped here as well as by the
page's sliders, since the API takes whatever a client sends.
"""

from __future__ import annotations

import copy
import math
import os
import random
import re
from collections.abc import Container, Iterator, Sequence
from dataclasses import dataclass, field

# Offline by default: no usage statistics sent from a learner's or instructor's machine.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from transformers import PreTrainedTokenizerBase  # noqa: E402

from ..evaluate import model_row  # noqa: E402
from ..runtime import LabkitError  # noqa: E402
from ..tasks import Task, get_task, read_records, task_of  # noqa: E402
from .batching import DecodeBatcher  # noqa: E402
from .explain import describe_answers, explain_rewards, known_record  # noqa: E402

MAX_TEMPERATURE = 1.5
MAX_SAMPLES = 8  # k of "sample k"
MAX_ARENA_PROBLEMS = 200
MAX_COMPLETION_CHARS = 10_000  # Reward tab input
CHAT_PROMPT_CHARS = 400  # a typed word problem may be this long (a chat task's; known problems may be longer)
MAX_SHOWN_ANSWER = 80  # characters of an answer in the Arena's list of wrong ones
ARENA_LATENCY_PROBLEMS = 5  # answered one at a time for the latency column (after one warm-up answer)
SEEDS = 2**64  # torch.Generator.manual_seed takes 0 to 2**64 - 1 and refuses larger seeds
# The Arena's columns, and how the page shows each (the API gets the numbers themselves).
ARENA_FORMATS = {
    "model": "{}",
    "parameters": "{:,}",
    "accuracy": "{:.1%}",
    "format": "{:.1%}",
    "scratchpad": "{:.1%}",
    "mean length": "{:.1f}",
    "tokens/s": "{:,.0f}",
    "latency ms": "{:,.1f}",
}
SCORE_COLUMNS = ["reward", "value", "why"]


def read_seed(value: float | None) -> int:
    """The seed a user typed, as a whole number (empty: 0), or a `gr.Error` saying what to type."""
    if value is None:
        return 0
    if not math.isfinite(value):
        raise gr.Error("The seed must be a whole number, for example 0")
    return int(value)


def torch_seed(seed: int) -> int:
    """`seed` reduced into the range torch's generators take, so any whole number a user types works.
    The reduction is the one torch applies to negative seeds itself: every seed torch took before gives
    the same samples as before."""
    return seed % SEEDS


def canonical_prompt(text: str, task: str | Task | None = None, known: Container[str] = ()) -> str | None:
    """`text` written as the task writes its prompts, if some spacing of it is a problem in `known` or one
    the task can make a record of (`Task.record_of_prompt`): `23 + 58 + 91 =` is `23+58+91=`, and
    Countdown's `3 7 5 > 26 :` is `3 7 5>26:`. None when no spacing of it is."""
    task = get_task(task)
    collapsed = " ".join(text.split())
    tight = re.sub(r" ?([^\d ]) ?", r"\1", collapsed)  # spaces kept only between numbers (Countdown's)
    for candidate in dict.fromkeys((collapsed, tight, tight.replace(" ", ""))):
        if candidate in known:
            return candidate
        record = task.record_of_prompt(candidate)
        if record is not None:
            return record.get("prompt", candidate)
    return None


def check_prompt(
    prompt: str | None,
    tokenizer: PreTrainedTokenizerBase | Sequence[PreTrainedTokenizerBase],
    max_chars: int,
    task: Task | None = None,
    example: str = "23+58+91=",
    known: Container[str] = (),
) -> str:
    """The prompt as the models see it, or a `gr.Error` saying what is wrong.

    As the models see it: stripped, ending as the task's prompts end, and spaced as they are
    (`canonical_prompt`): a model that never saw `23 + 58 + 91=` answers it with garbage, and its
    known answer is filed under `23+58+91=`. A problem nobody knows loses its spaces too when
    none of the task's prompts in `known` has one (the sums'). `tokenizer` is the models' one, or each
    model's: the prompt may hold no token any of them reserves (`<|im_end|>`, `<eos>`) and no
    character one of them cannot spell.
    """
    task = get_task(task)
    prompt = (prompt or "").strip()
    if not prompt:
        raise gr.Error(f"Type a problem first, for example {example}")
    if len(prompt) > max_chars:
        raise gr.Error(f"The prompt is {len(prompt)} characters long; the limit is {max_chars}. Try a problem like {example}")
    if not prompt.endswith(task.prompt_end):
        prompt += task.prompt_end  # the task's prompts all end with it ('=' for the sums)
    canonical = canonical_prompt(prompt, task, known)
    if canonical is not None:
        prompt = canonical
    elif known and not any(" " in p for p in known):
        prompt = "".join(prompt.split())
    for each in [tokenizer] if isinstance(tokenizer, PreTrainedTokenizerBase) else tokenizer:
        reserved = [token for token in each.all_special_tokens if token in prompt]
        if reserved:  # typed, it would be read as the token itself (a turn's end, a new turn)
            raise gr.Error(f"The prompt contains {reserved[0]!r}, which the models reserve; remove it")
        unknown = each.unk_token_id
        if unknown is not None and unknown in each(prompt, add_special_tokens=False).input_ids:
            raise gr.Error(f"The prompt has characters the model's tokenizer does not know; try a problem like {example}")
    return prompt


def not_answered(error: gr.Error) -> str:
    """What replaces a verdict when a request fails: the last problem's verdict must not stay on screen."""
    return f"**not answered:** {error.message}"


def _show(texts: list[str]) -> str:
    if len(texts) == 1:
        return texts[0]
    return "\n".join(f"{i + 1}. {text}" for i, text in enumerate(texts))


# --- Arena ----------------------------------------------------------------------------------------


def arena_figure(table: pd.DataFrame) -> Figure:
    """Accuracy and tokens/s of each model, two bar charts side by side."""
    figure = Figure(figsize=(8, 3), layout="constrained")  # not pyplot: no global state shared between requests
    colours = ["#1565c0", "#ef6c00"]
    for axes, column, title in zip(figure.subplots(1, 2), ("accuracy", "tokens/s"), ("greedy accuracy", "tokens/s (batched)")):
        axes.bar(table["model"], table[column], color=colours[: len(table)])
        axes.set_title(title)
        if column == "accuracy":
            axes.set_ylim(0, 1)
    return figure


def arena_styled(table: pd.DataFrame) -> pd.io.formats.style.Styler:
    """The Arena table as the page shows it: thousands separators, shares as percentages, sensible decimals.
    The data under it are the numbers themselves, so the API (and `arena_figure`) read them unchanged."""
    return table.style.format(ARENA_FORMATS).hide(axis="index")


# --- The state the handlers share -------------------------------------------------------------------


@dataclass
class DemoState:
    """What every handler reads: the models, their tokenizers, the known problems, the task and the caps.

    Made once by `DemoState.build` (which checks that the caps fit the models), then only read, so the
    handlers below are plain functions of it that a test calls without gradio's `Blocks`."""

    models: tuple[tuple[str, torch.nn.Module], ...]  # (name, model): the teacher's, then the student's
    records: list[dict]
    task: Task
    max_prompt_chars: int
    max_new_tokens_cap: int
    positions_of: list[int | None]  # each model's max_position_embeddings (None: no limit known)
    compare_tokenizers: list[PreTrainedTokenizerBase]
    arena_tokenizers: list[PreTrainedTokenizerBase]
    batcher: DecodeBatcher
    picker: random.Random = field(default_factory=random.Random)

    @property
    def example(self) -> str:
        return self.records[0]["prompt"]

    @property
    def records_by_prompt(self) -> dict[str, dict]:
        return self._by_prompt

    def __post_init__(self) -> None:
        self._by_prompt = {r["prompt"]: r for r in self.records}

    @property
    def wrong_columns(self) -> list[str]:
        return ["problem", "reference", *(f"{name} said" for name, _ in self.models), "wrong"]

    @classmethod
    def build(
        cls,
        teacher: torch.nn.Module,
        student: torch.nn.Module,
        tokenizer: PreTrainedTokenizerBase,
        *,
        student_tokenizer: PreTrainedTokenizerBase | None = None,
        records: list[dict] | None = None,
        task: str | Task | None = None,
        teacher_name: str = "teacher",
        student_name: str = "student",
        max_new_tokens_cap: int | None = None,
        max_prompt_chars: int | None = None,
    ) -> DemoState:
        """The state of `build_app` (its arguments, same names and defaults), or a `LabkitError` when a cap
        cannot fit a model's positions."""
        records = records if records is not None else read_records("test", task)
        if not records:
            raise LabkitError("the demo needs at least one record with a prompt and an answer")
        task = task_of(records, task)
        prompts = {r["prompt"] for r in records}
        # The caps suit the task: a line of digits and a short answer for the lab's; for a chat task (GSM8K),
        # sentences (every known problem fits) and the task's own answer length.
        if max_prompt_chars is None:
            max_prompt_chars = max(CHAT_PROMPT_CHARS, *(len(p) for p in prompts)) if task.chat else 64
        if max_new_tokens_cap is None:
            max_new_tokens_cap = task.max_completion_length if task.chat else 64
        models = ((teacher_name, teacher), (student_name, student))
        tokenizers = (tokenizer, tokenizer if student_tokenizer is None else student_tokenizer)
        # The longest typed prompt: digits, one token each in the lab's tokenizers (and Qwen's, SmolLM's), plus the
        # task's last character; and the longest known problem, which the Arena and the examples send as they are.
        typed = "9" * max_prompt_chars + task.prompt_end
        positions_of = [getattr(getattr(model, "config", None), "max_position_embeddings", None) for _, model in models]
        for (name, model), tokens, positions in zip(models, tokenizers, positions_of):
            longest = max(len(tokens(task.model_text(p, tokens), add_special_tokens=False).input_ids) for p in [typed, *prompts])
            needed = longest + max_new_tokens_cap
            if positions is not None and needed > positions:
                raise LabkitError(
                    f"{name} reads at most {positions} positions and the longest prompt ({max_prompt_chars} characters, "
                    f"or a known problem) plus {max_new_tokens_cap} new tokens needs {needed}; lower max_prompt_chars or "
                    "max_new_tokens_cap (or leave the longest problems out of records)"
                )
            model.eval()  # once, here: the handlers only read the models
        # A fast tokenizer changes its padding settings (in Rust) when a call asks for other
        # padding than the last one, and two threads doing that at once fail ("Already borrowed").
        # So Compare and the Arena each get a private copy: Compare's never pads (the call below
        # settles its state once), and only one Arena runs at a time.
        compare_tokenizers = [copy.deepcopy(t) for t in tokenizers]
        arena_tokenizers = [copy.deepcopy(t) for t in tokenizers]
        for compare_tokenizer in compare_tokenizers:
            compare_tokenizer("0", add_special_tokens=False)
        return cls(
            models=models,
            records=records,
            task=task,
            max_prompt_chars=max_prompt_chars,
            max_new_tokens_cap=max_new_tokens_cap,
            positions_of=positions_of,
            compare_tokenizers=compare_tokenizers,
            arena_tokenizers=arena_tokenizers,
            # Every Compare request joins one batched decode per model, on one worker thread (`labkit.app.batching`).
            batcher=DecodeBatcher([model for _, model in models], compare_tokenizers),
        )


# --- The handlers: plain functions of the state (gradio gets each with the state bound) ----------------


def prompt_ids(state: DemoState, prompt: str, max_new_tokens: int) -> list[list[int]]:
    """The prompt as each model reads it (`Task.model_text`), or a `gr.Error` if it leaves no room to answer."""
    ids = []
    for (name, _), tokens, positions in zip(state.models, state.compare_tokenizers, state.positions_of):
        ids.append(tokens(state.task.model_text(prompt, tokens), add_special_tokens=False).input_ids)
        if positions is not None and len(ids[-1]) + max_new_tokens > positions:
            raise gr.Error(f"The prompt is too long for {name}, which reads {positions} positions; shorten it")
    return ids


def compare(
    state: DemoState,
    prompt: str,
    temperature: float,
    max_new_tokens: float,
    k: float,
    seed: float | None,
    stream_interval: float = 0.2,
) -> Iterator[tuple]:
    """Compare: both models answer `prompt` (k answers each), streamed every `stream_interval` seconds, then the
    verdicts. Yields (teacher's answers, student's answers, teacher's verdict, student's verdict)."""
    task, tokenizers = state.task, state.compare_tokenizers
    try:
        prompt = check_prompt(prompt, tokenizers, state.max_prompt_chars, task, state.example, state.records_by_prompt)
        settings = dict(
            k=int(min(max(k or 1, 1), MAX_SAMPLES)),
            temperature=float(min(max(temperature or 0.0, 0.0), MAX_TEMPERATURE)),
            max_new_tokens=int(min(max(max_new_tokens or 1, 1), state.max_new_tokens_cap)),
            seed=torch_seed(read_seed(seed)),
        )
        ids = prompt_ids(state, prompt, settings["max_new_tokens"])
    except gr.Error as error:
        # Replace the last problem's answers and verdicts, then let gradio show the message too.
        yield "", "", not_answered(error), not_answered(error)
        raise
    request = state.batcher.submit(ids, **settings)
    record = known_record(prompt, state.records_by_prompt, task)

    def answers(m: int) -> list[str]:
        return tokenizers[m].batch_decode(request.groups[m].answer_ids, skip_special_tokens=True)

    try:
        while not request.wait(stream_interval):  # a screen shows no faster, and every update costs a message
            yield (
                *(_show(answers(m)) for m in range(len(state.models))),
                *(f"generating... {g.tokens} token{'' if g.tokens == 1 else 's'}" for g in request.groups),
            )
    except Exception as failure:  # the models failed (out of memory, ...): say so where the verdicts were
        error = gr.Error(f"The models could not answer: {type(failure).__name__}: {failure}")
        yield "", "", not_answered(error), not_answered(error)
        raise error from failure
    finally:
        request.cancel()  # a user who left stops costing rows at the next token; a finished request loses nothing
    yield (
        *(_show(answers(m)) for m in range(len(state.models))),
        *(describe_answers(answers(m), g.tokens, g.seconds, record, task) for m, g in enumerate(request.groups)),
    )


def random_problem(state: DemoState) -> str:
    return state.picker.choice(state.records)["prompt"]


def arena(state: DemoState, problems: float, seed: float | None, progress: gr.Progress = gr.Progress()) -> Iterator[tuple]:  # noqa: B008
    """The Arena: `problems` random known problems through both models, greedy and batched. Yields
    (the styled table, its figure, the problems a model got wrong)."""
    n = int(min(max(problems or 1, 1), MAX_ARENA_PROBLEMS, len(state.records)))
    try:
        chosen = random.Random(read_seed(seed)).sample(state.records, n)
    except gr.Error:
        yield pd.DataFrame(columns=list(ARENA_FORMATS)), None, pd.DataFrame(columns=state.wrong_columns)  # nothing stale
        raise
    rows, answers = [], []
    for index, ((name, model), arena_tokenizer) in enumerate(zip(state.models, state.arena_tokenizers)):
        progress(index / len(state.models), desc=f"{name}: {n} problems")
        # The same measurement as `labkit run`'s table and notebooks 04-05.
        row = model_row(
            model,
            arena_tokenizer,
            chosen,
            max_new_tokens=state.max_new_tokens_cap,
            latency_problems=ARENA_LATENCY_PROBLEMS,
            task=state.task,
            keep_answers=True,
        )
        answers.append(row["greedy_answers"])
        rows.append(
            {
                "model": name,
                "parameters": row["parameters"],
                "accuracy": row["accuracy"],
                "format": row["format_share"],
                "scratchpad": row["scratchpad_share"],
                "mean length": row["mean_length"],
                "tokens/s": row["tokens_per_s"],
                "latency ms": row["latency_ms"],
            }
        )
    progress(1.0, desc="done")
    table = pd.DataFrame(rows, columns=list(ARENA_FORMATS)).round(3)
    yield arena_styled(table), arena_figure(table), wrong_table(state, chosen, answers)


def wrong_table(state: DemoState, chosen: list[dict], answers: list[list[str]]) -> pd.DataFrame:
    """One row for each problem that at least one model got wrong: what each said, and who was wrong."""
    rows = []
    for i, record in enumerate(chosen):
        wrong = [name for (name, _), said in zip(state.models, answers) if not state.task.is_correct(said[i], record)]
        if wrong:
            said = [a[i][:MAX_SHOWN_ANSWER] for a in answers]
            rows.append([record["prompt"], str(record["answer"]), *said, "both" if len(wrong) == len(state.models) else wrong[0]])
    return pd.DataFrame(rows, columns=state.wrong_columns)


def problem_record(state: DemoState, problem: str) -> dict | None:
    """The Reward tab's problem as a record: typed with or without spaces or the task's last character."""
    task, known = state.task, state.records_by_prompt
    prompt = canonical_prompt(problem, task, known)
    if prompt is None and not problem.endswith(task.prompt_end):
        prompt = canonical_prompt(problem + task.prompt_end, task, known)
    record = None if prompt is None else known_record(prompt, known, task)
    if record is None and task.name == "sums":
        record = {"answer": problem}  # for the sums, a bare reference answer will do
    return record


def score(state: DemoState, text: str, problem: str) -> Iterator[pd.DataFrame]:
    """The Reward tab: each rule reward of `text` as an answer to `problem`, and why."""
    try:
        text, problem = text or "", (problem or "").strip()[:MAX_COMPLETION_CHARS]
        if len(text) > MAX_COMPLETION_CHARS:
            raise gr.Error(f"The completion is {len(text):,} characters long; the limit is {MAX_COMPLETION_CHARS:,}")
        if not problem:
            raise gr.Error(f"Give the problem too, for example {state.example}")
        record = problem_record(state, problem)
        if record is None:
            raise gr.Error(f"{problem[:40]!r} is not a problem this task can judge; try one like {state.example}")
    except gr.Error:
        yield pd.DataFrame(columns=SCORE_COLUMNS)  # no stale table under the message
        raise
    yield pd.DataFrame(explain_rewards(text, record, state.task), columns=SCORE_COLUMNS)
