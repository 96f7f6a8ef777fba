"""Group advantages and the policy loss, against values worked out by hand and against TRL's formula."""

import math

import pytest
import torch

from labkit.grpo import group_advantages, policy_loss, zero_std_fraction
from labkit.grpo_loop import GRPOLoopConfig, train_grpo
from labkit.models import build_model
from labkit.rewards import correctness_reward, format_reward, length_heuristic_reward
from labkit.runtime import LabkitError
from labkit.tasks import read_records


def test_group_scale_by_hand():
    # Group [1, 0, 0, 1]: mean 0.5, Bessel std sqrt(1/3) = 0.57735.
    a = group_advantages([1.0, 0.0, 0.0, 1.0], 4)
    expected = 0.5 / (math.sqrt(1 / 3) + 1e-4)
    assert torch.allclose(a, torch.tensor([expected, -expected, -expected, expected]), atol=1e-6)


def test_one_right_in_four_by_hand():
    # [1, 0, 0, 0]: mean 0.25, std sqrt(((0.75)^2 + 3 * 0.25^2) / 3) = 0.5.
    a = group_advantages([1.0, 0.0, 0.0, 0.0], 4)
    assert torch.allclose(a, torch.tensor([0.75, -0.25, -0.25, -0.25]) / (0.5 + 1e-4), atol=1e-6)
    assert a.sum().abs() < 1e-6  # advantages of a group sum to zero


def test_none_scale_only_centres_and_batch_scale_uses_the_whole_batch_std():
    rewards = torch.tensor([1.0, 0.0, 0.0, 0.0, 2.0, 2.0, 0.0, 2.0])
    centred = torch.tensor([0.75, -0.25, -0.25, -0.25, 0.5, 0.5, -1.5, 0.5])
    assert torch.allclose(group_advantages(rewards, 4, scale="none"), centred)
    assert torch.allclose(group_advantages(rewards, 4, scale="batch"), centred / (rewards.std() + 1e-4))


def test_all_equal_groups_get_zero_advantage_under_every_scale():
    rewards = torch.tensor([1.0, 1.0, 1.0, 0.0, 0.0, 0.0])
    for scale in ("group", "batch", "none"):
        assert torch.equal(group_advantages(rewards, 3, scale=scale), torch.zeros(6))
    # Rewards whose float32 mean rounds (eight 0.7s): still exactly 0, not ~6e-4.
    for value in (0.7, 0.1, 1 / 3, 123.456):
        tied = torch.full((8,), value)
        for scale in ("group", "batch", "none"):
            assert torch.equal(group_advantages(tied, 8, scale=scale), torch.zeros(8)), (value, scale)
    # A tied group beside a mixed one: the tied group is 0, the mixed one is not.
    mixed = group_advantages(torch.tensor([0.7] * 4 + [0.7, 0.2, 0.7, 0.2]), 4)
    assert torch.equal(mixed[:4], torch.zeros(4)) and mixed[4:].abs().min() > 0.5


def test_loop_config_uses_trls_names():
    """Every field of labkit's loop config but the listed few has TRL's name (and, docs say, meaning)."""
    import dataclasses

    from trl import GRPOConfig

    from labkit.grpo_loop import LABKIT_ONLY_FIELDS

    trl_fields = {f.name: f for f in dataclasses.fields(GRPOConfig)}
    ours = {f.name for f in dataclasses.fields(GRPOLoopConfig)}
    assert set(LABKIT_ONLY_FIELDS) <= ours
    assert ours - set(LABKIT_ONLY_FIELDS) <= set(trl_fields), ours - set(LABKIT_ONLY_FIELDS) - set(trl_fields)
    assert not set(LABKIT_ONLY_FIELDS) & set(trl_fields)  # a field TRL has should carry TRL's name
    # The names the issue asked for, by name: renaming one away from TRL's would fail above, dropping it here.
    assert {"max_completion_length", "num_generations", "scale_rewards", "loss_type", "beta", "epsilon"} <= ours
    assert {"epsilon_high", "max_steps", "learning_rate"} <= ours
    # Where the meanings are the same, so are the defaults a learner meets.
    for name in ("num_generations", "scale_rewards", "loss_type", "beta", "epsilon", "epsilon_high", "num_iterations"):
        assert getattr(GRPOLoopConfig(), name) == trl_fields[name].default, name


