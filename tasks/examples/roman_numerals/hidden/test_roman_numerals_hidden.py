import pytest

from roman import from_roman, to_roman


def test_round_trip_everything():
    for number in range(1, 4000):
        assert from_roman(to_roman(number)) == number


@pytest.mark.parametrize("numeral", ["VV", "XM", "MMMM", "xiv", " XIV", "IIX", "LL", "DM"])
def test_non_canonical_numerals_are_rejected(numeral):
    with pytest.raises(ValueError):
        from_roman(numeral)


@pytest.mark.parametrize("value", [True, 3.0, "12", None])
def test_non_integers_are_a_type_error(value):
    with pytest.raises(TypeError):
        to_roman(value)
