import pytest

from intervals import IntervalSet


def test_add_and_iterate_in_order():
    s = IntervalSet()
    s.add(10, 12)
    s.add(1, 3)
    assert list(s) == [(1, 3), (10, 12)]
    assert len(s) == 2


def test_overlapping_intervals_merge():
    s = IntervalSet()
    s.add(1, 5)
    s.add(3, 8)
    assert list(s) == [(1, 8)]


def test_touching_intervals_merge():
    s = IntervalSet()
    s.add(1, 3)
    s.add(3, 5)
    assert list(s) == [(1, 5)]


def test_membership_is_half_open():
    s = IntervalSet()
    s.add(1, 3)
    assert 1 in s
    assert 2.5 in s
    assert 3 not in s


def test_remove_splits():
    s = IntervalSet()
    s.add(0, 10)
    s.remove(3, 5)
    assert list(s) == [(0, 3), (5, 10)]
    assert s.total() == 8


def test_reversed_bounds_are_rejected():
    with pytest.raises(ValueError):
        IntervalSet().add(5, 1)
