"""Readings: the sentences a notebook says about its numbers, computed from them.

A notebook's prose is read on every machine, but its numbers come from one run.
So a sentence that interprets a run ("distillation beat RL", "accuracy rose") is
printed by code from that run's figures and their noise, never typed into
Markdown. The noise of an accuracy measured on n problems is its standard error,

    se(p) = sqrt(p (1 - p) / n)

and two accuracies measured on the same n problems differ by more than chance
when |a - b| > z * sqrt(se(a)^2 + se(b)^2), with z = 2 (about 95%). Inside that
band the reading is "tied with": the run cannot tell them apart, and saying
otherwise would be reading noise. Over several seeds, the band comes from the seeds' spread,
widened by Student's t (a spread measured on a few seeds is itself uncertain).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence

from .runtime import LabkitError


def accuracy_noise(accuracy: float, problems: int) -> float:
    """Standard error of an accuracy measured on `problems` problems."""
    if problems < 1:
        raise LabkitError(f"problems must be at least 1, got {problems}")
    p = min(max(accuracy, 0.0), 1.0)
    return math.sqrt(p * (1 - p) / problems)


def difference_band(a: float, b: float, problems: int, z: float = 2.0) -> float:
    """Half-width of the band within which accuracies a and b (same `problems`) are a tie."""
    return z * math.hypot(accuracy_noise(a, problems), accuracy_noise(b, problems))


def compare(a: float, b: float, band: float) -> str:
    """'beat', 'tied with' or 'lost to': a against b, a tie when |a - b| <= band."""
    if band < 0:
        raise LabkitError(f"band must be >= 0, got {band}")
    if a - b > band:
        return "beat"
    if b - a > band:
        return "lost to"
    return "tied with"


def change(before: float, after: float, band: float) -> str:
    """'rose', 'fell' or 'stayed level': the direction of a change, level when within `band`."""
    word = compare(after, before, band)
    return {"beat": "rose", "lost to": "fell", "tied with": "stayed level"}[word]


def versus(name_a: str, a: float, name_b: str, b: float, problems: int, z: float = 2.0) -> str:
    """One sentence comparing two accuracies on the same problems, with its tolerance stated.

    >>> versus("sequence KD", 0.908, "GRPO on the student", 0.930, 500)
    'sequence KD tied with GRPO on the student (90.8% vs 93.0%; a tie is a gap within ±3.4 points, 2 standard errors on 500 problems)'
    """
    band = difference_band(a, b, problems, z)
    return (
        f"{name_a} {compare(a, b, band)} {name_b} ({a:.1%} vs {b:.1%}; a tie is a gap within ±{100 * band:.1f} points, "
        f"{z:g} standard errors on {problems} problems)"
    )


def spread(values: Sequence[float]) -> tuple[float, float]:
    """(mean, sample standard deviation) over seeds; the deviation is 0 for a single value."""
    if not values:
        raise LabkitError("no values to summarise")
    mean = statistics.fmean(values)
    return mean, statistics.stdev(values) if len(values) > 1 else 0.0


# Student's t, 97.5% quantile, by degrees of freedom: a spread estimated from a few seeds is itself
# uncertain, so the band must be wider than 2 standard errors (with 3 seeds, over twice as wide).
T_975 = {1: 12.71, 2: 4.30, 3: 3.18, 4: 2.78, 5: 2.57, 6: 2.45, 7: 2.36, 8: 2.31, 9: 2.26, 10: 2.23, 15: 2.13, 20: 2.09, 30: 2.04}


def t_quantile(degrees_of_freedom: int) -> float:
    """The 97.5% quantile of Student's t, from the table entry at or below the given freedom (wider)."""
    if degrees_of_freedom < 1:
        raise LabkitError("needs at least one degree of freedom (two seeds)")
    if degrees_of_freedom > 30:
        return 1.96
    return T_975[max(d for d in T_975 if d <= degrees_of_freedom)]


def versus_seeds(name_a: str, a: Sequence[float], name_b: str, b: Sequence[float], problems: int) -> str:
    """Compare two sets of per-seed accuracies on the same `problems`.

    A tie when the means differ by at most t x (standard error of the difference), t the 97.5%
    quantile of Student's t at min(seeds) - 1 degrees of freedom (conservative); the standard error
    comes from the seeds' spread, but the band is never narrower than the means' binomial noise."""
    if len(a) < 2 or len(b) < 2:
        raise LabkitError("compare over at least 2 seeds each; for one run use versus()")
    (mean_a, sd_a), (mean_b, sd_b) = spread(a), spread(b)
    t = t_quantile(min(len(a), len(b)) - 1)
    seeds_band = t * math.hypot(sd_a / math.sqrt(len(a)), sd_b / math.sqrt(len(b)))
    binomial_band = 2 * math.hypot(accuracy_noise(mean_a, problems * len(a)), accuracy_noise(mean_b, problems * len(b)))
    band = max(seeds_band, binomial_band)
    return (
        f"{name_a} {compare(mean_a, mean_b, band)} {name_b} over {len(a)} and {len(b)} seeds "
        f"({mean_a:.1%} ± {sd_a:.1%} vs {mean_b:.1%} ± {sd_b:.1%}, mean ± sd; a tie is a gap within ±{100 * band:.1f} points)"
    )
