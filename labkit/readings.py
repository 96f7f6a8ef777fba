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

A tie is only worth saying when the band is narrow enough to matter. Every question
the lab asks has an effect size behind it (by default `MATTERS`, five accuracy
points): when the band is wider than that, a gap inside it is not a tie but
"cannot tell": this budget cannot answer the question, and a bigger one might.

Curves are read the same way. Whether a curve "has stopped rising" is a question
about the slope of its last part, fitted by least squares, with an interval that
knows neighbouring steps are not independent (their lag-1 autocorrelation r shrinks
the n steps to n_eff = n (1 - r) / (1 + r) independent ones). Its verdict is
"still rising", "falling", "level" (the whole interval of the change over the
window lies inside ±resolution) or "cannot tell".
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


# The smallest accuracy gap the lab's questions are about: a band wider than this cannot answer them.
MATTERS = 0.05

CANNOT_TELL = "cannot be told apart from"


def compare(a: float, b: float, band: float, resolution: float | None = None) -> str:
    """'beat', 'lost to', 'tied with' or 'cannot be told apart from': a against b.

    Inside the band (|a - b| <= band) the reading is a tie only when the band is no wider than
    `resolution`, the gap that would matter; a wider band cannot tell (None: always a tie)."""
    if band < 0:
        raise LabkitError(f"band must be >= 0, got {band}")
    if a - b > band:
        return "beat"
    if b - a > band:
        return "lost to"
    if resolution is not None and band > resolution:
        return CANNOT_TELL
    return "tied with"


CHANGE_WORDS = {
    "beat": "rose",
    "lost to": "fell",
    "tied with": "stayed level",
    CANNOT_TELL: "moved too little to tell at this noise",
}


def change(before: float, after: float, band: float, resolution: float | None = None) -> str:
    """'rose', 'fell', 'stayed level' or 'moved too little to tell at this noise' (see compare)."""
    return CHANGE_WORDS[compare(after, before, band, resolution)]


def _tolerance(word: str, band: float, resolution: float) -> str:
    """The band behind a verdict, in the words that fit it: a tie names what a tie is, a win or loss the band it
    cleared, "cannot tell" why the band cannot answer."""
    if word == CANNOT_TELL:
        return f"the band ±{100 * band:.1f} points is wider than the {100 * resolution:.0f}-point gap that matters, so this budget cannot tell"
    if word == "tied with":
        return f"a tie is a gap within ±{100 * band:.1f} points"
    return f"the gap is beyond the band ±{100 * band:.1f} points"


def versus(name_a: str, a: float, name_b: str, b: float, problems: int, z: float = 2.0, resolution: float = MATTERS) -> str:
    """One sentence comparing two accuracies on the same problems, with its tolerance stated.

    >>> versus("sequence KD", 0.908, "GRPO on the student", 0.930, 500)
    'sequence KD tied with GRPO on the student (90.8% vs 93.0%; a tie is a gap within ±3.4 points, 2 standard errors on 500 problems)'
    >>> versus("labkit", 0.722, "TRL", 0.633, 40)
    'labkit cannot be told apart from TRL (72.2% vs 63.3%; the band ±20.8 points is wider than the 5-point gap that matters, so this budget cannot tell, 2 standard errors on 40 problems)'
    """
    band = difference_band(a, b, problems, z)
    if band == 0 and a == b:  # both at 0% or both at 100%: no noise to read and no gap to read it against
        return f"{name_a} and {name_b} both scored {a:.1%} on {problems} problems: nothing to compare"
    word = compare(a, b, band, resolution)
    return f"{name_a} {word} {name_b} ({a:.1%} vs {b:.1%}; {_tolerance(word, band, resolution)}, {z:g} standard errors on {problems} problems)"


