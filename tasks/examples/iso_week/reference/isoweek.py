"""Parse and format ISO 8601 week dates."""

import re
from datetime import date

_FORMS = (
    re.compile(r"(?P<year>[0-9]{4})-W(?P<week>[0-9]{2})(?:-(?P<day>[0-9]))?"),
    re.compile(r"(?P<year>[0-9]{4})W(?P<week>[0-9]{2})(?P<day>[0-9])?"),
)


def parse_iso_week(text: str) -> date:
    """Return the date of an ISO week date such as "2024-W05-3", "2024W053" or "2024-W05"."""
    stripped = text.strip()
    for form in _FORMS:
        match = form.fullmatch(stripped)
        if match:
            break
    else:
        raise ValueError(f"not an ISO week date: {text!r}")
    year, week = int(match["year"]), int(match["week"])
    weekday = int(match["day"]) if match["day"] else 1
    try:
        return date.fromisocalendar(year, week, weekday)
    except ValueError as exc:
        raise ValueError(f"no such ISO week date: {text!r} ({exc})") from None


def format_iso_week(day: date) -> str:
    """Return ``day`` as an extended ISO week date, e.g. "2020-W53-7"."""
    year, week, weekday = day.isocalendar()
    return f"{year:04d}-W{week:02d}-{weekday}"
