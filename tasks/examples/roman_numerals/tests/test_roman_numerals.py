import pytest

from roman import from_roman, to_roman


@pytest.mark.parametrize(("number", "numeral"), [(1, "I"), (4, "IV"), (9, "IX"), (14, "XIV"),
                                                 (40, "XL"), (90, "XC"), (400, "CD"),
                                                 (1994, "MCMXCIV"), (3999, "MMMCMXCIX")])
def test_to_roman(number, numeral):
    assert to_roman(number) == numeral


def test_from_roman():
    assert from_roman("MCMXCIV") == 1994
    assert from_roman("XLII") == 42


@pytest.mark.parametrize("number", [0, -1, 4000])
def test_out_of_range(number):
    with pytest.raises(ValueError):
        to_roman(number)


@pytest.mark.parametrize("numeral", ["", "IIII", "IC", "ABC"])
def test_from_roman_rejects_invalid(numeral):
    with pytest.raises(ValueError):
        from_roman(numeral)
