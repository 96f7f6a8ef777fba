"""Shared fixtures: tiny models and the offline guard.

Tests never touch the network: HF_HUB_OFFLINE makes any accidental hub call fail
fast instead of hanging.
"""

import os
import subprocess
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("LABKIT_DEVICE", "cpu")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
# trackio reads its folder once, on import: every test's tracker projects go to this session's, never the user's.
os.environ["TRACKIO_DIR"] = tempfile.mkdtemp(prefix="labkit-trackio-")

import pytest  # noqa: E402

from labkit.models import build_model  # noqa: E402


@pytest.fixture
def student():
    """A freshly initialised student (~96k parameters) and its tokenizer."""
    return build_model("student", seed=0)


@pytest.fixture
def teacher():
    return build_model("teacher", seed=0)


@pytest.fixture(scope="session", autouse=True)
def executed_notebooks(tmp_path_factory):
    """Where test_notebooks leaves each executed notebook ($LABKIT_EXECUTED_DIR, else a folder of this session's),
    so that test_site builds the course book from those copies instead of executing every notebook again."""
    if not os.environ.get("LABKIT_EXECUTED_DIR"):
        os.environ["LABKIT_EXECUTED_DIR"] = str(tmp_path_factory.mktemp("executed"))
    return Path(os.environ["LABKIT_EXECUTED_DIR"])


@pytest.fixture(scope="session")
def quick_run(tmp_path_factory):
    """One `labkit run --profile quick`, run once a session as a user runs it, in the runs folder the notebooks
    share ($LABKIT_TEST_RUNS, else a folder of this session's), logged to trackio. The end-to-end test reads its output; the
    notebooks reuse its stages, as a learner's notebooks reuse what `labkit run` made; the benchmarks read a copy.
    Returns (the finished process, the run folder)."""
    runs = Path(os.environ.get("LABKIT_TEST_RUNS") or tmp_path_factory.getbasetemp() / "labkit-runs")
    out = runs / "quick"
    command = [sys.executable, "-m", "labkit.cli", "run", "--profile", "quick", "--out", str(out)]
    # ... and with the tracker on, into this session's $TRACKIO_DIR: test_track reads every stage's logs from it.
    command += ["--report-to", "trackio", "--project", "quick-run", "--run-name", "e2e"]
    return subprocess.run(command, capture_output=True, text=True, timeout=900), out
