"""GRPO: group-relative advantages and the clipped policy loss (the loop is in `grpo_loop.py`).

Background. PPO needs a critic to say how much better than expected each answer
was. GRPO (DeepSeekMath, then DeepSeek-R1) drops the critic: it samples a group
of G completions for the same prompt and uses the group itself as the baseline.

Key equations, for completion i of a group with rewards r_1..r_G:

    A_i = (r_i - mean(r)) / (std(r) + eps)                     group-relative advantage
    rho_t = exp(log pi(o_t) - log pi_old(o_t))                 per-token ratio
    L_t = -min(rho_t A_i, clip(rho_t, 1-eps_low, 1+eps_high) A_i) + beta * KL_t
    KL_t = exp(ref_t - logp_t) - (ref_t - logp_t) - 1           k3 estimator, >= 0

and the per-token losses are averaged in one of four ways (see `policy_loss`).
Same meaning as TRL's `GRPOTrainer`; where labkit differs, the docstring says so.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from .runtime import LabkitError

SCALES = ("group", "batch", "none")
LOSS_TYPES = ("grpo", "bnpo", "dr_grpo", "dapo")


def _as_groups(rewards: torch.Tensor | Sequence[float], group_size: int) -> torch.Tensor:
    """Rewards laid out group after group, reshaped to (num_groups, group_size)."""
    rewards = torch.as_tensor(rewards, dtype=torch.float32)
    if rewards.dim() != 1:
        raise LabkitError(f"rewards must be one value per completion (1-D), got shape {tuple(rewards.shape)}")
    if group_size < 1:
        raise LabkitError(f"group_size must be at least 1, got {group_size}")
    if rewards.numel() % group_size != 0:
        raise LabkitError(
            f"{rewards.numel()} rewards do not split into groups of {group_size}: "
            f"the batch (prompts x generations) must be a multiple of the group size (num_generations)"
        )
    return rewards.view(-1, group_size)


def group_advantages(
    rewards: torch.Tensor | Sequence[float], group_size: int, scale: str = "group", eps: float = 1e-4
) -> torch.Tensor:
    """Advantage of each completion relative to its group. (N,) -> (N,), N = groups x group_size.

        centred  = r_i - mean(r over i's group)
        "group": A_i = centred / (std over i's group + eps)        GRPO, TRL's default
        "batch": A_i = centred / (std over the whole batch + eps)  (Liu et al.'s "batch" scaling)
        "none":  A_i = centred                                    Dr. GRPO: no std, no difficulty bias

    The std is Bessel-corrected (divides by n-1), as `torch.std` and TRL compute
    it, so labkit's advantages equal TRL's. A group whose rewards are all equal
    gets advantages 0 under every scale: it carries no learning signal.
    """
    if scale not in SCALES:
        raise LabkitError(f"unknown scale {scale!r}; choose one of {', '.join(SCALES)}")
    groups = _as_groups(rewards, group_size)
    centred = groups - groups.mean(dim=1, keepdim=True)
    # In float32 the mean of eight 0.7s is not exactly 0.7, and dividing by std + eps
    # would blow that rounding up to ~6e-4: a group with one reward gets exact zeros.
    all_equal = groups.max(dim=1, keepdim=True).values == groups.min(dim=1, keepdim=True).values
    centred = centred.masked_fill(all_equal, 0.0)
    if scale == "none" or group_size == 1:
        return centred.flatten()
    if scale == "group":
        std = groups.std(dim=1, keepdim=True)
    else:
        std = groups.flatten().std() if groups.numel() > 1 else torch.zeros(())
    return (centred / (std + eps)).flatten()


def zero_std_fraction(rewards: torch.Tensor | Sequence[float], group_size: int) -> float:
    """Share of groups whose rewards are all equal (they get no gradient).

    TRL logs this as `frac_reward_zero_std`. (Under `scale_rewards="batch"` TRL
    instead checks the whole batch's std; labkit always reports groups.)
    """
    groups = _as_groups(rewards, group_size)
    return (groups.max(dim=1).values == groups.min(dim=1).values).float().mean().item()


def _masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return (values * mask).sum() / mask.sum().clamp(min=1.0)


def policy_loss(
    logps: torch.Tensor,
    old_logps: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    *,
    ref_logps: torch.Tensor | None = None,
    beta: float = 0.0,
    epsilon: float = 0.2,
    epsilon_high: float | None = None,
    loss_type: str = "dapo",
    max_completion_length: int | None = None,
) -> tuple[torch.Tensor, dict[str, float]]:
    """The clipped GRPO surrogate with optional k3 KL, aggregated by `loss_type`.

    logps, old_logps, ref_logps, mask: (B, T) per completion token; advantages: (B,).
    Per token: L_t = -min(rho_t A, clip(rho_t, 1-epsilon, 1+epsilon_high) A) + beta KL_t.
    Aggregation over the mask:
        "grpo":    mean over each sequence's tokens, then over sequences
                   (a long answer's tokens weigh less: a length bias)
        "bnpo":    sum over all tokens / number of tokens
        "dr_grpo": sum over all tokens / (B * max_completion_length)   (a constant)
        "dapo":    token-level, as TRL defines it for one process without gradient
                   accumulation, where it equals "bnpo"
    Differs from TRL in one default: TRL (from 1.10, labkit's floor) multiplies the KL term by the ratio
    (`use_bias_correction_kl=True`); labkit keeps the plain k3 of the GRPO paper.
    With that switch off, the two agree to float tolerance (tests/test_trl_agreement.py).
    Returns (loss, stats) with stats: kl, clip_ratio/low_mean, clip_ratio/high_mean,
    clip_ratio/region_mean, ratio_mean (token means over the mask).
    """
    if loss_type not in LOSS_TYPES:
        raise LabkitError(f"unknown loss_type {loss_type!r}; choose one of {', '.join(LOSS_TYPES)}")
    if beta != 0.0 and ref_logps is None:
        raise LabkitError("beta > 0 needs ref_logps (the reference model's log-probs)")
    epsilon_high = epsilon if epsilon_high is None else epsilon_high
    mask = mask.to(logps.dtype)
    advantages = advantages.unsqueeze(1)  # (B, 1): one advantage for every token of a completion

    ratio = torch.exp(logps - old_logps)
    clipped = torch.clamp(ratio, 1 - epsilon, 1 + epsilon_high)
    per_token = -torch.min(ratio * advantages, clipped * advantages)
    kl = None
    if beta != 0.0:
        kl = torch.exp(ref_logps - logps) - (ref_logps - logps) - 1
        per_token = per_token + beta * kl

    if loss_type == "grpo":
        loss = ((per_token * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)).mean()
    elif loss_type in ("bnpo", "dapo"):
        loss = (per_token * mask).sum() / mask.sum().clamp(min=1.0)
    else:  # dr_grpo
        length = max_completion_length or mask.shape[1]
        loss = (per_token * mask).sum() / (mask.shape[0] * length)

    with torch.no_grad():
        low = ((ratio < 1 - epsilon) & (advantages < 0)).to(mask.dtype)
        high = ((ratio > 1 + epsilon_high) & (advantages > 0)).to(mask.dtype)
        stats = {
            "kl": _masked_mean(kl, mask).item() if kl is not None else 0.0,
            "clip_ratio/low_mean": _masked_mean(low, mask).item(),
            "clip_ratio/high_mean": _masked_mean(high, mask).item(),
            "clip_ratio/region_mean": _masked_mean(torch.clamp(low + high, max=1.0), mask).item(),
            "ratio_mean": _masked_mean(ratio, mask).item(),
        }
    return loss, stats
