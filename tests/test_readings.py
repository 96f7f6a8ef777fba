"""Readings: the words a notebook prints about its numbers follow from the numbers and their noise."""

import math

import pytest

from labkit.readings import accuracy_noise, change, compare, difference_band, spread, t_quantile, versus, versus_seeds
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
    # a win; seeds 3-5 then went the other way. With 3 seeds the t band is over twice as wide: a tie.
    assert versus_seeds("labkit", [0.755, 0.77, 0.785], "TRL", [0.67, 0.700, 0.74], 200).startswith("labkit tied with TRL")
    assert t_quantile(2) == 4.30 and t_quantile(12) == 2.23 and t_quantile(100) == 1.96
    assert versus_seeds("A", [0.9, 0.6, 0.75], "B", [0.7, 0.8, 0.72], 200).startswith("A tied with B")
    # Seeds that agree exactly do not make a gap inside the binomial noise a win.
    assert versus_seeds("A", [0.52, 0.52], "B", [0.50, 0.50], 100).startswith("A tied with B")
    with pytest.raises(LabkitError, match="at least 2 seeds"):
        versus_seeds("A", [0.5], "B", [0.5], 100)
