import time
from datetime import date, timedelta

from bizdays import business_days_between


def brute_force(start, end, holidays=()):
    skip = set(holidays)
    days = (start + timedelta(n) for n in range((end - start).days))
    return sum(1 for d in days if d.weekday() < 5 and d not in skip)


def test_matches_brute_force_for_every_start_weekday_and_length():
    base = date(2024, 1, 1)
    holidays = [date(2024, 1, 10), date(2024, 1, 13), date(2024, 1, 20)]
    for offset in range(7):
        for length in range(30):
            start = base + timedelta(offset)
            end = start + timedelta(length)
            assert business_days_between(start, end, holidays) == brute_force(
                start, end, holidays
            ), (start, end)


def test_weekend_duplicate_and_out_of_range_holidays():
    holidays = (d for d in [date(2024, 6, 8), date(2024, 6, 4), date(2024, 6, 4),
                            date(2025, 1, 1)])
    assert business_days_between(date(2024, 6, 3), date(2024, 6, 10), holidays) == 4


def test_reversed_range_with_holidays():
    holidays = [date(2024, 6, 4)]
    assert business_days_between(date(2024, 6, 10), date(2024, 6, 3), holidays) == -4


def test_huge_range_is_fast():
    started = time.perf_counter()
    result = business_days_between(date(1, 1, 1), date(9999, 12, 31))
    assert time.perf_counter() - started < 0.5
    assert result == 2_608_614  # counted day by day once
