"""Shared fixtures: tiny models and the offline guard.

Tests never touch the network: HF_HUB_OFFLINE makes any accidental hub call fail
fast instead of hanging.
"""

import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("LABKIT_DEVICE", "cpu")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

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
