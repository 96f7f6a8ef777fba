"""environment.yml and binder/ agree with pyproject.toml."""

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
# conda-forge names that differ from PyPI's.
CONDA_TO_PYPI = {"pytorch-cpu": "torch", "pytorch": "torch"}


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~ \[;]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def _spec(requirement: str) -> str:
    name = _name(requirement)
    return requirement.strip()[len(name) :].replace(" ", "")


def pyproject_requirements() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return {_name(r): _spec(r) for r in project["dependencies"]}


def conda_requirements(path: Path) -> dict[str, str]:
    spec = yaml.safe_load(path.read_text())
    assert spec["channels"] == ["conda-forge"]
    found = {}
    for dependency in spec["dependencies"]:
        if isinstance(dependency, dict):  # the pip: section
            continue
        name = _name(dependency)
        if name in ("python", "pip", "nodejs"):  # tools, not Python packages (nodejs: Binder's npm)
            continue
        found[CONDA_TO_PYPI.get(name, name)] = _spec(dependency)
    return found


def test_environment_yml_names_the_same_packages_and_versions():
    assert conda_requirements(ROOT / "environment.yml") == pyproject_requirements()


def test_binder_environment_names_the_same_packages_and_versions():
    assert conda_requirements(ROOT / "binder" / "environment.yml") == pyproject_requirements()


def test_environment_yml_uses_cpu_torch_and_installs_labkit():
    spec = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert any(str(d).startswith("pytorch-cpu") for d in spec["dependencies"])
    pip_section = next(d["pip"] for d in spec["dependencies"] if isinstance(d, dict))
    assert "-e ." in pip_section


def test_binder_post_build_installs_labkit_and_builds_a_run(quick_run):
    post_build = ROOT / "binder" / "postBuild"
    assert post_build.stat().st_mode & 0o111, "postBuild must be executable"
    assert '--profile "${LABKIT_BINDER_PROFILE:-default}"' in post_build.read_text()  # Binder builds the default run
    # Run it as Binder would, from the repository root with this environment's pip and labkit first on
    # PATH, on the quick profile: it installs labkit and leaves a finished run where notebooks look.
    # Where they look in this session: the runs folder of conftest's `quick_run`, where the run is finished, so
    # `labkit run` only checks every stage, as a Binder notebook then does.
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}", "LABKIT_BINDER_PROFILE": "quick"}
    runs = quick_run[1].parent
    env["LABKIT_RUNS"] = str(runs)
    result = subprocess.run(["bash", str(post_build)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-2000:]
    stages = runs / "quick" / "stages"
    assert (stages / "eval_teacher_grpo.json").exists() and (stages / "eval_student_sequence_kd.json").exists()


def test_console_script_points_at_main():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["scripts"]["labkit"] == "labkit.cli:main"
    # The installed script (pip install -e . writes it beside this interpreter) runs and offers every sub-command.
    script = Path(sys.executable).parent / "labkit"
    assert script.exists(), f"no console script at {script}; run `pip install -e .`"
    result = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    choices = re.search(r"\{([\w,]+)\}", result.stdout)
    assert choices, f"no sub-commands in {result.stdout!r}"
    assert set(choices.group(1).split(",")) == {"run", "demo", "data", "info", "eval", "links", "export", "class"}


def test_the_package_docstring_names_every_module():
    """labkit/__init__'s module list is the map a newcomer reads first: it must match the files, folder by folder."""
    from pathlib import Path

    import labkit

    root = Path(labkit.__file__).parent
    files = {p.stem for p in root.glob("*.py")} - {"__init__"}
    folders = {p.parent.name: {q.stem for q in p.parent.glob("*.py")} - {"__init__"} for p in root.glob("*/__init__.py")}
    listed, folder = {}, None
    for line in labkit.__doc__.splitlines():
        if line.startswith("        ") and line.strip():
            listed.setdefault(folder, []).append(line.split()[0])
        elif line.startswith("    ") and line.strip():
            name = line.split()[0]
            folder = name.rstrip("/") if name.endswith("/") else None
            listed.setdefault(None, []).append(name)
    top = listed.pop(None)
    assert len(top) == len(set(top)), "a module is listed twice"
    assert set(top) == files | {f"{name}/" for name in folders}, (files, top)
    for name, modules in folders.items():
        assert sorted(listed.get(name, [])) == sorted(modules), (name, modules, listed.get(name))
    assert len(files) <= 16, (
        f"labkit/ holds {len(files)} modules at its top: move the ones a learner does not read into a role folder"
    )


def test_every_notebook_points_at_the_repository_pyproject_names():
    from labkit.course.links import sync

    assert sync(ROOT, check=True) == [], "run `labkit links` to rewrite the badges and install cells"


def test_a_fork_sets_its_home_in_one_line_and_labkit_links_rewrites_every_badge(tmp_path):
    import shutil

    import nbformat

    from labkit.course.links import repository, sync
    from labkit.runtime import LabkitError

    shutil.copytree(ROOT / "notebooks", tmp_path / "notebooks")
    text = (ROOT / "pyproject.toml").read_text()
    (tmp_path / "pyproject.toml").write_text(
        text.replace("https://github.com/labkit-lab/labkit", "https://github.com/a-school/labkit-fork")
    )
    assert repository(tmp_path) == ("a-school", "labkit-fork")
    notebooks = sorted(p.name for p in (tmp_path / "notebooks").glob("*.ipynb"))
    assert [line.split(":")[0] for line in sync(tmp_path, check=True)] == notebooks
    assert len(sync(tmp_path)) == len(notebooks) and sync(tmp_path, check=True) == []
    first = nbformat.read(tmp_path / "notebooks" / notebooks[0], as_version=4)
    assert "mybinder.org/v2/gh/a-school/labkit-fork/main?labpath=notebooks%2F" + notebooks[0] in first.cells[0].source
    assert "colab.research.google.com/github/a-school/labkit-fork/blob/main/notebooks/" + notebooks[0] in first.cells[0].source
    assert 'git+https://github.com/a-school/labkit-fork"' in first.cells[1].source
    first.cells = first.cells[2:]  # a notebook without badges or install cell is reported, not passed
    nbformat.write(first, tmp_path / "notebooks" / notebooks[0])
    assert sync(tmp_path, check=True) == [
        f"{notebooks[0]}: no binder, no colab, no install link (add the badges and install cell of the others)"
    ]
    (tmp_path / "pyproject.toml").write_text(text.replace("https://github.com/labkit-lab/labkit", "labkit.example.org"))
    with pytest.raises(LabkitError, match="set it to https://github.com/OWNER/NAME"):
        repository(tmp_path)


def test_paths_found_from_a_modules_place_are_the_repositorys(monkeypatch):
    """A module that finds the repository from its own file must still find it after a move into a folder."""
    from labkit.course.links import ROOT as LINKS_ROOT
    from labkit.run.pipeline import default_runs_dir
    from labkit.tasks import DATA_DIR

    monkeypatch.delenv("LABKIT_RUNS", raising=False)
    assert LINKS_ROOT == ROOT and DATA_DIR == ROOT / "data" and default_runs_dir() == ROOT / "runs"
