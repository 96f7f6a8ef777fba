"""The notebooks' exercises: write one of labkit's functions yourself, check it with one call.

    check("group_advantages", my_group_advantages)   -> True, or False with the failing case

`check(name, fn)` runs `fn` and labkit's own function on the same hand-made and random
cases. When they disagree it shows the first failing case, what labkit expected and what
`fn` returned, and a hint. The hint is aimed: each exercise keeps the classic mistakes
learners make as small functions (`Exercise.mistakes`), and when `fn` answers exactly
like one of them the hint names that mistake. A function that still raises
`NotImplementedError` is reported, not crashed on, so a notebook runs top to bottom
before its exercises are done. The solutions are in `solutions/exercises.py`.

    name               notebook  what you write
    correctness_reward 01        1.0 when the last <answer> equals the reference, as a number
    format_reward      01        1.0 for an optional <think>...</think> then one <answer>...</answer>
    group_advantages   01        (r - group mean) / (group std + eps), per group
    per_token_logps    02        log-probs of the completion tokens, shifted and masked
    k3_kl              02        exp(ref - logp) - (ref - logp) - 1, per token
    policy_loss        02        the clipped surrogate, aggregated by loss_type
    kd_loss            04        forward KL(teacher || student) at temperature T, times T^2
    filter_traces      04        rejection sampling's filter: right, well formed, each text once
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from ..distill import kd_loss as _kd_loss
from ..grpo import SCALES, group_advantages, policy_loss
from ..rewards import correctness_reward, extract_answer, format_reward, normalize_answer
from ..sampling import per_token_logps
from ..traces import judge_trace


@dataclass(frozen=True)
class Exercise:
    name: str
    signature: str  # what the learner writes
    reference: Callable  # labkit's own function, with the learner's signature
    cases: Callable[[torch.Generator], list[tuple[str, tuple]]]  # (what the case is, arguments)
    mistakes: dict[str, Callable] = field(default_factory=dict)  # hint -> a classic wrong version
    hint: str = ""  # when the answer matches no known mistake


def _agree(expected: Any, got: Any) -> bool:
    if isinstance(expected, torch.Tensor):
        got = torch.as_tensor(got, dtype=expected.dtype) if not isinstance(got, torch.Tensor) else got
        return got.shape == expected.shape and bool(
            torch.allclose(got.detach().float(), expected.float(), atol=1e-4, equal_nan=False)
        )
    if isinstance(expected, list) and expected and isinstance(expected[0], float):
        return (
            isinstance(got, list | tuple)
            and len(got) == len(expected)
            and all(abs(float(g) - e) < 1e-6 for g, e in zip(got, expected))
        )
    return got == expected


def _show(value: Any) -> str:
    if isinstance(value, torch.Tensor):
        value = value.detach()
        return f"tensor {list(value.shape)} {[round(v, 4) for v in value.flatten()[:8].tolist()]}{' ...' if value.numel() > 8 else ''}"
    text = repr(value)
    return text if len(text) < 300 else text[:300] + " ..."


def check(name: str, fn: Callable, *, seed: int = 0, verbose: bool = True) -> bool:
    """Does `fn` agree with labkit's `name` on every case? Prints the first failing case and a hint."""
    if name not in EXERCISES:
        raise KeyError(f"unknown exercise {name!r}; choose one of {', '.join(EXERCISES)}")
    say = print if verbose else (lambda *a: None)
    exercise = EXERCISES[name]
    cases = exercise.cases(torch.Generator().manual_seed(seed))
    for label, args in cases:
        expected = exercise.reference(*copy.deepcopy(args))
        try:
            got = fn(*copy.deepcopy(args))
        except NotImplementedError:
            say(f"{name}: not implemented yet: fill in the function, then run the cell again")
            return False
        except Exception as error:  # the learner's bug: show it on the case that triggered it
            say(f"{name}: {label}: raised {type(error).__name__}: {error}\n    arguments: {_show(args)}")
            return False
        if not _agree(expected, got):
            say(f"{name}: {label}\n    expected {_show(expected)}\n    got      {_show(got)}")
            say("    hint: " + _hint(exercise, args, got))
            return False
    say(f"{name}: all {len(cases)} cases agree with labkit's own")
    return True


