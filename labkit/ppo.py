"""The price of a critic: a minimal PPO step with a value model, to set beside GRPO.

PPO estimates how good each token's state is with a learned value model V (a
critic, here as large as the policy) and turns the one reward at the end of a
completion into per-token advantages with GAE:

    delta_t = r_t + gamma V(s_{t+1}) - V(s_t)        (r_t = 0 except at the last token)
    A_t = delta_t + gamma lambda A_{t+1}              returns_t = A_t + V(s_t)
    L = -mean ratio_t A_t + c_v * mean (V(s_t) - returns_t)^2     ratio_t = pi(a_t | s_t) / pi_old(a_t | s_t)

The first term is the surrogate PPO clips (ratio_t to [1 - eps, 1 + eps]); with one
update per batch (mu = 1), as here and in GRPO's default (`num_iterations=1`), pi_old
is pi, the ratio is 1 and the clip never binds, so it is the plain policy gradient
with per-token advantages.

GRPO replaces V with the mean reward of a group of samples of the same prompt,
so it holds no second network, computes no second forward/backward pass and
keeps no second set of Adam moments. `labkit.run.costs` measures what that saves.
"""

from __future__ import annotations

import time

import torch
from transformers import LlamaModel, PreTrainedTokenizerBase

from .rewards import correctness_reward
from .sampling import generate_completions, per_token_logps


class ValueModel(torch.nn.Module):
    """A critic with the policy's architecture: a transformer body and a scalar head."""

    def __init__(self, config):
        super().__init__()
        self.body = LlamaModel(config)
        self.head = torch.nn.Linear(config.hidden_size, 1)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Values of every position, (N, L)."""
        position_ids = (attention_mask.cumsum(dim=1) - 1).clamp(min=0)
        hidden = self.body(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids).last_hidden_state
        return self.head(hidden).squeeze(-1)


def gae_advantages(
    rewards: torch.Tensor, values: torch.Tensor, mask: torch.Tensor, gamma: float = 1.0, lam: float = 0.95
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-token advantages and returns from one terminal reward per completion.

    rewards: (N,); values, mask: (N, C) over completion tokens. Returns (advantages, returns), (N, C).
    """
    length = mask.sum(dim=1).long()
    token_rewards = torch.zeros_like(values)
    token_rewards[torch.arange(len(rewards), device=values.device), (length - 1).clamp(min=0)] = rewards.to(values)
    values = values * mask
    advantages = torch.zeros_like(values)
    running = torch.zeros(values.shape[0], device=values.device)
    for t in reversed(range(values.shape[1])):
        next_value = values[:, t + 1] if t + 1 < values.shape[1] else torch.zeros_like(running)
        delta = token_rewards[:, t] + gamma * next_value - values[:, t]
        running = (delta + gamma * lam * running) * mask[:, t]
        advantages[:, t] = running
    return advantages, (advantages + values) * mask


def ppo_step(
    policy: torch.nn.Module,
    critic: ValueModel,
    tokenizer: PreTrainedTokenizerBase,
    records: list[dict],
    policy_optimizer: torch.optim.Optimizer,
    critic_optimizer: torch.optim.Optimizer,
    *,
    max_new_tokens: int = 40,
    value_coef: float = 0.5,
) -> dict:
    """One PPO step on one sample per prompt: sample, score, then `ppo_update`."""
    start = time.perf_counter()
    generation = generate_completions(policy, tokenizer, [r["prompt"] for r in records], max_new_tokens=max_new_tokens)
    rewards = torch.tensor(correctness_reward(generation.texts, answer=[r["answer"] for r in records]))
    metrics = ppo_update(policy, critic, generation, rewards, policy_optimizer, critic_optimizer, value_coef=value_coef)
    return {**metrics, "reward": rewards.mean().item(), "step_seconds": time.perf_counter() - start}


def ppo_update(
    policy: torch.nn.Module,
    critic: ValueModel,
    generation,
    rewards: torch.Tensor,
    policy_optimizer: torch.optim.Optimizer,
    critic_optimizer: torch.optim.Optimizer,
    *,
    value_coef: float = 0.5,
) -> dict:
    """The learning half of a PPO step: critic values, GAE, both losses, one update of each model.

    One update per batch, so the ratio is 1 and there is no clip to apply: the policy loss is
    the plain policy gradient with per-token (normalised) advantages.
    """
    input_ids = torch.cat([generation.prompt_ids, generation.completion_ids], dim=1)
    attention_mask = torch.cat([generation.prompt_mask, generation.completion_mask], dim=1)
    length = generation.completion_ids.shape[1]
    mask = generation.completion_mask.float()

    policy.train()
    critic.train()
    # The value of the state before each completion token: positions P-1 ... P+C-2.
    values = critic(input_ids, attention_mask)[:, -length - 1 : -1]
    with torch.no_grad():
        advantages, returns = gae_advantages(rewards, values.detach(), mask)
        advantages = (advantages - advantages[mask.bool()].mean()) / (advantages[mask.bool()].std() + 1e-8) * mask
    logps, _ = per_token_logps(
        policy, generation.prompt_ids, generation.prompt_mask, generation.completion_ids, generation.completion_mask
    )
    # One update per batch (mu = 1, GRPO's default too): the ratio is 1 and clipping never binds,
    # so the surrogate's gradient is the policy gradient with per-token advantages.
    ratio = torch.exp(logps - logps.detach())
    loss_policy = (-(ratio * advantages) * mask).sum() / mask.sum()
    loss_value = (((values - returns) ** 2) * mask).sum() / mask.sum()
    loss = loss_policy + value_coef * loss_value
    policy_optimizer.zero_grad(set_to_none=True)
    critic_optimizer.zero_grad(set_to_none=True)
    loss.backward()
    policy_optimizer.step()
    critic_optimizer.step()
    policy.eval()
    return {"loss": loss.item(), "value_loss": loss_value.item()}
