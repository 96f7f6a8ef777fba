"""Profiles: how big and how long, by name. `labkit run --profile NAME` and `LABKIT_PROFILE`.

    quick    CI and a first look: about a minute on 2 CPU cores, weak base models
    default  a laptop: the real lab on the CPU
    gpu      10x larger models for one GPU: about 5 minutes on one large GPU; Countdown with 4 numbers

A profile names the two model sizes and holds one config per stage of the run
(`pipeline.py`). The completion length is set once here and copied into every
config that samples or scores completions, so GRPO, the traces, on-policy
distillation and the evaluations all allow the same number of tokens.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field

from ..distill import DistillConfig
from ..grpo_loop import GRPOLoopConfig
from ..models import MODEL_CONFIGS, config_parameters
from ..pretrain import WarmupConfig
from ..runtime import LabkitError
from ..sampling import MAX_COMPLETION_LENGTH
from ..tasks import Task, get_task
from ..traces import TraceConfig
from .students import STUDENT_RECIPES


@dataclass
class Profile:
    name: str  # the run folder's default name, runs/NAME
    teacher: str = "teacher"  # model size names from models.MODEL_CONFIGS
    student: str = "student"  # must be smaller than the teacher
    teacher_warmup: WarmupConfig = field(default_factory=WarmupConfig)  # makes teacher_base/
    student_warmup: WarmupConfig = field(default_factory=WarmupConfig)  # makes student_base/
    grpo: GRPOLoopConfig = field(default_factory=GRPOLoopConfig)  # the teacher's GRPO (and the student's, on the distill budget)
    traces: TraceConfig = field(default_factory=TraceConfig)  # rejection sampling from the GRPO teacher
    # Every student method gets `distill.max_steps` steps of `distill.batch_size` sequences;
    # GRPO on the student reuses `grpo` with that many steps (its batch is prompts x generations).
    distill: DistillConfig = field(default_factory=DistillConfig)
    eval_problems: int = 500  # test problems each model is evaluated on
    eval_k: int = 8  # samples per problem for pass@k, maj@k and sampled accuracy
    max_completion_length: int = MAX_COMPLETION_LENGTH  # tokens any completion may have, everywhere in the run
    # Harder variants this profile runs in place of a task, by name (`task_for_profile`): the gpu
    # profile's larger models get Countdown with four numbers.
    task_variants: dict[str, str] = field(default_factory=dict)
    # The students this profile makes, by method (`run.students.STUDENT_RECIPES`), in the table's order;
    # None: every registered one. The others stay one call away: notebook 04 and
    # `benchmarks/distill_vs_rl.py` make every one.
    students: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        unknown = [method for method in self.students or () if method not in STUDENT_RECIPES]
        if unknown:
            raise LabkitError(f"unknown student method {unknown[0]!r}; choose from {', '.join(STUDENT_RECIPES)}")
        length = self.max_completion_length
        for name in ("grpo", "traces", "distill"):
            theirs = getattr(self, name).max_completion_length
            if theirs not in (length, MAX_COMPLETION_LENGTH):  # set by hand on a part: it would be silently replaced
                raise LabkitError(
                    f"{name}.max_completion_length is {theirs} but the profile's is {length}; "
                    f"set max_completion_length once, on the Profile"
                )
        self.grpo = dataclasses.replace(self.grpo, max_completion_length=length)
        self.traces = dataclasses.replace(self.traces, max_completion_length=length)
        self.distill = dataclasses.replace(self.distill, max_completion_length=length)


# R1's comparison and its control; logit and on-policy KD stay in notebook 04 and benchmarks/distill_vs_rl.py.
DEFAULT_STUDENTS = ("sequence_kd", "grpo", "ground_truth")
# Direct answers only. `dataclasses.replace(CLEAN_STUDENT_WARMUP, scratchpad_fraction=0.2)` is the
# planted base notebook 04 uses to show what a student that already knew the scratchpad does.
CLEAN_STUDENT_WARMUP = WarmupConfig(max_steps=2000, batch_size=64, scratchpad_fraction=0.0)

PROFILES: dict[str, Profile] = {
    "quick": Profile(
        name="quick",
        teacher_warmup=WarmupConfig(max_steps=150, batch_size=64),
        student_warmup=WarmupConfig(max_steps=150, batch_size=64, scratchpad_fraction=0.0),
        grpo=GRPOLoopConfig(max_steps=10, prompts_per_step=4, num_generations=4, lr_schedule="cosine"),
        traces=TraceConfig(prompts=200, check_steps=True),
        distill=DistillConfig(max_steps=10, batch_size=16),
        eval_problems=100,
        eval_k=4,
        students=DEFAULT_STUDENTS,
    ),
    "default": Profile(
        name="default",
        # The teacher then mostly answers directly (and is often wrong) but is usually
        # right when made to open a scratchpad: `labkit run` prints both ("think vs direct").
        teacher_warmup=WarmupConfig(max_steps=1000, batch_size=64),
        # The student base never sees a scratchpad (R1's small models never saw R1's reasoning):
        # what it knows of thinking, a student learns from the teacher or from RL.
        student_warmup=CLEAN_STUDENT_WARMUP,
        # 8 prompts x 8 samples, lr 1e-4 decaying to 1e-5 (cosine), correctness + format rewards.
        # At a constant 1e-4 the teacher lost accuracy inside its scratchpad (83.4% -> 74.6% made
        # to think, seed 0); decayed, it keeps it (docs/design.md, "The default recipe").
        grpo=GRPOLoopConfig(max_steps=150, lr_schedule="cosine"),
        # 4 samples of 4,000 prompts at T=0.8; a trace is kept only if every step adds up.
        traces=TraceConfig(prompts=4000, check_steps=True),
        # Each student 1,000 steps of 128: the clean base needs them to learn the column scratchpad
        # (200 steps of 64 left it near 1%).
        distill=DistillConfig(max_steps=1000, batch_size=128, learning_rate=2e-3),
        eval_problems=500,
        eval_k=8,
        students=DEFAULT_STUDENTS,
    ),
    "gpu": Profile(
        name="gpu",
        # 10x the default's models (10.6M teacher, 1.05M student) warmed up on as many
        # sequences as the default's, in batches of 256. On 8x as many (2,000 steps each)
        # both bases answered 100% directly and GRPO had nothing left to teach (measured on
        # one H200, README "The gpu profile, measured"). About 5 minutes there: `bash benchmarks/gpu.sh`.
        # The default's recipe at this scale: a clean student base, GRPO's rate decaying, traces kept
        # when every step adds up, each student as many sequences as the default's (500 x 256 =
        # 1,000 x 128). Not yet run on a GPU: the H200 figures are the recipe before (planted base,
        # constant rate, 150 steps of 256 a student).
        teacher="teacher-gpu",
        student="student-gpu",
        teacher_warmup=WarmupConfig(max_steps=250, batch_size=256, learning_rate=1e-3),
        student_warmup=WarmupConfig(max_steps=500, batch_size=256, scratchpad_fraction=0.0),
        grpo=GRPOLoopConfig(max_steps=150, prompts_per_step=32, learning_rate=5e-5, lr_schedule="cosine"),
        traces=TraceConfig(prompts=8000, batch_size=2048, check_steps=True),
        distill=DistillConfig(max_steps=500, batch_size=256, learning_rate=2e-3),
        eval_problems=500,
        eval_k=8,
        students=DEFAULT_STUDENTS,
        task_variants={"countdown": "countdown4"},
    ),
}


def get_profile(name: str | None = None) -> Profile:
    """A profile by name; `LABKIT_PROFILE` chooses when no name is given (notebooks use it)."""
    name = name or os.environ.get("LABKIT_PROFILE", "default")
    if name not in PROFILES:
        raise LabkitError(f"unknown profile {name!r}; choose one of {', '.join(PROFILES)}")
    profile = PROFILES[name]
    check_sizes(profile.teacher, profile.student)
    return profile


def check_sizes(teacher: str, student: str) -> tuple[int, int]:
    """Fail early when a model name is unknown or the student is not smaller than the teacher."""
    for name in (teacher, student):
        if name not in MODEL_CONFIGS:
            raise LabkitError(f"unknown model name {name!r}; choose one of {', '.join(MODEL_CONFIGS)}")
    teacher_params, student_params = config_parameters(teacher), config_parameters(student)
    if student_params >= teacher_params:
        raise LabkitError(
            f"the student {student!r} ({student_params:,} parameters) is not smaller than the teacher "
            f"{teacher!r} ({teacher_params:,}); pick a smaller student or a larger teacher"
        )
    return teacher_params, student_params


def task_for_profile(profile: Profile, task: str | Task | None = None) -> Task:
    """The task `profile` runs when asked for `task`: its harder variant where the profile names one
    (`--task countdown --profile gpu` runs `countdown4`), else the task itself."""
    task = get_task(task)
    variant = profile.task_variants.get(task.name)
    return get_task(variant) if variant else task
