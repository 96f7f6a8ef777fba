"""The Gradio app: a teacher and its distilled student, side by side.

Three tabs, each also an API endpoint that `gradio_client` can call:

    Compare  (api "compare", "random_problem")  both models answer one prompt at once,
             streamed as the answers grow, with the verdict, the rule rewards, tokens,
             latency and tokens/s under each answer; "sample k" shows k answers per
             model and how often they agree.
    Arena    (api "arena")   N random held-out problems through both models, batched
             and greedy: `evaluate.model_row`'s accuracy, format, length, tokens/s
             and latency, in a table and a plot.
    Reward   (api "score")   any completion and a problem: each rule reward and why.

Generation in Compare is written out by hand so it can stream: one forward pass a
token with the KV cache (`model(ids, cache=cache, use_cache=True)`; older
transformers call it `past_key_values`), greedy at temperature 0, otherwise
sampled from softmax(logits / T) with a generator local to the request (no
global seed is touched, so concurrent users do not disturb each other's
samples). The two models take turns, one token each, and each model's latency
counts only its own forward passes.

Safe defaults for a shared server: prompts, max new tokens, temperature, k and
the Arena's N are capped (by the sliders and again in the handlers), bad input
becomes a `gr.Error` message, and the queue lines requests up (one Compare and
one Arena at a time by default), so a burst of users waits instead of failing.
`load_run` picks the models of a finished `labkit run` folder; `labkit demo` serves it.
The words under each answer and in the Reward tab come from `labkit.explain`.

Why one file of about 360 lines: `build_app` is the layout and its handlers, which
read best together; checking a port, launching and loading a run folder follow it.
"""

from __future__ import annotations

import copy
import os
import random
import time
from collections.abc import Iterator
from pathlib import Path

# Offline by default: no usage statistics sent from a learner's or instructor's machine.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr  # noqa: E402
import pandas as pd
import torch
from matplotlib.figure import Figure
from transformers import PreTrainedTokenizerBase

from .evaluate import model_row
from .explain import describe_answers, explain_rewards, known_record
from .models import count_parameters, load_model
from .runtime import LabkitError, pick_device
from .sampling import AnswerStream
from .tasks import Task, completion, get_task, read_records, task_of

MAX_TEMPERATURE = 1.5
MAX_SAMPLES = 8  # k of "sample k"
MAX_ARENA_PROBLEMS = 200
MAX_COMPLETION_CHARS = 10_000  # Reward tab input
ARENA_LATENCY_PROBLEMS = 5  # answered one at a time for the latency column (after one warm-up answer)


def check_prompt(
    prompt: str | None, tokenizer: PreTrainedTokenizerBase, max_chars: int, task: Task | None = None, example: str = "23+58+91="
) -> str:
    """The prompt as the models see it (stripped, ending as the task's prompts end), or a `gr.Error` saying what is wrong."""
    task = get_task(task)
    prompt = (prompt or "").strip()
    if not prompt:
        raise gr.Error(f"Type a problem first, for example {example}")
    if len(prompt) > max_chars:
        raise gr.Error(f"The prompt is {len(prompt)} characters long; the limit is {max_chars}. Try a problem like {example}")
    if not prompt.endswith(task.prompt_end):
        prompt += task.prompt_end  # the task's prompts all end with it ('=' for the sums)
    unknown = tokenizer.unk_token_id
    if unknown is not None and unknown in tokenizer(prompt, add_special_tokens=False).input_ids:
        raise gr.Error("The prompt has characters the model's tokenizer does not know; use digits, + - * / ( ) = and spaces")
    return prompt


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
    return f"### {name}\n{parameters:,} parameters · {size / 1e6:.2f} MB ({dtype}){shape}"


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


# --- The app --------------------------------------------------------------------------------------


