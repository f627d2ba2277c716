import math

from safestats import mean, median


def test_mean():
    assert mean([1, 2, 3, 4]) == 2.5


def test_median_odd_and_even():
    assert median([5, 1, 3]) == 3.0
    assert median([4, 1, 3, 2]) == 2.5


def test_empty_input_gives_none():
    assert mean([]) is None
    assert median([]) is None


def test_none_and_nan_are_skipped():
    values = [1.0, None, math.nan, 3.0]
    assert mean(values) == 2.0
    assert median(values) == 2.0


def test_results_are_floats():
    assert isinstance(mean([2, 2]), float)
    assert isinstance(median([7]), float)
