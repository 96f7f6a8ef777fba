"""The cases each exercise is checked on, and the classic mistakes it recognises (`course.exercises`).

For every exercise: a function of a seeded `torch.Generator` that returns (what the case is, arguments),
hand-made cases first, then random ones; labkit's reference where it differs from the library function
only by its signature; and each classic wrong version as a small function, so that `check` can say which
mistake a learner's answer matches. Reading one of them is reading the mistake.
"""

from __future__ import annotations

import torch

from ..distill import kd_loss
from ..grpo import SCALES, policy_loss
from ..rewards import correctness_reward, format_reward
from ..sampling import per_token_logps
from ..traces import judge_trace

# --- Rule rewards (notebook 01) --------------------------------------------------------------------------

ANSWER_CASES = [
    ("a right answer after a scratchpad", ["<think>5+7=12</think><answer>12</answer>"], ["12"]),
    ("the reference inside a longer number", ["<answer>112</answer>"], ["12"]),
    ("spaces and a leading zero", ["<answer> 012 </answer>"], ["12"]),
    ("a thousands separator", ["<answer>1,200</answer>"], ["1200"]),
    ("the model corrects itself: the last answer counts", ["<answer>3</answer> no: <answer>12</answer>"], ["12"]),
    ("no answer tag at all", ["12"], ["12"]),
    ("a wrong answer", ["<answer>13</answer>"], ["12"]),
]


def answer_cases(generator: torch.Generator) -> list[tuple[str, tuple]]:
    cases = [(label, (texts, answers)) for label, texts, answers in ANSWER_CASES]
    numbers = torch.randint(0, 300, (16,), generator=generator).tolist()
    texts = [f"<answer>{n}</answer>" for n in numbers]
    answers = [str(n if i % 3 else n + 1) for i, n in enumerate(numbers)]
    return cases + [("a random batch", (texts, answers))]


def first_answer(text: str) -> str | None:
    start, end = text.find("<answer>"), text.find("</answer>")
    return text[start + 8 : end] if 0 <= start < end else None


FORMAT_TEXTS = [
    ("a scratchpad then an answer", "<think>5+7=12</think><answer>12</answer>"),
    ("an answer alone (the scratchpad is optional)", "<answer>12</answer>"),
    ("text after the answer", "<answer>12</answer> I am sure"),
    ("text before the answer", "so <answer>12</answer>"),
    ("two answers", "<answer>1</answer><answer>2</answer>"),
    ("a scratchpad never closed", "<think>5+7 <answer>12</answer>"),
    ("an answer inside the scratchpad", "<think><answer>12</answer></think><answer>12</answer>"),
    ("nothing", ""),
]


def tags_present(completions):
    return [1.0 if "<answer>" in c and "</answer>" in c else 0.0 for c in completions]


def think_required(completions):
    return [r if c.strip().startswith("<think>") else 0.0 for c, r in zip(completions, format_reward(completions))]


# --- GRPO's pieces (notebooks 01 and 02) ------------------------------------------------------------------


def advantage_cases(generator: torch.Generator) -> list[tuple[str, tuple]]:
    base = [
        ("a worked example", torch.tensor([1.0, 0.0, 0.0, 1.0]), 4),
        ("one right out of four", torch.tensor([1.0, 0.0, 0.0, 0.0]), 4),
        ("an all-equal group (must give zeros)", torch.tensor([1.0, 1.0, 1.0, 1.0, 0.0, 1.0, 0.0, 1.0]), 4),
        ("groups of two", torch.tensor([2.0, 0.0, 1.0, 1.0]), 2),
    ]
    base += [(f"random rewards #{i}", torch.randint(0, 3, (24,), generator=generator).float(), 6) for i in range(3)]
    return [(f"[scale={scale}] {label}", (rewards, size, scale)) for scale in SCALES for label, rewards, size in base]


def population_std(rewards, group_size, scale="group"):
    groups = rewards.view(-1, group_size)
    centred = groups - groups.mean(dim=1, keepdim=True)
    std = groups.std(dim=1, keepdim=True, unbiased=False) if scale == "group" else groups.std(unbiased=False)
    return (centred / (std + 1e-4)).flatten() if scale != "none" else centred.flatten()