def _hint(exercise: Exercise, args: tuple, got: Any) -> str:
    for hint, mistaken in exercise.mistakes.items():
        try:
            if _agree(mistaken(*copy.deepcopy(args)), got):
                return hint
        except Exception:  # a mistake that cannot run on this case is not the one made
            continue
    return exercise.hint or f"compare with the docstring: {exercise.signature}"


# --- Rule rewards (notebook 01) --------------------------------------------------------------------------

_ANSWER_CASES = [
    ("a right answer after a scratchpad", ["<think>5+7=12</think><answer>12</answer>"], ["12"]),
    ("the reference inside a longer number", ["<answer>112</answer>"], ["12"]),
    ("spaces and a leading zero", ["<answer> 012 </answer>"], ["12"]),
    ("a thousands separator", ["<answer>1,200</answer>"], ["1200"]),
    ("the model corrects itself: the last answer counts", ["<answer>3</answer> no: <answer>12</answer>"], ["12"]),
    ("no answer tag at all", ["12"], ["12"]),
    ("a wrong answer", ["<answer>13</answer>"], ["12"]),
]


def _answer_cases(generator: torch.Generator) -> list[tuple[str, tuple]]:
    cases = [(label, (texts, answers)) for label, texts, answers in _ANSWER_CASES]
    numbers = torch.randint(0, 300, (16,), generator=generator).tolist()
    texts = [f"<answer>{n}</answer>" for n in numbers]
    answers = [str(n if i % 3 else n + 1) for i, n in enumerate(numbers)]
    return cases + [("a random batch", (texts, answers))]


def _first_answer(text: str) -> str | None:
    start, end = text.find("<answer>"), text.find("</answer>")
    return text[start + 8 : end] if 0 <= start < end else None


_FORMAT_TEXTS = [
    ("a scratchpad then an answer", "<think>5+7=12</think><answer>12</answer>"),
    ("an answer alone (the scratchpad is optional)", "<answer>12</answer>"),
    ("text after the answer", "<answer>12</answer> I am sure"),
    ("text before the answer", "so <answer>12</answer>"),
    ("two answers", "<answer>1</answer><answer>2</answer>"),
    ("a scratchpad never closed", "<think>5+7 <answer>12</answer>"),
    ("an answer inside the scratchpad", "<think><answer>12</answer></think><answer>12</answer>"),
    ("nothing", ""),
]


def _tags_present(completions):
    return [1.0 if "<answer>" in c and "</answer>" in c else 0.0 for c in completions]


def _think_required(completions):
    return [r if c.strip().startswith("<think>") else 0.0 for c, r in zip(completions, format_reward(completions))]


# --- GRPO's pieces (notebooks 01 and 02) ------------------------------------------------------------------


def _advantage_cases(generator: torch.Generator) -> list[tuple[str, tuple]]:
    base = [
        ("a worked example", torch.tensor([1.0, 0.0, 0.0, 1.0]), 4),
        ("one right out of four", torch.tensor([1.0, 0.0, 0.0, 0.0]), 4),
        ("an all-equal group (must give zeros)", torch.tensor([1.0, 1.0, 1.0, 1.0, 0.0, 1.0, 0.0, 1.0]), 4),
        ("groups of two", torch.tensor([2.0, 0.0, 1.0, 1.0]), 2),
    ]
    base += [(f"random rewards #{i}", torch.randint(0, 3, (24,), generator=generator).float(), 6) for i in range(3)]
    return [(f"[scale={scale}] {label}", (rewards, size, scale)) for scale in SCALES for label, rewards, size in base]


def _population_std(rewards, group_size, scale="group"):
    groups = rewards.view(-1, group_size)
    centred = groups - groups.mean(dim=1, keepdim=True)
    std = groups.std(dim=1, keepdim=True, unbiased=False) if scale == "group" else groups.std(unbiased=False)
    return (centred / (std + 1e-4)).flatten() if scale != "none" else centred.flatten()


def _batch_mean(rewards, group_size, scale="group"):
    centred = rewards - rewards.mean()
    return centred if scale == "none" else centred / (rewards.std() + 1e-4)


def _no_eps(rewards, group_size, scale="group"):
    groups = rewards.view(-1, group_size)
    centred = groups - groups.mean(dim=1, keepdim=True)
    std = groups.std(dim=1, keepdim=True) if scale == "group" else groups.std()
    return (centred / std).flatten() if scale != "none" else centred.flatten()


