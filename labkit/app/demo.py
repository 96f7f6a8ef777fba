"""The Gradio app: a teacher and its distilled student, side by side.

Three tabs, each also an API endpoint that `gradio_client` can call:

    Compare  (api "compare", "random_problem")  both models answer one prompt at once,
             streamed as the answers grow, with the verdict, the rule rewards, tokens,
             latency and tokens/s under each answer; "sample k" shows k answers per
             model and how often they agree.
    Arena    (api "arena")   N random held-out problems through both models, batched
             and greedy: `evaluate.model_row`'s accuracy, format, length, tokens/s
             and latency, in a table and a plot, and a list of the problems either
             model got wrong, with what each said.
    Reward   (api "score")   any completion and a problem: each rule reward and why.

Generation in Compare is written out by hand so it can stream: one forward pass a
token with the KV cache (`model(ids, cache=cache, use_cache=True)`; older
transformers call it `past_key_values`), greedy at temperature 0, otherwise
sampled from softmax(logits / T) with a generator local to the request (no
global seed is touched, so concurrent users do not disturb each other's
samples). Concurrent users' requests are joined into one batched forward pass a
token per model (`labkit.app.batching`); the two models take turns, one token each,
and each model's latency counts only its own forward passes.

Safe defaults for a shared server: prompts, max new tokens, temperature, k and
the Arena's N are capped (by the sliders and again in the handlers), bad input
becomes a `gr.Error` message, and the queue lines requests up (up to 64 Compare
requests batched together, one Arena at a time), so a burst of users waits instead of failing.
A failed request first replaces what the last one left on screen (the message
takes the verdict's place), so a stale verdict never sits under a new problem.
What a user types is taken as meant where it can be: a typed problem is spaced
as the task's prompts are (`canonical_prompt`: `23 + 58 + 91` is `23+58+91=`),
and any whole number is a seed (`torch_seed`).
`load_run` picks the models of a finished `labkit run` folder; `labkit demo` serves it.
The words under each answer and in the Reward tab come from `labkit.app.explain`.

Why one file of about 480 lines: `build_app` is the layout and its handlers, which read
best together. Checking a port, launching and loading a run folder are `labkit.app.serve`
(imported here too, so `from labkit.app.demo import launch, load_run` keeps working).
"""

from __future__ import annotations

import copy
import math
import os
import random
import re
from collections.abc import Container, Iterator, Sequence

# Offline by default: no usage statistics sent from a learner's or instructor's machine.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr  # noqa: E402
import pandas as pd
import torch
from matplotlib.figure import Figure
from transformers import PreTrainedTokenizerBase

from ..evaluate import model_row
from ..models import count_parameters
from ..runtime import LabkitError
from ..tasks import Task, get_task, read_records, task_of
from .batching import DecodeBatcher
from .explain import about, describe_answers, explain_rewards, known_record

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
WRONG_LABEL = "problems a model got wrong (greedy)"
# Tighter than gradio's spacing, so a projector's screen holds the problem, both answers and both verdicts.
PROJECTOR_CSS = ".gradio-container {padding-top: 4px !important} #teacher-stats p, #student-stats p {margin: 0}"


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


def model_card(name: str, model: torch.nn.Module) -> str:
    """A header card: the model's name, parameters and size in memory."""
    parameters = count_parameters(model)
    size = sum(p.numel() * p.element_size() for p in model.parameters())
    dtype = str(next(model.parameters()).dtype).removeprefix("torch.")
    config = getattr(model, "config", None)
    shape = ""
    if config is not None and hasattr(config, "hidden_size") and hasattr(config, "num_hidden_layers"):
        shape = f" · {config.hidden_size} wide × {config.num_hidden_layers} layers"
    return f"**{name}** · {parameters:,} parameters · {size / 1e6:.2f} MB ({dtype}){shape}"


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


# --- The app --------------------------------------------------------------------------------------


