"""Count business days (Monday to Friday, minus holidays) between two dates."""

from collections.abc import Iterable
from datetime import date


def business_days_between(start: date, end: date, holidays: Iterable[date] = ()) -> int:
    """Business days in ``[start, end)``; negative when ``end`` is before ``start``."""
    if end < start:
        return -business_days_between(end, start, holidays)
    days = (end - start).days
    weeks, extra = divmod(days, 7)
    first = start.weekday()
    count = weeks * 5 + sum(1 for i in range(extra) if (first + i) % 7 < 5)
    skipped = {d for d in holidays if start <= d < end and d.weekday() < 5}
    return count - len(skipped)
