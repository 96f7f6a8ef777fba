"""Shared fixtures: tiny models and the offline guard.

Tests never touch the network: HF_HUB_OFFLINE makes any accidental hub call fail
fast instead of hanging.
"""

import os

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
