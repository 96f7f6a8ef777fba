"""The lab's main job, run headless: `labkit run` and the notebooks share it.

A run is a folder `runs/NAME/`:

    config.json          the profile and seed it was made with
    metrics.jsonl        one line per logged step or evaluation, tagged by stage
    stages/STAGE.json    the result of each finished stage (so a second call reuses it)
    teacher_base/        safetensors checkpoint + tokenizer of the warmed-up teacher
    student_base/        the same for the student
    teacher_grpo/        the teacher after GRPO
    traces.jsonl         its rejection-sampled traces
    student_*/           one student per method (see `STUDENTS`)

Stages: data -> warm-up of the teacher-size and student-size base models ->
evaluation of both -> GRPO on the teacher -> its evaluation -> teacher traces ->
five students made from the same student base on the same budget (sequence KD,
logit KD, on-policy KD, GRPO on the student, and SFT on the generator's own
traces as a control), each evaluated. Each stage stores the part of the profile
it used; a second call reuses a finished stage only if that part is unchanged
and every stage before it was reused too.

Profiles:
    quick    CI and a first look: under a minute on 2 CPU cores, weak base models
    default  a laptop: the real lab on the CPU
    gpu      larger models for one GPU
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch

from .distill import DistillConfig, TraceConfig, ground_truth_traces, load_traces, save_traces, teacher_traces, train_logit_kd
from .evaluate import answer_latency, evaluate
from .grpo_loop import GRPOConfig, train_grpo
from .models import MODEL_CONFIGS, build_model, count_parameters, load_model, save_model, size_on_disk, tiny_config
from .pretrain import WarmupConfig, train_warmup
from .runtime import LabkitError, describe_device, peak_memory_mb, pick_device, set_seed
from .tasks import DATA_DIR, SPLIT_SIZES, read_records
from .tokenizer import build_tokenizer


@dataclass
class Profile:
    name: str
    teacher: str = "teacher"
    student: str = "student"
    teacher_warmup: WarmupConfig = field(default_factory=WarmupConfig)
    student_warmup: WarmupConfig = field(default_factory=WarmupConfig)
    grpo: GRPOConfig = field(default_factory=GRPOConfig)
    traces: TraceConfig = field(default_factory=TraceConfig)
    # Every student method gets `distill.steps` steps of `distill.batch_size` sequences;
    # GRPO on the student reuses `grpo` with that many steps (its batch is prompts x generations).
    distill: DistillConfig = field(default_factory=DistillConfig)
    eval_problems: int = 500
    eval_k: int = 8
    max_new_tokens: int = 48


PROFILES: dict[str, Profile] = {
    "quick": Profile(
        name="quick",
        teacher_warmup=WarmupConfig(steps=150, batch_size=64),
        student_warmup=WarmupConfig(steps=150, batch_size=64),
        grpo=GRPOConfig(steps=10, prompts_per_step=4, num_generations=4),
        traces=TraceConfig(prompts=200),
        distill=DistillConfig(steps=10, batch_size=16),
        eval_problems=100,
        eval_k=4,
    ),
    "default": Profile(
        name="default",
        # Measured on 2 cores: 172 s and 52 s; the teacher then answers directly
        # (greedy 12%) but is 83% right when made to open a scratchpad.
        teacher_warmup=WarmupConfig(steps=1000, batch_size=64),
        student_warmup=WarmupConfig(steps=2000, batch_size=64),
        # 8 prompts x 8 samples, lr 1e-4, correctness + format rewards (notebook 01:
        # 120 such steps took greedy accuracy from 14% to 81% in about 45 s).
        grpo=GRPOConfig(steps=150),
        # 4 samples of 4,000 prompts at T=0.8 (about 30 s); each student 200 steps of 64.
        traces=TraceConfig(prompts=4000),
        distill=DistillConfig(steps=200, batch_size=64),
        eval_problems=500,
        eval_k=8,
    ),
    "gpu": Profile(
        name="gpu",
        teacher="teacher-gpu",
        student="student-gpu",
        teacher_warmup=WarmupConfig(steps=3000, batch_size=256, learning_rate=1e-3),
        student_warmup=WarmupConfig(steps=3000, batch_size=256),
        grpo=GRPOConfig(steps=300, prompts_per_step=32, learning_rate=5e-5),
        traces=TraceConfig(prompts=20000, batch_size=2048),
        distill=DistillConfig(steps=300, batch_size=256),
        eval_problems=1000,
        eval_k=16,
    ),
}


def default_runs_dir() -> Path:
    """Where runs go: $LABKIT_RUNS, else `runs/` at the repository's root (so a
    notebook started in `notebooks/` finds what `labkit run` made), else ./runs."""
    if os.environ.get("LABKIT_RUNS"):
        return Path(os.environ["LABKIT_RUNS"])
    root = Path(__file__).resolve().parent.parent
    return root / "runs" if (root / "pyproject.toml").exists() else Path("runs")


def get_profile(name: str | None = None) -> Profile:
    """A profile by name; `LABKIT_PROFILE` chooses when no name is given (notebooks use it)."""
    name = name or os.environ.get("LABKIT_PROFILE", "default")
    if name not in PROFILES:
        raise LabkitError(f"unknown profile {name!r}; choose one of {', '.join(PROFILES)}")
    profile = PROFILES[name]
    check_sizes(profile.teacher, profile.student)
    return profile


def check_sizes(teacher: str, student: str) -> tuple[int, int]:
    """Fail early when the student is not smaller than the teacher."""
    for name in (teacher, student):
        if name not in MODEL_CONFIGS:
            raise LabkitError(f"unknown model name {name!r}; choose one of {', '.join(MODEL_CONFIGS)}")
    tokenizer = build_tokenizer()
    teacher_params = _config_parameters(tiny_config(teacher, tokenizer))
    student_params = _config_parameters(tiny_config(student, tokenizer))
    if student_params >= teacher_params:
        raise LabkitError(
            f"the student {student!r} ({student_params:,} parameters) is not smaller than the teacher "
            f"{teacher!r} ({teacher_params:,}); pick a smaller student or a larger teacher"
        )
    return teacher_params, student_params


def _config_parameters(config) -> int:
    """Parameter count of a Llama config with tied embeddings, without building it."""
    d, layers, mlp, vocab = config.hidden_size, config.num_hidden_layers, config.intermediate_size, config.vocab_size
    per_layer = 4 * d * d + 3 * d * mlp + 2 * d  # attention, MLP, two RMSNorms
    return vocab * d + layers * per_layer + d  # embeddings (tied), layers, final norm


class Run:
    """A run folder: config, metrics log, stage results and checkpoints."""

    def __init__(self, out: str | Path, profile: Profile, seed: int = 0):
        self.dir = Path(out)
        self.profile = profile
        self.seed = seed
        self.config = {"profile": dataclasses.asdict(profile), "seed": seed}
        config_path = self.dir / "config.json"
        if config_path.exists():
            existing = json.loads(config_path.read_text())
            if existing.get("seed") != seed:
                raise LabkitError(
                    f"{self.dir} was made with seed {existing.get('seed')} (another profile or seed); "
                    "pass --out for a new folder or --force to start over"
                )
        (self.dir / "stages").mkdir(parents=True, exist_ok=True)
        config_path.write_text(json.dumps(self.config, indent=2))

    def stage_path(self, stage: str) -> Path:
        return self.dir / "stages" / f"{stage}.json"

    def result(self, stage: str, stage_config: dict | None = None) -> dict | None:
        """A finished stage's result, if it was made with `stage_config`."""
        path = self.stage_path(stage)
        if not path.exists():
            return None
        result = json.loads(path.read_text())
        if stage_config is not None and result.get("stage_config") != stage_config:
            return None
        return result

    def log(self, stage: str, metrics: dict) -> None:
        with (self.dir / "metrics.jsonl").open("a") as f:
            f.write(json.dumps({"stage": stage, "time": round(time.time(), 3), **metrics}) + "\n")

    def finish(self, stage: str, result: dict) -> dict:
        self.stage_path(stage).write_text(json.dumps(result, indent=2))
        return result