def _logps_cases(generator: torch.Generator) -> list[tuple[str, tuple]]:
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


def _logps_reference(model, prompt_ids, prompt_mask, completion_ids, completion_mask):
    with torch.no_grad():
        return per_token_logps(model, prompt_ids, prompt_mask, completion_ids, completion_mask)[0]


def _logps_unshifted(model, prompt_ids, prompt_mask, completion_ids, completion_mask):
    ids, mask = torch.cat([prompt_ids, completion_ids], 1), torch.cat([prompt_mask, completion_mask], 1)
    with torch.no_grad():
        logits = model(input_ids=ids, attention_mask=mask, position_ids=(mask.cumsum(1) - 1).clamp(min=0)).logits
    logits = logits[:, prompt_ids.shape[1] :]
    return torch.log_softmax(logits.float(), -1).gather(-1, completion_ids.unsqueeze(-1)).squeeze(-1) * completion_mask


def _logps_unmasked(model, prompt_ids, prompt_mask, completion_ids, completion_mask):
    return _logps_reference(model, prompt_ids, prompt_mask, completion_ids, torch.ones_like(completion_mask))


def _k3(logps, ref_logps):
    return torch.exp(ref_logps - logps) - (ref_logps - logps) - 1


def _kl_cases(generator: torch.Generator) -> list[tuple[str, tuple]]:
    logps = -torch.rand(3, 5, generator=generator) * 3
    return [
        ("the same model (KL 0)", (logps, logps.clone())),
        ("a reference that disagrees", (logps, logps - torch.rand(3, 5, generator=generator))),
        ("a reference on both sides", (logps, logps + torch.randn(3, 5, generator=generator) * 0.5)),
    ]


def _loss_cases(generator: torch.Generator) -> list[tuple[str, tuple]]:
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


def _loss_reference(logps, old_logps, advantages, mask, epsilon=0.2, loss_type="grpo"):
    return policy_loss(
        logps, old_logps, advantages, mask, epsilon=epsilon, loss_type=loss_type, max_completion_length=mask.shape[1]
    )[0]


def _surrogate(logps, old_logps, advantages, epsilon, take):
    ratio = torch.exp(logps - old_logps)
    clipped = torch.clamp(ratio, 1 - epsilon, 1 + epsilon)
    a = advantages.unsqueeze(1)
    return -take(ratio * a, clipped * a)


def _aggregate(per_token, mask, loss_type):
    if loss_type == "grpo":
        return ((per_token * mask).sum(1) / mask.sum(1)).mean()
    if loss_type == "bnpo":
        return (per_token * mask).sum() / mask.sum()
    return (per_token * mask).sum() / (mask.shape[0] * mask.shape[1])


def _loss_max(logps, old_logps, advantages, mask, epsilon=0.2, loss_type="grpo"):
    return _aggregate(_surrogate(logps, old_logps, advantages, epsilon, torch.max), mask, loss_type)


def _loss_no_minus(logps, old_logps, advantages, mask, epsilon=0.2, loss_type="grpo"):
    return -_loss_reference(logps, old_logps, advantages, mask, epsilon, loss_type)


def _loss_tokens_for_grpo(logps, old_logps, advantages, mask, epsilon=0.2, loss_type="grpo"):
    per_token = _surrogate(logps, old_logps, advantages, epsilon, torch.min)
    return _aggregate(per_token, mask, "bnpo" if loss_type == "grpo" else loss_type)


def _loss_sequences_for_bnpo(logps, old_logps, advantages, mask, epsilon=0.2, loss_type="grpo"):
    per_token = _surrogate(logps, old_logps, advantages, epsilon, torch.min)
    return _aggregate(per_token, mask, "grpo" if loss_type in ("bnpo", "dr_grpo") else loss_type)


# --- Distillation (notebook 04) ---------------------------------------------------------------------------


def _kd_cases(generator: torch.Generator) -> list[tuple[str, tuple]]:
    student = torch.randn(2, 5, 7, generator=generator)
    teacher = torch.randn(2, 5, 7, generator=generator) * 2
    mask = torch.ones(2, 5)
    mask[1, 3:] = 0
    return [("temperature 1", (student, teacher, mask, 1.0)), ("temperature 2 (softened)", (student, teacher, mask, 2.0))]


def _kd_reference(student_logits, teacher_logits, mask, temperature=1.0):
    return _kd_loss(student_logits, teacher_logits, mask, beta=0.0, temperature=temperature)


