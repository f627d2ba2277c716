import decimal
from decimal import Decimal

import pytest

from rounding import round_half_up


def test_negative_ndigits():
    assert round_half_up(1250, -2) == Decimal("1300")
    assert round_half_up(-1249, -2) == Decimal("-1200")


def test_more_digits_than_the_context_precision():
    value = "123456789012345678901234567890.5"
    assert round_half_up(value) == Decimal("123456789012345678901234567891")


def test_global_context_is_untouched():
    before = decimal.getcontext().prec
    round_half_up("1.5", 40)
    assert decimal.getcontext().prec == before


@pytest.mark.parametrize("value", [float("nan"), float("inf"), "-Infinity", "NaN", ""])
def test_non_finite_values_are_value_errors(value):
    with pytest.raises(ValueError):
        round_half_up(value)


def test_tiny_and_negative_half():
    assert round_half_up(1e-20, 2) == Decimal("0.00")
    assert round_half_up(-0.5) == Decimal("-1")