def stage_data(run: Run, device) -> dict:
    """Check the embedded splits and record their fingerprints."""
    result = {}
    for split in SPLIT_SIZES:
        records = read_records(split)
        digest = hashlib.sha256("\n".join(json.dumps(r, separators=(",", ":")) for r in records).encode()).hexdigest()
        result[split] = {"problems": len(records), "sha256": digest[:16]}
    result["source"] = str(DATA_DIR) if (DATA_DIR / "train.jsonl").exists() else "regenerated in memory"
    return result


def _warmup_stage(role: str) -> Callable[[Run, object], dict]:
    def stage(run: Run, device) -> dict:
        name = getattr(run.profile, role)
        config = getattr(run.profile, f"{role}_warmup")
        config = dataclasses.replace(config, seed=run.seed)
        model, tokenizer = build_model(name, seed=run.seed)
        model.to(device)
        train = read_records("train")
        summary = train_warmup(
            model,
            tokenizer,
            train,
            config,
            callback=lambda m: run.log(f"warmup_{role}", m),
            description=f"warm-up {role} ({name})",
        )
        path = save_model(model, tokenizer, run.dir / f"{role}_base")
        return {
            "model": name,
            "parameters": count_parameters(model),
            "size_on_disk": size_on_disk(path),
            "seconds": round(summary["seconds"], 1),
            "steps": summary["steps"],
            "final_loss": summary["final_loss"],
            "checkpoint": str(path),
        }

    return stage


