"""The lab's run, headless: `labkit run` and the notebooks share it.

One pipeline for every task (`tasks.Task`): `labkit run --task countdown` runs the
same stages on Countdown's data with Countdown's rewards.

    data -> warm-up of the teacher-size and student-size base models -> their evaluation
         -> GRPO on the teacher -> its evaluation -> teacher traces (rejection sampling)
         -> the students (`run.students.STUDENT_RECIPES`), each from the same student base
            on the same budget, each evaluated

Each step is a `run.stages.Stage` in `lab_stages()`: what it runs, the part of the profile
(`profiles.py`) it depends on, the stages it needs and what it writes in the run
folder. A second call reuses every finished stage whose settings and inputs are
unchanged (editing a file in `data/` reruns everything built on it). The table
at the end is `run.report.summary_table`.

    teacher_base/  student_base/  teacher_grpo/  student_<method>/    safetensors checkpoints
    traces.jsonl                                                      the teacher's kept traces
"""

from __future__ import annotations

import copy
import dataclasses
import os
import time
from pathlib import Path

from ..evaluate import model_row
from ..grpo_loop import tokens_of_run, train_grpo
from ..models import build_model, count_parameters, load_model, save_model, size_on_disk
from ..pretrain import train_warmup
from ..runtime import describe_device, peak_gpu_memory_mb, peak_memory_mb, pick_device
from ..sampling import MAX_COMPLETION_LENGTH
from ..tasks import DEFAULT_TASK, SPLITS, Task, data_dir_of, read_records, split_digest
from ..traces import load_traces, save_traces, teacher_traces
from .costs import training_flops
from .profiles import Profile, get_profile, task_for_profile
from .report import summary_table, table_rows
from .stages import Run, Stage, clear_run, last_stage, run_stages
from .students import STUDENT_RECIPES, StudentInputs, make_student, student_methods
from .track import Tracker, TrackerSettings


def default_run_dir(profile_name: str, task: Task | None = None) -> Path:
    """runs/PROFILE for the sums (the lab's first task, and None), runs/TASK-PROFILE for any other."""
    name = DEFAULT_TASK if task is None else task.name
    return default_runs_dir() / (profile_name if name == DEFAULT_TASK else f"{name}-{profile_name}")


def default_runs_dir() -> Path:
    """Where runs go: $LABKIT_RUNS, else `runs/` at the repository's root (so a
    notebook started in `notebooks/` finds what `labkit run` made), else ./runs."""
    if os.environ.get("LABKIT_RUNS"):
        return Path(os.environ["LABKIT_RUNS"])
    root = Path(__file__).resolve().parents[2]  # labkit/run/pipeline.py -> the repository
    return root / "runs" if (root / "pyproject.toml").exists() else Path("runs")


# --- The stages ------------------------------------------------------------------------------------


def data_digests(task: Task) -> dict:
    """What the data stage depends on: the task and a fingerprint of every split."""
    return {"task": task.name, **{split: split_digest(split, task) for split in SPLITS}}


def stage_data(run: Run, device) -> dict:
    """Check the task's splits and record their sizes and fingerprints."""
    digests = data_digests(run.task)
    result = {"task": run.task.name}
    result.update({split: {"problems": len(read_records(split, run.task)), "sha256": digests[split]} for split in SPLITS})
    folder = data_dir_of(run.task)
    result["source"] = str(folder) if (folder / "train.jsonl").exists() else "generated in memory"
    return result


def _checkpoint(run: Run, model, tokenizer, folder: str) -> dict:
    path = save_model(model, tokenizer, run.dir / folder)
    return {"parameters": count_parameters(model), "size_on_disk": size_on_disk(path), "checkpoint": str(path)}


def warmup_stage(role: str):
    def stage(run: Run, device) -> dict:
        name = getattr(run.profile, role)
        config = dataclasses.replace(getattr(run.profile, f"{role}_warmup"), seed=run.seed)
        model, tokenizer = build_model(name, seed=run.seed)
        model.to(device)
        summary = train_warmup(
            model,
            tokenizer,
            read_records("train", run.task),
            config,
            callback=lambda m: run.log(f"warmup_{role}", m),
            description=f"warm-up {role} ({name})",
        )
        return {
            "model": name,
            **_checkpoint(run, model, tokenizer, f"{role}_base"),
            "seconds": round(summary["seconds"], 1),
            "steps": summary["steps"],
            "final_loss": summary["final_loss"],
            "train_flops": training_flops(count_parameters(model), {"trained": summary["num_tokens"]}),
        }

    return stage


