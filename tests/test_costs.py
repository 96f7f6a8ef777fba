"""The FLOPs estimate each row of `labkit run` carries: the rule, and the counts it is fed."""

import pytest

from labkit.grpo_loop import GRPOLoopConfig, tokens_of_run, train_grpo
from labkit.models import build_model
from labkit.run.costs import training_flops
from labkit.tasks import read_records


def test_six_flops_a_parameter_a_trained_token_two_a_read_one():
    assert training_flops(1000, {"trained": 10}) == 60_000
    assert training_flops(1000, {"forward": 10}) == 20_000
    assert training_flops(1000, {"trained": 1, "forward": 1, "teacher": 1}, teacher_parameters=10_000) == 6000 + 2000 + 20_000
    assert training_flops(1000, {}) == 0


def test_a_count_it_does_not_know_or_a_teacher_without_a_size_is_refused():
    with pytest.raises(ValueError, match="unknown token count 'sampled'"):
        training_flops(1000, {"sampled": 3})
    with pytest.raises(ValueError, match="teacher_parameters"):
        training_flops(1000, {"teacher": 3})


def test_grpo_counts_every_prompt_and_completion_token_it_samples():
    model, tokenizer = build_model("student-tiny", seed=0)
    config = GRPOLoopConfig(max_steps=3, prompts_per_step=2, num_generations=2, max_completion_length=6)
    history = train_grpo(model, tokenizer, read_records("train")[:20], config)
    steps = [h["num_tokens"] for h in history]
    assert steps[0] > 0 and steps == sorted(steps)
    # Four samples a step, each at least its prompt (at least 4 tokens, '1+2=') and at most 6 completion tokens.
    assert 3 * 4 * 4 <= steps[-1] <= 3 * 4 * (12 + 6)
    assert tokens_of_run(history, config) == {"trained": steps[-1], "forward": steps[-1]}
    two_passes = GRPOLoopConfig(**{**config.__dict__, "num_iterations": 2})
    assert tokens_of_run(history, two_passes)["trained"] == 2 * steps[-1]
