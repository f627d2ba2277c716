"""Turn text into URL slugs."""

import re
import unicodedata

_APOSTROPHES = str.maketrans("", "", "'\u2019")


def slugify(text: str, separator: str = "-") -> str:
    """Return ``text`` as a lowercase ASCII slug whose words are joined by ``separator``."""
    if not separator:
        raise ValueError("separator must not be empty")
    decomposed = unicodedata.normalize("NFKD", text.translate(_APOSTROPHES).lower())
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    words = re.findall(r"[a-z0-9]+", plain)
    return separator.join(words)
