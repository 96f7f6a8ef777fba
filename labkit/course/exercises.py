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

from ..grpo import group_advantages
from ..rewards import correctness_reward, extract_answer, format_reward, normalize_answer
from . import exercise_cases as cases


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


EXERCISES: dict[str, Exercise] = {
    "correctness_reward": Exercise(
        "correctness_reward",
        "correctness_reward(completions: list[str], answer: list[str]) -> list[float]",
        lambda completions, answer: correctness_reward(completions, answer=answer),
        cases.answer_cases,
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
                1.0 if (x := cases.first_answer(t)) is not None and normalize_answer(x) == normalize_answer(r) else 0.0
                for t, r in zip(c, a)
            ],
        },
        "read the answer inside the last <answer>...</answer>, normalise it as a number, compare with the reference",
    ),
    "format_reward": Exercise(
        "format_reward",
        "format_reward(completions: list[str]) -> list[float]",
        lambda completions: format_reward(completions),
        lambda g: (
            [(label, ([text],)) for label, text in cases.FORMAT_TEXTS] + [("all at once", ([t for _, t in cases.FORMAT_TEXTS],))]
        ),
        {
            "finding both tags is not enough: the whole completion must be an optional <think>...</think>, then "
            "exactly one <answer>...</answer>, with nothing before or after": cases.tags_present,
            "the <think> block is optional: '<answer>12</answer>' alone is well formed": cases.think_required,
        },
        "an optional <think>...</think> (no tags inside), then one <answer>...</answer> and nothing else",
    ),
    "group_advantages": Exercise(
        "group_advantages",
        "group_advantages(rewards: Tensor (N,), group_size: int, scale: str) -> Tensor (N,)",
        lambda rewards, group_size, scale: group_advantages(rewards, group_size, scale=scale),
        cases.advantage_cases,
        {
            "the std: torch's .std() divides by n - 1 (Bessel's correction), as labkit and TRL do; you divided by n "
            "(unbiased=False, or numpy's default)": cases.population_std,
            "subtract each group's own mean (reshape to (N / group_size, group_size) first): the batch mean compares "
            "a completion with other prompts' completions": cases.batch_mean,
            "a group whose rewards are all equal has std 0: its advantages must be 0, not nan (add eps = 1e-4 to the "
            "std)": cases.no_eps,
        },
        "reshape to (groups, group_size); subtract the group mean; divide by std + 1e-4 ('group': the group's std, "
        "'batch': the whole batch's, 'none': do not divide)",
    ),
    "per_token_logps": Exercise(
        "per_token_logps",
        "per_token_logps(model, prompt_ids, prompt_mask, completion_ids, completion_mask) -> Tensor (N, C)",
        cases.logps_reference,
        cases.logps_cases,
        {
            "the off-by-one: the logits at position t predict token t + 1, so the completion's C tokens are scored "
            "by the logits at positions P - 1 ... P + C - 2 (logits[:, -C - 1 : -1])": cases.logps_unshifted,
            "multiply by the completion mask: tokens after EOS are padding and must get log-prob 0": cases.logps_unmasked,
        },
        "concatenate prompt and completion, run the model once, take log_softmax, gather each completion token",
    ),
    "k3_kl": Exercise(
        "k3_kl",
        "k3_kl(logps: Tensor (B, T), ref_logps: Tensor (B, T)) -> Tensor (B, T)",
        cases.k3,
        cases.kl_cases,
        {
            "that is k1, the plain log-ratio: unbiased but often negative for one token; GRPO uses k3 = exp(ref - "
            "logp) - (ref - logp) - 1, which is never negative": lambda logps, ref: logps - ref,
            "the ratio is the reference's probability over the policy's: r = exp(ref_logps - logps), not its "
            "inverse": lambda logps, ref: cases.k3(ref, logps),
        },
        "k3 = exp(ref_logps - logps) - (ref_logps - logps) - 1, token by token",
    ),
    "policy_loss": Exercise(
        "policy_loss",
        "policy_loss(logps, old_logps, advantages, mask, epsilon, loss_type) -> scalar Tensor "
        "('dr_grpo' divides by B x the mask's width)",
        cases.loss_reference,
        cases.loss_cases,
        {
            "clip on the right side: the surrogate is the MINIMUM of ratio x A and clip(ratio) x A (a pessimistic "
            "bound), and the loss is minus that": cases.loss_max,
            "the loss is MINUS the surrogate: the optimiser minimises, and we want the surrogate to grow": cases.loss_no_minus,
            "loss_type='grpo' averages each sequence's tokens first, then the sequences (a long answer's tokens weigh "
            "less); you averaged over all tokens at once, which is 'bnpo'": cases.loss_tokens_for_grpo,
            "'bnpo' and 'dr_grpo' average over tokens, not sequences: 'bnpo' divides the sum by the number of real "
            "tokens, 'dr_grpo' by B x the mask's width": cases.loss_sequences_for_bnpo,
        },
        "per token: -min(ratio A, clip(ratio, 1 - eps, 1 + eps) A); then aggregate over the mask by loss_type",
    ),
    "kd_loss": Exercise(
        "kd_loss",
        "kd_loss(student_logits: (B, T, V), teacher_logits: (B, T, V), mask: (B, T), temperature) -> scalar",
        cases.kd_reference,
        cases.kd_cases,
        {
            "forward KL is KL(teacher || student) = sum p_teacher (log p_teacher - log p_student); you computed the "
            "reverse, KL(student || teacher) (mode-seeking: what on-policy KD uses)": cases.kd_reverse,
            "multiply by T^2: dividing logits by T shrinks the gradients by 1/T^2, and Hinton et al. scale the loss "
            "back so that changing T does not change the learning rate": cases.kd_no_t_squared,
        },
        "softmax both at temperature T; per token sum p_t (log p_t - log p_s); mean over the mask; times T^2",
    ),
    "filter_traces": Exercise(
        "filter_traces",
        "filter_traces(samples: list[str], answer: str) -> list[str]",
        cases.filter_reference,
        cases.trace_cases,
        {
            "keep each distinct text once: duplicates weigh a trace twice in the student's data": cases.filter_keeps_duplicates,
            "a right answer in the wrong shape is dropped too: the student learns the format from these traces": cases.filter_ignores_format,
            "a well-formed trace with a wrong answer teaches a wrong answer: check the answer too": cases.filter_ignores_answer,
        },
        "keep a sample when it is well formed AND its answer is right AND it was not kept before, in order",
    ),
}
