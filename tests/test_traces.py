"""Rejection sampling: the trace judge, the counts, and a real teacher's traces."""

import pytest
import torch

from labkit import traces as traces_module
from labkit.distill import DistillConfig, train_sequence_kd
from labkit.models import build_model
from labkit.rewards import is_correct, is_well_formed
from labkit.runtime import LabkitError
from labkit.sampling import Generation
from labkit.tasks import ColumnSums, completion, read_records
from labkit.traces import (
    TraceConfig,
    ground_truth_traces,
    judge_trace,
    load_traces,
    save_traces,
    strict_traces,
    teacher_traces,
)

# --- rejection sampling ---------------------------------------------------------------------------


def _fake_generation(texts: list[str], prompts: list[str]) -> Generation:
    empty = torch.zeros(len(texts), 1, dtype=torch.long)
    return Generation(empty, empty, empty, empty, texts, prompts)


def test_rejection_sampling_keeps_only_correct_well_formed_distinct_traces(monkeypatch):
    task = ColumnSums()
    records = [task.record((12, 34, 56)), task.record((99, 1, 5))]  # sums 102 and 105
    right_think = completion(records[0], scratchpad=True)
    samples = [
        right_think,  # kept
        right_think,  # a duplicate
        "<answer>102</answer>",  # right and direct: kept
        "<think>2+4+6=12</think><answer>101</answer>",  # wrong
        "<answer>105</answer>",  # kept
        "<answer>105</answer><answer>105</answer>",  # right answer, malformed
        "<think>9+1+5=16 1+9+0+0=10</think><answer>105</answer>",  # right answer, a step that does not add up
        "<think>",  # cut off
    ]

    def fake_generate(model, tokenizer, prompts, *, num_generations, **kwargs):
        assert num_generations == 4
        return _fake_generation(samples[: len(prompts) * 4], [p for p in prompts for _ in range(4)])

    monkeypatch.setattr(traces_module, "generate_completions", fake_generate)
    traces, counts = teacher_traces(None, None, records, TraceConfig(samples_per_prompt=4))
    assert [t["completion"] for t in traces] == [right_think, "<answer>102</answer>", "<answer>105</answer>", samples[6]]
    assert [t["answer"] for t in traces] == ["102", "102", "105", "105"]
    assert counts["samples"] == 8 and counts["kept"] == 4 and counts["duplicates"] == 1
    assert counts["correct"] == 6 and counts["well_formed"] == 6 and counts["wrong_steps"] == 1
    assert counts["prompts_with_a_trace"] == 2
    assert counts["canonical_share"] == pytest.approx(1 / 4)
    assert counts["scratchpad_share"] == pytest.approx(2 / 4)

    # With the process check, the trace that is right for the wrong reasons goes too.
    strict, strict_counts = teacher_traces(None, None, records, TraceConfig(samples_per_prompt=4, check_steps=True))
    assert [t["completion"] for t in strict] == [right_think, "<answer>102</answer>", "<answer>105</answer>"]
    assert strict_counts["wrong_steps"] == 1 and strict_counts["kept"] == 3


def test_traces_round_trip_through_a_file(tmp_path):
    traces = ground_truth_traces(read_records("validation"), limit=5)
    assert all(t["completion"].startswith("<think>") for t in traces)
    assert load_traces(save_traces(traces, tmp_path / "t.jsonl")) == traces
    with pytest.raises(LabkitError, match="no traces at"):
        load_traces(tmp_path / "missing.jsonl")


@pytest.mark.parametrize(
    "text,reason",
    [
        ("<think>2+4+6=12 1+1+3+5+1=11</think><answer>112</answer>", "kept"),
        ("<answer>112</answer><answer>112</answer>", "dropped: malformed (more than one answer"),
        ("<answer>111</answer>", "dropped: wrong answer (answer 111 != 112)"),
        ("<think>2+4+6=13 1+1+3+5+1=11</think><answer>112</answer>", "kept, though right for the wrong reasons (step 1"),
    ],
)
def test_the_judge_says_why(text, reason):
    verdict = judge_trace(text, "112", set())
    assert verdict.reason.startswith(reason)
    assert verdict.kept == reason.startswith("kept")


def test_the_judge_drops_a_second_copy_and_with_check_steps_a_wrong_step():
    seen = set()
    right = "<answer>112</answer>"
    assert judge_trace(right, "112", seen).kept and seen == {right}
    again = judge_trace(right, "112", seen)
    assert not again.kept and again.duplicate and again.reason == "dropped: duplicate"
    slip = "<think>2+4+6=13</think><answer>112</answer>"
    verdict = judge_trace(slip, "112", seen, check_steps_too=True)
    assert not verdict.kept and verdict.reason.startswith("dropped: step 1: 2+4+6=13 does not add up")
    assert strict_traces([{"completion": slip}, {"completion": right}]) == [{"completion": right}]


def test_a_real_teacher_yields_traces_that_pass_the_rewards():
    """A real model through the real sampler: one that learned 16 problems by heart keeps traces, all of them right."""
    records = read_records("validation")[:16]
    teacher, tokenizer = build_model("student", seed=0)
    train_sequence_kd(
        teacher, tokenizer, ground_truth_traces(records), DistillConfig(max_steps=150, batch_size=16, learning_rate=1e-2)
    )
    traces, counts = teacher_traces(teacher, tokenizer, records, TraceConfig(prompts=16, temperature=0.5), seed=0)
    assert counts["samples"] == 64 and counts["kept"] == len(traces) >= 8
    assert all(is_correct(t["completion"], t["answer"]) and is_well_formed(t["completion"]) for t in traces)
    assert counts["correct"] >= counts["kept"] and counts["prompts_with_a_trace"] >= 4