def batch_mean(rewards, group_size, scale="group"):
    centred = rewards - rewards.mean()
    return centred if scale == "none" else centred / (rewards.std() + 1e-4)


def no_eps(rewards, group_size, scale="group"):
    groups = rewards.view(-1, group_size)
    centred = groups - groups.mean(dim=1, keepdim=True)
    std = groups.std(dim=1, keepdim=True) if scale == "group" else groups.std()
    return (centred / std).flatten() if scale != "none" else centred.flatten()


def logps_cases(generator: torch.Generator) -> list[tuple[str, tuple]]:
    from ..models import build_model

    model, _ = build_model("student", seed=0)
    model.eval()
    vocab = model.config.vocab_size
    prompt_ids = torch.randint(3, vocab, (4, 5), generator=generator)
    completion_ids = torch.randint(3, vocab, (4, 6), generator=generator)
    full = torch.ones(4, 5, dtype=torch.long)
    left_padded = full.clone()
    left_padded[0, :2] = 0
    completion_mask = torch.ones(4, 6, dtype=torch.long)
    completion_mask[1, 3:] = 0  # a completion that ended early: padding after its EOS
    completion_mask[2, 5:] = 0
    return [
        ("equal-length prompts, full completions", (model, prompt_ids, full, completion_ids, torch.ones(4, 6, dtype=torch.long))),
        ("completions that ended early (padding after EOS)", (model, prompt_ids, full, completion_ids, completion_mask)),
        ("a left-padded prompt", (model, prompt_ids, left_padded, completion_ids, completion_mask)),
    ]


def logps_reference(model, prompt_ids, prompt_mask, completion_ids, completion_mask):
    with torch.no_grad():
        return per_token_logps(model, prompt_ids, prompt_mask, completion_ids, completion_mask)[0]


def logps_unshifted(model, prompt_ids, prompt_mask, completion_ids, completion_mask):
    ids, mask = torch.cat([prompt_ids, completion_ids], 1), torch.cat([prompt_mask, completion_mask], 1)
    with torch.no_grad():
        logits = model(input_ids=ids, attention_mask=mask, position_ids=(mask.cumsum(1) - 1).clamp(min=0)).logits
    logits = logits[:, prompt_ids.shape[1] :]
    return torch.log_softmax(logits.float(), -1).gather(-1, completion_ids.unsqueeze(-1)).squeeze(-1) * completion_mask


def logps_unmasked(model, prompt_ids, prompt_mask, completion_ids, completion_mask):
    return logps_reference(model, prompt_ids, prompt_mask, completion_ids, torch.ones_like(completion_mask))


def k3(logps, ref_logps):
    return torch.exp(ref_logps - logps) - (ref_logps - logps) - 1


def kl_cases(generator: torch.Generator) -> list[tuple[str, tuple]]:
    logps = -torch.rand(3, 5, generator=generator) * 3
    return [
        ("the same model (KL 0)", (logps, logps.clone())),
        ("a reference that disagrees", (logps, logps - torch.rand(3, 5, generator=generator))),
        ("a reference on both sides", (logps, logps + torch.randn(3, 5, generator=generator) * 0.5)),
    ]


def loss_cases(generator: torch.Generator) -> list[tuple[str, tuple]]:
    cases = []
    for loss_type in ("grpo", "bnpo", "dr_grpo"):
        old = -torch.rand(4, 6, generator=generator) * 2
        logps = old + torch.randn(4, 6, generator=generator) * 0.4  # ratios on both sides of the clip range
        advantages = torch.tensor([1.0, -1.0, 0.5, -0.5])
        mask = torch.ones(4, 6)
        mask[1, 2:] = 0
        mask[3, 4:] = 0
        cases.append(
            (f"loss_type={loss_type!r}, ratios in and out of the clip range", (logps, old, advantages, mask, 0.2, loss_type))
        )
    return cases


def loss_reference(logps, old_logps, advantages, mask, epsilon=0.2, loss_type="grpo"):
    return policy_loss(
        logps, old_logps, advantages, mask, epsilon=epsilon, loss_type=loss_type, max_completion_length=mask.shape[1]
    )[0]


