"""Edits a model proposes to a repository, and applying them to the candidate.

Two formats, mixed freely in one reply:

- a whole file: a fenced block whose first line is ``# file: <path>`` (as spec tasks use);
- SEARCH/REPLACE blocks, for large files::

      path/to/module.py
      <<<<<<< SEARCH
      exact lines of the current file
      =======
      the lines that replace them
      >>>>>>> REPLACE

  The path is the line just before the block (fences and ``# file:`` allowed). The search
  text must occur exactly once (a match ignoring trailing blanks is accepted when it is
  unique); an empty SEARCH creates a new file.

An edit that does not apply raises ``FormatError`` with a message written for the model.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from codemend.agent.extract import MAX_REPLY_CHARS, FormatError, fenced_blocks
from codemend.sandbox.workspace import check_relpath

_LABEL = re.compile(r"^#\s*file(?:name)?\s*:\s*(?P<path>.+?)\s*$", re.IGNORECASE)
_SEARCH = re.compile(r"^\s*<{5,9}\s*SEARCH\s*$")
_DIVIDER = re.compile(r"^\s*={5,9}\s*$")
_REPLACE = re.compile(r"^\s*>{5,9}\s*REPLACE\s*$")
_FENCE = re.compile(r"^\s*(`{3,}|~{3,})")
HOW = ("Answer with whole files (a fenced block whose first line is `# file: <path>`) or "
       "SEARCH/REPLACE blocks: the file's path on its own line, then `<<<<<<< SEARCH`, the "
       "exact current lines, `=======`, the new lines, `>>>>>>> REPLACE`.")


@dataclass
class Edit:
    path: str
    search: str | None
    """None: ``text`` is the whole new file."""
    text: str


def _clean_path(text: str) -> str:
    text = text.strip()
    m = _LABEL.match(text)
    if m:
        text = m["path"]
    return text.strip().strip("`'\"*:").strip().removeprefix("./")


def _search_replace(lines: list[str]) -> tuple[list[Edit], list[str]]:
    edits: list[Edit] = []
    problems: list[str] = []
    last_text = ""
    i = 0
    while i < len(lines):
        line = lines[i]
        if not _SEARCH.match(line):
            if line.strip() and not _FENCE.match(line) and not _REPLACE.match(line):
                last_text = line
            i += 1
            continue
        path = _clean_path(last_text)
        j = i + 1
        while j < len(lines) and not _DIVIDER.match(lines[j]):
            j += 1
        k = j + 1
        while k < len(lines) and not _REPLACE.match(lines[k]):
            k += 1
        if j >= len(lines) or k >= len(lines):
            problems.append(f"a SEARCH block for {path or 'an unnamed file'} has no "
                            "`=======` or `>>>>>>> REPLACE` line (was the reply cut off?)")
            break
        search = "".join(x + "\n" for x in lines[i + 1:j])
        replace = "".join(x + "\n" for x in lines[j + 1:k])
        if not path:
            problems.append("a SEARCH/REPLACE block has no file path on the line before it")
        else:
            edits.append(Edit(path, search, replace))
        i = k + 1
    return edits, problems


def parse_edits(reply: str) -> tuple[list[Edit], list[str]]:
    """Every edit in ``reply`` in order, and the problems found while reading them."""
    reply = reply[:MAX_REPLY_CHARS].replace("\r\n", "\n")
    lines = reply.split("\n")
    edits, problems = _search_replace(lines)
    for block in fenced_blocks(reply):
        if any(_SEARCH.match(x) for x in block.lines):
            continue  # a container of SEARCH/REPLACE blocks, read above
        first = next((x for x in block.lines if x.strip()), "")
        m = _LABEL.match(first.strip())
        if m is None:
            continue
        if not block.closed:
            problems.append(f"the block for {_clean_path(first)} is not closed (was the reply "
                            "cut off?)")
            continue
        body = block.lines[block.lines.index(first) + 1:]
        while body and not body[-1].strip():
            body.pop()
        edits.append(Edit(_clean_path(first), None, "\n".join(body) + "\n"))
    return edits, problems


def _inside(path: str) -> str:
    try:
        norm = check_relpath(path)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}; give a path inside the repository") from None
    if norm == ".git" or norm.startswith(".git/"):
        raise ValueError(f"{path}: is inside .git; edit the repository's files only")
    return norm


def _replace_once(text: str, search: str, replace: str, path: str) -> str:
    crlf = "\r\n" in text
    if crlf:
        search, replace = search.replace("\n", "\r\n"), replace.replace("\n", "\r\n")
    count = text.count(search)
    if count == 1:
        return text.replace(search, replace, 1)
    if count > 1:
        raise ValueError(f"{path}: the SEARCH text occurs {count} times; add surrounding "
                         "lines so it matches exactly once")
    # tolerate trailing blanks: compare line by line with rstrip
    nl = "\r\n" if crlf else "\n"
    have = text.split(nl)
    want = search.split(nl)[:-1] if search.endswith(nl) else search.split(nl)
    stripped = [x.rstrip() for x in want]
    hits = [i for i in range(len(have) - len(want) + 1)
            if [x.rstrip() for x in have[i:i + len(want)]] == stripped]
    if len(hits) != 1:
        what = "is not in the file" if not hits else f"matches {len(hits)} places"
        raise ValueError(f"{path}: the SEARCH text {what}; copy the current lines exactly "
                         "(they are shown above)")
    i = hits[0]
    new = replace[:-len(nl)] if replace.endswith(nl) else replace
    return nl.join([*have[:i], *([new] if replace else []), *have[i + len(want):]])


def apply_edits(reply: str, base: dict[str, str], overlay: dict[str, str]) -> dict[str, str]:
    """The new overlay (files that differ from ``base``) after the reply's edits on
    ``base + overlay``; raise ``FormatError`` when the reply holds none or one fails."""
    edits, problems = parse_edits(reply)
    current = {**base, **overlay}
    touched: set[str] = set()
    for e in edits:
        try:
            path = _inside(e.path)
            if e.search is None:
                current[path] = e.text
            elif path not in current:
                if e.search.strip():
                    raise ValueError(f"{path}: no such file in the repository; give an empty "
                                     "SEARCH to create it, or check the path")
                current[path] = e.text
            elif not e.search.strip():
                raise ValueError(f"{path}: exists; an empty SEARCH only creates new files")
            else:
                current[path] = _replace_once(current[path], e.search, e.text, path)
            touched.add(path)
        except ValueError as exc:
            problems.append(str(exc))
    if problems:
        raise FormatError("Some edits in your reply could not be applied, so none were: "
                          + "; ".join(problems[:6]) + ". " + HOW)
    if not edits:
        raise FormatError("Your reply held no edits. " + HOW)
    merged = {**overlay, **{p: current[p] for p in touched}}
    return {p: t for p, t in merged.items() if base.get(p) != t}