def stage_grpo_teacher(run: Run, device) -> dict:
    """GRPO from the warmed-up teacher with the rule rewards; saves `teacher_grpo/`."""
    model, tokenizer = load_model(run.dir / "teacher_base", device=device)
    config = dataclasses.replace(run.profile.grpo, seed=run.seed)
    reference = copy.deepcopy(model).eval() if config.beta > 0 else None  # the KL term's frozen starting point
    start = time.perf_counter()
    history = train_grpo(
        model,
        tokenizer,
        read_records("train", run.task),
        config,
        callback=lambda m: run.log("grpo_teacher", m),
        progress=True,
        task=run.task,
        ref_model=reference,
    )
    seconds = time.perf_counter() - start
    tail = history[-min(10, len(history)) :]
    return {
        "model": run.profile.teacher,
        **_checkpoint(run, model, tokenizer, "teacher_grpo"),
        "seconds": round(seconds, 1),
        "seconds_per_step": round(seconds / config.max_steps, 3),
        "steps": config.max_steps,
        "final_reward": sum(m["reward"] for m in tail) / len(tail),
        "train_flops": training_flops(count_parameters(model), tokens_of_run(history, config)),
    }


def stage_teacher_traces(run: Run, device) -> dict:
    """Rejection sampling from the GRPO teacher; saves `traces.jsonl`."""
    teacher, tokenizer = load_model(run.dir / "teacher_grpo", device=device)
    traces, counts = teacher_traces(
        teacher, tokenizer, read_records("train", run.task), run.profile.traces, seed=run.seed, progress=True, task=run.task
    )
    save_traces(traces, run.dir / "traces.jsonl")
    return counts


def student_stage(method: str):
    recipe = STUDENT_RECIPES[method]

    def stage(run: Run, device) -> dict:
        traces = None
        if "traces" in recipe.uses:
            traces = load_traces(run.dir / "traces.jsonl")
            if not traces:  # a weak teacher (the quick profile's, say) may keep nothing: say so, do not crash the run
                return {
                    "method": method,
                    "skipped": "the teacher kept no correct traces (train it longer, or sample more prompts)",
                }
        student, tokenizer = load_model(run.dir / "student_base", device=device)
        teacher = load_model(run.dir / "teacher_grpo", device=device)[0] if "teacher" in recipe.uses else None
        inputs = StudentInputs(
            records=read_records("train", run.task),
            distill=dataclasses.replace(run.profile.distill, seed=run.seed),
            grpo=dataclasses.replace(run.profile.grpo, seed=run.seed),
            teacher=teacher,
            traces=traces,
            task=run.task,
        )

        def log(metrics: dict) -> None:
            run.log(f"student_{method}", {k: v for k, v in metrics.items() if k not in ("sample", "samples")})

        summary = make_student(method, student, tokenizer, inputs, callback=log, progress=True)
        teacher_parameters = count_parameters(teacher) if teacher is not None else 0
        tokens = summary.get("tokens")  # what it put through each model (a recipe may not say)
        return {
            "model": run.profile.student,
            "method": method,
            "implementation": summary["implementation"],
            **_checkpoint(run, student, tokenizer, f"student_{method}"),
            "seconds": round(summary["seconds"], 1),
            "steps": summary["steps"],
            "final_loss": summary.get("final_loss"),
            **(
                {"tokens": tokens, "train_flops": training_flops(count_parameters(student), tokens, teacher_parameters)}
                if tokens is not None
                else {}
            ),
        }

    return stage


def eval_stage(folder: str, made_by: str):
    """Evaluate the model in `folder`, which the stage `made_by` wrote (or skipped, saying why)."""

    def stage(run: Run, device) -> dict:
        made = run.result(made_by) or {}
        if made.get("skipped"):
            return {"skipped": made["skipped"]}
        model, tokenizer = load_model(run.dir / folder, device=device)
        profile = run.profile
        records = read_records("test", run.task)[: profile.eval_problems]
        row = model_row(
            model,
            tokenizer,
            records,
            k=profile.eval_k,
            forced=True,
            max_new_tokens=profile.max_completion_length,
            seed=run.seed,
            task=run.task,
        )
        run.log(f"eval_{folder}", row)
        return row

    return stage


def _evaluation(p: Profile) -> dict:
    return {"eval_problems": p.eval_problems, "eval_k": p.eval_k, "max_completion_length": p.max_completion_length}


def _student_settings(method: str):
    uses_grpo = "grpo" in STUDENT_RECIPES[method].uses

    def settings(p: Profile) -> dict:
        # GRPO on the student runs for distill.max_steps: the teacher's GRPO length is not its setting.
        grpo = {k: v for k, v in dataclasses.asdict(p.grpo).items() if k != "max_steps"}
        return {"method": method, **dataclasses.asdict(p.distill), **({"grpo": grpo} if uses_grpo else {})}

    return settings


def _student_stages(method: str) -> list[Stage]:
    uses = STUDENT_RECIPES[method].uses
    needs = (
        "warmup_student",
        *(("grpo_teacher",) if "teacher" in uses else ()),
        *(("teacher_traces",) if "traces" in uses else ()),
    )
    name = f"student_{method}"
    return [
        Stage(name, student_stage(method), _student_settings(method), needs=needs, writes=(name,)),
        Stage(f"eval_{name}", eval_stage(name, made_by=name), _evaluation, needs=(name,)),
    ]


