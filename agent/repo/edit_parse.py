"""Read the edits out of a model's reply: SEARCH/REPLACE blocks (bare or in fences), whole
files (a fenced block whose first line is ``# file: <path>``) and unified diffs (a ``diff``
fenced block), in the order they appear.

A SEARCH block's path is the line above it, or the fence line and the line above the fence;
the first that names a repository file wins (agent/repo/edit_paths.py). A block without one
takes the path of the block before it, even with prose, ``...`` or a closed fence between.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass

from codemend.agent.extract import MAX_REPLY_CHARS
from codemend.agent.repo import edit_paths
from codemend.agent.repo.edit_diff import DEV_NULL, looks_like_diff, parse_diff, strip_prefix
from codemend.agent.repo.edit_text import placeholder_line

SEARCH = re.compile(r"^\s*<{5,9}\s*SEARCH\s*$")
_REPLACE = re.compile(r"^\s*>{5,9}\s*REPLACE\s*$")
_LOOSE_DIVIDER = re.compile(r"^\s*(?:={6}|={8})\s*$")  # one `=` off, and alone
_OPEN = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})(?P<info>[^`]*)$")
_CLOSE = re.compile(r"^[ \t]*(?P<fence>`{3,}|~{3,})[ \t]*$")


@dataclass
class Edit:
    path: str
    search: str | None
    """None: ``text`` is the whole new file."""
    text: str
    hint: int | None = None
    """For a diff hunk: the line its ``@@`` header names (messages only)."""


def _joined(lines: list[str]) -> str:
    return "".join(x + "\n" for x in lines)


class _Reader:
    def __init__(self, lines: list[str], files: Collection[str]) -> None:
        self.lines = lines
        self.files = files
        self.edits: list[Edit] = []
        self.problems: list[str] = []
        self.last_path: str | None = None
        self.floor = 0
        """Where the text before the next block starts (the end of the previous block)."""
        self.fence: tuple[str, int] | None = None  # the open container fence: char, length
        self.fence_at = -1

    def read(self) -> None:
        i = 0
        while i < len(self.lines):
            i = self._step(i)

    def _step(self, i: int) -> int:
        line = self.lines[i]
        if SEARCH.match(line):
            return self._search_block(i)
        if self.fence is not None:
            m = _CLOSE.match(line)
            if m and m["fence"][0] == self.fence[0] and len(m["fence"]) >= self.fence[1]:
                self.fence = None
                self.floor = i + 1
            return i + 1
        m = _OPEN.match(line)
        if m is None:
            return i + 1
        end, closed, body = self._fenced(i, m["fence"])
        tag = (m["info"].strip().split() or [""])[0].lower().strip("{}.")
        if any(SEARCH.match(x) for x in body):
            self.fence, self.fence_at = (m["fence"][0], len(m["fence"])), i
            return i + 1
        first = next((x for x in body if x.strip()), "")
        if edit_paths.LABEL.match(first.strip()):
            self._whole(first, body, closed)
        elif looks_like_diff(tag, body):
            self._diff(i, body)
        else:
            return end
        self.floor = end
        return end

    def _fenced(self, i: int, fence: str) -> tuple[int, bool, list[str]]:
        """The end (after the closing fence), closed or not, and the lines of a block."""
        for j in range(i + 1, len(self.lines)):
            m = _CLOSE.match(self.lines[j])
            if m and m["fence"][0] == fence[0] and len(m["fence"]) >= len(fence):
                return j + 1, True, self.lines[i + 1:j]
        return len(self.lines), False, self.lines[i + 1:]

    # -- SEARCH/REPLACE --------------------------------------------------------------
    def _search_block(self, i: int) -> int:
        k = i + 1
        while k < len(self.lines) and not _REPLACE.match(self.lines[k]) \
                and not SEARCH.match(self.lines[k]):
            k += 1
        path = self._path_before(i)
        name = path or "an unnamed file"
        if k >= len(self.lines) or SEARCH.match(self.lines[k]):
            self.problems.append(f"a SEARCH block for {name} has no `=======` or `>>>>>>> "
                                 "REPLACE` line (was the reply cut off?)")
            return k
        self.floor = k + 1
        divider = self._divider(i, k, name)
        if divider is None:
            return k + 1
        search, replace = self.lines[i + 1:divider], self.lines[divider + 1:k]
        if path is None:
            self.problems.append("a SEARCH/REPLACE block has no file path on the line before "
                                 "it")
            return k + 1
        if not any(x.strip() for x in search) and path not in self.files:
            path = edit_paths.clean(path)
        self.edits.append(Edit(path, _joined(search), _joined(replace)))
        self.last_path = path
        return k + 1

    def _divider(self, i: int, k: int, name: str) -> int | None:
        exact = [j for j in range(i + 1, k) if self.lines[j].strip() == "======="]
        if len(exact) == 1:
            return exact[0]
        if len(exact) > 1:
            self.problems.append(
                f"a SEARCH/REPLACE block for {name} has {len(exact)} `=======` lines (lines "
                f"{', '.join(str(j - i) for j in exact)} of the block); it must have exactly "
                "one, between SEARCH and REPLACE. If the file holds such a line, choose a "
                "SEARCH that does not include it")
            return None
        loose = [j for j in range(i + 1, k) if _LOOSE_DIVIDER.match(self.lines[j])]
        if len(loose) == 1:
            return loose[0]
        self.problems.append(f"a SEARCH block for {name} has no `=======` or `>>>>>>> "
                             "REPLACE` line (was the reply cut off?)")
        return None

    def _path_before(self, i: int) -> str | None:
        """The path a block names above it, else the previous block's."""
        candidates: list[str] = []
        j = i - 1
        texts = 0
        while j >= self.floor and texts < 2:
            line = self.lines[j]
            if j == self.fence_at and self.fence is not None:
                info = _OPEN.match(line)
                candidates += re.split(r"[\s:]+", info["info"].strip()) if info else []
            elif _CLOSE.match(line) or _REPLACE.match(line) or SEARCH.match(line):
                break
            elif line.strip():
                candidates.append(line)
                texts += 1
            j -= 1
        prose = next((c for c in candidates if " " in c.strip()), "")
        return self._choose(candidates, prose)

    def _choose(self, candidates: list[str], prose: str) -> str | None:
        for c in candidates:
            found = edit_paths.resolve(c, self.files)
            if found:
                return found
        for c in candidates:
            if edit_paths.looks_like_path(edit_paths.clean(c)):
                return edit_paths.clean(c)  # not in the repository: a new file, or a mistake
        return edit_paths.mentioned(prose, self.files) or self.last_path

    # -- whole files and diffs ---------------------------------------------------------
    def _whole(self, first: str, body: list[str], closed: bool) -> None:
        raw = edit_paths.clean(first)
        path = edit_paths.resolve(first, self.files) or raw
        if not closed:
            self.problems.append(f"the block for {raw} is not closed (was the reply cut off?)")
            return
        rest = body[body.index(first) + 1:]
        while rest and not rest[-1].strip():
            rest.pop()
        where = placeholder_line(rest, path)
        if where is not None:
            self.problems.append(
                f"{path}: the whole-file block stands for left-out code with `{where[1]}` (its "
                f"line {where[0]}), but a whole-file block replaces the entire file. Send "
                "SEARCH/REPLACE blocks for just the lines you change instead")
            return
        self.edits.append(Edit(path, None, _joined(rest)))
        self.last_path = path

    def _diff(self, i: int, body: list[str]) -> None:
        fallback = self._path_before(i)
        for fd in parse_diff(body):
            raw = fd.new_path if fd.new_path not in (None, DEV_NULL) else fd.old_path
            if fd.new_path == DEV_NULL:
                self.problems.append(f"the diff deletes {strip_prefix(fd.old_path or '')}; "
                                     "deleting files is not supported")
                continue
            path = self._diff_path(raw) if raw else fallback
            if path is None:
                self.problems.append("a diff hunk names no file (`--- a/path` / `+++ b/path`)")
                continue
            if fd.old_path == DEV_NULL:
                new = [x for h in fd.hunks for x in h.new]
                self.edits.append(Edit(path, "", _joined(new)))
            for h in fd.hunks if fd.old_path != DEV_NULL else []:
                if not any(x.strip() for x in h.old):
                    self.problems.append(f"{path}: a diff hunk has no context or removed lines "
                                         "to place it by; include the unchanged lines around "
                                         "the change")
                    continue
                self.edits.append(Edit(path, _joined(h.old), _joined(h.new), hint=h.line))
            self.last_path = path

    def _diff_path(self, raw: str) -> str:
        for cand in (raw, strip_prefix(raw)):
            found = edit_paths.resolve(cand, self.files)
            if found:
                return found
        return edit_paths.clean(strip_prefix(raw))


def parse_edits(reply: str, files: Collection[str] = ()) -> tuple[list[Edit], list[str]]:
    """Every edit in ``reply`` in order, its paths resolved against ``files``, and the
    problems found while reading them."""
    reader = _Reader(reply[:MAX_REPLY_CHARS].replace("\r\n", "\n").split("\n"), files)
    reader.read()
    return reader.edits, reader.problems
