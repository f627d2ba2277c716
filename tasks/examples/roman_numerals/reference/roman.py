"""Convert between integers and canonical Roman numerals (1..3999)."""

_SYMBOLS = (
    (1000, "M"),
    (900, "CM"),
    (500, "D"),
    (400, "CD"),
    (100, "C"),
    (90, "XC"),
    (50, "L"),
    (40, "XL"),
    (10, "X"),
    (9, "IX"),
    (5, "V"),
    (4, "IV"),
    (1, "I"),
)
_VALUES = {"I": 1, "V": 5, "X": 10, "L": 50, "C": 100, "D": 500, "M": 1000}


def to_roman(number: int) -> str:
    """Return the canonical Roman numeral for ``number`` (1..3999)."""
    if isinstance(number, bool) or not isinstance(number, int):
        raise TypeError(f"expected an int, got {type(number).__name__}")
    if not 1 <= number <= 3999:
        raise ValueError(f"{number} is outside 1..3999")
    parts = []
    for value, symbol in _SYMBOLS:
        count, number = divmod(number, value)
        parts.append(symbol * count)
    return "".join(parts)


def from_roman(numeral: str) -> int:
    """Return the value of a canonical Roman numeral; anything else raises ValueError."""
    if not numeral or any(ch not in _VALUES for ch in numeral):
        raise ValueError(f"not a Roman numeral: {numeral!r}")
    total = 0
    for ch, nxt in zip(numeral, [*numeral[1:], None], strict=True):
        value = _VALUES[ch]
        total += -value if nxt is not None and _VALUES[nxt] > value else value
    if not 1 <= total <= 3999 or to_roman(total) != numeral:
        raise ValueError(f"not a canonical Roman numeral: {numeral!r}")
    return total
