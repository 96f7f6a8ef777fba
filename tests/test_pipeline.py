"""The headless run: folder layout, reuse of finished stages, determinism, errors."""

import json

import pytest
import torch

from labkit.cli import main
from labkit.distill import DistillConfig
from labkit.grpo_loop import GRPOLoopConfig
from labkit.models import load_model
from labkit.pretrain import WarmupConfig, train_warmup
from labkit.run.pipeline import lab_stages, run_pipeline
from labkit.run.profiles import PROFILES, Profile, get_profile
from labkit.run.students import STUDENT_RECIPES
from labkit.runtime import LabkitError
from labkit.tasks import get_task, read_records
from labkit.traces import TraceConfig

TINY = Profile(
    name="tiny",
    teacher_warmup=WarmupConfig(max_steps=4, batch_size=8),
    student_warmup=WarmupConfig(max_steps=4, batch_size=8),
    grpo=GRPOLoopConfig(max_steps=2, prompts_per_step=2, num_generations=2),
    traces=TraceConfig(prompts=8, samples_per_prompt=2),
    distill=DistillConfig(max_steps=2, batch_size=4),
    eval_problems=6,
    eval_k=2,
    max_completion_length=8,
)


def test_run_writes_the_folder_and_reuses_finished_stages(tmp_path, capsys):
    first = run_pipeline(TINY, tmp_path / "run", seed=1)
    folder = tmp_path / "run"
    assert json.loads((folder / "config.json").read_text())["seed"] == 1
    for stage in (
        "data",
        "warmup_teacher",
        "warmup_student",
        "eval_teacher_base",
        "eval_student_base",
        "grpo_teacher",
        "eval_teacher_grpo",
        "teacher_traces",
        *(f"{prefix}student_{method}" for method in STUDENT_RECIPES for prefix in ("", "eval_")),
    ):
        assert (folder / "stages" / f"{stage}.json").exists()
    for checkpoint in ("teacher_base", "student_base", "teacher_grpo"):
        assert (folder / checkpoint / "model.safetensors").exists()
    logged = [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]
    assert {entry["stage"] for entry in logged} >= {"warmup_teacher", "eval_student_base", "grpo_teacher"}
    assert sum(entry["stage"] == "grpo_teacher" for entry in logged) == 2  # one line per GRPO step
    assert "greedy acc" in capsys.readouterr().out

    # Students that learn from nothing but the student base (or a teacher's grading) always exist.
    for method in ("on_policy_kd", "grpo", "ground_truth"):
        assert (folder / f"student_{method}" / "model.safetensors").exists()
    # The untrained teacher keeps no traces (4 steps of warm-up get nothing right), so the
    # students that need them are skipped with a reason, and leave no checkpoint behind.
    assert first["teacher_traces"]["kept"] == 0
    for method in ("sequence_kd", "logit_kd"):
        assert "teacher kept no correct traces" in first[f"student_{method}"]["skipped"]
        assert not (folder / f"student_{method}").exists()
    assert first["eval_student_grpo"]["problems"] == TINY.eval_problems
    # Every row of the table is measured the same way (evaluate.model_row).
    for stage in ("eval_teacher_base", "eval_student_grpo"):
        assert {"accuracy", "latency_ms", "tokens_per_s", "parameters", "bytes"} <= set(first[stage])

    second = run_pipeline(TINY, folder, seed=1)
    out = capsys.readouterr().out
    assert out.count("reusing the finished stage") == len(lab_stages(get_task()))
    assert " ...\n" not in out  # no stage ran again
    assert second["eval_teacher_base"] == first["eval_teacher_base"]


def test_a_changed_stage_reruns_with_every_later_stage_and_nothing_before(tmp_path, capsys):
    import dataclasses

    run_pipeline(TINY, tmp_path / "run", seed=1, until="teacher_traces")
    capsys.readouterr()
    longer_grpo = dataclasses.replace(TINY, grpo=dataclasses.replace(TINY.grpo, max_steps=3))
    results = run_pipeline(longer_grpo, tmp_path / "run", seed=1, until="grpo_teacher")
    out = capsys.readouterr().out
    assert "warmup_teacher: reusing" in out and "eval_student_base: reusing" in out
    assert "grpo_teacher: reusing" not in out
    assert results["grpo_teacher"]["steps"] == 3
    # Its evaluation was made from the old teacher: forgotten, though `until` stopped before it.
    assert not (tmp_path / "run" / "stages" / "eval_teacher_grpo.json").exists()
    # The traces came from the old teacher: they are forgotten, not reused later.
    assert not (tmp_path / "run" / "stages" / "teacher_traces.json").exists()
    with pytest.raises(LabkitError, match="unknown stage 'students'"):
        run_pipeline(TINY, tmp_path / "run", seed=1, until="students")