def best(scores: dict[str, float], problems: int, z: float = 2.0) -> str:
    """Which of several accuracies (same `problems`) is best, said only when it is beyond the runner-up's band.

    >>> best({"beta=0": 0.695, "beta=0.04": 0.775}, 200)
    'no single best: beta=0.04 (77.5%) and the runner-up beta=0 (69.5%) are within ±8.8 points of each other'
    """
    if len(scores) < 2:
        raise LabkitError("best() needs at least two scores to rank")
    (winner, top), (second, runner_up) = sorted(scores.items(), key=lambda item: item[1], reverse=True)[:2]
    band = difference_band(top, runner_up, problems, z)
    if top - runner_up > band:
        return (
            f"best: {winner} ({top:.1%}), beyond the runner-up {second} ({runner_up:.1%}) by more than ±{100 * band:.1f} points"
        )
    return (
        f"no single best: {winner} ({top:.1%}) and the runner-up {second} ({runner_up:.1%}) "
        f"are within ±{100 * band:.1f} points of each other"
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


def _means_noise(mean_a: float, seeds_a: int, mean_b: float, seeds_b: int, problems: int) -> float:
    """Two standard errors of the difference of two means over seeds x problems answers: the floor of a seeds'
    band, so seeds that happen to agree exactly cannot make a gap inside the problems' noise a win."""
    return 2 * math.hypot(accuracy_noise(mean_a, problems * seeds_a), accuracy_noise(mean_b, problems * seeds_b))


def versus_seeds(
    name_a: str, a: Sequence[float], name_b: str, b: Sequence[float], problems: int, resolution: float = MATTERS
) -> str:
    """Compare two sets of per-seed accuracies on the same `problems`.

    A tie when the means differ by at most t x (standard error of the difference), t the 97.5%
    quantile of Student's t at min(seeds) - 1 degrees of freedom (conservative); the standard error
    comes from the seeds' spread, but the band is never narrower than the means' binomial noise."""
    if len(a) < 2 or len(b) < 2:
        raise LabkitError("compare over at least 2 seeds each; for one run use versus()")
    (mean_a, sd_a), (mean_b, sd_b) = spread(a), spread(b)
    t = t_quantile(min(len(a), len(b)) - 1)
    seeds_band = t * math.hypot(sd_a / math.sqrt(len(a)), sd_b / math.sqrt(len(b)))
    band = max(seeds_band, _means_noise(mean_a, len(a), mean_b, len(b), problems))
    word = compare(mean_a, mean_b, band, resolution)
    return (
        f"{name_a} {word} {name_b} over {len(a)} and {len(b)} seeds "
        f"({mean_a:.1%} ± {sd_a:.1%} vs {mean_b:.1%} ± {sd_b:.1%}, mean ± sd; {_tolerance(word, band, resolution)})"
    )


def versus_seeds_paired(
    name_a: str, a: Sequence[float], name_b: str, b: Sequence[float], problems: int, resolution: float = MATTERS
) -> str:
    """Compare two arms that share each seed (a[i] and b[i] from seed i's teacher, base and data).

    What a seed gives both arms cancels in their difference d_i = a_i - b_i, so the band comes from the
    spread of the differences: t x sd(d) / sqrt(n), t at n - 1 degrees of freedom, never narrower than
    the means' binomial noise (as `versus_seeds`). Seeds that move both arms by 30 points can still
    show a small gain that every seed agrees on, which `versus_seeds` would call "cannot tell".

    >>> versus_seeds_paired("polished", [0.762, 0.886, 0.608], "sequence KD", [0.742, 0.856, 0.594], 500)
    'polished tied with sequence KD over 3 paired seeds (+2.1 points, from +1.4 to +3.0; a tie is a gap within ±3.2 points)'
    """
    if len(a) != len(b):
        raise LabkitError(f"paired seeds need one value each: {len(a)} of {name_a} against {len(b)} of {name_b}")
    if len(a) < 2:
        raise LabkitError("compare over at least 2 seeds; for one run use versus()")
    differences = [x - y for x, y in zip(a, b)]
    gap, sd = spread(differences)
    mean_a, mean_b = statistics.fmean(a), statistics.fmean(b)
    seeds_band = t_quantile(len(a) - 1) * sd / math.sqrt(len(a))
    band = max(seeds_band, _means_noise(mean_a, len(a), mean_b, len(b), problems))
    word = compare(mean_a, mean_b, band, resolution)
    return (
        f"{name_a} {word} {name_b} over {len(a)} paired seeds ({100 * gap:+.1f} points, from "
        f"{100 * min(differences):+.1f} to {100 * max(differences):+.1f}; {_tolerance(word, band, resolution)})"
    )


def effective_samples(values: Sequence[float]) -> float:
    """n (1 - r) / (1 + r), r the lag-1 autocorrelation (clipped to [0, 0.95]): neighbouring steps of a
    training curve share a model, so n correlated steps carry the information of fewer independent ones."""
    n = len(values)
    if n < 3:
        return float(n)
    mean = statistics.fmean(values)
    centred = [v - mean for v in values]
    denominator = sum(c * c for c in centred)
    r = sum(x * y for x, y in zip(centred, centred[1:])) / denominator if denominator > 0 else 0.0
    r = min(max(r, 0.0), 0.95)
    return max(2.0, n * (1 - r) / (1 + r))


def series_mean(values: Sequence[float]) -> tuple[float, float]:
    """(mean, its standard error) of correlated steps: sd / sqrt(n_eff), NaN steps skipped."""
    kept = [v for v in values if v == v]
    if len(kept) < 2:
        raise LabkitError(f"needs at least 2 values, got {len(kept)}")
    mean, sd = spread(kept)
    return mean, sd / math.sqrt(effective_samples(kept))


def slope(steps: Sequence[float], values: Sequence[float]) -> tuple[float, float]:
    """(least-squares slope per step, half-width of its ~95% interval), the interval from the residuals'
    spread, widened for their autocorrelation (n_eff) and by Student's t at n_eff - 2 degrees of freedom."""
    pairs = [(float(x), float(y)) for x, y in zip(steps, values) if y == y]
    if len(pairs) < 4:
        raise LabkitError(f"a slope needs at least 4 points, got {len(pairs)}")
    xs, ys = zip(*pairs)
    mean_x, mean_y = statistics.fmean(xs), statistics.fmean(ys)
    sxx = sum((x - mean_x) ** 2 for x in xs)
    if sxx == 0:
        raise LabkitError("a slope needs at least two different steps")
    b = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys)) / sxx
    residuals = [y - mean_y - b * (x - mean_x) for x, y in zip(xs, ys)]
    n_eff = effective_samples(residuals)
    variance = sum(r * r for r in residuals) / max(len(pairs) - 2, 1)
    se = math.sqrt(variance / sxx * len(pairs) / n_eff)
    return b, t_quantile(max(1, int(n_eff) - 2)) * se