def test_matches_trls_formula_on_random_rewards():
    """TRL: (r - group mean) / (Bessel std of the group, or of the batch, + 1e-4)."""
    from trl.trainer.utils import nanstd

    rewards = torch.rand(48, generator=torch.Generator().manual_seed(0)) * 2
    grouped = rewards.view(-1, 8)
    mean = grouped.mean(dim=1).repeat_interleave(8)
    group_std = nanstd(grouped, dim=1).repeat_interleave(8)
    assert torch.allclose(group_advantages(rewards, 8, "group"), (rewards - mean) / (group_std + 1e-4), atol=1e-5)
    assert torch.allclose(group_advantages(rewards, 8, "batch"), (rewards - mean) / (nanstd(rewards) + 1e-4), atol=1e-5)


def test_not_divisible_and_bad_arguments_fail_clearly():
    with pytest.raises(LabkitError, match="multiple of the group size"):
        group_advantages([1.0, 0.0, 1.0], 2)
    with pytest.raises(LabkitError, match="unknown scale"):
        group_advantages([1.0, 0.0], 2, scale="std")
    with pytest.raises(LabkitError, match="1-D"):
        group_advantages(torch.zeros(2, 2), 2)
    with pytest.raises(LabkitError, match="at least 2"):
        GRPOLoopConfig(num_generations=1)


def test_zero_std_fraction():
    assert zero_std_fraction([1, 1, 0, 1, 0, 0, 2, 2], 2) == 0.75
    assert zero_std_fraction([1, 0, 1, 0], 4) == 0.0


# --- policy_loss ----------------------------------------------------------------------------------


def _toy_batch():
    torch.manual_seed(0)
    logps = -torch.rand(4, 6)
    mask = torch.tensor([[1, 1, 1, 1, 1, 1], [1, 1, 0, 0, 0, 0], [1, 1, 1, 0, 0, 0], [1, 0, 0, 0, 0, 0]], dtype=torch.float)
    advantages = torch.tensor([1.0, -1.0, 0.5, -0.5])
    return logps, mask, advantages


def test_on_policy_loss_is_minus_the_token_weighted_advantage_and_its_gradient_is_not_zero():
    logps, mask, advantages = _toy_batch()
    logps.requires_grad_(True)
    loss, stats = policy_loss(logps, logps.detach(), advantages, mask, loss_type="dapo")
    expected = -(advantages.unsqueeze(1) * mask).sum() / mask.sum()
    assert torch.allclose(loss, expected)
    assert stats["ratio_mean"] == pytest.approx(1.0) and stats["clip_ratio/region_mean"] == 0.0
    loss.backward()
    assert logps.grad.abs().sum() > 0
    # The gradient of each token's log-prob is -A / (number of tokens).
    assert torch.allclose(logps.grad, -(advantages.unsqueeze(1) * mask) / mask.sum())


def test_aggregations_by_hand():
    logps, mask, advantages = _toy_batch()
    per_token = -advantages.unsqueeze(1).expand_as(mask) * mask
    grpo, _ = policy_loss(logps, logps, advantages, mask, loss_type="grpo")
    dr, _ = policy_loss(logps, logps, advantages, mask, loss_type="dr_grpo", max_completion_length=10)
    bnpo, _ = policy_loss(logps, logps, advantages, mask, loss_type="bnpo")
    assert torch.allclose(grpo, (per_token.sum(1) / mask.sum(1)).mean())  # = -mean(A) = 0
    assert torch.allclose(dr, per_token.sum() / (4 * 10))
    assert torch.allclose(bnpo, per_token.sum() / mask.sum())


