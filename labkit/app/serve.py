"""Serving the app: a port that is free, Jupyter's proxy, launching, and the models of a finished run.

    check_port(7860)          nothing, or one line saying why the app cannot listen there
    launch(app, port=None)    gradio's launch with the port checked and Jupyter's root path set
    load_run("runs/default")  the run's teacher after GRPO and its best student, with one tokenizer
    run_task("runs/default")  the task the run was made on
    load_pair(teacher, student, task, data)  any two models (folders or hub ids), each with its own
                              tokenizer, and the held-out records to serve them on (notebook 06's pair)

`labkit.app.demo.build_app` makes the app; `labkit demo` puts the two together.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from transformers import PreTrainedTokenizerBase

from ..models import load_model
from ..runtime import LabkitError, jupyter_proxy_path, pick_device
from ..tasks import Task, get_task

if TYPE_CHECKING:  # only named in a signature; the app itself comes from labkit.app.demo
    import gradio as gr


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
    if getattr(app, "labkit_css", None):
        kwargs.setdefault("css", app.labkit_css)  # the demo's projector spacing (gradio 6 takes css here)
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
        raise LabkitError(
            f"the teacher and student of {run_dir} use different tokenizers; serve them with "
            f"`labkit demo --teacher {teacher_choice[0]} --student {student_choice[0]}`"
        )
    return teacher, student, tokenizer, (teacher_choice[1], student_choice[1])


def load_pair(
    teacher: str,
    student: str,
    task: str | Task | None = None,
    data: str | None = None,
    *,
    device: torch.device | str | None = None,
) -> dict:
    """What `build_app` needs to serve two models that are not a run's: {teacher, student, tokenizer,
    student_tokenizer, records, task, teacher_name, student_name} (the app sizes its caps from the task).

    `teacher`, `student`: saved model folders or hub ids (`models.load_model`). Without `task`, chat
    models are served on GSM8K and the lab's own on the sums (`tasks.task_for`).
    GSM8K's test records come from `data` (`tasks.gsm8k.load_gsm8k`: "openai/gsm8k" by default, "sample"
    or a local copy offline); a lab task's from its test split.
    """
    from ..tasks import held_out_records, task_for

    device = device or pick_device()
    teacher_model, teacher_tokenizer = load_model(teacher, device=device, dtype=torch.float32)
    student_model, student_tokenizer = load_model(student, device=device, dtype=torch.float32)
    task = task_for(teacher_tokenizer, task)
    records = held_out_records(task, data)
    name = lambda model: Path(model).name if Path(model).exists() else str(model)  # noqa: E731
    return {
        "teacher": teacher_model,
        "student": student_model,
        "tokenizer": teacher_tokenizer,
        "student_tokenizer": student_tokenizer,
        "records": records,
        "task": task,
        "teacher_name": name(teacher),
        "student_name": name(student),
    }
