"""Unified diffs (``---``/``+++``/``@@`` hunks) read as edits: each hunk becomes a SEARCH (its
context and removed lines) and a REPLACE (its context and added lines), so it is matched by
content with the same tolerance and uniqueness as a SEARCH/REPLACE block. The ``@@`` line
numbers are kept as hints for messages only."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_HUNK = re.compile(r"^@@\s*-(?P<old>\d+)(?:,\d+)?\s+\+\d+(?:,\d+)?\s*@@")
_BARE_HUNK = re.compile(r"^@@.*$")
DEV_NULL = "/dev/null"


@dataclass
class Hunk:
    old: list[str] = field(default_factory=list)
    new: list[str] = field(default_factory=list)
    line: int | None = None


@dataclass
class FileDiff:
    old_path: str | None = None
    new_path: str | None = None
    hunks: list[Hunk] = field(default_factory=list)


def looks_like_diff(tag: str, lines: list[str]) -> bool:
    first = next((x for x in lines if x.strip()), "")
    return tag in ("diff", "patch", "udiff") or first.startswith(("--- ", "diff --git", "@@ "))


def _path(line: str) -> str:
    return line[4:].split("\t")[0].strip()


def parse_diff(lines: list[str]) -> list[FileDiff]:
    """The files and hunks of a diff; lines outside the grammar end the hunk they follow."""
    out: list[FileDiff] = []
    hunk: Hunk | None = None
    while lines and not lines[-1].strip():
        lines = lines[:-1]
    for i, line in enumerate(lines):
        nxt = lines[i + 1] if i + 1 < len(lines) else ""
        if line.startswith("--- ") and nxt.startswith("+++ "):
            out.append(FileDiff(old_path=_path(line)))
            hunk = None
            continue
        if line.startswith("+++ ") and out and out[-1].new_path is None and hunk is None:
            out[-1].new_path = _path(line)
            continue
        if line.startswith(("diff --git", "index ", "new file mode", "deleted file mode")):
            hunk = None
            continue
        if _BARE_HUNK.match(line):
            if not out:
                out.append(FileDiff())
            m = _HUNK.match(line)
            hunk = Hunk(line=int(m["old"]) if m else None)
            out[-1].hunks.append(hunk)
            continue
        if hunk is None:
            if out and not out[-1].hunks and line[:1] in " +-" and out[-1].new_path:
                hunk = Hunk()  # a diff with no @@ line: one hunk
                out[-1].hunks.append(hunk)
            else:
                continue
        _line(hunk, line)
    return out


def _line(hunk: Hunk, line: str) -> None:
    if line.startswith("\\"):
        return  # "\ No newline at end of file"
    if line.startswith("-"):
        hunk.old.append(line[1:])
    elif line.startswith("+"):
        hunk.new.append(line[1:])
    else:  # context: " x", or a blank line whose space was lost
        text = line[1:] if line.startswith(" ") else line
        hunk.old.append(text)
        hunk.new.append(text)


def strip_prefix(path: str) -> str:
    """``a/x.py`` and ``b/x.py`` name ``x.py``."""
    return path[2:] if path.startswith(("a/", "b/")) else path
