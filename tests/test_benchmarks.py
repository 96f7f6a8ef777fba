"""The benchmarks still run (on fresh models and few problems: a smoke test, no timing asserted)."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


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
