"""The benchmarks still run (on fresh models and few problems: a smoke test, no timing asserted)."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def quick_runs(tmp_path_factory, quick_run):
    """One folder of quick-profile runs for this module, seed 0 a copy of the session's quick run (a copy: the
    benchmarks add stages of their own); gpu.sh and distill_vs_rl read it."""
    result, made = quick_run
    assert result.returncode == 0, result.stderr[-2000:]
    folder = tmp_path_factory.mktemp("quick-runs")
    shutil.copytree(made, folder / "quick-seed0")
    return folder


def test_teacher_vs_student_benchmark_runs_and_prints_its_ratios(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "teacher_vs_student.py"),
            "--run",
            str(tmp_path / "none"),
            "--problems",
            "8",
            "--latency-problems",
            "2",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "fresh teacher" in result.stdout and "student / teacher: parameters 0.091" in result.stdout
    assert "int8 / float32 student: bytes" in result.stdout


def test_gpu_script_runs_a_profile_and_prints_its_figures(quick_runs):
    """`benchmarks/gpu.sh` is the GPU's prepared script; here it runs the quick profile on the CPU, keeping the
    stages of the session's quick run (`REUSE=1`: conftest's `quick_run` is the fresh end-to-end run)."""
    tmp_path = quick_runs
    env = {**os.environ, "PROFILE": "quick", "OUT_ROOT": str(tmp_path), "PYTHON": sys.executable, "REUSE": "1"}
    result = subprocess.run(["bash", str(ROOT / "benchmarks" / "gpu.sh")], capture_output=True, text=True, timeout=900, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.strip().splitlines()
    assert lines[-1].startswith("quick profile on cpu") and "teacher after GRPO" in lines[-1] and "whole lab" in lines[-1]
    assert any(line.startswith("warmup_teacher") for line in lines)  # the stage-time table
    saved = json.loads((tmp_path / "quick.json").read_text())
    assert saved["profile"] == "quick" and "accuracy" in saved["runs"]["0"]["eval_teacher_grpo"]
    assert saved["runs"]["0"]["warmup_teacher"]["stage_seconds"] > 0


def test_grpo_step_profile_splits_both_steps_and_prints_the_headline_last():
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "grpo_step_profile.py"), "--model", "student-tiny", "--steps", "2"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.strip().splitlines()
    for part in ("sampling", "scoring", "update", "step"):
        assert any(line.startswith(part) for line in lines), part
    assert "decode" in result.stdout and "fwd+bwd" in result.stdout
    assert lines[-1].startswith("labkit ") and "x TRL's steps/s" in lines[-1]


def test_thinking_budget_benchmark_prints_all_three_curves_and_the_headline_last():
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "thinking_budget.py"), "--model", "student-tiny",
         "--steps", "8", "--times", "2", "--problems", "4", "--batch-size", "8"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.strip().splitlines()
    assert any(line.split()[:1] == ["16"] for line in lines)  # the 2x run's last checkpoint
    assert lines[-1].startswith("multiply, student-tiny: scratchpad ") and "after 16" in lines[-1]


def test_distill_vs_rl_benchmark_names_every_arm_and_prints_the_headline_last(quick_runs):
    # Reuses the quick run gpu.sh made (the teacher and its traces), as it would reuse profile_run's.
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "distill_vs_rl.py"), "--profile", "quick", "--seeds", "0",
         "--steps", "2", "--ood-problems", "8", "--out-root", str(quick_runs), "--json", str(quick_runs / "rows.json")],
        capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.strip().splitlines()
    for arm in ("planted base, GRPO", "clean base, sequence KD", "clean base, GRPO", "clean base, solver traces", "clean base "):
        assert any(line.startswith(arm) for line in lines), arm
    assert lines[-1].startswith("sums: clean base distilled ") and "mean of 1 seed" in lines[-1]
    saved = json.loads((quick_runs / "rows.json").read_text())
    assert saved["task"] == "sums" and "accuracy" in saved["rows"]["clean base"]["0"]
    assert saved["problems"] == 100 and saved["ood_problems"] == {"4 numbers": 8, "3-digit numbers": 8} and saved["steps"] == 2
    # Every model is also judged on the harder variants it never trained on, by the same rule.
    assert any(line.startswith("3-digit numbers, never trained on (8 problems)") for line in lines)
    assert 0 <= saved["rows"]["clean base, GRPO"]["0"]["out_of_distribution"]["4 numbers"]["forced_think_accuracy"] <= 1


def test_edge_benchmark_sets_four_runtimes_side_by_side_and_prints_the_headline_last(quick_runs):
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "edge.py"), "--run", str(quick_runs / "quick-seed0"), "--problems", "6"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.strip().splitlines()
    for model in ("teacher", "student"):
        for runtime in ("PyTorch fp32", "PyTorch int8", "ONNX Runtime fp32", "ONNX Runtime int8"):
            assert any(line.split()[:1] == [model] and runtime in line for line in lines), (model, runtime)
    fp32_onnx = next(line for line in lines if line.startswith("student") and "ONNX Runtime fp32" in line)
    assert "100%" in fp32_onnx.split()[6:8]  # the same answers as PyTorch's, to the token
    assert (
        lines[-1].startswith("student on ONNX Runtime fp32: ")
        and "(int8: " in lines[-1]
        and "x the student's latency" in lines[-1]
    )


def test_on_policy_kd_benchmark_names_every_arm_and_prints_the_headline_last(quick_runs):
    # Reuses the quick run's teacher, student base and sequence-KD student, as it reuses profile_run's.
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "on_policy_kd.py"), "--profile", "quick", "--seeds", "0",
         "--out-root", str(quick_runs), "--json", str(quick_runs / "on_policy.json")],
        capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.strip().splitlines()
    arms = (
        "clean base, the distillation rate",
        "clean base, a tenth of the rate",
        "clean base, a tenth of the rate, 10x the steps",
        "sequence KD, then on-policy KD",
    )
    for label in ("student base", "sequence KD", *arms):
        assert any(line.startswith(label) for line in lines), label
    assert lines[-1].startswith("sums: on-policy KD after sequence KD ") and "mean of 1 seed" in lines[-1]
    saved = json.loads((quick_runs / "on_policy.json").read_text())
    rows = saved["rows"]
    assert set(rows) == {"student base", "sequence KD", *arms}
    # Each arm got the rate and steps its label says (the quick profile distils 10 steps).
    assert rows["clean base, a tenth of the rate"]["0"]["learning_rate"] == saved["distill_rate"] / 10
    assert rows["clean base, a tenth of the rate, 10x the steps"]["0"]["steps"] == 10 == saved["distill_steps"]
    assert rows["sequence KD, then on-policy KD"]["0"]["steps"] == 1
    assert all(0 <= rows[label]["0"]["accuracy"] <= 1 for label in rows)
