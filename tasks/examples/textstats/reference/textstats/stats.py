"""Word frequencies."""

from collections import Counter

from textstats.tokenize import tokenize


def word_counts(text: str) -> dict[str, int]:
    """How often each word of ``text`` occurs."""
    return dict(Counter(tokenize(text)))


def top_words(text: str, n: int) -> list[tuple[str, int]]:
    """The ``n`` most frequent words, by count (highest first) then alphabetically."""
    if n <= 0:
        return []
    ranked = sorted(word_counts(text).items(), key=lambda item: (-item[1], item[0]))
    return ranked[:n]
