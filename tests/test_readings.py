"""Readings: the words a notebook prints about its numbers follow from the numbers and their noise."""

import math

import pytest

from labkit.readings import (
    accuracy_noise,
    best,
    change,
    compare,
    difference_band,
    effective_samples,
    series_mean,
    spread,
    t_quantile,
    trend,
    versus,
    versus_seeds,
    versus_seeds_paired,
)
from labkit.runtime import LabkitError


def test_noise_is_the_binomial_standard_error():
    assert accuracy_noise(0.5, 100) == pytest.approx(0.05)
    assert accuracy_noise(1.0, 10) == 0.0 and accuracy_noise(0.0, 10) == 0.0
    assert difference_band(0.5, 0.5, 100) == pytest.approx(2 * math.sqrt(2) * 0.05)
    with pytest.raises(LabkitError):
        accuracy_noise(0.5, 0)


@pytest.mark.parametrize(
    "a,b,band,word",
    [(0.9, 0.8, 0.05, "beat"), (0.8, 0.9, 0.05, "lost to"), (0.9, 0.88, 0.05, "tied with"), (0.9, 0.86, 0.05, "tied with")],
)
def test_compare(a, b, band, word):
    assert compare(a, b, band) == word


def test_change_and_the_two_runs_the_issue_quotes():
    assert change(0.116, 0.700, 0.03) == "rose" and change(0.7, 0.5, 0.03) == "fell" and change(0.7, 0.71, 0.03) == "stayed level"
    # 90.8% vs 93.0% on 500 problems is within noise: a notebook must not say "lost".
    sentence = versus("sequence KD", 0.908, "GRPO on the student", 0.930, 500)
    assert sentence.startswith("sequence KD tied with GRPO on the student (90.8% vs 93.0%") and "±3.4 points" in sentence
    # 90.8% vs 70.0% is not.
    assert versus("the student", 0.908, "its teacher", 0.70, 500).startswith("the student beat its teacher")


def test_over_seeds():
    assert spread([0.5]) == (0.5, 0.0)
    mean, sd = spread([0.6, 0.7, 0.8])
    assert mean == pytest.approx(0.7) and sd == pytest.approx(0.1)
    assert versus_seeds("A", [0.9, 0.91, 0.89], "B", [0.7, 0.72, 0.71], 200).startswith("A beat B over 3 and 3 seeds")
    # Measured in notebook 03 (seeds 0-2): 77.0% ± 1.5 against 70.3% ± 3.5. Two standard errors called it
    # a win; seeds 3-5 then went the other way. With 3 seeds the t band is over twice as wide (±9.5 points):
    # not a win, and wider than the 5 points that matter, so not a tie either.
    assert versus_seeds("labkit", [0.755, 0.77, 0.785], "TRL", [0.67, 0.700, 0.74], 200).startswith(
        "labkit cannot be told apart from TRL"
    )
    assert versus_seeds("labkit", [0.755, 0.77, 0.785], "TRL", [0.67, 0.700, 0.74], 200, resolution=0.10).startswith(
        "labkit tied with TRL"
    )
    assert t_quantile(2) == 4.30 and t_quantile(12) == 2.23 and t_quantile(100) == 1.96
    # Seeds that agree exactly do not make a gap inside the binomial noise a win.
    assert versus_seeds("A", [0.52, 0.52], "B", [0.50, 0.50], 1000).startswith("A tied with B")
    with pytest.raises(LabkitError, match="at least 2 seeds"):
        versus_seeds("A", [0.5], "B", [0.5], 100)


def test_paired_seeds_cancel_what_a_seed_gives_both_arms():
    # Seeds that move both arms by 30 points hide a 10-point gain that every seed shows: unpaired cannot tell,
    # paired sees it.
    base, polished = [0.50, 0.80, 0.20], [0.60, 0.90, 0.30]
    assert versus_seeds("polished", polished, "base", base, 500).startswith("polished cannot be told apart from base")
    assert versus_seeds_paired("polished", polished, "base", base, 500).startswith(
        "polished beat base over 3 paired seeds (+10.0 points, from +10.0 to +10.0"
    )
    # Differences that disagree in sign are no win, however the means sit.
    assert versus_seeds_paired("A", [0.60, 0.70, 0.80], "B", [0.50, 0.78, 0.70], 500).startswith("A cannot be told apart")
    # Identical seeds: the band falls back to the binomial noise, never to zero.
    assert versus_seeds_paired("A", [0.52, 0.52], "B", [0.50, 0.50], 1000).startswith("A tied with B")
    with pytest.raises(LabkitError, match="one value each"):
        versus_seeds_paired("A", [0.5, 0.6], "B", [0.5], 100)
    with pytest.raises(LabkitError, match="at least 2 seeds"):
        versus_seeds_paired("A", [0.5], "B", [0.5], 100)