TRENDS = ("still rising", "falling", "level", "cannot tell")


def trend(steps: Sequence[float], values: Sequence[float], resolution: float, last: float = 0.5) -> tuple[str, str]:
    """(verdict, sentence) about the last `last` fraction of a curve: has it stopped rising?

    The change over that window is slope x span, with its interval. 'still rising' when the whole
    interval is above 0, 'falling' when below; 'level' when it lies inside ±resolution (the change
    that would matter); otherwise 'cannot tell': no rise was detected, but a flat curve was not shown.
    """
    if not 0 < last <= 1:
        raise LabkitError(f"last must be in (0, 1], got {last}")
    start = int(len(steps) * (1 - last))
    window_steps, window_values = list(steps)[start:], list(values)[start:]
    b, half = slope(window_steps, window_values)
    span = window_steps[-1] - window_steps[0]
    low, high = (b - half) * span, (b + half) * span
    if low > 0:
        verdict = "still rising"
    elif high < 0:
        verdict = "falling"
    elif -resolution <= low and high <= resolution:
        verdict = "level"
    else:
        verdict = "cannot tell"
    return verdict, (
        f"{verdict}: over steps {window_steps[0]:g}-{window_steps[-1]:g} the fitted change is {b * span:+.3g} "
        f"(interval {low:+.3g} to {high:+.3g}; level means inside ±{resolution:g})"
    )
