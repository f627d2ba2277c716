from datetime import date, timedelta

import pytest

from isoweek import format_iso_week, parse_iso_week


def test_week_53_in_a_long_year():
    assert parse_iso_week("2020-W53-5") == date(2021, 1, 1)


def test_week_53_in_a_short_year_is_rejected():
    with pytest.raises(ValueError):
        parse_iso_week("2021-W53-1")


@pytest.mark.parametrize("bad", ["2024-W00-1", "2024-W05-0", "2024-W053", "2024W05-3",
                                 "2024-w05-3", "٢٠٢٤-W05-3", "2024-W05-3x"])
def test_malformed(bad):
    with pytest.raises(ValueError):
        parse_iso_week(bad)


def test_surrounding_whitespace_is_ignored():
    assert parse_iso_week("  2024-W05-3\n") == date(2024, 1, 31)


def test_format_at_year_boundary():
    assert format_iso_week(date(2021, 1, 3)) == "2020-W53-7"
    assert format_iso_week(date(2024, 12, 30)) == "2025-W01-1"


def test_round_trip_over_several_years():
    day = date(2019, 12, 1)
    for _ in range(2000):
        assert parse_iso_week(format_iso_week(day)) == day
        day += timedelta(days=1)
