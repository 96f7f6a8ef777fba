"""Every notebook runs top to bottom in the quick profile (CI executes them here)."""

import os
import re
from concurrent.futures import ThreadPoolExecutor
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


# The lab's tiny models keep about one core busy each (most of a step is Python), so two kernels of one thread
# each finish the ten notebooks in far less time than one after another: CI's machine has two cores.
KERNELS = int(os.environ.get("LABKIT_TEST_KERNELS", "2"))
# Longest first (docs/timings.md's quick-profile order of magnitude), so neither kernel is left with a long one at the end.
LONGEST_FIRST = ["06", "01", "07", "02", "03", "04", "02b", "03b", "00", "05"]


def _execute(path: Path) -> tuple[nbformat.NotebookNode, str | None]:
    """`path` executed top to bottom in a kernel of its own; (the executed notebook, the error or None)."""
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}})
    try:
        client.execute()
    except Exception as error:  # noqa: BLE001 - reported by the notebook's own test, with the cell that failed
        return notebook, f"{type(error).__name__}: {error}"
    return notebook, None


@pytest.fixture(scope="session")
def executed(request, quick_run, executed_notebooks):
    """Every notebook this session selected, executed in the quick profile, `KERNELS` at a time.

    The kernels share one run folder, as a learner's notebooks do: the one `labkit run` made (conftest's
    `quick_run`), which they read and add their own subfolders to. Each kept copy goes to
    `executed_notebooks` for a person to look at, and for test_site to build the course book from."""
    wanted = {item.callspec.params["path"] for item in request.session.items if "executed" in getattr(item, "fixturenames", ())}
    order = sorted(
        wanted, key=lambda p: LONGEST_FIRST.index(p.stem.split("_")[0]) if p.stem.split("_")[0] in LONGEST_FIRST else 0
    )
    results = {}
    with pytest.MonkeyPatch.context() as patch:  # the kernels inherit this process's environment when they start
        patch.setenv("LABKIT_PROFILE", "quick")
        patch.setenv("LABKIT_DEVICE", "cpu")
        patch.setenv("LABKIT_HUB", "quick")  # notebook 06: the offline setting's code path on a smaller budget
        patch.setenv("LABKIT_RUNS", str(quick_run[1].parent))
        if KERNELS > 1:
            patch.setenv("OMP_NUM_THREADS", "1")
        with ThreadPoolExecutor(max_workers=KERNELS) as pool:
            for path, outcome in zip(order, pool.map(_execute, order)):
                results[path] = outcome
    executed_notebooks.mkdir(parents=True, exist_ok=True)  # $LABKIT_EXECUTED_DIR may name a folder not made yet
    for path, (notebook, _) in results.items():
        nbformat.write(notebook, executed_notebooks / path.name)
    return results


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs_in_the_quick_profile(path, executed):
    notebook, failure = executed[path]
    errors = [o for c in notebook.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert failure is None and not errors, failure or "\n".join(f"{e.ename}: {e.evalue}" for e in errors)


# A figure in Markdown is read on every machine but was measured on one: run figures are printed by
# code. What may stay: settings the code fixes, budgets and targets, and figures cited from a source.
RUN_FIGURE = re.compile(
    r"\d+(?:\.\d+)?\s?%|\b\d+(?:\.\d+)?x\b|\b\d+(?:\.\d+)? times\b|\b\d+(?:\.\d+)?\s?(?:s|ms|seconds?|minutes?|min|MB|GB)\b"
)
NOT_A_RUN_FIGURE = (
    "80% direct",  # the warm-up corpus's mixture: a setting (WarmupConfig.scratchpad_fraction)
    "a 2 MB number",  # an example of hostile input
    "needs under 2 GB",  # the memory budget the lab is built to (Binder's limit)
    "`docs/design.md` records",  # a measurement cited with its source and its machine
    "**Time.**",  # header times: test_header_times_are_the_timing_tables checks them against docs/timings.md
)


def test_markdown_states_no_run_figures():
    found = []
    for path in NOTEBOOKS:
        notebook = nbformat.read(path, as_version=4)
        for index, cell in enumerate(notebook.cells):
            if cell.cell_type != "markdown":
                continue
            paragraph_allowed = False
            for line in cell.source.splitlines():
                paragraph_allowed = (paragraph_allowed and line.strip() != "") or any(p in line for p in NOT_A_RUN_FIGURE)
                if RUN_FIGURE.search(line) and not paragraph_allowed:
                    found.append(f"{path.name} cell {index}: {line.strip()[:100]}")
    assert not found, "figures in Markdown (print them from the run instead):\n" + "\n".join(found)


def test_the_scan_catches_what_it_should():
    assert RUN_FIGURE.search("about 90% against 81%") and RUN_FIGURE.search("labkit runs 0.19x the steps per second")
    assert RUN_FIGURE.search("took 4.5 min") and RUN_FIGURE.search("3.19 s for GRPO")
    assert not RUN_FIGURE.search("notebook 04, section 6") and not RUN_FIGURE.search("$1 - \\epsilon$")


def test_header_times_are_the_timing_tables():
    """Each notebook's "**Time.**" line gives the minutes docs/timings.md measured, within 25%."""
    table = (Path(__file__).resolve().parent.parent / "docs" / "timings.md").read_text()
    measured = {name: float(minutes) for name, minutes in re.findall(r"\| `([^`]+\.ipynb)` \| ([\d.]+) \|", table)}
    assert set(measured) == {path.name for path in NOTEBOOKS}, "rerun benchmarks/notebook_times.py for every notebook"
    for path in NOTEBOOKS:
        header = nbformat.read(path, as_version=4).cells[0].source
        stated = re.search(r"\*\*Time\.\*\* About ([\d.]+) minutes?", header)
        assert stated, f"{path.name}: its header should say '**Time.** About N minutes'"
        assert abs(float(stated.group(1)) - measured[path.name]) <= max(0.25 * measured[path.name], 0.5), path.name
