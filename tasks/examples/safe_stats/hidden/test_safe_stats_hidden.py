import math

from safestats import mean, median


def test_generators_are_read_once():
    assert mean(x for x in [1, 2, 3]) == 2.0
    assert median(x for x in [3, 1, 2]) == 2.0


def test_only_skipped_values_gives_none():
    assert mean([None, math.nan]) is None
    assert median([math.nan, None]) is None


def test_cancellation_is_exact():
    assert mean([1e16, 1.0, -1e16]) == 1 / 3


def test_input_is_not_modified():
    values = [3, 1, 2]
    median(values)
    assert values == [3, 1, 2]


def test_negative_and_single_values():
    assert mean([-1.5]) == -1.5
    assert median([-5, -1, -3, -2]) == -2.5