def stage_grpo_teacher(run: Run, device) -> dict:
    """GRPO from the warmed-up teacher with the rule rewards; saves `teacher_grpo/`."""
    model, tokenizer = load_model(run.dir / "teacher_base", device=device)
    config = dataclasses.replace(run.profile.grpo, seed=run.seed)
    start = time.perf_counter()
    history = train_grpo(
        model, tokenizer, read_records("train"), config, callback=lambda m: run.log("grpo_teacher", m), progress=True
    )
    seconds = time.perf_counter() - start
    path = save_model(model, tokenizer, run.dir / "teacher_grpo")
    tail = history[-min(10, len(history)) :]
    return {
        "model": run.profile.teacher,
        "parameters": count_parameters(model),
        "size_on_disk": size_on_disk(path),
        "seconds": round(seconds, 1),
        "seconds_per_step": round(seconds / config.steps, 3),
        "steps": config.steps,
        "final_reward": sum(m["reward"] for m in tail) / len(tail),
        "checkpoint": str(path),
    }


def stage_teacher_traces(run: Run, device) -> dict:
    """Rejection sampling from the GRPO teacher; saves `traces.jsonl`."""
    teacher, tokenizer = load_model(run.dir / "teacher_grpo", device=device)
    traces, counts = teacher_traces(teacher, tokenizer, read_records("train"), run.profile.traces, seed=run.seed, progress=True)
    save_traces(traces, run.dir / "traces.jsonl")
    return counts


def _student_grpo_config(profile: Profile, seed: int) -> GRPOConfig:
    return dataclasses.replace(profile.grpo, steps=profile.distill.steps, seed=seed)


def _make_student(method: str, run: Run, device) -> tuple[dict, torch.nn.Module, object]:
    """One student from `student_base/` by `method`: (training summary, student, tokenizer)."""
    from .trl_distill import distillation_trainer, sft_trainer, train_with

    if method not in dict(STUDENTS):
        raise LabkitError(f"unknown student method {method!r}; choose one of {', '.join(dict(STUDENTS))}")
    student, tokenizer = load_model(run.dir / "student_base", device=device)
    config = dataclasses.replace(run.profile.distill, seed=run.seed)
    train = read_records("train")

    def log(metrics: dict) -> None:
        run.log(f"student_{method}", {k: v for k, v in metrics.items() if k != "sample"})

    if method == "grpo":
        start = time.perf_counter()
        train_grpo(student, tokenizer, train, _student_grpo_config(run.profile, run.seed), callback=log, progress=True)
        return {"seconds": time.perf_counter() - start, "implementation": "labkit train_grpo"}, student, tokenizer
    if method == "logit_kd":
        teacher, _ = load_model(run.dir / "teacher_grpo", device=device)
        traces = load_traces(run.dir / "traces.jsonl")
        result = train_logit_kd(student, teacher, tokenizer, traces, config, callback=log, progress=True)
        return {**result, "implementation": "labkit train_logit_kd"}, student, tokenizer
    if method == "on_policy_kd":
        teacher, _ = load_model(run.dir / "teacher_grpo", device=device)
        trainer, implementation = distillation_trainer(student, teacher, tokenizer, train, config), "TRL DistillationTrainer"
    else:  # sequence KD on the teacher's traces, or the control on the generator's own
        traces = load_traces(run.dir / "traces.jsonl") if method == "sequence_kd" else ground_truth_traces(train)
        trainer, implementation = sft_trainer(student, tokenizer, traces, config), "TRL SFTTrainer"
    result = train_with(trainer)
    for metrics in result["history"]:
        log(metrics)
    return {**result, "implementation": implementation}, student, tokenizer


