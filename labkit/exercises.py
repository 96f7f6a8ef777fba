"""Checkers for the notebooks' exercises: write a function, check it with one call.

Each checker compares the learner's function with labkit's reference on hand-picked
edge cases and random inputs, prints what it found and returns True when all pass.
A function that still raises `NotImplementedError` is reported, not crashed on, so
the notebook runs top to bottom before the exercise is done.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from .grpo import SCALES, group_advantages


def check_group_advantages(candidate: Callable[..., torch.Tensor], *, seed: int = 0, verbose: bool = True) -> bool:
    """Does `candidate(rewards, group_size, scale)` equal `labkit.grpo.group_advantages`?"""
    say = print if verbose else (lambda *a: None)
    generator = torch.Generator().manual_seed(seed)
    cases = [
        ("a worked example", torch.tensor([1.0, 0.0, 0.0, 1.0]), 4),
        ("one right out of four", torch.tensor([1.0, 0.0, 0.0, 0.0]), 4),
        ("an all-equal group (must give zeros)", torch.tensor([1.0, 1.0, 1.0, 1.0, 0.0, 1.0, 0.0, 1.0]), 4),
        ("groups of two", torch.tensor([2.0, 0.0, 1.0, 1.0]), 2),
    ]
    cases += [(f"random rewards #{i}", torch.randint(0, 3, (24,), generator=generator).float(), 6) for i in range(3)]
    passed = 0
    total = 0
    for scale in SCALES:
        for name, rewards, group_size in cases:
            total += 1
            expected = group_advantages(rewards, group_size, scale=scale)
            try:
                got = torch.as_tensor(candidate(rewards.clone(), group_size, scale), dtype=torch.float32)
            except NotImplementedError:
                say("not implemented yet: fill in the function above, then run this cell again")
                return False
            if got.shape != expected.shape or not torch.allclose(got, expected, atol=1e-4):
                say(f"[{scale}] {name}: rewards {rewards.tolist()}, group size {group_size}")
                say(f"    expected {[round(v, 4) for v in expected.tolist()]}")
                say(f"    got      {[round(v, 4) for v in got.flatten().tolist()]}")
            else:
                passed += 1
    say(f"{passed}/{total} cases agree with labkit.grpo.group_advantages")
    return passed == total