def _kd_reverse(student_logits, teacher_logits, mask, temperature=1.0):
    return _kd_loss(student_logits, teacher_logits, mask, beta=1.0, temperature=temperature)


def _kd_no_t_squared(student_logits, teacher_logits, mask, temperature=1.0):
    return _kd_loss(student_logits, teacher_logits, mask, beta=0.0, temperature=temperature, t_squared=False)


_SAMPLES = [
    "<think>3+4=7</think><answer>7</answer>",
    "<think>3+4=7</think><answer>7</answer>",  # the same text twice
    "<answer>7</answer>",
    "<answer>8</answer>",  # wrong
    "the answer is <answer>7</answer>",  # right, but malformed
    "<think>3+5=7</think><answer>7</answer>",  # right for the wrong reasons: kept (a finer filter is notebook 04's)
]


def _trace_cases(generator: torch.Generator) -> list[tuple[str, tuple]]:
    order = torch.randperm(len(_SAMPLES), generator=generator).tolist()
    return [("six samples of one problem", (list(_SAMPLES), "7")), ("the same, shuffled", ([_SAMPLES[i] for i in order], "7"))]


def _filter_reference(samples, answer):
    seen: set[str] = set()
    return [text for text in samples if judge_trace(text, answer, seen).kept]


def _filter_keeps_duplicates(samples, answer):
    return [t for t in samples if correctness_reward([t], answer=[answer])[0] and format_reward([t])[0]]


def _filter_ignores_format(samples, answer):
    kept: list[str] = []
    for t in samples:
        if correctness_reward([t], answer=[answer])[0] and t not in kept:
            kept.append(t)
    return kept


def _filter_ignores_answer(samples, answer):
    kept: list[str] = []
    for t in samples:
        if format_reward([t])[0] and t not in kept:
            kept.append(t)
    return kept