def _warmup_stage_of(role: str) -> Stage:
    """The warm-up of the teacher-size or student-size base model: one definition for both roles."""
    settings = lambda p: {"model": getattr(p, role), **dataclasses.asdict(getattr(p, f"{role}_warmup"))}  # noqa: E731
    return Stage(f"warmup_{role}", warmup_stage(role), settings, needs=("data",), writes=(f"{role}_base",))


def lab_stages(task: Task, students: tuple[str, ...] | None = None) -> list[Stage]:
    """The stages of `labkit run` on `task`, in order; then two for each of `students` (methods of
    `STUDENT_RECIPES`, default: every one registered now), in that order."""
    return [
        Stage("data", stage_data, lambda p: data_digests(task)),
        _warmup_stage_of("teacher"),
        _warmup_stage_of("student"),
        Stage("eval_teacher_base", eval_stage("teacher_base", made_by="warmup_teacher"), _evaluation, needs=("warmup_teacher",)),
        Stage("eval_student_base", eval_stage("student_base", made_by="warmup_student"), _evaluation, needs=("warmup_student",)),
        Stage(
            "grpo_teacher",
            stage_grpo_teacher,
            lambda p: dataclasses.asdict(p.grpo),
            needs=("warmup_teacher",),
            writes=("teacher_grpo",),
        ),
        Stage("eval_teacher_grpo", eval_stage("teacher_grpo", made_by="grpo_teacher"), _evaluation, needs=("grpo_teacher",)),
        Stage(
            "teacher_traces",
            stage_teacher_traces,
            lambda p: dataclasses.asdict(p.traces),
            needs=("grpo_teacher",),
            writes=("traces.jsonl",),
        ),
        *(stage for method in student_methods(students) for stage in _student_stages(method)),
    ]


# --- The run -----------------------------------------------------------------------------------------


def profile_for_task(profile: Profile, task: Task) -> Profile:
    """The profile with the task's completion length (multiplication's scratchpads need 50 tokens),
    unless the profile set its own by hand."""
    if profile.max_completion_length != MAX_COMPLETION_LENGTH or task.max_completion_length == profile.max_completion_length:
        return profile
    return dataclasses.replace(profile, max_completion_length=task.max_completion_length)


def run_pipeline(
    profile: str | Profile | None = None,
    out: str | Path | None = None,
    *,
    seed: int = 0,
    force: bool = False,
    device: str | None = None,
    verbose: bool = True,
    until: str | None = None,
    task: str | Task | None = None,
    tracking: TrackerSettings | None = None,
) -> dict:
    """Run every stage not finished yet on `task` (default: the sums); returns {stage: result} plus timing.

    `until` stops after that stage (a notebook needs the teacher, not the students). `tracking` with
    report_to="trackio" also logs every stage, and the table, to a trackio project (`run.track`).
    """
    profile = profile if isinstance(profile, Profile) else get_profile(profile)
    # The one place a run resolves its task (a name, module:Class or a Task): every stage below gets this object.
    task = task_for_profile(profile, task)  # the gpu profile runs Countdown with 4 numbers
    profile = profile_for_task(profile, task)
    stages = lab_stages(task, profile.students)
    last_stage(stages, until)  # an unknown stage fails before the folder is touched
    out = Path(out) if out else default_run_dir(profile.name, task)
    if force and out.exists():
        clear_run(lab_stages(task), out)  # every student, also those this profile does not make
    tracker = None
    if tracking is not None and tracking.report_to != "none":
        tracker = Tracker(tracking, seed, {"task": task.name, "profile": profile.name})
    run = Run(out, profile, seed, task, tracker)
    chosen = pick_device(device)
    say = print if verbose else (lambda *a, **k: None)
    say(f"labkit run: task {task.name}, profile {profile.name}, seed {seed}, device {describe_device(chosen)}, folder {out}")
    start = time.perf_counter()
    try:
        results: dict = run_stages(stages, run, chosen, until=until, say=say)
    except BaseException:
        if tracker is not None:
            tracker.end(None, profile.eval_problems)  # the board shows the run stopped, not still running
        raise
    if tracker is not None:
        tracker.end(table_rows(results, profile), profile.eval_problems)
        say(f"  logged to trackio: project {tracking.project}, run {tracker.name}")
    results["wall_seconds"] = round(time.perf_counter() - start, 1)
    results["peak_memory_mb"] = round(peak_memory_mb(), 1)
    gpu_peak = peak_gpu_memory_mb()
    if gpu_peak is not None:
        results["peak_gpu_memory_mb"] = round(gpu_peak, 1)
    results["run_dir"] = str(out)
    if verbose:
        print(summary_table(results, profile))
    return results