def test_the_docstrings_examples_hold():
    import doctest

    import labkit.readings

    assert doctest.testmod(labkit.readings).failed == 0


def test_a_tie_needs_a_band_narrow_enough_to_matter():
    # Inside the band either way; what differs is whether the band could have seen a gap that matters.
    assert compare(0.72, 0.70, 0.03, resolution=0.05) == "tied with"
    assert compare(0.72, 0.63, 0.21, resolution=0.05) == "cannot be told apart from"
    assert compare(0.72, 0.63, 0.21) == "tied with"  # no question asked: the old reading
    assert compare(0.90, 0.60, 0.21, resolution=0.05) == "beat"  # a wide band still sees a big gap
    assert change(0.015, 0.040, 0.066, resolution=0.05) == "moved too little to tell at this noise"
    # Notebook 03's labkit against TRL, 72.2% vs 63.3% on 40 problems: not "tied".
    sentence = versus("labkit", 0.722, "TRL", 0.633, 40)
    assert sentence.startswith("labkit cannot be told apart from TRL") and "cannot tell" in sentence
    # The same gap over seeds, with a spread wider than the gap that matters.
    assert versus_seeds("A", [0.9, 0.6, 0.75], "B", [0.7, 0.8, 0.72], 200).startswith("A cannot be told apart from B")


def test_two_zeros_are_nothing_to_compare_not_a_tie_within_zero_points():
    # Notebook 04's off-distribution lines: every model at 0% printed "tied ... within ±0.0 points".
    assert versus("logit KD", 0.0, "direct answers only", 0.0, 500) == (
        "logit KD and direct answers only both scored 0.0% on 500 problems: nothing to compare"
    )
    assert versus("A", 0.0, "B", 0.004, 500).startswith("A tied with B")  # one is not zero: a band to read


def test_best_only_beyond_the_runner_up():
    # Notebook 03's beta sweep, one seed: 77.5% vs 69.5% on 200 problems is inside ±8.8 points.
    assert best({"beta=0": 0.695, "beta=0.04": 0.775, "beta=0.1": 0.60}, 200).startswith("no single best: beta=0.04")
    assert best({"beta=0": 0.60, "beta=0.04": 0.80}, 500).startswith("best: beta=0.04 (80.0%)")
    with pytest.raises(LabkitError):
        best({"only": 0.5}, 100)


def test_effective_samples_shrink_for_correlated_steps():
    import random

    rng = random.Random(0)
    independent = [rng.gauss(0, 1) for _ in range(400)]
    walk = [0.0]
    for _ in range(399):
        walk.append(0.9 * walk[-1] + rng.gauss(0, 1))  # AR(1), r = 0.9: n_eff ~ n / 19
    assert effective_samples(independent) > 300
    assert effective_samples(walk) < 40
    mean, se = series_mean(walk)
    assert se > spread(walk)[1] / math.sqrt(400) * 2  # wider than the independent-steps formula


def _curve(kind, n=200, noise=0.01, seed=0):
    import random

    rng = random.Random(seed)
    steps = list(range(n))
    shape = {
        "rising": lambda s: 0.1 + 0.002 * s,
        "level": lambda s: 0.5,
        "plateau": lambda s: 0.5 * (1 - math.exp(-s / 10)),  # rises early, flat over its second half
        "falling": lambda s: 0.9 - 0.002 * s,
    }[kind]
    return steps, [shape(s) + rng.gauss(0, noise) for s in steps]


@pytest.mark.parametrize(
    "kind,verdict", [("rising", "still rising"), ("level", "level"), ("plateau", "level"), ("falling", "falling")]
)
def test_trend_reads_built_curves(kind, verdict):
    steps, values = _curve(kind)
    assert trend(steps, values, resolution=0.05)[0] == verdict


def test_trend_cannot_tell_a_short_noisy_curve():
    # Notebook 02b: a curve that went 1.5% -> 4.0% inside a band of 3.3 points, from few noisy evaluations.
    steps, values = _curve("rising", n=8, noise=0.08, seed=3)
    verdict, sentence = trend(steps, values, resolution=0.02)
    assert verdict == "cannot tell" and "interval" in sentence


def test_trend_is_not_fooled_by_correlated_noise():
    # A level curve whose noise wanders (AR(1), r = 0.95): the naive interval would call its drift a rise.
    import random

    rng = random.Random(1)
    values, level = [], 0.0
    for _ in range(200):
        level = 0.95 * level + rng.gauss(0, 0.01)
        values.append(0.5 + level)
    verdicts = {trend(range(200), values, resolution=0.02)[0]}
    assert verdicts <= {"level", "cannot tell"}
