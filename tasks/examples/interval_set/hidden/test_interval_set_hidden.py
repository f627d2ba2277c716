import pytest

from intervals import IntervalSet


def make(*pairs):
    s = IntervalSet()
    for start, end in pairs:
        s.add(start, end)
    return s


def test_add_bridging_many_intervals():
    s = make((1, 2), (4, 5), (7, 8), (20, 21))
    s.add(1.5, 7)
    assert list(s) == [(1, 8), (20, 21)]


def test_empty_interval_is_ignored():
    s = make((3, 3))
    assert len(s) == 0
    assert s.total() == 0


def test_remove_edges_and_no_ops():
    s = make((0, 10))
    s.remove(-5, 0)
    s.remove(10, 20)
    assert list(s) == [(0, 10)]
    s.remove(0, 2)
    s.remove(8, 12)
    assert list(s) == [(2, 8)]


def test_remove_across_several_intervals():
    s = make((0, 2), (3, 5), (6, 9))
    s.remove(1, 7)
    assert list(s) == [(0, 1), (7, 9)]
    with pytest.raises(ValueError):
        s.remove(4, 3)


def test_equality_and_floats():
    assert make((0, 1), (1, 2.5)) == make((0, 2.5))
    assert make((0, 1)) != make((0, 2))
    assert make((0.5, 1.25)).total() == 0.75
