"""The install a Colab user gets: labkit's wheel without the dev extra, beside the torch already there.

Colab's install cell is `pip install "labkit @ git+<repository>"`: pip builds the wheel from the
repository and installs it with its dependencies only, keeping the torch the runtime has. Here the
same happens from a wheel built of this checkout into a fresh virtual environment that already
holds this machine's torch, and notebook 00 then runs there headless, outside the checkout.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_the_wheel_installs_without_the_dev_extra_keeps_torch_and_runs_notebook_00(tmp_path):
    import torch

    run = lambda *command, **kwargs: subprocess.run(command, capture_output=True, text=True, timeout=900, **kwargs)  # noqa: E731
    built = run(sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path / "wheel"), str(ROOT))
    assert built.returncode == 0, built.stderr[-2000:]
    wheel = next((tmp_path / "wheel").glob("labkit-*.whl"))
    venv = tmp_path / "venv"
    assert run(sys.executable, "-m", "venv", str(venv)).returncode == 0
    pip, python = str(venv / "bin" / "pip"), str(venv / "bin" / "python")
    torch_version = torch.__version__.split("+")[0]
    # --no-compile: Python compiles what it imports anyway; compiling every installed file up front took a third of the install.
    for step in (
        [pip, "install", "-q", "--no-compile", f"torch=={torch_version}"],
        [pip, "install", "-q", "--no-compile", str(wheel)],
    ):
        installed = run(*step)
        assert installed.returncode == 0, installed.stderr[-2000:]
    listed = run(pip, "list", "--format=freeze").stdout
    assert f"torch=={torch.__version__}" in listed  # the runtime's own torch, kept
    assert "pytest" not in listed.lower() and "ruff" not in listed.lower()  # no dev extra
    # Outside the checkout: the installed package, not this folder, must be what runs.
    notebook = tmp_path / "00_welcome.ipynb"
    notebook.write_bytes((ROOT / "notebooks" / "00_welcome.ipynb").read_bytes())
    env = {**os.environ, "LABKIT_PROFILE": "quick", "LABKIT_DEVICE": "cpu", "LABKIT_RUNS": str(tmp_path / "runs")}
    env.pop("PYTHONPATH", None)
    executed = run(
        str(venv / "bin" / "jupyter"), "nbconvert", "--to", "notebook", "--execute", "--output", "executed.ipynb", str(notebook),
        cwd=tmp_path, env=env,
    )  # fmt: skip
    assert executed.returncode == 0, executed.stderr[-3000:]
    where = run(python, "-c", "import labkit; print(labkit.__file__)", cwd=tmp_path, env=env).stdout
    assert str(venv) in where