def test_same_seed_same_weights_and_metrics(tmp_path):
    a = run_pipeline(TINY, tmp_path / "a", seed=4, verbose=False, until="eval_student_base")
    b = run_pipeline(TINY, tmp_path / "b", seed=4, verbose=False, until="eval_student_base")
    timing = {"tokens_per_s", "eval_seconds", "latency_ms", "latency_p95_ms", "tokens_per_s_batch1", "stage_seconds"}
    for stage in ("eval_teacher_base", "eval_student_base"):
        assert {k: v for k, v in a[stage].items() if k not in timing} == {k: v for k, v in b[stage].items() if k not in timing}
    assert a["warmup_teacher"]["final_loss"] == b["warmup_teacher"]["final_loss"]
    model_a, _ = load_model(tmp_path / "a" / "teacher_base")
    model_b, _ = load_model(tmp_path / "b" / "teacher_base")
    assert all(torch.equal(p, q) for p, q in zip(model_a.parameters(), model_b.parameters()))


def test_warmup_lowers_the_loss(student):
    model, tokenizer = student
    summary = train_warmup(
        model, tokenizer, read_records("train"), WarmupConfig(max_steps=40, batch_size=32), progress=False, log_every=5
    )
    losses = [h["loss"] for h in summary["history"]]
    assert losses[-1] < losses[0] * 0.8


def test_a_folder_made_with_another_seed_is_not_silently_mixed(tmp_path):
    run_pipeline(TINY, tmp_path / "run", seed=1, verbose=False, until="warmup_teacher")
    with pytest.raises(LabkitError, match="made with seed 1, not 2; pass --seed 1"):
        run_pipeline(TINY, tmp_path / "run", seed=2, verbose=False, until="data")
    run_pipeline(TINY, tmp_path / "run", seed=2, verbose=False, force=True, until="data")
    assert json.loads((tmp_path / "run" / "config.json").read_text())["seed"] == 2


def test_profiles_exist_and_unknown_ones_fail_clearly(monkeypatch):
    assert set(PROFILES) == {"quick", "default", "gpu"}
    for name in PROFILES:  # every shipped profile passes its own size check
        assert get_profile(name).name == name
    monkeypatch.setenv("LABKIT_PROFILE", "quick")
    assert get_profile().name == "quick"
    with pytest.raises(LabkitError, match="unknown profile 'fast'"):
        get_profile("fast")


