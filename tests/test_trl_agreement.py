"""labkit's advantages and loss equal what TRL's GRPOTrainer computes, on one fixed batch.

The batch is built by TRL itself (`_generate_and_score_completions`), so the
completions, masks and advantages are TRL's; labkit recomputes the rewards from
the decoded text, the advantages with `group_advantages`, and the loss with
`policy_loss`, and must agree to float tolerance. Prompts all have the same
length here: labkit passes position ids derived from the attention mask, TRL
does not, so with left padding their log-probs would differ (labkit's match
what `generate` sampled from; see tests/test_sampling.py).
"""

import warnings

import pytest
import torch
from datasets import Dataset

from labkit.grpo import group_advantages, policy_loss
from labkit.models import build_model, save_model
from labkit.rewards import format_reward, length_heuristic_reward
from labkit.sampling import per_token_logps
from labkit.tasks import read_records

GROUP = 4


def make_trainer(tmp_path, **overrides):
    from trl import GRPOConfig, GRPOTrainer

    warnings.filterwarnings("ignore")
    model, tokenizer = build_model("student", seed=0)
    # Saved, so TRL can load its own reference copy when beta > 0.
    path = save_model(model, tokenizer, tmp_path / "student")
    model.config._name_or_path = str(path)  # where TRL builds its reference copy from
    records = read_records("train")[:8]
    data = Dataset.from_list([{"prompt": r["prompt"], "answer": r["answer"]} for r in records])
    settings = dict(
        output_dir=str(tmp_path / "trl"),
        per_device_train_batch_size=8,
        num_generations=GROUP,
        max_completion_length=12,
        bf16=False,
        use_cpu=True,
        report_to=[],
        learning_rate=1e-4,
        max_steps=1,
        save_strategy="no",
        seed=0,
    )
    args = GRPOConfig(**{**settings, **overrides})
    # An untrained model is never right, so score length and format: rewards that vary within a group.
    trainer = GRPOTrainer(
        model=model,
        processing_class=tokenizer,
        reward_funcs=[format_reward, length_heuristic_reward],
        args=args,
        train_dataset=data,
    )
    trainer.current_gradient_accumulation_steps = 1  # set by the training loop, which we do not run
    torch.manual_seed(0)
    batch = [data[i] for i in range(2) for _ in range(GROUP)]
    return trainer, tokenizer, batch, trainer._generate_and_score_completions(batch)


@pytest.mark.parametrize("scale", ["group", "batch", "none"])
def test_advantages_agree(tmp_path, scale):
    trainer, tokenizer, _, inputs = make_trainer(tmp_path, scale_rewards=scale)
    texts = tokenizer.batch_decode(inputs["completion_ids"], skip_special_tokens=True)
    rewards = torch.tensor(format_reward(texts)) + torch.tensor(length_heuristic_reward(texts))
    assert rewards.std() > 0, "the fixed batch should have rewards that vary"
    assert torch.allclose(group_advantages(rewards, GROUP, scale=scale), inputs["advantages"], atol=1e-5)


@pytest.mark.parametrize("loss_type", ["grpo", "bnpo", "dr_grpo", "dapo"])
@pytest.mark.parametrize("beta", [0.0, 0.1])
def test_losses_agree(tmp_path, loss_type, beta):
    # TRL multiplies the KL by the ratio by default (use_bias_correction_kl); labkit uses the
    # plain k3 estimator of the GRPO paper, so that correction is switched off here.
    trainer, _, _, inputs = make_trainer(
        tmp_path, loss_type=loss_type, beta=beta, epsilon=0.2, epsilon_high=0.28, use_bias_correction_kl=False
    )
    model = trainer.model
    model.train()
    with torch.no_grad():
        current, _ = per_token_logps(
            model, inputs["prompt_ids"], inputs["prompt_mask"], inputs["completion_ids"], inputs["completion_mask"]
        )
    # Old and reference policies that differ from the current one, so clipping and KL are exercised.
    noise = torch.randn(current.shape, generator=torch.Generator().manual_seed(1)) * 0.3
    inputs["old_per_token_logps"] = (current + noise) * inputs["completion_mask"]
    inputs["ref_per_token_logps"] = (current - noise.abs()) * inputs["completion_mask"]

    trl_loss = trainer._compute_loss(model, inputs)

    logps, _ = per_token_logps(
        model, inputs["prompt_ids"], inputs["prompt_mask"], inputs["completion_ids"], inputs["completion_mask"]
    )
    ours, stats = policy_loss(
        logps,
        inputs["old_per_token_logps"],
        inputs["advantages"],
        inputs["completion_mask"],
        ref_logps=inputs["ref_per_token_logps"],
        beta=beta,
        epsilon=0.2,
        epsilon_high=0.28,
        loss_type=loss_type,
        max_completion_length=12,
    )
    assert stats["clip_ratio/region_mean"] > 0
    assert torch.allclose(ours, trl_loss, atol=1e-5), (ours.item(), trl_loss.item())
