"""The students: every way the lab makes a small model, as one recipe each.

All start from the same warmed-up student base and get the same budget
(`DistillConfig.max_steps` steps of `batch_size` sequences; GRPO gets that many
steps of its own batch). `labkit run` makes those its profile names (`Profile.students`;
`pipeline.py`) and notebook 04 makes every one again with a live dashboard, through
the same `make_student`. Each returns the tokens it put through each model, so the
run can print what it cost (`run.costs.training_flops`).

    method         learns from                          implementation
    sequence_kd    the teacher's kept traces (SFT)       labkit train_sequence_kd   the R1 recipe
    logit_kd       the teacher's distribution on them    labkit train_logit_kd
    on_policy_kd   the teacher grading its own samples   TRL DistillationTrainer
    grpo           the rule rewards, no teacher          labkit train_grpo          R1's "RL on the small model"
    ground_truth   the task generator's own scratchpads  labkit train_sequence_kd   a control only a toy task has
    ground_truth_matched   the same, for only the problems   labkit train_sequence_kd   the control matched on data:
                   the teacher kept a trace of                                      as many problems as the traces

A new method is one entry in `STUDENT_RECIPES`: the pipeline adds its two
stages (train, evaluate) and its row in the summary table by itself.
"""

from __future__ import annotations

import copy
import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from transformers import PreTrainedTokenizerBase

from ..distill import DistillConfig, train_logit_kd, train_sequence_kd
from ..grpo_loop import GRPOLoopConfig, tokens_of_run, train_grpo
from ..runtime import LabkitError
from ..tasks import Task
from ..traces import ground_truth_traces


@dataclass
class StudentInputs:
    """What a recipe may learn from. `teacher` and `traces` are needed only by the recipes that `use` them."""

    records: list[dict]  # training problems (prompt, answer, ...)
    distill: DistillConfig  # the budget every method gets
    grpo: GRPOLoopConfig  # GRPO's settings, for GRPO on the student (run for distill.max_steps steps)
    teacher: torch.nn.Module | None = None
    traces: list[dict] | None = None
    task: Task | None = None  # whose rewards GRPO uses (default: the task the records name)


Train = Callable[[torch.nn.Module, PreTrainedTokenizerBase, StudentInputs, Callable | None, bool], dict]


@dataclass(frozen=True)
class StudentRecipe:
    label: str  # its row in `labkit run`'s table
    implementation: str  # who does the training
    uses: tuple[str, ...]  # besides the student base: "teacher", "traces", "grpo" (the profile's GRPO settings)
    train: Train  # train(student, tokenizer, inputs, callback, progress) -> {seconds, steps, final_loss, tokens, ...}


def _trl_callbacks(callback):
    from ..trainers.setup import LogTo

    return [LogTo(callback)] if callback is not None else []


def _sft(traces_of: Callable[[StudentInputs], list[dict]]) -> Train:
    """Sequence-level KD: cross-entropy on (prompt, completion) traces, in labkit's loop
    (`distill.train_sequence_kd`; TRL's `SFTTrainer` computes the same loss, tested, at about
    1.5x the time a step on these models)."""

    def train(student, tokenizer, inputs, callback, progress) -> dict:
        summary = train_sequence_kd(student, tokenizer, traces_of(inputs), inputs.distill, callback=callback, progress=progress)
        return {**summary, "tokens": {"trained": summary["num_tokens"]}}

    return train


def _kept_problems(inputs: StudentInputs) -> list[dict]:
    """The task's own traces for the training problems the teacher kept a trace of: the true-trace control on
    as many problems as sequence KD sees (the full control has one for every training problem, several times more)."""
    kept = {trace["prompt"] for trace in inputs.traces}
    return ground_truth_traces([record for record in inputs.records if record["prompt"] in kept])


def _logit_kd(student, tokenizer, inputs, callback, progress) -> dict:
    summary = train_logit_kd(
        student, inputs.teacher, tokenizer, inputs.traces, inputs.distill, callback=callback, progress=progress
    )
    return {**summary, "tokens": {"trained": summary["num_tokens"], "teacher": summary["num_tokens"]}}