def _student_stage(method: str) -> Callable[[Run, object], dict]:
    def stage(run: Run, device) -> dict:
        kept = (run.result("teacher_traces") or {}).get("kept")
        if method in ("sequence_kd", "logit_kd") and kept == 0:
            # A weak teacher (the quick profile's, say) may keep nothing: say so, do not crash the run.
            return {"method": method, "skipped": "the teacher kept no correct traces (train it longer, or sample more prompts)"}
        result, student, tokenizer = _make_student(method, run, device)
        path = save_model(student, tokenizer, run.dir / f"student_{method}")
        return {
            "model": run.profile.student,
            "method": method,
            "implementation": result["implementation"],
            "parameters": count_parameters(student),
            "size_on_disk": size_on_disk(path),
            "seconds": round(result["seconds"], 1),
            "steps": run.profile.distill.steps,
            "final_loss": result.get("final_loss"),
            "checkpoint": str(path),
        }

    return stage


def _eval_stage(checkpoint: str) -> Callable[[Run, object], dict]:
    def stage(run: Run, device) -> dict:
        made = run.result(checkpoint) or {}  # the stage that made a student is named like its folder
        if made.get("skipped"):
            return {"skipped": made["skipped"]}
        model, tokenizer = load_model(run.dir / checkpoint, device=device)
        records = read_records("test")[: run.profile.eval_problems]
        start = time.perf_counter()
        metrics = evaluate(
            model, tokenizer, records, k=run.profile.eval_k, max_new_tokens=run.profile.max_new_tokens, seed=run.seed
        )
        metrics.update(answer_latency(model, tokenizer, records, max_new_tokens=run.profile.max_new_tokens))
        metrics["eval_seconds"] = round(time.perf_counter() - start, 1)
        run.log(f"eval_{checkpoint}", metrics)
        return metrics

    return stage


def _evaluation_config(p: Profile) -> dict:
    return {"eval_problems": p.eval_problems, "eval_k": p.eval_k, "max_new_tokens": p.max_new_tokens}


# (stage name, function, the part of the profile the stage depends on)
STAGES: list[tuple[str, Callable[[Run, object], dict], Callable[[Profile], dict]]] = [
    ("data", stage_data, lambda p: {}),
    ("warmup_teacher", _warmup_stage("teacher"), lambda p: {"model": p.teacher, **dataclasses.asdict(p.teacher_warmup)}),
    ("warmup_student", _warmup_stage("student"), lambda p: {"model": p.student, **dataclasses.asdict(p.student_warmup)}),
    ("eval_teacher_base", _eval_stage("teacher_base"), _evaluation_config),
    ("eval_student_base", _eval_stage("student_base"), _evaluation_config),
    ("grpo_teacher", stage_grpo_teacher, lambda p: dataclasses.asdict(p.grpo)),
    ("eval_teacher_grpo", _eval_stage("teacher_grpo"), _evaluation_config),
    ("teacher_traces", stage_teacher_traces, lambda p: dataclasses.asdict(p.traces)),
]

# The students, all from `student_base/` on one budget: (method, row label in the summary).
STUDENTS = (
    ("sequence_kd", "student: sequence KD"),
    ("logit_kd", "student: logit KD"),
    ("on_policy_kd", "student: on-policy KD"),
    ("grpo", "student: GRPO only"),
    ("ground_truth", "student: true traces"),
)
for _method, _ in STUDENTS:
    STAGES.append(
        (
            f"student_{_method}",
            _student_stage(_method),
            lambda p, m=_method: {
                "method": m,
                **dataclasses.asdict(p.distill),
                **({"grpo": dataclasses.asdict(p.grpo)} if m == "grpo" else {}),
            },
        )
    )
    STAGES.append((f"eval_student_{_method}", _eval_stage(f"student_{_method}"), _evaluation_config))