EXERCISES: dict[str, Exercise] = {
    "correctness_reward": Exercise(
        "correctness_reward",
        "correctness_reward(completions: list[str], answer: list[str]) -> list[float]",
        lambda completions, answer: correctness_reward(completions, answer=answer),
        _answer_cases,
        {
            "you checked whether the reference appears somewhere in the text: '12' is inside '112'. Take the text "
            "inside the last <answer>...</answer> and compare it with the reference as a number.": lambda c, a: [
                1.0 if str(r) in t else 0.0 for t, r in zip(c, a)
            ],
            "compare numbers, not strings: ' 012 ' and '1,200' are 12 and 1200 (labkit.rewards.normalize_answer "
            "strips spaces, leading zeros and thousands separators)": lambda c, a: [
                1.0 if extract_answer(t) == r else 0.0 for t, r in zip(c, a)
            ],
            "the LAST <answer> counts: a model may write one, think again, and correct it": lambda c, a: [
                1.0 if (x := _first_answer(t)) is not None and normalize_answer(x) == normalize_answer(r) else 0.0
                for t, r in zip(c, a)
            ],
        },
        "read the answer inside the last <answer>...</answer>, normalise it as a number, compare with the reference",
    ),
    "format_reward": Exercise(
        "format_reward",
        "format_reward(completions: list[str]) -> list[float]",
        lambda completions: format_reward(completions),
        lambda g: [(label, ([text],)) for label, text in _FORMAT_TEXTS] + [("all at once", ([t for _, t in _FORMAT_TEXTS],))],
        {
            "finding both tags is not enough: the whole completion must be an optional <think>...</think>, then "
            "exactly one <answer>...</answer>, with nothing before or after": _tags_present,
            "the <think> block is optional: '<answer>12</answer>' alone is well formed": _think_required,
        },
        "an optional <think>...</think> (no tags inside), then one <answer>...</answer> and nothing else",
    ),
    "group_advantages": Exercise(
        "group_advantages",
        "group_advantages(rewards: Tensor (N,), group_size: int, scale: str) -> Tensor (N,)",
        lambda rewards, group_size, scale: group_advantages(rewards, group_size, scale=scale),
        _advantage_cases,
        {
            "the std: torch's .std() divides by n - 1 (Bessel's correction), as labkit and TRL do; you divided by n "
            "(unbiased=False, or numpy's default)": _population_std,
            "subtract each group's own mean (reshape to (N / group_size, group_size) first): the batch mean compares "
            "a completion with other prompts' completions": _batch_mean,
            "a group whose rewards are all equal has std 0: its advantages must be 0, not nan (add eps = 1e-4 to the "
            "std)": _no_eps,
        },
        "reshape to (groups, group_size); subtract the group mean; divide by std + 1e-4 ('group': the group's std, "
        "'batch': the whole batch's, 'none': do not divide)",
    ),
    "per_token_logps": Exercise(
        "per_token_logps",
        "per_token_logps(model, prompt_ids, prompt_mask, completion_ids, completion_mask) -> Tensor (N, C)",
        _logps_reference,
        _logps_cases,
        {
            "the off-by-one: the logits at position t predict token t + 1, so the completion's C tokens are scored "
            "by the logits at positions P - 1 ... P + C - 2 (logits[:, -C - 1 : -1])": _logps_unshifted,
            "multiply by the completion mask: tokens after EOS are padding and must get log-prob 0": _logps_unmasked,
        },
        "concatenate prompt and completion, run the model once, take log_softmax, gather each completion token",
    ),
    "k3_kl": Exercise(
        "k3_kl",
        "k3_kl(logps: Tensor (B, T), ref_logps: Tensor (B, T)) -> Tensor (B, T)",
        _k3,
        _kl_cases,
        {
            "that is k1, the plain log-ratio: unbiased but often negative for one token; GRPO uses k3 = exp(ref - "
            "logp) - (ref - logp) - 1, which is never negative": lambda logps, ref: logps - ref,
            "the ratio is the reference's probability over the policy's: r = exp(ref_logps - logps), not its "
            "inverse": lambda logps, ref: _k3(ref, logps),
        },
        "k3 = exp(ref_logps - logps) - (ref_logps - logps) - 1, token by token",
    ),
    "policy_loss": Exercise(
        "policy_loss",
        "policy_loss(logps, old_logps, advantages, mask, epsilon, loss_type) -> scalar Tensor "
        "('dr_grpo' divides by B x the mask's width)",
        _loss_reference,
        _loss_cases,
        {
            "clip on the right side: the surrogate is the MINIMUM of ratio x A and clip(ratio) x A (a pessimistic "
            "bound), and the loss is minus that": _loss_max,
            "the loss is MINUS the surrogate: the optimiser minimises, and we want the surrogate to grow": _loss_no_minus,
            "loss_type='grpo' averages each sequence's tokens first, then the sequences (a long answer's tokens weigh "
            "less); you averaged over all tokens at once, which is 'bnpo'": _loss_tokens_for_grpo,
            "'bnpo' and 'dr_grpo' average over tokens, not sequences: 'bnpo' divides the sum by the number of real "
            "tokens, 'dr_grpo' by B x the mask's width": _loss_sequences_for_bnpo,
        },
        "per token: -min(ratio A, clip(ratio, 1 - eps, 1 + eps) A); then aggregate over the mask by loss_type",
    ),
    "kd_loss": Exercise(
        "kd_loss",
        "kd_loss(student_logits: (B, T, V), teacher_logits: (B, T, V), mask: (B, T), temperature) -> scalar",
        _kd_reference,
        _kd_cases,
        {
            "forward KL is KL(teacher || student) = sum p_teacher (log p_teacher - log p_student); you computed the "
            "reverse, KL(student || teacher) (mode-seeking: what on-policy KD uses)": _kd_reverse,
            "multiply by T^2: dividing logits by T shrinks the gradients by 1/T^2, and Hinton et al. scale the loss "
            "back so that changing T does not change the learning rate": _kd_no_t_squared,
        },
        "softmax both at temperature T; per token sum p_t (log p_t - log p_s); mean over the mask; times T^2",
    ),
    "filter_traces": Exercise(
        "filter_traces",
        "filter_traces(samples: list[str], answer: str) -> list[str]",
        _filter_reference,
        _trace_cases,
        {
            "keep each distinct text once: duplicates weigh a trace twice in the student's data": _filter_keeps_duplicates,
            "a right answer in the wrong shape is dropped too: the student learns the format from these traces": _filter_ignores_format,
            "a well-formed trace with a wrong answer teaches a wrong answer: check the answer too": _filter_ignores_answer,
        },
        "keep a sample when it is well formed AND its answer is right AND it was not kept before, in order",
    ),
}
