"""Split text into lowercase words."""

import re

_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)*")


def tokenize(text: str) -> list[str]:
    """Words of ``text``: runs of letters/digits, inner apostrophes kept, lowercased."""
    return _WORD.findall(text.replace("\u2019", "'").lower())
