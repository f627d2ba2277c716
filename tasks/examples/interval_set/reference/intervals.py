"""A set of numbers kept as sorted, disjoint, half-open intervals."""

from bisect import bisect_left, bisect_right
from collections.abc import Iterator


class IntervalSet:
    """Sorted, disjoint, non-touching half-open intervals ``[start, end)``."""

    def __init__(self) -> None:
        self._starts: list[float] = []
        self._ends: list[float] = []

    @staticmethod
    def _check(start: float, end: float) -> None:
        if start > end:
            raise ValueError(f"start {start} is after end {end}")

    def add(self, start: float, end: float) -> None:
        """Add ``[start, end)``, merging every interval it overlaps or touches."""
        self._check(start, end)
        if start == end:
            return
        lo = bisect_left(self._ends, start)  # first interval ending at or after start
        hi = bisect_right(self._starts, end)  # intervals starting at or before end
        if lo < hi:
            start = min(start, self._starts[lo])
            end = max(end, self._ends[hi - 1])
        self._starts[lo:hi] = [start]
        self._ends[lo:hi] = [end]

    def remove(self, start: float, end: float) -> None:
        """Remove ``[start, end)``; intervals may shrink, vanish or split in two."""
        self._check(start, end)
        if start == end:
            return
        lo = bisect_right(self._ends, start)  # first interval ending after start
        hi = bisect_left(self._starts, end)  # intervals starting before end
        if lo >= hi:
            return
        starts, ends = [], []
        if self._starts[lo] < start:
            starts.append(self._starts[lo])
            ends.append(start)
        if self._ends[hi - 1] > end:
            starts.append(end)
            ends.append(self._ends[hi - 1])
        self._starts[lo:hi] = starts
        self._ends[lo:hi] = ends

    def total(self) -> float:
        """The summed length of all intervals."""
        return sum(e - s for s, e in zip(self._starts, self._ends, strict=True))

    def __contains__(self, x: object) -> bool:
        i = bisect_right(self._starts, x) - 1
        return i >= 0 and x < self._ends[i]

    def __iter__(self) -> Iterator[tuple[float, float]]:
        return iter(zip(self._starts, self._ends, strict=True))

    def __len__(self) -> int:
        return len(self._starts)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, IntervalSet):
            return NotImplemented
        return list(self) == list(other)

    def __repr__(self) -> str:
        return f"IntervalSet({list(self)!r})"
