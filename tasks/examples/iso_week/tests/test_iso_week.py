from datetime import date

import pytest

from isoweek import format_iso_week, parse_iso_week


def test_extended_form():
    assert parse_iso_week("2024-W05-3") == date(2024, 1, 31)


def test_basic_form():
    assert parse_iso_week("2024W053") == date(2024, 1, 31)


def test_week_only_means_monday():
    assert parse_iso_week("2024-W05") == date(2024, 1, 29)
    assert parse_iso_week("2024W05") == date(2024, 1, 29)


def test_week_one_can_start_in_the_previous_year():
    assert parse_iso_week("2025-W01-1") == date(2024, 12, 30)


def test_format():
    assert format_iso_week(date(2024, 1, 31)) == "2024-W05-3"


@pytest.mark.parametrize("bad", ["2024-W5-1", "2024-W05-8", "24-W05-1", "2024-05-01", ""])
def test_bad_input_raises(bad):
    with pytest.raises(ValueError):
        parse_iso_week(bad)