def run_pipeline(
    profile: str | Profile | None = None,
    out: str | Path | None = None,
    *,
    seed: int = 0,
    force: bool = False,
    device: str | None = None,
    verbose: bool = True,
    until: str | None = None,
) -> dict:
    """Run every stage not finished yet; returns {stage: result} plus timing.

    `until` stops after that stage (a notebook needs the teacher, not the students).
    """
    profile = profile if isinstance(profile, Profile) else get_profile(profile)
    names = [name for name, _, _ in STAGES]
    if until is not None and until not in names:
        raise LabkitError(f"unknown stage {until!r}; choose one of {', '.join(names)}")
    out = Path(out) if out else default_runs_dir() / profile.name
    if force and out.exists():
        _clear_run(out)
    run = Run(out, profile, seed)
    chosen = pick_device(device)
    say = print if verbose else (lambda *a, **k: None)
    say(f"labkit run: profile {profile.name}, seed {seed}, device {describe_device(chosen)}, folder {out}")
    results, start = {}, time.perf_counter()
    rerun = False  # once a stage runs again, every later stage does too
    for index, (stage, function, depends_on) in enumerate(STAGES):
        if until is not None and index > names.index(until):
            break
        stage_config = json.loads(json.dumps(depends_on(profile)))  # as it reads back from disk
        done = None if rerun else run.result(stage, stage_config)
        if done is not None:
            say(f"  {stage}: reusing the finished stage")
            results[stage] = done
            continue
        if not rerun:  # results of later stages were made from the old one: forget them
            for later in names[index + 1 :]:
                run.stage_path(later).unlink(missing_ok=True)
        rerun = True
        say(f"  {stage} ...")
        set_seed(seed)
        stage_start = time.perf_counter()
        results[stage] = run.finish(stage, {**function(run, chosen), "stage_config": stage_config})
        say(f"  {stage}: done in {time.perf_counter() - stage_start:.1f}s")
    results["wall_seconds"] = round(time.perf_counter() - start, 1)
    results["peak_memory_mb"] = round(peak_memory_mb(), 1)
    results["run_dir"] = str(out)
    if verbose:
        print(summary_table(results, profile))
    return results


def _clear_run(out: Path) -> None:
    """Remove what a previous run left (stage results, logs, checkpoints)."""
    for child in ("stages", "teacher_base", "student_base", "teacher_grpo", *(f"student_{m}" for m, _ in STUDENTS)):
        shutil.rmtree(out / child, ignore_errors=True)
    for name in ("config.json", "metrics.jsonl", "traces.jsonl"):
        (out / name).unlink(missing_ok=True)


SUMMARY_ROWS = (
    ("teacher base", "warmup_teacher", "eval_teacher_base"),
    ("student base", "warmup_student", "eval_student_base"),
    ("teacher after GRPO", "grpo_teacher", "eval_teacher_grpo"),
    *((label, f"student_{method}", f"eval_student_{method}") for method, label in STUDENTS),
)


def summary_table(results: dict, profile: Profile) -> str:
    """The table printed at the end of `labkit run`: one row per evaluated model.

    `vs teacher` is greedy accuracy as a share of the GRPO teacher's; `tok/s` is
    batched greedy throughput, `latency` the median time to answer one problem alone.
    """
    k = profile.eval_k
    nan = float("nan")
    teacher_eval = results.get("eval_teacher_grpo") or {}
    header = (
        f"{'model':<24}{'params':>10}{'disk MB':>9}{'train s':>9}{'greedy acc':>12}{'vs teacher':>12}"
        f"{'sampled acc':>13}{f'pass@{k}':>8}{'length':>8}{'think (greedy/sampled)':>24}"
        f"{'think vs direct acc':>21}{'tok/s':>9}{'latency ms':>12}"
    )
    lines = [f"\nlabkit run ({profile.name} profile, {profile.eval_problems} test problems)", header, "-" * len(header)]
    for label, train_stage, eval_stage in SUMMARY_ROWS:
        trained, ev = results.get(train_stage), results.get(eval_stage)
        if trained and trained.get("skipped"):
            lines.append(f"{label:<24}skipped: {trained['skipped']}")
            continue
        if not trained or not ev:
            continue
        think = f"{ev['scratchpad_share']:.0%} / {ev.get('sampled_scratchpad_share', nan):.0%}"
        forced = f"{ev.get('forced_think_accuracy', nan):.0%} vs {ev.get('forced_direct_accuracy', nan):.0%}"
        share = f"{ev['accuracy'] / teacher_eval['accuracy']:.0%}" if teacher_eval.get("accuracy") else "n/a"
        lines.append(
            f"{label:<24}{trained['parameters']:>10,}{trained['size_on_disk'] / 1e6:>9.2f}"
            f"{trained['seconds']:>9.1f}{ev['accuracy']:>12.1%}{share:>12}{ev.get('sampled_accuracy', nan):>13.1%}"
            f"{ev.get(f'pass@{k}', nan):>8.1%}{ev['mean_length']:>8.1f}{think:>24}{forced:>21}"
            f"{ev['tokens_per_s']:>9.0f}{ev.get('latency_ms', nan):>12.1f}"
        )
    lines.append(
        f"wall time {results['wall_seconds']:.1f}s, peak memory {results['peak_memory_mb']:.0f} MB, run folder {results['run_dir']}"
    )
    return "\n".join(lines)