def surrogate(logps, old_logps, advantages, epsilon, take):
    ratio = torch.exp(logps - old_logps)
    clipped = torch.clamp(ratio, 1 - epsilon, 1 + epsilon)
    a = advantages.unsqueeze(1)
    return -take(ratio * a, clipped * a)


def aggregate(per_token, mask, loss_type):
    if loss_type == "grpo":
        return ((per_token * mask).sum(1) / mask.sum(1)).mean()
    if loss_type == "bnpo":
        return (per_token * mask).sum() / mask.sum()
    return (per_token * mask).sum() / (mask.shape[0] * mask.shape[1])


def loss_max(logps, old_logps, advantages, mask, epsilon=0.2, loss_type="grpo"):
    return aggregate(surrogate(logps, old_logps, advantages, epsilon, torch.max), mask, loss_type)


def loss_no_minus(logps, old_logps, advantages, mask, epsilon=0.2, loss_type="grpo"):
    return -loss_reference(logps, old_logps, advantages, mask, epsilon, loss_type)


def loss_tokens_for_grpo(logps, old_logps, advantages, mask, epsilon=0.2, loss_type="grpo"):
    per_token = surrogate(logps, old_logps, advantages, epsilon, torch.min)
    return aggregate(per_token, mask, "bnpo" if loss_type == "grpo" else loss_type)


def loss_sequences_for_bnpo(logps, old_logps, advantages, mask, epsilon=0.2, loss_type="grpo"):
    per_token = surrogate(logps, old_logps, advantages, epsilon, torch.min)
    return aggregate(per_token, mask, "grpo" if loss_type in ("bnpo", "dr_grpo") else loss_type)


# --- Distillation (notebook 04) ---------------------------------------------------------------------------


def kd_cases(generator: torch.Generator) -> list[tuple[str, tuple]]:
    student = torch.randn(2, 5, 7, generator=generator)
    teacher = torch.randn(2, 5, 7, generator=generator) * 2
    mask = torch.ones(2, 5)
    mask[1, 3:] = 0
    return [("temperature 1", (student, teacher, mask, 1.0)), ("temperature 2 (softened)", (student, teacher, mask, 2.0))]


def kd_reference(student_logits, teacher_logits, mask, temperature=1.0):
    return kd_loss(student_logits, teacher_logits, mask, beta=0.0, temperature=temperature)


def kd_reverse(student_logits, teacher_logits, mask, temperature=1.0):
    return kd_loss(student_logits, teacher_logits, mask, beta=1.0, temperature=temperature)


def kd_no_t_squared(student_logits, teacher_logits, mask, temperature=1.0):
    return kd_loss(student_logits, teacher_logits, mask, beta=0.0, temperature=temperature, t_squared=False)


SAMPLES = [
    "<think>3+4=7</think><answer>7</answer>",
    "<think>3+4=7</think><answer>7</answer>",  # the same text twice
    "<answer>7</answer>",
    "<answer>8</answer>",  # wrong
    "the answer is <answer>7</answer>",  # right, but malformed
    "<think>3+5=7</think><answer>7</answer>",  # right for the wrong reasons: kept (a finer filter is notebook 04's)
]


def trace_cases(generator: torch.Generator) -> list[tuple[str, tuple]]:
    order = torch.randperm(len(SAMPLES), generator=generator).tolist()
    return [("six samples of one problem", (list(SAMPLES), "7")), ("the same, shuffled", ([SAMPLES[i] for i in order], "7"))]


def filter_reference(samples, answer):
    seen: set[str] = set()
    return [text for text in samples if judge_trace(text, answer, seen).kept]


def filter_keeps_duplicates(samples, answer):
    return [t for t in samples if correctness_reward([t], answer=[answer])[0] and format_reward([t])[0]]


def filter_ignores_format(samples, answer):
    kept: list[str] = []
    for t in samples:
        if correctness_reward([t], answer=[answer])[0] and t not in kept:
            kept.append(t)
    return kept


def filter_ignores_answer(samples, answer):
    kept: list[str] = []
    for t in samples:
        if format_reward([t])[0] and t not in kept:
            kept.append(t)
    return kept
