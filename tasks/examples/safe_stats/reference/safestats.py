"""Mean and median that skip missing values and never crash on empty input."""

import math
from collections.abc import Iterable


def _present(values: Iterable[float | int | None]) -> list[float]:
    """The values as floats, without None and NaN."""
    return [float(v) for v in values if v is not None and not math.isnan(v)]


def mean(values: Iterable[float | int | None]) -> float | None:
    """The arithmetic mean (computed with math.fsum), or None when nothing is left."""
    data = _present(values)
    if not data:
        return None
    return math.fsum(data) / len(data)


def median(values: Iterable[float | int | None]) -> float | None:
    """The median (mean of the middle two for an even count), or None when nothing is left."""
    data = sorted(_present(values))
    if not data:
        return None
    mid = len(data) // 2
    if len(data) % 2:
        return data[mid]
    return (data[mid - 1] + data[mid]) / 2