def _on_policy_kd(student, tokenizer, inputs, callback, progress) -> dict:
    from ..trainers.distill import distillation_trainer, train_with

    trainer = distillation_trainer(
        student, inputs.teacher, tokenizer, inputs.records, inputs.distill, callbacks=_trl_callbacks(callback)
    )
    summary = train_with(trainer)
    # TRL counts the prompt and completion tokens it sampled; the student samples them, trains on them,
    # and the teacher reads them.
    seen = summary["num_tokens"]
    return {**summary, "tokens": {"trained": seen, "forward": seen, "teacher": seen}}


def _grpo(student, tokenizer, inputs, callback, progress) -> dict:
    config = dataclasses.replace(inputs.grpo, max_steps=inputs.distill.max_steps, seed=inputs.distill.seed)
    start = time.perf_counter()
    reference = copy.deepcopy(student).eval() if config.beta > 0 else None  # the KL term's frozen starting point
    history = train_grpo(
        student, tokenizer, inputs.records, config, callback=callback, progress=progress, task=inputs.task, ref_model=reference
    )
    return {
        "history": history,
        "seconds": time.perf_counter() - start,
        "steps": config.max_steps,
        "final_loss": history[-1]["loss"],
        "tokens": tokens_of_run(history, config),
    }


STUDENT_RECIPES: dict[str, StudentRecipe] = {
    "sequence_kd": StudentRecipe(
        "student: sequence KD", "labkit train_sequence_kd", ("traces",), _sft(lambda inputs: inputs.traces)
    ),
    "logit_kd": StudentRecipe("student: logit KD", "labkit train_logit_kd", ("teacher", "traces"), _logit_kd),
    "on_policy_kd": StudentRecipe("student: on-policy KD", "TRL DistillationTrainer", ("teacher",), _on_policy_kd),
    "grpo": StudentRecipe("student: GRPO only", "labkit train_grpo", ("grpo",), _grpo),
    "ground_truth": StudentRecipe(
        "student: true traces", "labkit train_sequence_kd", (), _sft(lambda inputs: ground_truth_traces(inputs.records))
    ),
    "ground_truth_matched": StudentRecipe(
        "student: true traces, same problems", "labkit train_sequence_kd", ("traces",), _sft(_kept_problems)
    ),
}


def student_methods(chosen: tuple[str, ...] | None = None) -> tuple[str, ...]:
    """The methods a run makes: `chosen` (a profile's `students`) in its order, or every registered recipe."""
    return tuple(chosen) if chosen is not None else tuple(STUDENT_RECIPES)


def make_student(
    method: str,
    student: torch.nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    inputs: StudentInputs,
    *,
    callback: Callable[[dict], None] | None = None,
    progress: bool = False,
) -> dict:
    """Train `student` in place by `method`; returns {seconds, final_loss, history, implementation, tokens}.

    `tokens` counts what went through each model (`run.costs.training_flops` reads it): "trained"
    (forward and backward), "forward" (sampling, a reference model) and "teacher" (the teacher's reads).

    `callback(metrics)` sees each log line, from labkit's loops and TRL's trainers
    alike (a `TrainingDashboard` is such a callable).
    """
    if method not in STUDENT_RECIPES:
        raise LabkitError(f"unknown student method {method!r}; choose one of {', '.join(STUDENT_RECIPES)}")
    recipe = STUDENT_RECIPES[method]
    if "teacher" in recipe.uses and inputs.teacher is None:
        raise LabkitError(f"the {method} student learns from a teacher: pass teacher= in StudentInputs")
    if "traces" in recipe.uses and not inputs.traces:
        raise LabkitError(f"the {method} student learns from the teacher's traces, and there are none (make them first)")
    summary = recipe.train(student, tokenizer, inputs, callback, progress)
    student.eval()
    return {**summary, "implementation": recipe.implementation}
