from decimal import Decimal

import pytest

from rounding import round_half_up


@pytest.mark.parametrize(("value", "expected"), [(2.5, "3"), (3.5, "4"), (-2.5, "-3"),
                                                 (2.4, "2"), (0, "0")])
def test_ties_go_away_from_zero(value, expected):
    assert round_half_up(value) == Decimal(expected)


def test_float_uses_its_shortest_repr():
    assert round_half_up(2.675, 2) == Decimal("2.68")


def test_strings_and_decimals():
    assert round_half_up("1.005", 2) == Decimal("1.01")
    assert round_half_up(Decimal("0.125"), 2) == Decimal("0.13")


def test_keeps_the_requested_places():
    assert str(round_half_up("2.5", 2)) == "2.50"


def test_garbage_is_a_value_error():
    with pytest.raises(ValueError):
        round_half_up("twelve")
