"""Source text as Python reads it: the encoding it declares (PEP 263) and the lines its
tokenizer counts. The tamper scan and the changed-line rules use these, never
``str.splitlines`` or a decoding of their own, so the lines codemend checks are the lines
Python runs. See docs/SECURITY.md, "Read code as Python reads it".
"""

from __future__ import annotations

import difflib
import io
import re
import tokenize
from collections.abc import Iterable

LINE_END = re.compile(r"\r\n|\r|\n")
"""The only line endings of Python's tokenizer. ``str.splitlines`` also splits on
``\\x0b``, ``\\x0c``, ``\\x1c``-``\\x1e``, ``\\x85``, ``\\u2028`` and ``\\u2029``."""
UTF8 = ("utf-8", "utf-8-sig")
COOKIE = re.compile(rb"^[ \t\f]*#.*?coding[:=][ \t]*[-\w.]+")
"""PEP 263's coding declaration, on line 1 or 2."""


def split_lines(text: str, keepends: bool = False) -> list[str]:
    """``text``'s lines as the tokenizer counts them (like ``str.splitlines``: no empty
    last line after a final line ending)."""
    out: list[str] = []
    start = 0
    for m in LINE_END.finditer(text):
        out.append(text[start:m.end() if keepends else m.start()])
        start = m.end()
    if start < len(text):
        out.append(text[start:])
    return out


def changed_lines(old: str | None, new: str) -> set[int]:
    """1-based line numbers of ``new`` (tokenizer lines) added or modified relative to
    ``old``."""
    a, b = split_lines(old or ""), split_lines(new)
    out: set[int] = set()
    for tag, _, _, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag in ("replace", "insert"):
            out.update(range(j1 + 1, j2 + 1))
    return out


def as_bytes(source: str | bytes) -> bytes:
    """The bytes a workspace file holds for ``source`` (text is written as UTF-8)."""
    if isinstance(source, bytes):
        return source
    return source.encode("utf-8", errors="surrogateescape")


def declared_encoding(data: bytes) -> str:
    """The source encoding Python uses for ``data`` (``utf-8`` when none is declared);
    raises ``SyntaxError`` for an unknown or inconsistent declaration, as Python does."""
    return tokenize.detect_encoding(io.BytesIO(data).readline)[0]


def encoding_problem(source: str | bytes, changed: Iterable[int] | None = None
                     ) -> str | None:
    """Why Python would not read ``source`` as the UTF-8 text codemend checks (None: it
    would). A declaration of another encoding is a problem when ``changed`` (line
    numbers; None: every line) holds the declaration, or when Python's
    decoding of the file differs from its UTF-8 text, as with ``# coding: utf-7``, which
    turns ``+AAo-`` in a comment into a line break. A legacy declaration such as
    ``latin-1`` above unchanged ASCII code is read the same either way."""
    data = as_bytes(source)
    try:
        encoding = declared_encoding(data)
    except SyntaxError as exc:
        return f"declares a source encoding Python cannot use ({exc.msg})"
    if encoding in UTF8:
        return None
    line = next((n for n, text in enumerate(data.splitlines()[:2], 1) if COOKIE.match(text)), 1)
    try:
        same = data.decode(encoding) == data.decode("utf-8")
    except (UnicodeDecodeError, LookupError):
        same = False
    if changed is None or line in set(changed) or not same:
        return (f"declares the source encoding {encoding}: Python would not read it as the "
                "UTF-8 text that was checked; write UTF-8 without a coding line")
    return None
