"""Distillation: kd_loss against its analytic limits and TRL, and each method learning (labkit's and TRL's)."""

import pytest
import torch
import torch.nn.functional as F

from labkit import distill
from labkit.distill import DistillConfig, kd_loss, token_divergence
from labkit.models import build_model
from labkit.runtime import LabkitError
from labkit.tasks import read_records
from labkit.traces import ground_truth_traces


def _logits(seed: int, shape=(3, 5, 11), scale: float = 2.0) -> torch.Tensor:
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed)) * scale


MASK = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [0, 1, 1, 1, 0]], dtype=torch.float)


def _masked_mean(per_token: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return (per_token * mask).sum() / mask.sum()


def test_beta_0_is_forward_kl_as_torch_computes_it():
    student, teacher = _logits(0), _logits(1)
    # F.kl_div(input=log q, target=log p, log_target=True) = sum p (log p - log q) = KL(p || q)
    reference = F.kl_div(student.log_softmax(-1), teacher.log_softmax(-1), log_target=True, reduction="none").sum(-1)
    assert torch.allclose(kd_loss(student, teacher, MASK, beta=0.0), _masked_mean(reference, MASK), atol=1e-6)


def test_beta_1_is_reverse_kl_as_torch_computes_it():
    student, teacher = _logits(0), _logits(1)
    reference = F.kl_div(teacher.log_softmax(-1), student.log_softmax(-1), log_target=True, reduction="none").sum(-1)
    assert torch.allclose(kd_loss(student, teacher, MASK, beta=1.0), _masked_mean(reference, MASK), atol=1e-6)


@pytest.mark.parametrize("beta", [0.0, 0.25, 0.5, 1.0])
def test_identical_distributions_give_zero(beta):
    logits = _logits(3)
    assert kd_loss(logits, logits.clone(), MASK, beta=beta).abs().item() < 1e-6


def test_symmetric_at_beta_one_half_and_not_elsewhere():
    a, b = _logits(0), _logits(1)
    assert torch.allclose(kd_loss(a, b, MASK, beta=0.5), kd_loss(b, a, MASK, beta=0.5), atol=1e-6)
    assert not torch.allclose(kd_loss(a, b, MASK, beta=0.0), kd_loss(b, a, MASK, beta=0.0), atol=1e-3)


def test_jsd_is_bounded_by_log_2():
    # JSD (beta = 0.5) of any two distributions lies in [0, log 2].
    per_token = token_divergence(_logits(0, scale=20.0), _logits(1, scale=20.0), beta=0.5)
    assert per_token.min() >= 0 and per_token.max() <= torch.log(torch.tensor(2.0)) + 1e-6


def test_masked_tokens_are_ignored():
    student, teacher = _logits(0), _logits(1)
    changed = student.clone()
    changed[MASK == 0] = 100.0  # anything at all where the mask is 0
    for beta in (0.0, 0.5, 1.0):
        assert torch.allclose(kd_loss(student, teacher, MASK, beta=beta), kd_loss(changed, teacher, MASK, beta=beta))


def test_temperature_softens_and_t_squared_rescales():
    student, teacher = _logits(0), _logits(1)
    plain = kd_loss(student, teacher, MASK, temperature=2.0, t_squared=False)
    assert torch.allclose(kd_loss(student, teacher, MASK, temperature=2.0), 4.0 * plain)
    assert plain < kd_loss(student, teacher, MASK, temperature=1.0)  # softer distributions are closer


def test_gradient_flows_to_the_student_only():
    student, teacher = _logits(0).requires_grad_(), _logits(1).requires_grad_()
    kd_loss(student, teacher.detach(), MASK).backward()
    assert student.grad.abs().sum() > 0
    assert student.grad[MASK == 0].abs().sum() == 0


def test_bad_arguments_fail_clearly():
    with pytest.raises(LabkitError, match="beta must be in"):
        kd_loss(_logits(0), _logits(1), MASK, beta=1.5)
    with pytest.raises(LabkitError, match="share a tokenizer"):
        kd_loss(_logits(0), _logits(1, shape=(3, 5, 12)), MASK)
    with pytest.raises(LabkitError, match="temperature"):
        kd_loss(_logits(0), _logits(1), MASK, temperature=0.0)


@pytest.mark.parametrize("beta", [0.0, 0.5, 1.0])
@pytest.mark.parametrize("temperature", [1.0, 2.0])
def test_agrees_with_trl_distillation_trainer_loss(beta, temperature):
    """TRL's DistillationTrainer works on hidden states and each model's lm_head; same numbers, no T^2."""
    from trl.trainer.distillation_trainer import _chunked_divergence_loss

    g = torch.Generator().manual_seed(7)
    hidden_student, hidden_teacher = torch.randn(3, 5, 8, generator=g), torch.randn(3, 5, 12, generator=g)
    head_student, head_teacher = torch.randn(11, 8, generator=g), torch.randn(11, 12, generator=g)
    trl_loss, _, _ = _chunked_divergence_loss(
        hidden_student, hidden_teacher, head_student, head_teacher, MASK, beta, temperature=temperature
    )
    ours = kd_loss(
        hidden_student @ head_student.T,
        hidden_teacher @ head_teacher.T,
        MASK,
        beta=beta,
        temperature=temperature,
        t_squared=False,
    )
    assert torch.allclose(ours, trl_loss, atol=1e-5)


# --- each method learns ---------------------------------------------------------------------------

STEPS = DistillConfig(max_steps=24, batch_size=16, learning_rate=1e-2, max_completion_length=24)


def _first_and_last_loss(result: dict) -> tuple[float, float]:
    losses = [m["loss"] for m in result["history"]]
    return sum(losses[:2]) / 2, sum(losses[-2:]) / 2


@pytest.fixture(scope="module")
def tiny_pair():
    teacher, tokenizer = build_model("student", seed=1)
    with torch.no_grad():  # a confident random teacher, so there is something to match
        teacher.lm_head.weight.mul_(3.0)
    return teacher, tokenizer


def test_sequence_kd_lowers_its_loss():
    student, tokenizer = build_model("student-tiny", seed=0)
    result = distill.train_sequence_kd(student, tokenizer, ground_truth_traces(read_records("train"), 256), STEPS, log_every=4)
    first, last = _first_and_last_loss(result)
    assert last < first - 0.1


def test_logit_kd_lowers_its_loss(tiny_pair):
    teacher, tokenizer = tiny_pair
    student, _ = build_model("student-tiny", seed=0)
    traces = ground_truth_traces(read_records("train"), 256)
    first, last = _first_and_last_loss(distill.train_logit_kd(student, teacher, tokenizer, traces, STEPS, log_every=4))
    assert last < first * 0.9


def test_on_policy_kd_lowers_its_loss_and_logs_what_the_student_wrote(tiny_pair):
    teacher, tokenizer = tiny_pair
    student, _ = build_model("student-tiny", seed=0)
    seen = []
    result = distill.train_on_policy_kd(
        student, teacher, tokenizer, read_records("train")[:256], STEPS, callback=seen.append, log_every=4
    )
    first, last = _first_and_last_loss(result)
    assert last < first * 0.9
    assert {"reward", "completions/mean_length", "scratchpad_share", "sample"} <= set(seen[-1])


def test_on_policy_kd_samples_what_the_task_makes_of_a_prompt(tiny_pair, monkeypatch):
    """Every sampler renders a prompt with Task.model_text (a chat task: the chat template); so does on-policy KD."""
    from labkit.tasks import get_task

    teacher, tokenizer = tiny_pair
    student, _ = build_model("student-tiny", seed=0)
    sums = get_task("sums")
    monkeypatch.setattr(type(sums), "model_text", lambda self, prompt, tokenizer=None: "1+" + prompt)
    seen = []
    real = distill.generate_completions

    def spy(model, tokenizer, prompts, **kwargs):
        seen.extend(prompts)
        return real(model, tokenizer, prompts, **kwargs)

    monkeypatch.setattr(distill, "generate_completions", spy)
    records = read_records("train")[:8]
    distill.train_on_policy_kd(student, teacher, tokenizer, records, DistillConfig(max_steps=1, batch_size=4), task=sums)
    assert seen and all(prompt.startswith("1+") and prompt[2:] in {r["prompt"] for r in records} for prompt in seen)


def test_no_traces_is_a_clear_error():
    student, tokenizer = build_model("student-tiny")
    with pytest.raises(LabkitError, match="no traces to learn from"):
        distill.train_sequence_kd(student, tokenizer, [], STEPS)


def test_trl_sft_trainer_lowers_its_loss():
    from labkit.trainers.distill import sft_trainer, train_with

    student, tokenizer = build_model("student-tiny", seed=0)
    trainer = sft_trainer(student, tokenizer, ground_truth_traces(read_records("train"), 256), STEPS, logging_steps=4)
    first, last = _first_and_last_loss(train_with(trainer))
    assert last < first - 0.1


def test_trl_distillation_trainer_lowers_its_loss(tiny_pair):
    from labkit.trainers.distill import distillation_trainer, train_with

    teacher, tokenizer = tiny_pair
    student, _ = build_model("student-tiny", seed=0)
    trainer = distillation_trainer(student, teacher, tokenizer, read_records("train")[:256], STEPS, logging_steps=4)
    first, last = _first_and_last_loss(train_with(trainer))
    assert last < first * 0.9


def test_same_seed_same_student():
    traces = ground_truth_traces(read_records("train"), 64)
    weights = []
    for _ in range(2):
        student, tokenizer = build_model("student-tiny", seed=0)
        distill.train_sequence_kd(student, tokenizer, traces, DistillConfig(max_steps=3, batch_size=8))
        weights.append(student.lm_head.weight.detach().clone())
    assert torch.equal(weights[0], weights[1])


def test_sft_trainer_and_labkit_sequence_kd_compute_the_same_loss():
    """The students' sequence KD runs in labkit's loop; TRL's SFTTrainer is the tool at work. On one
    batch, SFTTrainer's loss (completion tokens only, EOS appended) equals labkit's completion_loss."""
    from labkit.pretrain import completion_loss
    from labkit.trainers.distill import sft_trainer

    student, tokenizer = build_model("student-tiny", seed=0)
    traces = ground_truth_traces(read_records("train"), 8)
    trainer = sft_trainer(student, tokenizer, traces, DistillConfig(max_steps=1, batch_size=8))
    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(8)])
    student.eval()
    with torch.no_grad():
        trl_loss = trainer.compute_loss(student, batch)
        labels = batch["labels"]
        ids = batch["input_ids"]
        ours = completion_loss(student, ids, labels, tokenizer.pad_token_id)
    assert torch.allclose(trl_loss, ours, atol=1e-5), (trl_loss.item(), ours.item())


def test_the_supervised_loops_count_the_tokens_they_train_on():
    traces = ground_truth_traces(read_records("train"), 64)
    student, tokenizer = build_model("student-tiny", seed=0)
    summary = distill.train_sequence_kd(student, tokenizer, traces, DistillConfig(max_steps=3, batch_size=8), log_every=1)
    counts = [h["num_tokens"] for h in summary["history"]]
    assert counts == sorted(counts) and counts[-1] == summary["num_tokens"]
    # Each step trains on 8 traces: between 8 of the shortest and 8 of the longest, prompt and completion and EOS.
    lengths = [len(tokenizer(t["prompt"] + t["completion"], add_special_tokens=False)["input_ids"]) + 1 for t in traces]
    assert 3 * 8 * min(lengths) <= summary["num_tokens"] <= 3 * 8 * max(lengths)
