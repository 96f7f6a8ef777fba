"""The exercises: every solution passes its check, every notebook stub fails it, every classic mistake gets its hint."""

import contextlib
import importlib.util
import io
import re
from pathlib import Path

import nbformat
import pytest

from labkit.course.exercises import EXERCISES, check

ROOT = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("solutions_exercises", ROOT / "solutions" / "exercises.py")
solutions = importlib.util.module_from_spec(spec)
spec.loader.exec_module(solutions)


def run_check(name, fn) -> tuple[bool, str]:
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        passed = check(name, fn)
    return passed, printed.getvalue()


@pytest.mark.parametrize("name", list(EXERCISES))
def test_the_solution_passes(name):
    passed, printed = run_check(name, solutions.SOLUTIONS[name])
    assert passed and "agree with labkit's own" in printed, printed


@pytest.mark.parametrize("name", list(EXERCISES))
def test_each_classic_mistake_fails_with_its_own_hint(name):
    exercise = EXERCISES[name]
    assert exercise.mistakes, f"{name} needs at least one classic mistake"
    for hint, mistaken in exercise.mistakes.items():
        passed, printed = run_check(name, mistaken)
        assert not passed and "expected" in printed and "got" in printed
        assert "hint: " + hint in printed, f"{name}: a mistake got another hint:\n{printed}"


def test_a_stub_is_reported_not_crashed_on_and_a_crash_shows_its_case():
    def stub(*args):
        raise NotImplementedError

    passed, printed = run_check("k3_kl", stub)
    assert not passed and "not implemented yet" in printed
    passed, printed = run_check("k3_kl", lambda logps, ref: logps @ ref)  # a shape error in the learner's code
    assert not passed and "raised RuntimeError" in printed
    with pytest.raises(KeyError, match="choose one of"):
        check("no_such_exercise", stub)


def test_every_exercise_has_a_stub_cell_in_a_notebook_and_the_stubs_fail():
    cells = {}
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            for name in re.findall(r'check\("(\w+)", my_\w+\)', cell.source):
                cells[name] = cell.source
    assert set(cells) == set(EXERCISES)
    for name, source in cells.items():
        assert "raise NotImplementedError" in source
        namespace = {}
        exec(source.replace(f'passed = check("{name}"', "pass  # "), namespace)  # define the stub only
        passed, printed = run_check(name, namespace[f"my_{name}"])
        assert not passed and "not implemented yet" in printed
