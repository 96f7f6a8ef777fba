"""The PPO-with-critic step used to measure what GRPO saves."""

import pytest
import torch

from labkit.models import build_model
from labkit.ppo import ValueModel, gae_advantages, ppo_step
from labkit.run.costs import measure
from labkit.tasks import read_records


def test_gae_by_hand():
    # Two tokens, reward 1 at the end, values 0.2 then 0.5, gamma 1, lambda 0.5:
    # delta_1 = 1 + 0 - 0.5 = 0.5;  delta_0 = 0 + 0.5 - 0.2 = 0.3;  A_0 = 0.3 + 0.5 * 0.5 = 0.55.
    advantages, returns = gae_advantages(
        torch.tensor([1.0]), torch.tensor([[0.2, 0.5, 9.0]]), torch.tensor([[1.0, 1.0, 0.0]]), lam=0.5
    )
    assert torch.allclose(advantages, torch.tensor([[0.55, 0.5, 0.0]]))
    assert torch.allclose(returns, torch.tensor([[0.75, 1.0, 0.0]]))


def test_gae_with_lambda_one_is_reward_minus_value():
    values = torch.tensor([[0.1, 0.4, 0.7]])
    advantages, _ = gae_advantages(torch.tensor([1.0]), values, torch.ones(1, 3), lam=1.0)
    assert torch.allclose(advantages, 1.0 - values)


def test_ppo_step_updates_policy_and_critic():
    policy, tokenizer = build_model("student")
    critic = ValueModel(policy.config)
    policy_before = [p.clone() for p in policy.parameters()]
    critic_before = [p.clone() for p in critic.parameters()]
    # No weight decay: AdamW's decay alone would move every weight, so a change here means a non-zero gradient.
    optimizers = (
        torch.optim.AdamW(policy.parameters(), lr=1e-3, weight_decay=0.0),
        torch.optim.AdamW(critic.parameters(), lr=1e-3, weight_decay=0.0),
    )
    metrics = ppo_step(policy, critic, tokenizer, read_records("train")[:4], *optimizers, max_new_tokens=6)
    assert metrics["value_loss"] >= 0
    # An untrained policy earns reward 0 here, yet the critic's values make GAE's advantages non-zero,
    # so the policy-gradient term moves the policy as well as the value loss moving the critic.
    assert any(not torch.equal(b, a) for b, a in zip(policy_before, policy.parameters()))
    assert any(not torch.equal(b, a) for b, a in zip(critic_before, critic.parameters()))


@pytest.mark.parametrize("method", ["grpo", "ppo"])
def test_cost_measurement_reports_what_it_held(method):
    result = measure(method, "student", steps=1, prompts=2, generations=2)
    student = sum(p.numel() for p in build_model("student")[0].parameters())
    assert result["trained_parameters"] == (student if method == "grpo" else 2 * student + 65)  # critic: body + head
    assert result["seconds_per_step"] > 0 and result["completions_per_step"] == 4