def test_clipping_and_k3_kl():
    logps, mask, advantages = _toy_batch()
    old = logps - 0.5  # ratio e^0.5 = 1.65 > 1.2 everywhere
    loss, stats = policy_loss(logps, old, advantages, mask, epsilon=0.2, loss_type="bnpo")
    # Positive advantages are clipped at 1.2; negative ones use the unclipped ratio (min picks it).
    ratio = math.exp(0.5)
    per_token = torch.where(advantages > 0, -1.2 * advantages, -ratio * advantages).unsqueeze(1) * mask
    assert torch.allclose(loss, per_token.sum() / mask.sum(), atol=1e-6)
    assert stats["clip_ratio/high_mean"] == pytest.approx(float((mask * (advantages > 0).unsqueeze(1)).sum() / mask.sum()))
    assert stats["clip_ratio/low_mean"] == 0.0

    loss_kl, stats_kl = policy_loss(logps, logps, advantages, mask, ref_logps=logps, beta=0.1)
    assert stats_kl["kl"] == pytest.approx(0.0, abs=1e-7)  # identical policies: KL 0
    _, stats_kl = policy_loss(logps, logps, advantages, mask, ref_logps=logps - 1.0, beta=0.1)
    assert stats_kl["kl"] == pytest.approx(math.exp(-1) + 1 - 1, rel=1e-5)  # k3 at log-ratio -1
    with pytest.raises(LabkitError, match="ref_logps"):
        policy_loss(logps, logps, advantages, mask, beta=0.1)


# --- the small loop ----------------------------------------------------------------------------------


def test_train_grpo_runs_logs_trl_names_and_is_deterministic(student):
    model, tokenizer = student
    records = read_records("train")[:50]
    config = GRPOLoopConfig(max_steps=2, prompts_per_step=2, num_generations=4, max_completion_length=8, num_iterations=2)
    funcs = [correctness_reward, format_reward, length_heuristic_reward]
    history = train_grpo(model, tokenizer, records, config, reward_funcs=funcs, reward_weights=[1.0, 1.0, 0.0])
    assert len(history) == 2
    for key in (
        "reward",
        "reward_std",
        "rewards/correctness_reward/mean",
        "rewards/length_heuristic_reward/mean",
        "frac_reward_zero_std",
        "completions/mean_length",
        "kl",
        "clip_ratio/region_mean",
        "entropy",
    ):
        assert key in history[-1]
    fresh_model, fresh_tokenizer = build_model("student")
    again = train_grpo(fresh_model, fresh_tokenizer, records, config, reward_funcs=funcs, reward_weights=[1.0, 1.0, 0.0])
    assert [h["loss"] for h in again] == [h["loss"] for h in history]


def test_train_grpo_checks_its_arguments(student):
    model, tokenizer = student
    with pytest.raises(LabkitError, match="reward weights"):
        train_grpo(model, tokenizer, read_records("train")[:5], GRPOLoopConfig(max_steps=1), reward_weights=[1.0])
    with pytest.raises(LabkitError, match="reference model"):
        train_grpo(model, tokenizer, read_records("train")[:5], GRPOLoopConfig(max_steps=1, beta=0.1))


def test_reward_names_are_unique_and_partials_have_one():
    import functools

    from labkit.grpo_loop import reward_names

    partial = functools.partial(length_heuristic_reward, max_chars=40)
    assert reward_names([correctness_reward, correctness_reward, partial]) == [
        "correctness_reward",
        "correctness_reward_1",
        "length_heuristic_reward",
    ]


# --- checkpoints, resume, evaluation, schedule --------------------------------------------------------


def _tiny_loop_config(**overrides):
    base = dict(max_steps=4, prompts_per_step=2, num_generations=2, max_completion_length=6, learning_rate=1e-3)
    return GRPOLoopConfig(**{**base, **overrides})


