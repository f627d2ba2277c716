"""The file an edit names, read the way models write it and resolved against the repository.

A path may come wrapped in markdown (backticks, bold, quotes, a heading, ``File:``), with a
leading ``./``, markdown escapes (``src/text\\_utils.py``) or a trailing colon. It resolves
to the repository file it names exactly, else to the one file it is a unique suffix of (a
bare basename, or a path missing its leading folders). Nothing else is guessed: an unknown
path gets a message naming the closest real ones.
"""

from __future__ import annotations

import difflib
import posixpath
import re
from collections.abc import Collection

LABEL = re.compile(r"^#\s*file(?:name)?\s*:\s*(?P<path>.+?)\s*$", re.IGNORECASE)
"""A ``# file: <path>`` label line."""
_LEAD = re.compile(r"^(?:#{1,6}\s+|[-*+>]\s+|(?:file(?:name)?|path)\s*:\s*)", re.IGNORECASE)
_ESCAPE = re.compile(r"\\([_*`#\-.\[\]()~])")
_PATHLIKE = re.compile(r"[\w.\-/+@~]+")
_TICKED = re.compile(r"`([^`\s]+)`|\*\*([^*\s]+)\*\*")
_WRAP = "`'\"*:"
_EXT = re.compile(r"\w\.[A-Za-z0-9]{1,10}$")
_BARE = frozenset({"Makefile", "Dockerfile", "LICENSE", "README", "Procfile", "Justfile"})


def clean(text: str) -> str:
    """The path a line spells, without markdown around it (may not look like a path)."""
    text = text.strip()
    m = LABEL.match(text)
    if m:
        text = m["path"]
    for _ in range(3):
        text = _LEAD.sub("", text.strip()).strip().strip(_WRAP).strip()
    text = _ESCAPE.sub(r"\1", text)
    if "\\" in text and "/" not in text:
        text = text.replace("\\", "/")
    return text.removeprefix("./")


def looks_like_path(text: str) -> bool:
    """A single token that names a file: with a folder, an extension or a known bare name."""
    return bool(_PATHLIKE.fullmatch(text)) and (
        "/" in text or bool(_EXT.search(text)) or text in _BARE)


def resolve(text: str, files: Collection[str]) -> str | None:
    """The repository file ``text`` names, or None when it names none (uniquely)."""
    path = clean(text)
    if not looks_like_path(path):
        return None
    if path in files:
        return path
    norm = posixpath.normpath(path)
    if norm in files:
        return norm
    ends = [f for f in files if f.endswith("/" + norm)]
    return ends[0] if len(ends) == 1 else None


def several(path: str, files: Collection[str]) -> list[str]:
    """The files a path that is not one of them is a suffix of (when more than one)."""
    ends = sorted(f for f in files if f.endswith("/" + posixpath.normpath(path)))
    return ends if len(ends) > 1 else []


def mentioned(line: str, files: Collection[str]) -> str | None:
    """The one repository file a line of prose names, if exactly one."""
    words = [a or b for a, b in _TICKED.findall(line)] + line.split()
    found = {resolve(w.rstrip(".,;:)"), files) for w in words} - {None}
    return found.pop() if len(found) == 1 else None


def unknown(path: str, files: Collection[str]) -> str:
    """The message for a path that is not in the repository, naming the closest real ones."""
    by_base: dict[str, list[str]] = {}
    for f in files:
        by_base.setdefault(posixpath.basename(f), []).append(f)
    near = difflib.get_close_matches(path, list(files), n=3, cutoff=0.5)
    for base in difflib.get_close_matches(posixpath.basename(path), list(by_base), n=3,
                                          cutoff=0.6):
        near += by_base[base]
    near = list(dict.fromkeys(near))[:4]
    hint = f" (closest: {', '.join(near)})" if near else ""
    return f"{path}: no such file in the repository{hint}; give an empty SEARCH to create " \
           "it, or check the path"
