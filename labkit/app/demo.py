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

This file is the page: one builder a tab, and `build_app`, which binds each handler to the state.
What the page does is `labkit.app.handlers` (`DemoState`, built and checked once, and the handlers as
plain functions of it, which a test calls without gradio's `Blocks`). Checking a port, launching and
loading a run folder are `labkit.app.serve` (imported here too, so
`from labkit.app.demo import launch, load_run` keeps working).
"""

from __future__ import annotations

import os
from functools import partial
from typing import Any

# Offline by default: no usage statistics sent from a learner's or instructor's machine.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr  # noqa: E402
import torch  # noqa: E402
from transformers import PreTrainedTokenizerBase  # noqa: E402

from ..models import count_parameters  # noqa: E402
from .explain import about  # noqa: E402
from .handlers import (  # noqa: E402
    ARENA_FORMATS,
    MAX_ARENA_PROBLEMS,
    MAX_SAMPLES,
    MAX_TEMPERATURE,
    SCORE_COLUMNS,
    DemoState,
    arena,
    compare,
    random_problem,
    score,
)

WRONG_LABEL = "problems a model got wrong (greedy)"
# Tighter than gradio's spacing, so a projector's screen holds the problem, both answers and both verdicts.
PROJECTOR_CSS = ".gradio-container {padding-top: 4px !important} #teacher-stats p, #student-stats p {margin: 0}"


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


# --- The page: one builder a tab ------------------------------------------------------------------------
# Laid out for a projector: at 1280x720 and 150% zoom (853x480 CSS pixels) the problem, both answers and
# both verdicts fit on one screen (tests/test_browser.py). So the title is one line, the explainer is a
# tab, and the examples and sampling settings come after the answers.


def compare_tab(state: DemoState, batch_users: int, stream_interval: float) -> None:
    task, records = state.task, state.records
    with gr.Tab("Compare"):
        with gr.Row(equal_height=True):
            # No max_length: the browser would cut a pasted prompt without a word; the handler says what is wrong.
            prompt = gr.Textbox(
                label=f"problem (up to {state.max_prompt_chars} characters; spaces are fine)",
                placeholder=state.example,
                scale=4,
                elem_id="prompt",
            )
            run_button = gr.Button("answer", variant="primary", scale=1, elem_id="answer")
            random_button = gr.Button("random problem", scale=1)
        columns = []
        with gr.Row(equal_height=False):  # the two models side by side
            for role, (name, model) in zip(("teacher", "student"), state.models):
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
                    state.max_new_tokens_cap,
                    value=min(max(48, task.max_completion_length), state.max_new_tokens_cap),
                    step=1,
                    label="max new tokens",
                )
                k = gr.Slider(1, MAX_SAMPLES, value=1, step=1, label="sample k (answers per model; raise the temperature)")
                seed = gr.Number(value=0, precision=0, label="seed (sampling)")
        (teacher_text, teacher_stats), (student_text, student_stats) = columns
        gr.on(
            [run_button.click, prompt.submit],
            partial(compare, state, stream_interval=stream_interval),
            inputs=[prompt, temperature, max_new_tokens, k, seed],
            outputs=[teacher_text, student_text, teacher_stats, student_stats],
            api_name="compare",
            concurrency_limit=batch_users,  # they wait on the batcher, which does the work
        )
        random_button.click(partial(random_problem, state), inputs=None, outputs=prompt, api_name="random_problem")


def arena_tab(state: DemoState) -> None:
    with gr.Tab("Arena"):
        with gr.Row():
            problems = gr.Slider(
                # gradio refuses a slider from 1 to 1; the handler takes no more problems than there are
                1,
                max(2, min(MAX_ARENA_PROBLEMS, len(state.records))),
                value=min(50, len(state.records)),
                step=1,
                label="problems",
            )
            arena_seed = gr.Number(value=0, precision=0, label="seed (which problems)")
            arena_button = gr.Button("run the arena", variant="primary")
        arena_table = gr.Dataframe(label="greedy, batched, held-out problems", headers=list(ARENA_FORMATS), interactive=False)
        arena_plot = gr.Plot(label="accuracy and speed")
        wrong = gr.Dataframe(label=WRONG_LABEL, headers=state.wrong_columns, interactive=False, wrap=True)
        # One Arena at a time: it is a batch job that would slow everyone's Compare down.
        arena_button.click(
            partial(arena, state), [problems, arena_seed], [arena_table, arena_plot, wrong], api_name="arena", concurrency_limit=1
        )


def reward_tab(state: DemoState) -> None:
    task, first = state.task, state.records[0]
    with gr.Tab("Reward"):
        worked = task.reference_completion(first, scratchpad=bool(first.get("scratchpad")))
        completion_box = gr.Textbox(label="completion", value=worked, lines=3)
        problem_box = gr.Textbox(
            label="problem" + (" (or the reference answer)" if task.name == "sums" else ""), value=state.example
        )
        score_button = gr.Button("score", variant="primary")
        score_table = gr.Dataframe(label="rule rewards and why", headers=SCORE_COLUMNS, interactive=False, wrap=True)
        score_button.click(partial(score, state), [completion_box, problem_box], score_table, api_name="score")


def build_app(
    teacher: torch.nn.Module,
    student: torch.nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    *,
    batch_users: int = 64,
    stream_interval: float = 0.2,
    **settings: Any,
) -> gr.Blocks:
    """The three-tab app over two causal LMs: they share `tokenizer`, or the student has its own
    (`student_tokenizer`: a hub chat model of another family, notebook 06's pair). `settings` are
    `DemoState.build`'s: `student_tokenizer`, `records`, `task`, `teacher_name`, `student_name`,
    `max_new_tokens_cap`, `max_prompt_chars`.

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
    `benchmarks/demo_load.py` measures it. The app's `labkit_state` is the `DemoState` its handlers read.
    """
    state = DemoState.build(teacher, student, tokenizer, **settings)
    teacher_name, student_name = (name for name, _ in state.models)
    with gr.Blocks(title="labkit: teacher vs student", analytics_enabled=False) as app:
        gr.Markdown(f"**{teacher_name} vs {student_name}**: {state.task.describe()}, answered by both models at once.")
        compare_tab(state, batch_users, stream_interval)
        arena_tab(state)
        reward_tab(state)
        with gr.Tab("What am I looking at?"):
            gr.Markdown(about(state.task))
    app.queue(default_concurrency_limit=1, max_size=256)
    app.labkit_css = PROJECTOR_CSS  # gradio 6 takes css at launch: `labkit.app.serve.launch` passes it
    app.labkit_state = state
    return app


# Where and what the app serves; imported here so that a notebook needs one import line.
from .serve import check_port, free_port, jupyter_proxy_path, launch, load_pair, load_run, run_task  # noqa: E402, F401