def build_app(
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
    batch_users: int = 64,
    stream_interval: float = 0.2,
) -> gr.Blocks:
    """The three-tab app over two causal LMs: they share `tokenizer`, or the student has its own
    (`student_tokenizer`: a hub chat model of another family, notebook 06's pair).

    `records` (a task's records, default its test split) are the known problems:
    the examples, the random problems and the Arena's draws; answers are judged
    by `task`'s rules (default: the task the records name, else the sums), and a
    typed problem outside the records by the record the task makes of it
    (`Task.record_of_prompt`), else it has no verdict. Each model reads what
    `Task.model_text` makes of a prompt: the prompt itself for the lab's tiny models,
    the task's conversation in that model's own chat template for chat models (GSM8K).

    `max_prompt_chars` and `max_new_tokens_cap` default to the task's: 64 each for the lab's tasks; for a
    chat task, `CHAT_PROMPT_CHARS` (or the longest known problem) and the task's `max_completion_length`.

    Compare sends the growing answers at most every `stream_interval` seconds (0:
    after every token). Up to `batch_users` Compare requests are answered at once,
    joined into one batched decode per model (`labkit.app.batching`); the rest wait in
    the queue. Joined, not run side by side on threads: a tiny model's token is
    mostly Python, which threads do not run in parallel (measured on 2 CPU cores,
    30 simultaneous requests on four threads took twice as long as one at a time),
    while one batched token for 30 users costs little more than for one.
    `benchmarks/demo_load.py` measures it.
    """
    records = records if records is not None else read_records("test", task)
    if not records:
        raise LabkitError("the demo needs at least one record with a prompt and an answer")
    task = task_of(records, task)
    example = records[0]["prompt"]
    records_by_prompt = {r["prompt"]: r for r in records}
    # The caps suit the task: a line of digits and a short answer for the lab's; for a chat task (GSM8K),
    # sentences (every known problem fits) and the task's own answer length.
    if max_prompt_chars is None:
        max_prompt_chars = max(CHAT_PROMPT_CHARS, *(len(p) for p in records_by_prompt)) if task.chat else 64
    if max_new_tokens_cap is None:
        max_new_tokens_cap = task.max_completion_length if task.chat else 64
    models = ((teacher_name, teacher), (student_name, student))
    tokenizers = (tokenizer, tokenizer if student_tokenizer is None else student_tokenizer)
    # The longest typed prompt: digits, one token each in the lab's tokenizers (and Qwen's, SmolLM's), plus the
    # task's last character; and the longest known problem, which the Arena and the examples send as they are.
    typed = "9" * max_prompt_chars + task.prompt_end
    positions_of = [getattr(getattr(model, "config", None), "max_position_embeddings", None) for _, model in models]
    for (name, model), tokens, positions in zip(models, tokenizers, positions_of):
        longest = max(
            len(tokens(task.model_text(p, tokens), add_special_tokens=False).input_ids) for p in [typed, *records_by_prompt]
        )
        needed = longest + max_new_tokens_cap
        if positions is not None and needed > positions:
            raise LabkitError(
                f"{name} reads at most {positions} positions and the longest prompt ({max_prompt_chars} characters, "
                f"or a known problem) plus {max_new_tokens_cap} new tokens needs {needed}; lower max_prompt_chars or "
                "max_new_tokens_cap (or leave the longest problems out of records)"
            )
        model.eval()  # once, here: the handlers only read the models
    picker = random.Random()
    # A fast tokenizer changes its padding settings (in Rust) when a call asks for other
    # padding than the last one, and two threads doing that at once fail ("Already borrowed").
    # So Compare and the Arena each get a private copy: Compare's never pads (the call below
    # settles its state once), and only one Arena runs at a time.
    compare_tokenizers = [copy.deepcopy(t) for t in tokenizers]
    arena_tokenizers = [copy.deepcopy(t) for t in tokenizers]
    for compare_tokenizer in compare_tokenizers:
        compare_tokenizer("0", add_special_tokens=False)
    # Every Compare request joins one batched decode per model, on one worker thread (`labkit.app.batching`).
    batcher = DecodeBatcher([model for _, model in models], compare_tokenizers)

    def prompt_ids(prompt: str, max_new_tokens: int) -> list[list[int]]:
        """The prompt as each model reads it (`Task.model_text`), or a `gr.Error` if it leaves no room to answer."""
        ids = []
        for (name, _), tokens, positions in zip(models, compare_tokenizers, positions_of):
            ids.append(tokens(task.model_text(prompt, tokens), add_special_tokens=False).input_ids)
            if positions is not None and len(ids[-1]) + max_new_tokens > positions:
                raise gr.Error(f"The prompt is too long for {name}, which reads {positions} positions; shorten it")
        return ids

    def compare(prompt: str, temperature: float, max_new_tokens: float, k: float, seed: float | None) -> Iterator[tuple]:
        try:
            prompt = check_prompt(prompt, compare_tokenizers, max_prompt_chars, task, example, records_by_prompt)
            settings = dict(
                k=int(min(max(k or 1, 1), MAX_SAMPLES)),
                temperature=float(min(max(temperature or 0.0, 0.0), MAX_TEMPERATURE)),
                max_new_tokens=int(min(max(max_new_tokens or 1, 1), max_new_tokens_cap)),
                seed=torch_seed(read_seed(seed)),
            )
            ids = prompt_ids(prompt, settings["max_new_tokens"])
        except gr.Error as error:
            # Replace the last problem's answers and verdicts, then let gradio show the message too.
            yield "", "", not_answered(error), not_answered(error)
            raise
        request = batcher.submit(ids, **settings)
        record = known_record(prompt, records_by_prompt, task)

        def answers(m: int) -> list[str]:
            return compare_tokenizers[m].batch_decode(request.groups[m].answer_ids, skip_special_tokens=True)

        try:
            while not request.wait(stream_interval):  # a screen shows no faster, and every update costs a message
                yield (
                    *(_show(answers(m)) for m in range(len(models))),
                    *(f"generating... {g.tokens} token{'' if g.tokens == 1 else 's'}" for g in request.groups),
                )
        except Exception as failure:  # the models failed (out of memory, ...): say so where the verdicts were
            error = gr.Error(f"The models could not answer: {type(failure).__name__}: {failure}")
            yield "", "", not_answered(error), not_answered(error)
            raise error from failure
        finally:
            request.cancel()  # a user who left stops costing rows at the next token; a finished request loses nothing
        yield (
            *(_show(answers(m)) for m in range(len(models))),
            *(describe_answers(answers(m), g.tokens, g.seconds, record, task) for m, g in enumerate(request.groups)),
        )

    def random_problem() -> str:
        return picker.choice(records)["prompt"]

    def arena(problems: float, seed: float | None, progress: gr.Progress = gr.Progress()) -> Iterator[tuple]:  # noqa: B008
        n = int(min(max(problems or 1, 1), MAX_ARENA_PROBLEMS, len(records)))
        try:
            chosen = random.Random(read_seed(seed)).sample(records, n)
        except gr.Error:
            yield pd.DataFrame(columns=list(ARENA_FORMATS)), None, pd.DataFrame(columns=wrong_columns)  # nothing stale
            raise
        rows, answers = [], []
        for index, ((name, model), arena_tokenizer) in enumerate(zip(models, arena_tokenizers)):
            progress(index / len(models), desc=f"{name}: {n} problems")
            # The same measurement as `labkit run`'s table and notebooks 04-05.
            row = model_row(
                model,
                arena_tokenizer,
                chosen,
                max_new_tokens=max_new_tokens_cap,
                latency_problems=ARENA_LATENCY_PROBLEMS,
                task=task,
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
        yield arena_styled(table), arena_figure(table), wrong_table(chosen, answers)

    wrong_columns = ["problem", "reference", *(f"{name} said" for name, _ in models), "wrong"]

    def wrong_table(chosen: list[dict], answers: list[list[str]]) -> pd.DataFrame:
        """One row for each problem that at least one model got wrong: what each said, and who was wrong."""
        rows = []
        for i, record in enumerate(chosen):
            wrong = [name for (name, _), said in zip(models, answers) if not task.is_correct(said[i], record)]
            if wrong:
                said = [a[i][:MAX_SHOWN_ANSWER] for a in answers]
                rows.append([record["prompt"], str(record["answer"]), *said, "both" if len(wrong) == len(models) else wrong[0]])
        return pd.DataFrame(rows, columns=wrong_columns)

    def problem_record(problem: str) -> dict | None:
        """The Reward tab's problem as a record: typed with or without spaces or the task's last character."""
        prompt = canonical_prompt(problem, task, records_by_prompt)
        if prompt is None and not problem.endswith(task.prompt_end):
            prompt = canonical_prompt(problem + task.prompt_end, task, records_by_prompt)
        record = None if prompt is None else known_record(prompt, records_by_prompt, task)
        if record is None and task.name == "sums":
            record = {"answer": problem}  # for the sums, a bare reference answer will do
        return record

    def score(text: str, problem: str) -> Iterator[pd.DataFrame]:
        try:
            text, problem = text or "", (problem or "").strip()[:MAX_COMPLETION_CHARS]
            if len(text) > MAX_COMPLETION_CHARS:
                raise gr.Error(f"The completion is {len(text):,} characters long; the limit is {MAX_COMPLETION_CHARS:,}")
            if not problem:
                raise gr.Error(f"Give the problem too, for example {example}")
            record = problem_record(problem)
            if record is None:
                raise gr.Error(f"{problem[:40]!r} is not a problem this task can judge; try one like {example}")
        except gr.Error:
            yield pd.DataFrame(columns=SCORE_COLUMNS)  # no stale table under the message
            raise
        yield pd.DataFrame(explain_rewards(text, record, task), columns=SCORE_COLUMNS)

    # Laid out for a projector: at 1280x720 and 150% zoom (853x480 CSS pixels) the problem, both answers and
    # both verdicts fit on one screen (tests/test_browser.py). So the title is one line, the explainer is a
    # tab, and the examples and sampling settings come after the answers.
    with gr.Blocks(title="labkit: teacher vs student", analytics_enabled=False) as app:
        gr.Markdown(f"**{teacher_name} vs {student_name}**: {task.describe()}, answered by both models at once.")
        with gr.Tab("Compare"):
            with gr.Row(equal_height=True):
                # No max_length: the browser would cut a pasted prompt without a word; the handler says what is wrong.
                prompt = gr.Textbox(
                    label=f"problem (up to {max_prompt_chars} characters; spaces are fine)",
                    placeholder=example,
                    scale=4,
                    elem_id="prompt",
                )
                run_button = gr.Button("answer", variant="primary", scale=1, elem_id="answer")
                random_button = gr.Button("random problem", scale=1)
            columns = []
            with gr.Row(equal_height=False):  # the two models side by side
                for role, (name, model) in zip(("teacher", "student"), models):
                    with gr.Column():
                        gr.Markdown(model_card(name, model), elem_id=f"{role}-card")
                        answer_box = gr.Textbox(
                            label=f"{name} answers", show_label=False, lines=2, interactive=False, elem_id=f"{role}-answer"
                        )  # the card above names it
                        # The label is not shown; it names the output for gradio_client and the API page.
                        columns.append((answer_box, gr.Markdown(label=f"{name} verdict", elem_id=f"{role}-stats")))
            gr.Examples([[r["prompt"]] for r in records[:5]], inputs=[prompt], label="test problems")
            with gr.Accordion("sampling: temperature, sample k, seed, max new tokens", open=False):
                with gr.Row():
                    temperature = gr.Slider(0.0, MAX_TEMPERATURE, value=0.0, step=0.05, label="temperature (0 = greedy)")
                    max_new_tokens = gr.Slider(
                        1,
                        max_new_tokens_cap,
                        value=min(max(48, task.max_completion_length), max_new_tokens_cap),
                        step=1,
                        label="max new tokens",
                    )
                    k = gr.Slider(1, MAX_SAMPLES, value=1, step=1, label="sample k (answers per model; raise the temperature)")
                    seed = gr.Number(value=0, precision=0, label="seed (sampling)")
            (teacher_text, teacher_stats), (student_text, student_stats) = columns
            gr.on(
                [run_button.click, prompt.submit],
                compare,
                inputs=[prompt, temperature, max_new_tokens, k, seed],
                outputs=[teacher_text, student_text, teacher_stats, student_stats],
                api_name="compare",
                concurrency_limit=batch_users,  # they wait on the batcher, which does the work
            )
            random_button.click(random_problem, inputs=None, outputs=prompt, api_name="random_problem")
        with gr.Tab("Arena"):
            with gr.Row():
                problems = gr.Slider(
                    # gradio refuses a slider from 1 to 1; the handler takes no more problems than there are
                    1,
                    max(2, min(MAX_ARENA_PROBLEMS, len(records))),
                    value=min(50, len(records)),
                    step=1,
                    label="problems",
                )
                arena_seed = gr.Number(value=0, precision=0, label="seed (which problems)")
                arena_button = gr.Button("run the arena", variant="primary")
            arena_table = gr.Dataframe(label="greedy, batched, held-out problems", headers=list(ARENA_FORMATS), interactive=False)
            arena_plot = gr.Plot(label="accuracy and speed")
            wrong = gr.Dataframe(label=WRONG_LABEL, headers=wrong_columns, interactive=False, wrap=True)
            # One Arena at a time: it is a batch job that would slow everyone's Compare down.
            arena_button.click(
                arena, [problems, arena_seed], [arena_table, arena_plot, wrong], api_name="arena", concurrency_limit=1
            )
        with gr.Tab("Reward"):
            worked = task.reference_completion(records[0], scratchpad=bool(records[0].get("scratchpad")))
            completion_box = gr.Textbox(label="completion", value=worked, lines=3)
            problem_box = gr.Textbox(
                label="problem" + (" (or the reference answer)" if task.name == "sums" else ""), value=example
            )
            score_button = gr.Button("score", variant="primary")
            score_table = gr.Dataframe(label="rule rewards and why", headers=SCORE_COLUMNS, interactive=False, wrap=True)
            score_button.click(score, [completion_box, problem_box], score_table, api_name="score")
        with gr.Tab("What am I looking at?"):
            gr.Markdown(about(task))
    app.queue(default_concurrency_limit=1, max_size=256)
    app.labkit_css = PROJECTOR_CSS  # gradio 6 takes css at launch: `labkit.app.serve.launch` passes it
    return app


# Where and what the app serves; imported here so that a notebook needs one import line.
from .serve import check_port, free_port, jupyter_proxy_path, launch, load_pair, load_run, run_task  # noqa: E402, F401