def test_an_interrupted_run_resumes_to_the_same_weights(tmp_path):
    records = read_records("train")[:30]
    config = _tiny_loop_config()
    reference_model, tokenizer = build_model("student")
    reference = train_grpo(reference_model, tokenizer, records, config)

    interrupted_model, _ = build_model("student")

    def stop_after_two(metrics):
        if metrics["step"] == 2:
            raise KeyboardInterrupt  # what the notebook's stop button sends

    with pytest.raises(KeyboardInterrupt):
        train_grpo(interrupted_model, tokenizer, records, config, output_dir=tmp_path, callback=stop_after_two)
    assert (tmp_path / "grpo_checkpoint.pt").exists()

    resumed_model, _ = build_model("student")  # a fresh process would start from scratch weights too
    resumed = train_grpo(resumed_model, tokenizer, records, config, output_dir=tmp_path, resume=True)
    assert [m["step"] for m in resumed] == [1, 2, 3, 4]
    assert [m["loss"] for m in resumed] == [m["loss"] for m in reference]
    for p, q in zip(resumed_model.parameters(), reference_model.parameters()):
        assert torch.equal(p, q)


def test_held_out_evaluation_every_n_steps_does_not_change_training(student):
    model, tokenizer = student
    records, held_out = read_records("train")[:30], read_records("validation")[:4]
    with_eval = train_grpo(model, tokenizer, records, _tiny_loop_config(eval_steps=2), eval_records=held_out)
    assert [("eval/accuracy" in m) for m in with_eval] == [False, True, False, True]
    plain_model, _ = build_model("student")
    plain = train_grpo(plain_model, tokenizer, records, _tiny_loop_config())
    assert [m["loss"] for m in plain] == [m["loss"] for m in with_eval]


def test_learning_rate_schedule():
    from labkit.grpo_loop import learning_rate_factor

    config = GRPOLoopConfig(max_steps=10, warmup_steps=2, lr_schedule="cosine")
    factors = [learning_rate_factor(s, config) for s in range(10)]
    assert factors[0] == 0.5 and factors[1] == 1.0
    assert (
        factors[2] == pytest.approx(1.0)
        and factors[-1] > 0.1
        and factors == sorted(factors[:2]) + sorted(factors[2:], reverse=True)
    )
    assert learning_rate_factor(5, GRPOLoopConfig(max_steps=10)) == 1.0
    with pytest.raises(LabkitError, match="lr_schedule"):
        GRPOLoopConfig(lr_schedule="linear")


def test_loop_argument_errors(student):
    model, tokenizer = student
    with pytest.raises(LabkitError, match="eval_records"):
        train_grpo(model, tokenizer, read_records("train")[:5], GRPOLoopConfig(max_steps=1, eval_steps=1))
    with pytest.raises(LabkitError, match="output_dir"):
        train_grpo(model, tokenizer, read_records("train")[:5], GRPOLoopConfig(max_steps=1), resume=True)


def test_integer_weights_and_integer_rewards_train_in_float32(student):
    """As a learner types them (notebook 01): weights [1, 0] and a reward function that returns ints."""
    model, tokenizer = student

    def right_as_int(completions, answer, **kwargs):
        return [int(score) for score in correctness_reward(completions, answer=answer)]

    config = GRPOLoopConfig(max_steps=1, prompts_per_step=2, num_generations=2, max_completion_length=6)
    history = train_grpo(
        model, tokenizer, read_records("train")[:8], config, reward_funcs=[right_as_int, format_reward], reward_weights=[1, 0]
    )
    assert history[0]["reward"] == history[0]["rewards/right_as_int/mean"]  # the format reward is logged, weighted 0
    assert all(torch.isfinite(p).all() for p in model.parameters())


@pytest.mark.parametrize("temperature", [0.0, -1.0, float("nan")])
def test_a_temperature_that_cannot_sample_is_refused_in_one_line(temperature):
    with pytest.raises(LabkitError, match="temperature must be > 0") as error:
        GRPOLoopConfig(temperature=temperature)
    assert "\n" not in str(error.value)


