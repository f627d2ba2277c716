"""Pull solution files out of a model's reply (markdown with fenced code blocks).

Single-file task: the last closed fenced block tagged ``python``/``py``/``python3`` (or
untagged) with some code in it. A block whose first line is ``# file: <path>`` naming the
solution wins over unlabelled ones; a block labelled with another path (an echoed test, say)
is skipped.

Multi-file task: every block starts with ``# file: <path>`` (or ``# <path>`` when that is
exactly a solution path); the last block per path wins; every solution file must be there
and no other path may be.

A reply without usable code raises ``FormatError``, whose message is written for the
model: it says what was wrong and how to answer.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass, field

MAX_REPLY_CHARS = 5_000_000
"""Only this much of a reply is scanned; the rest is ignored."""
PYTHON_TAGS = frozenset({"", "python", "py", "python3"})

_OPEN = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})(?P<info>.*)$")
_CLOSE = re.compile(r"^[ \t]*(?P<fence>`{3,}|~{3,})[ \t]*$")
_LABEL = re.compile(r"^#\s*file(?:name)?\s*:\s*(?P<path>.+?)\s*$", re.IGNORECASE)


class FormatError(ValueError):
    """The reply held no usable code; ``message`` tells the model how to answer instead."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass
class Block:
    """One fenced block: its language tag, its lines (fence indent removed), closed or not."""

    tag: str
    lines: list[str] = field(default_factory=list)
    closed: bool = False


def extract_files(reply: str, solution_files: list[str]) -> dict[str, str]:
    """Return ``{path: code}`` for every solution file, or raise ``FormatError``."""
    if not solution_files:
        raise ValueError("extract_files needs at least one solution file")
    note = ""
    if len(reply) > MAX_REPLY_CHARS:
        reply = reply[:MAX_REPLY_CHARS]
        note = f" Your reply was longer than {MAX_REPLY_CHARS:,} characters; keep it short."
    blocks = [b for b in fenced_blocks(reply) if b.tag in PYTHON_TAGS]
    if blocks and not blocks[-1].closed and "".join(blocks[-1].lines).strip():
        first = solution_files[0] if len(solution_files) == 1 else "every solution file"
        raise FormatError("Your reply ended inside an unclosed ```python block, so it was "
                          f"probably cut off. Reply again with the complete {first} in closed "
                          f"```python blocks, and keep the text around the code short.{note}")
    closed = [b.lines for b in blocks if b.closed]
    try:
        if len(solution_files) == 1:
            return _single(closed, solution_files[0])
        return _multi(closed, solution_files)
    except FormatError as exc:
        raise FormatError(exc.message + note) from None


def fenced_blocks(text: str) -> list[Block]:
    """Every fenced block of ``text`` (backtick or tilde fences of 3+), in order.

    A closing fence uses the opening character, is at least as long and carries no info
    string. A block still open at the end is returned with ``closed=False``.
    """
    blocks: list[Block] = []
    current: Block | None = None
    fence = ""
    indent = 0
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        if current is None:
            m = _OPEN.match(line)
            if m is None or (m["fence"][0] == "`" and "`" in m["info"]):
                continue
            fence, indent = m["fence"], len(m["indent"])
            info = m["info"].strip().split(maxsplit=1)
            current = Block(tag=info[0].lower().strip("{}.") if info else "")
            blocks.append(current)
            continue
        m = _CLOSE.match(line)
        if m and m["fence"][0] == fence[0] and len(m["fence"]) >= len(fence):
            current.closed = True
            current = None
            continue
        current.lines.append(_dedent(line, indent))
    return blocks


def _dedent(line: str, indent: int) -> str:
    """Remove up to ``indent`` leading blanks (the fence's own indentation)."""
    cut = 0
    while cut < indent and cut < len(line) and line[cut] in " \t":
        cut += 1
    return line[cut:]


def label_of(lines: list[str], solution_files: list[str]) -> tuple[str | None, list[str]]:
    """The path a block says it holds (from its first line) and its lines without that label."""
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        stripped = line.strip()
        m = _LABEL.match(stripped)
        if m:
            return _clean_path(m["path"]), lines[i + 1:]
        if stripped.startswith("#"):
            candidate = _clean_path(stripped[1:])
            if candidate in solution_files:
                return candidate, lines[i + 1:]
        break
    return None, lines


def _clean_path(text: str) -> str:
    path = text.strip().strip("`'\"").strip()
    norm = posixpath.normpath(path.replace("\\", "/")) if path else path
    return norm.removeprefix("./")


def _tidy(lines: list[str]) -> str:
    """Drop blank lines at both ends; end with exactly one newline."""
    start, end = 0, len(lines)
    while start < end and not lines[start].strip():
        start += 1
    while end > start and not lines[end - 1].strip():
        end -= 1
    return "\n".join(lines[start:end]) + "\n"


def _single(blocks: list[list[str]], target: str) -> dict[str, str]:
    labelled: list[list[str]] = []
    plain: list[list[str]] = []
    for lines in blocks:
        label, body = label_of(lines, [target])
        if (label is not None and label != target) or not "".join(body).strip():
            continue
        (labelled if label == target else plain).append(body)
    chosen = (labelled or plain or [None])[-1]
    if chosen is None:
        raise FormatError(f"Your reply had no fenced ```python block holding the whole file "
                          f"{target}. Reply with the complete file in one ```python block.")
    return {target: _tidy(chosen)}


def _multi(blocks: list[list[str]], targets: list[str]) -> dict[str, str]:
    listing = ", ".join(targets)
    how = (f"Reply with every solution file ({listing}), each in its own ```python block "
           "whose first line is `# file: <path>`.")
    found: dict[str, str] = {}
    for lines in blocks:
        label, body = label_of(lines, targets)
        if label is None:
            continue
        if label not in targets:
            raise FormatError(f"Your reply had a block for {label!r}, which is not one of the "
                              f"files you write. {how} Send no other files.")
        if "".join(body).strip():
            found[label] = _tidy(body)
    missing = [t for t in targets if t not in found]
    if missing:
        which = ", ".join(missing)
        raise FormatError(f"Your reply had no ```python block for {which}. {how}")
    return found


SUMMARY_CHARS = 120


def reply_summary(reply: str) -> str:
    """One line on what a reply proposes: the first sentence of its prose (text outside the
    fenced blocks), shown to the person reviewing the change. Empty when it has none."""
    prose: list[str] = []
    inside = False
    for line in reply[:MAX_REPLY_CHARS].splitlines():
        if _OPEN.match(line) or _CLOSE.match(line):
            inside = not inside
            continue
        if not inside and line.strip():
            prose.append(line.strip())
    text = " ".join(prose)
    m = re.search(r"(?<=[.!?])\s", text)
    first = (text[:m.start()] if m else text).rstrip(":")
    return first if len(first) <= SUMMARY_CHARS else first[:SUMMARY_CHARS - 3].rstrip() + "..."
