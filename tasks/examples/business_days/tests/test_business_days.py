from datetime import date

from bizdays import business_days_between


def test_one_full_week():
    assert business_days_between(date(2024, 6, 3), date(2024, 6, 10)) == 5


def test_end_is_excluded():
    # Monday to Tuesday: only the Monday counts
    assert business_days_between(date(2024, 6, 3), date(2024, 6, 4)) == 1


def test_weekend_only():
    assert business_days_between(date(2024, 6, 8), date(2024, 6, 10)) == 0


def test_same_day():
    assert business_days_between(date(2024, 6, 5), date(2024, 6, 5)) == 0


def test_holidays_are_skipped():
    holidays = [date(2024, 12, 25), date(2024, 12, 26)]
    assert business_days_between(date(2024, 12, 23), date(2024, 12, 30), holidays) == 3


def test_reversed_range_is_negative():
    assert business_days_between(date(2024, 6, 10), date(2024, 6, 3)) == -5