def _resumed_after(tmp_path, interrupt, reward_funcs=None):
    """Run 4 steps with `interrupt` wired in (a dict of train_grpo keywords), expect the KeyboardInterrupt,
    resume in a fresh model, and return (resumed history, resumed model, reference history, reference model)."""
    records = read_records("train")[:30]
    config = _tiny_loop_config()
    fresh_rewards = reward_funcs or (lambda: None)
    reference_model, tokenizer = build_model("student")
    reference = train_grpo(reference_model, tokenizer, records, config, reward_funcs=fresh_rewards())
    interrupted_model, _ = build_model("student")
    keywords = interrupt(interrupted_model)
    keywords.setdefault("reward_funcs", fresh_rewards())
    with pytest.raises(KeyboardInterrupt):
        train_grpo(interrupted_model, tokenizer, records, config, output_dir=tmp_path, **keywords)
    saved_steps = len(torch.load(tmp_path / "grpo_checkpoint.pt", weights_only=True)["history"])
    resumed_model, _ = build_model("student")
    resumed = train_grpo(
        resumed_model, tokenizer, records, config, output_dir=tmp_path, resume=True, reward_funcs=fresh_rewards()
    )
    return saved_steps, (resumed, resumed_model, reference, reference_model)


def _same_run(resumed, resumed_model, reference, reference_model):
    assert [m["step"] for m in resumed] == [1, 2, 3, 4]
    assert [m["loss"] for m in resumed] == [m["loss"] for m in reference]
    assert all(torch.equal(p, q) for p, q in zip(resumed_model.parameters(), reference_model.parameters()))


def test_an_interrupt_while_sampling_is_redrawn_whole_on_resume(tmp_path):
    from labkit.rewards import correctness_reward, make_random_reward

    # A random reward gives every group advantages, so which prompts and samples a step drew shows in the weights.
    def interrupting(random_reward):
        calls = {"n": 0}

        def random_reward_that_stops(completions, **kwargs):
            calls["n"] += 1
            if calls["n"] == 3:  # step 3: its prompts are drawn and its groups sampled, nothing learned yet
                raise KeyboardInterrupt
            return random_reward(completions, **kwargs)

        random_reward_that_stops.rng = random_reward.rng
        random_reward_that_stops.__name__ = "random_reward"
        return random_reward_that_stops

    saved_steps, runs = _resumed_after(
        tmp_path,
        lambda model: {"reward_funcs": [correctness_reward, interrupting(make_random_reward(0.5, seed=1))]},
        reward_funcs=lambda: [correctness_reward, make_random_reward(0.5, seed=1)],
    )
    assert saved_steps == 2  # step 3 was cut off before it learned anything: dropped, and redrawn
    _same_run(*runs)


def test_an_interrupt_during_the_update_finishes_the_step_first(tmp_path):
    import os
    import signal

    def send_sigint_in_third_backward(model):
        seen = {"n": 0}
        parameter = next(model.parameters())

        def hook(grad):
            seen["n"] += 1
            if seen["n"] == 3:  # the stop button, pressed in the middle of step 3's backward pass
                os.kill(os.getpid(), signal.SIGINT)
            return grad

        parameter.register_hook(hook)
        return {}

    saved_steps, runs = _resumed_after(tmp_path, send_sigint_in_third_backward)
    assert saved_steps == 3  # step 3's update and record finished before the interrupt was raised
    _same_run(*runs)


def test_the_random_rewards_own_draws_are_saved_and_restored(tmp_path):
    from labkit.rewards import correctness_reward, make_random_reward

    def stop_after_two(model):
        def callback(metrics):
            if metrics["step"] == 2:
                raise KeyboardInterrupt

        return {"callback": callback}

    saved_steps, runs = _resumed_after(
        tmp_path, stop_after_two, reward_funcs=lambda: [correctness_reward, make_random_reward(0.5, seed=1)]
    )
    assert saved_steps == 2
    _same_run(*runs)