def test_cli_errors_are_one_line_with_status_2(capsys, tmp_path):
    assert main(["run", "--profile", "fast", "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("labkit: error: unknown profile") and err.count("\n") == 1
    assert main(["data", "--out", str(tmp_path), "--check"]) == 2


def test_cli_model_errors_are_one_line(capsys, tmp_path):
    assert main(["run", "--teacher", "student", "--student", "teacher", "--out", str(tmp_path / "x")]) == 2
    assert "not smaller than the teacher" in capsys.readouterr().err
    assert main(["run", "--student", "giant", "--out", str(tmp_path / "x")]) == 2
    assert "unknown model name 'giant'" in capsys.readouterr().err
    assert main(["eval", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "not a saved model" in err and err.count("\n") == 1


def test_cli_eval_on_a_saved_model(capsys, tmp_path, student):
    from labkit.models import save_model

    model, tokenizer = student
    save_model(model, tokenizer, tmp_path / "m")
    assert main(["eval", str(tmp_path / "m"), "--problems", "4", "--k", "2"]) == 0
    out = capsys.readouterr().out
    assert "accuracy" in out and "pass@2" in out


def test_cli_data_check_passes_on_the_shipped_files(capsys):
    from labkit.tasks import TASKS

    assert main(["data", "--out", "data", "--check"]) == 0
    assert capsys.readouterr().out.count("ok ") == 3 * len(TASKS)
    assert main(["data", "--task", "countdown", "--out", "data", "--check"]) == 0
    assert capsys.readouterr().out.count("ok data/countdown/") == 3
    assert main(["data", "--task", "chess"]) == 2  # one line, no traceback


def test_a_run_folder_belongs_to_one_task(tmp_path):
    from labkit.run.stages import Run

    Run(tmp_path / "run", TINY, seed=0, task=get_task("countdown"))
    with pytest.raises(LabkitError, match="task 'countdown', not 'sums'"):
        Run(tmp_path / "run", TINY, seed=0, task=get_task("sums"))
    with pytest.raises(LabkitError, match="expected a labkit.tasks.Task"):  # resolved once, by run_pipeline: no names here
        Run(tmp_path / "other", TINY, seed=0, task="sums")


@pytest.mark.slow
def test_labkit_run_quick_end_to_end(quick_run):
    """The README's first command, in the quick profile, as a user runs it (conftest's `quick_run`: made once, and
    the notebooks and benchmarks reuse it)."""
    result, out = quick_run
    assert result.returncode == 0, result.stderr[-2000:]
    assert "teacher after GRPO" in result.stdout
    for method in get_profile("quick").students:  # the students' rows (trained, or skipped with a reason)
        assert STUDENT_RECIPES[method].label in result.stdout
    assert json.loads((out / "stages" / "teacher_traces.json").read_text())["samples"] == 800
    # `labkit demo` serves this folder: the teacher after GRPO and the distilled student (or its base, if skipped).
    from labkit.app.demo import build_app, load_run

    teacher, student, tokenizer, names = load_run(out)
    assert names[0] == "teacher after GRPO" and names[1] in ("student: sequence KD", "student base")
    build_app(teacher, student, tokenizer, teacher_name=names[0], student_name=names[1])
    evaluation = json.loads((out / "stages" / "eval_teacher_base.json").read_text())
    assert 0.0 <= evaluation["accuracy"] <= 1.0 and evaluation["tokens_per_s"] > 0


def test_students_learn_from_the_kept_traces_and_a_teacher_that_keeps_none_is_reported(tmp_path, monkeypatch, capsys):
    import labkit.run.pipeline as pipeline
    from labkit.traces import ground_truth_traces

    # A teacher that keeps nothing: both trace students are skipped with a reason, the run goes on.
    monkeypatch.setattr(pipeline, "teacher_traces", lambda *a, **k: ([], {"kept": 0}))
    results = run_pipeline(TINY, tmp_path / "none", seed=1)
    assert "teacher kept no correct traces" in results["student_sequence_kd"]["skipped"]
    assert results["eval_student_logit_kd"]["skipped"]
    assert "skipped: the teacher kept no correct traces" in capsys.readouterr().out

    # A teacher that keeps some: both trace students are trained and saved.
    traces = ground_truth_traces(read_records("train"), 16)
    monkeypatch.setattr(pipeline, "teacher_traces", lambda *a, **k: (traces, {"kept": len(traces)}))
    results = run_pipeline(TINY, tmp_path / "some", seed=1, verbose=False)
    assert [json.loads(line) for line in (tmp_path / "some" / "traces.jsonl").read_text().splitlines()] == traces
    for method in ("sequence_kd", "logit_kd"):
        assert results[f"student_{method}"]["parameters"] < results["grpo_teacher"]["parameters"] / 10
        assert (tmp_path / "some" / f"student_{method}" / "model.safetensors").exists()
        assert results[f"eval_student_{method}"]["problems"] == TINY.eval_problems


def test_editing_a_data_split_reruns_what_was_built_on_it(tmp_path, monkeypatch, capsys):
    import shutil

    import labkit.tasks

    data = tmp_path / "data"
    shutil.copytree(labkit.tasks.DATA_DIR, data)
    monkeypatch.setattr(labkit.tasks, "DATA_DIR", data)
    run_pipeline(TINY, tmp_path / "run", seed=1, until="warmup_teacher")
    run_pipeline(TINY, tmp_path / "run", seed=1, until="warmup_teacher")
    assert "warmup_teacher: reusing" in capsys.readouterr().out
    lines = (data / "sums" / "train.jsonl").read_text().splitlines(keepends=True)
    (data / "sums" / "train.jsonl").write_text("".join(lines[:-1]))  # one training problem fewer
    results = run_pipeline(TINY, tmp_path / "run", seed=1, until="warmup_teacher")
    out = capsys.readouterr().out
    assert "data: reusing" not in out and "warmup_teacher: reusing" not in out
    assert results["data"]["train"]["problems"] == len(lines) - 1


def test_a_new_student_method_is_one_entry(tmp_path, monkeypatch, capsys):
    """Register a recipe: the run trains and evaluates it, and the table has its row."""
    from labkit.run.students import StudentRecipe

    trained = []

    def nudge(student, tokenizer, inputs, callback, progress):  # a "method" that trains nothing, observably
        trained.append(inputs.distill.max_steps)
        return {"seconds": 0.0, "steps": 0, "final_loss": None, "tokens": {}}

    monkeypatch.setitem(STUDENT_RECIPES, "nudge", StudentRecipe("student: nudge", "a test", (), nudge))
    results = run_pipeline(TINY, tmp_path / "run", seed=1)
    assert trained == [TINY.distill.max_steps]
    assert results["student_nudge"]["implementation"] == "a test"
    assert results["eval_student_nudge"]["problems"] == TINY.eval_problems
    assert "student: nudge" in capsys.readouterr().out


def test_a_profile_makes_the_students_it_names_and_prints_what_each_cost(tmp_path, capsys):
    import dataclasses

    two = dataclasses.replace(TINY, students=("grpo", "ground_truth"))
    results = run_pipeline(two, tmp_path / "run", seed=1)
    out = capsys.readouterr().out
    assert [name for name in results if name.startswith("student_")] == ["student_grpo", "student_ground_truth"]
    assert "student: GRPO only" in out and "student: sequence KD" not in out
    for method in ("grpo", "ground_truth"):
        made = results[f"student_{method}"]
        assert made["tokens"]["trained"] > 0 and made["train_flops"] >= 6 * made["parameters"] * made["tokens"]["trained"]
    assert results["student_grpo"]["tokens"]["forward"] > 0  # GRPO samples: forward-only tokens too
    assert "TFLOP" in out and "what each student cost to make" in out
    with pytest.raises(LabkitError, match="unknown student method 'sft'"):
        dataclasses.replace(TINY, students=("sft",))


def test_a_new_stage_is_one_entry_and_its_stale_outputs_are_cleared(tmp_path):
    """The machinery on its own: a stage that writes a file, reruns when its settings change, and is
    forgotten (file and result) when a stage it needs reruns."""
    from labkit.run.stages import Run, Stage, run_stages

    calls = []

    def make(name):
        def stage(run, device):
            calls.append(name)
            (run.dir / f"{name}.txt").write_text(str(run.profile.eval_k))
            return {"made": name}

        return stage

    def stages(k_matters: bool):
        return [
            Stage("first", make("first"), lambda p: {"k": p.eval_k} if k_matters else {}, writes=("first.txt",)),
            Stage("second", make("second"), needs=("first",), writes=("second.txt",)),
            Stage("alone", make("alone"), writes=("alone.txt",)),
        ]

    run = Run(tmp_path / "run", TINY, seed=0, task=get_task())
    say = lambda *a: None  # noqa: E731
    run_stages(stages(False), run, "cpu", say=say)
    run_stages(stages(False), run, "cpu", say=say)
    assert calls == ["first", "second", "alone"]  # the second call reused all three
    run_stages(stages(True), run, "cpu", until="first", say=say)  # first's settings changed
    assert calls[-1] == "first"
    assert not (tmp_path / "run" / "second.txt").exists() and run.result("second") is None  # made from the old first
    assert (tmp_path / "run" / "alone.txt").exists() and run.result("alone") is not None  # not made from it
    with pytest.raises(LabkitError, match="needs missing"):
        run_stages([Stage("late", make("late"), needs=("missing",))], run, "cpu", say=say)


def test_a_task_labkit_does_not_know_runs_through_the_same_stages(tmp_path):
    """A Task defined here, never registered, goes through the pipeline with its own rule (notebook 07's promise)."""
    from labkit.tasks import Task

    class Doubles(Task):
        name = "doubles"
        split_sizes = {"train": 300, "validation": 20, "test": 50}

        def sample_problem(self, rng):
            return rng.randint(100, 999)

        def prompt(self, n):
            return f"{n}*2="

        def answer(self, n):
            return str(2 * n)

        def scratchpad(self, n):
            return f"{n}+{n}={2 * n}"

    results = run_pipeline(TINY, tmp_path / "run", seed=0, task=Doubles(), verbose=False, until="eval_teacher_grpo")
    assert results["data"]["task"] == "doubles" and results["data"]["train"]["problems"] == 300
    assert results["data"]["source"] == "generated in memory"
    assert results["eval_teacher_grpo"]["problems"] == TINY.eval_problems
    assert json.loads((tmp_path / "run" / "config.json").read_text())["task"] == "doubles"


def test_the_command_line_takes_a_task_from_your_own_module(tmp_path, monkeypatch, capsys):
    (tmp_path / "my_tasks.py").write_text(
        "from labkit.tasks import Task\n\n"
        "class Doubles(Task):\n"
        "    name = 'doubles'\n"
        "    split_sizes = {'train': 30, 'validation': 5, 'test': 5}\n"
        "    def sample_problem(self, rng):\n        return rng.randint(100, 999)\n"
        "    def prompt(self, n):\n        return f'{n}*2='\n"
        "    def answer(self, n):\n        return str(2 * n)\n"
        "    def scratchpad(self, n):\n        return f'{n}+{n}={2 * n}'\n"
    )
    monkeypatch.chdir(tmp_path)
    assert main(["data", "--task", "my_tasks:Doubles", "--out", "data"]) == 0
    assert (tmp_path / "data" / "doubles" / "train.jsonl").read_text().count("\n") == 30
    assert main(["data", "--task", "my_tasks:Nothing", "--out", "data"]) == 2
    assert "cannot load task" in capsys.readouterr().err


def test_a_task_with_longer_completions_gets_room_unless_the_profile_set_its_own():
    from labkit.run.pipeline import profile_for_task
    from labkit.tasks import ColumnSums, Multiply

    longer = profile_for_task(get_profile("default"), Multiply())
    assert longer.max_completion_length == Multiply().max_completion_length == 50
    assert longer.grpo.max_completion_length == longer.traces.max_completion_length == longer.distill.max_completion_length == 50
    assert profile_for_task(TINY, Multiply()).max_completion_length == TINY.max_completion_length  # set by hand: kept
    assert profile_for_task(get_profile("default"), ColumnSums()) is get_profile("default")


def test_a_profile_can_run_a_harder_variant_of_a_task(tmp_path, capsys):
    """The gpu profile runs Countdown with 4 numbers; the others run the task as asked."""
    import dataclasses

    from labkit.run.profiles import task_for_profile

    assert task_for_profile(get_profile("gpu"), "countdown").name == "countdown4"
    assert task_for_profile(get_profile("default"), "countdown").name == "countdown"
    assert task_for_profile(get_profile("gpu"), "sums").name == "sums"
    harder = dataclasses.replace(TINY, name="tiny", task_variants={"countdown": "countdown4"})
    results = run_pipeline(harder, tmp_path / "run", task="countdown", until="data")
    assert "task countdown4" in capsys.readouterr().out
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert saved["task"] == "countdown4" and results["data"]["task"] == "countdown4"


def test_a_profile_with_a_kl_term_gives_grpo_its_reference_model(tmp_path):
    """beta > 0 needs a frozen reference: the teacher's GRPO stage and the GRPO student each make one."""
    import dataclasses

    with_kl = dataclasses.replace(TINY, grpo=dataclasses.replace(TINY.grpo, beta=0.04), students=("grpo",))
    results = run_pipeline(with_kl, tmp_path / "run", seed=1, verbose=False)
    assert results["grpo_teacher"]["steps"] == TINY.grpo.max_steps
    # The reference model reads every sampled token once more: forward-only tokens are twice the sampled ones.
    tokens = results["student_grpo"]["tokens"]
    assert tokens["forward"] == 2 * tokens["trained"] > 0