def build_app(
    teacher: torch.nn.Module,
    student: torch.nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    *,
    records: list[dict] | None = None,
    task: str | Task | None = None,
    teacher_name: str = "teacher",
    student_name: str = "student",
    max_new_tokens_cap: int = 64,
    max_prompt_chars: int = 64,
    concurrency_limit: int = 1,
    stream_interval: float = 0.05,
) -> gr.Blocks:
    """The three-tab app over two causal LMs that share `tokenizer`.

    `records` (a task's records, default its test split) are the known problems:
    the examples, the random problems and the Arena's draws; answers are judged
    by `task`'s rules (default: the task the records name, else the sums), and a
    typed problem outside the records by the record the task makes of it
    (`Task.record_of_prompt`), else it has no verdict.

    Compare sends the growing answers at most every `stream_interval` seconds (0:
    after every token). `concurrency_limit` Compare requests run at once and the
    rest wait in the queue. One is the default because generating a token of a
    tiny model is mostly Python, which threads do not run in parallel: measured on
    2 CPU cores, 30 simultaneous requests were answered about twice as fast one
    at a time as four at a time. Raise it for larger models on a GPU.
    """
    records = records if records is not None else read_records("test", task)
    if not records:
        raise LabkitError("the demo needs at least one record with a prompt and an answer")
    task = task_of(records, task)
    example = records[0]["prompt"]
    records_by_prompt = {r["prompt"]: r for r in records}
    models = ((teacher_name, teacher), (student_name, student))
    for name, model in models:
        positions = getattr(getattr(model, "config", None), "max_position_embeddings", None)
        if positions is not None and max_prompt_chars + 1 + max_new_tokens_cap > positions:
            raise LabkitError(
                f"{name} reads at most {positions} positions; lower max_prompt_chars ({max_prompt_chars}) "
                f"or max_new_tokens_cap ({max_new_tokens_cap})"
            )
        model.eval()  # once, here: the handlers only read the models
    picker = random.Random()
    # A fast tokenizer changes its padding settings (in Rust) when a call asks for other
    # padding than the last one, and two threads doing that at once fail ("Already borrowed").
    # So Compare and the Arena each get a private copy: Compare's never pads (the call below
    # settles its state once), and only one Arena runs at a time.
    compare_tokenizer, arena_tokenizer = copy.deepcopy(tokenizer), copy.deepcopy(tokenizer)
    compare_tokenizer("0", add_special_tokens=False)

    def compare(prompt: str, temperature: float, max_new_tokens: float, k: float, seed: float | None) -> Iterator[tuple]:
        prompt = check_prompt(prompt, compare_tokenizer, max_prompt_chars, task, example)
        prompt_ids = compare_tokenizer(prompt, add_special_tokens=False, return_tensors="pt").input_ids
        settings = dict(
            k=int(min(max(k or 1, 1), MAX_SAMPLES)),
            temperature=float(min(max(temperature or 0.0, 0.0), MAX_TEMPERATURE)),
            max_new_tokens=int(min(max(max_new_tokens or 1, 1), max_new_tokens_cap)),
            seed=int(seed or 0),
        )
        streams = [AnswerStream(model, compare_tokenizer, prompt_ids, **settings) for _, model in models]
        record = known_record(prompt, records_by_prompt, task)
        shown = 0.0
        while not all(stream.done for stream in streams):
            for stream in streams:  # the two models take turns, one token each
                if not stream.done:
                    stream.step()
            if time.perf_counter() - shown < stream_interval:
                continue  # a screen shows no faster, and every update costs the server a message
            shown = time.perf_counter()
            yield (
                *(_show(s.texts) for s in streams),
                *(f"generating... {s.tokens} token{'' if s.tokens == 1 else 's'}" for s in streams),
            )
        yield (
            *(_show(s.texts) for s in streams),
            *(describe_answers(s.texts, s.tokens, s.seconds, record, task) for s in streams),
        )

    def random_problem() -> str:
        return picker.choice(records)["prompt"]

    def arena(problems: float, seed: float | None, progress: gr.Progress = gr.Progress()) -> tuple[pd.DataFrame, Figure]:  # noqa: B008
        n = int(min(max(problems or 1, 1), MAX_ARENA_PROBLEMS, len(records)))
        chosen = random.Random(int(seed or 0)).sample(records, n)
        rows = []
        for index, (name, model) in enumerate(models):
            progress(index / len(models), desc=f"{name}: {n} problems")
            # The same measurement as `labkit run`'s table and notebooks 04-05.
            row = model_row(
                model,
                arena_tokenizer,
                chosen,
                max_new_tokens=max_new_tokens_cap,
                latency_problems=ARENA_LATENCY_PROBLEMS,
                task=task,
            )
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
        table = pd.DataFrame(rows).round(3)
        return table, arena_figure(table)

    def score(text: str, problem: str) -> pd.DataFrame:
        text, problem = text or "", (problem or "").strip()[:MAX_COMPLETION_CHARS]
        if len(text) > MAX_COMPLETION_CHARS:
            raise gr.Error(f"The completion is {len(text):,} characters long; the limit is {MAX_COMPLETION_CHARS:,}")
        if not problem:
            raise gr.Error(f"Give the problem too, for example {example}")
        record = known_record(problem, records_by_prompt, task)
        if record is None and task.name == "sums":
            record = {"answer": problem}  # for the sums, a bare reference answer will do
        if record is None:
            raise gr.Error(f"{problem[:40]!r} is not a problem this task can judge; try one like {example}")
        return pd.DataFrame(explain_rewards(text, record, task), columns=["reward", "value", "why"])

    with gr.Blocks(title="labkit: teacher vs student", analytics_enabled=False) as app:
        gr.Markdown(f"# {teacher_name} vs {student_name}\n{task.describe()}, answered by both models at once.")
        with gr.Tab("Compare"):
            with gr.Row():
                prompt = gr.Textbox(label="problem", placeholder=example, max_length=max_prompt_chars, scale=4, elem_id="prompt")
                random_button = gr.Button("random test problem", scale=1)
                run_button = gr.Button("answer", variant="primary", scale=1, elem_id="answer")
            gr.Examples([[r["prompt"]] for r in records[:5]], inputs=[prompt], label="test problems")
            with gr.Row():
                temperature = gr.Slider(0.0, MAX_TEMPERATURE, value=0.0, step=0.05, label="temperature (0 = greedy)")
                max_new_tokens = gr.Slider(
                    1, max_new_tokens_cap, value=min(48, max_new_tokens_cap), step=1, label="max new tokens"
                )
                k = gr.Slider(1, MAX_SAMPLES, value=1, step=1, label="sample k (answers per model; raise the temperature)")
                seed = gr.Number(value=0, precision=0, label="seed (sampling)")
            columns = []
            with gr.Row(equal_height=False):  # the two models side by side
                for role, (name, model) in zip(("teacher", "student"), models):
                    with gr.Column():
                        gr.Markdown(model_card(name, model), elem_id=f"{role}-card")
                        answer_box = gr.Textbox(label=f"{name} answers", lines=3, interactive=False, elem_id=f"{role}-answer")
                        columns.append((answer_box, gr.Markdown(elem_id=f"{role}-stats")))
            (teacher_text, teacher_stats), (student_text, student_stats) = columns
            gr.on(
                [run_button.click, prompt.submit],
                compare,
                inputs=[prompt, temperature, max_new_tokens, k, seed],
                outputs=[teacher_text, student_text, teacher_stats, student_stats],
                api_name="compare",
            )
            random_button.click(random_problem, inputs=None, outputs=prompt, api_name="random_problem")
        with gr.Tab("Arena"):
            with gr.Row():
                problems = gr.Slider(
                    1, min(MAX_ARENA_PROBLEMS, len(records)), value=min(50, len(records)), step=1, label="problems"
                )
                arena_seed = gr.Number(value=0, precision=0, label="seed (which problems)")
                arena_button = gr.Button("run the arena", variant="primary")
            arena_table = gr.Dataframe(label="greedy, batched, held-out problems", interactive=False)
            arena_plot = gr.Plot(label="accuracy and speed")
            # One Arena at a time: it is a batch job that would slow everyone's Compare down.
            arena_button.click(arena, [problems, arena_seed], [arena_table, arena_plot], api_name="arena", concurrency_limit=1)
        with gr.Tab("Reward"):
            worked = completion(records[0], scratchpad=bool(records[0].get("scratchpad")))
            completion_box = gr.Textbox(label="completion", value=worked, lines=3)
            problem_box = gr.Textbox(
                label="problem" + (" (or the reference answer)" if task.name == "sums" else ""), value=example
            )
            score_button = gr.Button("score", variant="primary")
            score_table = gr.Dataframe(label="rule rewards and why", interactive=False, wrap=True)
            score_button.click(score, [completion_box, problem_box], score_table, api_name="score")
    app.queue(default_concurrency_limit=concurrency_limit, max_size=256)
    return app


