"""Every notebook runs top to bottom in the quick profile (CI executes them here)."""

import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("*.ipynb"))


def test_notebooks_are_stored_without_outputs():
    for path in NOTEBOOKS:
        notebook = nbformat.read(path, as_version=4)
        for cell in notebook.cells:
            if cell.cell_type == "code":
                assert not cell.outputs and cell.execution_count is None, f"{path.name}: strip outputs before committing"


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs_in_the_quick_profile(path, tmp_path, monkeypatch):
    monkeypatch.setenv("LABKIT_PROFILE", "quick")
    monkeypatch.setenv("LABKIT_DEVICE", "cpu")
    # Notebooks share one run folder per profile, as a learner's would.
    monkeypatch.setenv("LABKIT_RUNS", str(Path(os.environ.get("LABKIT_TEST_RUNS", tmp_path.parent / "labkit-runs"))))
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}})
    client.execute()
    # Keep the executed copy for a person to look at.
    out_dir = Path(os.environ.get("LABKIT_EXECUTED_DIR", tmp_path))
    out_dir.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, out_dir / path.name)
    errors = [o for c in notebook.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors
