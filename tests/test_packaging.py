"""environment.yml and binder/ agree with pyproject.toml."""

import re
import subprocess
import sys
import tomllib
from pathlib import Path

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
        if name in ("python", "pip"):
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


def test_binder_post_build_installs_labkit():
    post_build = (ROOT / "binder" / "postBuild").read_text()
    assert "pip install" in post_build and "-e ." in post_build
    assert (ROOT / "binder" / "postBuild").stat().st_mode & 0o111, "postBuild must be executable"


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
    assert set(choices.group(1).split(",")) == {"run", "demo", "data", "info", "eval"}


def test_the_package_docstring_names_every_module():
    """labkit/__init__'s module list is the map a newcomer reads first: it must match the files."""
    from pathlib import Path

    import labkit

    modules = {p.stem for p in Path(labkit.__file__).parent.glob("*.py")} - {"__init__"}
    entries = [line.split()[0] for line in labkit.__doc__.splitlines() if line.startswith("    ") and line.strip()]
    assert len(entries) == len(set(entries)), "a module is listed twice"
    assert set(entries) == modules, (modules - set(entries), set(entries) - modules)