def check_port(port: int | None, host: str = "127.0.0.1") -> None:
    """Nothing if the app can listen on `port` at `host` (None: gradio picks 7860 or the next free one), else a `LabkitError`."""
    import errno
    import socket

    if port is None:
        return
    fix = "pass --port (port= in Python) with a free port, or leave it out to take 7860 or the next free one"
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise LabkitError(f"port {port!r} is not a whole number between 1 and 65535; {fix}")
    try:
        family, kind, _, _, address = socket.getaddrinfo(host.strip("[]"), port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror:
        return  # an unknown host: the server says so when it starts
    # Bound as the server binds (SO_REUSEADDR), so a port a closed server left in TIME_WAIT still counts as free.
    with socket.socket(family, kind) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                raise LabkitError(f"port {port} on {host} is already in use; {fix}") from None
            if error.errno == errno.EACCES:
                raise LabkitError(f"port {port} needs administrator rights (ports below 1024 usually do); {fix}") from None
            raise LabkitError(f"cannot listen on {host}:{port} ({error.strerror}); check --host and --port") from None


def jupyter_proxy_path(port: int) -> str | None:
    """Where a browser reaches `port` through jupyter-server-proxy on a JupyterHub such as Binder
    (`{JUPYTERHUB_SERVICE_PREFIX}proxy/PORT`), or None when not on one."""
    prefix = os.environ.get("JUPYTERHUB_SERVICE_PREFIX")
    return f"{prefix.rstrip('/')}/proxy/{port}" if prefix else None


def free_port(start: int = 7860) -> int:
    """The first port from `start` that the app can listen on (gradio's own choice, made before launching)."""
    for port in range(start, start + 100):
        try:
            check_port(port)
            return port
        except LabkitError:
            continue
    raise LabkitError(f"no free port in {start}-{start + 99}; pass one with --port")


def launch(app: gr.Blocks, host: str = "127.0.0.1", port: int | None = None, share: bool = False, **kwargs) -> tuple:
    """Serve the app, locally and without a public link unless asked; returns what `Blocks.launch` does.

    Blocks until interrupted unless `prevent_thread_lock=True` (tests, notebooks). A port out of
    range or already taken is a `LabkitError` (see `check_port`) before gradio starts. On a JupyterHub
    (Binder) the app is also told the path it is served under through jupyter-server-proxy
    (`root_path`, see `jupyter_proxy_path`): without it the page loads but its scripts are asked for at
    the wrong address and nothing renders (tests/test_browser.py serves it behind a real proxy).
    """
    check_port(port, host)
    if "root_path" not in kwargs and os.environ.get("JUPYTERHUB_SERVICE_PREFIX"):
        port = port or free_port()
        kwargs["root_path"] = jupyter_proxy_path(port)
    kwargs.setdefault("ssr_mode", False)  # server-side rendering needs Node; the plain server is enough
    return app.launch(server_name=host, server_port=port, share=share, **kwargs)


# --- A finished run ---------------------------------------------------------------------------------

# (checkpoint folder, the pipeline stage that finishes it, the name shown), best first.
TEACHER_CHECKPOINTS = (("teacher_grpo", "grpo_teacher", "teacher after GRPO"), ("teacher_base", "warmup_teacher", "teacher base"))
STUDENT_CHECKPOINTS = (
    ("student_sequence_kd", "student_sequence_kd", "student: sequence KD"),
    ("student_base", "warmup_student", "student base"),
)


def _finished_checkpoint(run_dir: Path, choices: tuple[tuple[str, str, str], ...]) -> tuple[Path, str] | None:
    """The first checkpoint whose stage finished (its `stages/*.json` is written after the weights)."""
    for folder, stage, name in choices:
        path = run_dir / folder
        if (
            (run_dir / "stages" / f"{stage}.json").exists()
            and (path / "config.json").exists()
            and any(path.glob("*.safetensors"))
        ):
            return path, name
    return None


def run_task(run_dir: str | os.PathLike) -> Task:
    """The task a `labkit run` folder was made on (its config.json; runs made before tasks had names: the sums).
    A task defined in a notebook cannot be made again from here: build the app there, with `task=`."""
    import json

    config = Path(run_dir) / "config.json"
    made = json.loads(config.read_text()) if config.exists() else {}
    spec = made.get("task_spec") or made.get("task")
    if spec and spec.startswith("__main__:"):
        raise LabkitError(
            f"{run_dir} was made on a task defined in a notebook or script; serve it from there with build_app(task=...)"
        )
    return get_task(spec)


def load_run(
    run_dir: str | os.PathLike, *, device: torch.device | str | None = None
) -> tuple[torch.nn.Module, torch.nn.Module, PreTrainedTokenizerBase, tuple[str, str]]:
    """(teacher, student, tokenizer, (teacher name, student name)) from a finished `labkit run` folder.

    The teacher is `teacher_grpo/`, else `teacher_base/`; the student
    `student_sequence_kd/`, else `student_base/`. A folder counts only if its stage
    finished, so a checkpoint left by an interrupted or outdated stage is skipped.
    """
    run_dir = Path(run_dir)
    hint = "run `labkit run --profile quick` (about a minute) or `labkit run` to make one, or pass --run FOLDER"
    if not run_dir.is_dir():
        raise LabkitError(f"{run_dir} is not a run folder; {hint}")
    teacher_choice = _finished_checkpoint(run_dir, TEACHER_CHECKPOINTS)
    student_choice = _finished_checkpoint(run_dir, STUDENT_CHECKPOINTS)
    for role, choice, folders in (
        ("teacher", teacher_choice, TEACHER_CHECKPOINTS),
        ("student", student_choice, STUDENT_CHECKPOINTS),
    ):
        if choice is None:
            wanted = " or ".join(f"{folder}/" for folder, _, _ in folders)
            raise LabkitError(f"{run_dir} has no finished {role} ({wanted}); {hint}")
    device = device or pick_device()
    teacher, tokenizer = load_model(teacher_choice[0], device=device)
    student, student_tokenizer = load_model(student_choice[0], device=device)
    if student_tokenizer.get_vocab() != tokenizer.get_vocab():
        raise LabkitError(f"the teacher and student of {run_dir} use different tokenizers; the demo needs one")
    return teacher, student, tokenizer, (teacher_choice[1], student_choice[1])
