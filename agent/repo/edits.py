"""Edits a model proposes to a repository, and applying them to the candidate.

Three formats, mixed freely in one reply (read by agent/repo/edit_parse.py):

- a whole file: a fenced block whose first line is ``# file: <path>``; one that stands for
  left-out code (``# ... rest unchanged ...``, a bare ``...``) is refused;
- SEARCH/REPLACE blocks, for large files::

      path/to/module.py
      <<<<<<< SEARCH
      the current lines
      =======
      the lines that replace them
      >>>>>>> REPLACE

  An empty SEARCH creates a new file;
- unified diffs in a ``diff`` fenced block, each hunk placed by its context.

Paths resolve against the repository (agent/repo/edit_paths.py); a SEARCH or hunk matches
whole lines, uniquely, with the tolerances of agent/repo/edit_match.py. Anything that does
not apply raises ``FormatError`` with a message written for the model, and no edit of the
reply applies. An edit already applied (its REPLACE is in place around its SEARCH) is a no-op.
"""

from __future__ import annotations

from codemend.agent.extract import FormatError
from codemend.agent.repo import edit_paths
from codemend.agent.repo.edit_match import Ambiguous, Found, NoMatch, find, holds, nearest
from codemend.agent.repo.edit_parse import Edit, parse_edits
from codemend.agent.repo.edit_text import Text, is_placeholder, lines_of, placeholder_line
from codemend.sandbox.workspace import check_relpath

__all__ = ["HOW", "Edit", "apply_edits", "parse_edits"]

HOW = ("Answer with SEARCH/REPLACE blocks: the file's path on its own line, then "
       "`<<<<<<< SEARCH`, the current lines, `=======`, the new lines, `>>>>>>> REPLACE`; or "
       "with a whole new file (a fenced block whose first line is `# file: <path>`).")
HINTS = 2
"""Not-found SEARCHes per reply that are answered with the file's nearest lines."""


def _inside(path: str) -> str:
    try:
        norm = check_relpath(path)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}; give a path inside the repository") from None
    if norm == ".git" or norm.startswith(".git/"):
        raise ValueError(f"{path}: is inside .git; edit the repository's files only")
    return norm


def _already(lines: list[str], found: Found, replace: list[str], tabs: bool) -> bool:
    """The REPLACE is already in place around the match: the edit was applied before."""
    if found.new == lines[found.start:found.end]:
        return False
    if any(is_placeholder(x) for x in replace):  # its parts around the elided lines
        try:
            done = find(lines, replace, ["\0"], tabs)  # where the REPLACE's parts are
        except ValueError:
            return False
        return done.start <= found.start and done.end >= found.end
    return holds(lines, found.new, found.start, found.end, tabs) or \
        holds(lines, replace, found.start, found.end, tabs)


def _step(lines: list[str], search: list[str], replace: list[str], tabs: bool) -> list[str]:
    """The lines after one edit (unchanged when it was applied before)."""
    found = find(lines, search, replace, tabs)
    if _already(lines, found, replace, tabs):
        return lines
    return [*lines[:found.start], *found.new, *lines[found.end:]]


class _Applier:
    def __init__(self, current: dict[str, str]) -> None:
        self.current = current
        self.hints = HINTS
        self.history: dict[str, list[str]] = {}
        """Each file's texts in this reply so far: before its first edit, after each."""

    def apply(self, e: Edit) -> str:
        path = _inside(e.path)
        have = self.current.get(path)
        many = edit_paths.several(path, self.current) if have is None else []
        if many:
            raise ValueError(f"{path}: names {len(many)} files ({', '.join(many[:4])}); give "
                             "the full path")
        if e.search is None:
            self.current[path] = _with_ends(e.text, have)
        elif not e.search.strip():
            if have is not None and have.strip():
                raise ValueError(f"{path}: exists; an empty SEARCH only creates new files "
                                 "(or fills empty ones)")
            self.current[path] = e.text
        elif have is None:
            raise ValueError(edit_paths.unknown(path, list(self.current)))
        else:
            self.current[path] = self._replace(path, have, e)
        self.history.setdefault(path, [have] if have is not None else []).append(
            self.current[path])
        return path

    def _repeats(self, path: str, search: list[str], replace: list[str]) -> bool:
        """The edit makes again a change this reply already made to the file (the same block
        twice, or a diff and a SEARCH/REPLACE for one change)."""
        texts = self.history.get(path, [])
        for before, after in zip(texts, texts[1:], strict=False):
            old = Text.of(before)
            try:
                out = _step(old.lines, search, replace, old.uses_tabs())
            except ValueError:
                continue
            old.lines = out
            if old.render() == after:
                return True
        return False

    def _replace(self, path: str, have: str, e: Edit) -> str:
        text = Text.of(have)
        search, replace = lines_of(e.search or ""), lines_of(e.text)
        what = "the diff hunk" if e.hint is not None else "the SEARCH text"
        said = f" (its @@ header says line {e.hint})" if e.hint is not None else ""
        tabs = text.uses_tabs()
        left_out = placeholder_line(replace, path)
        if left_out and not any(is_placeholder(x) for x in search):
            raise ValueError(f"{path}: the REPLACE of {what} stands for left-out code with "
                             f"`{left_out[1]}`, which would be written into the file; write "
                             "the lines out in full")
        try:
            out = _step(text.lines, search, replace, tabs)
        except Ambiguous as exc:
            where = ", ".join(map(str, exc.lines[:8]))
            times = f"occurs {len(exc.lines)} times (at lines {where})" if len(exc.lines) > 1 \
                else f"matches more than one span (from line {where})"
            raise ValueError(f"{path}: {what} {times}{said}; add surrounding lines so it "
                             "matches exactly once") from None
        except NoMatch:
            if self._repeats(path, search, replace):
                return have
            raise ValueError(self._not_found(path, text, search, replace, what)) from None
        except ValueError as exc:
            raise ValueError(f"{path}: {what} matched, but {exc}") from None
        try:
            again = _step(out, search, replace, tabs)
        except ValueError:
            again = out
        if again != out:
            raise ValueError(f"{path}: {what} would still match after the edit, so it could "
                             "apply twice; include more of the surrounding lines")
        text.lines = out
        return text.render()

    def _not_found(self, path: str, text: Text, search: list[str], replace: list[str],
                   what: str) -> str:
        msg = f"{path}: {what} is not in the file; copy the current lines exactly"
        rep = [x for x in replace if x.strip()]
        if rep and any(text.lines[p:p + len(replace)] == replace
                       for p in range(len(text.lines) - len(replace) + 1)):
            return msg + " (its REPLACE text is already there: was it applied before? then " \
                         "leave this edit out)"
        if self.hints > 0:
            self.hints -= 1
            near = nearest(text.lines, search)
            if near:
                return msg + ". The nearest lines in the file are:\n```\n" + near + "\n```\n"
        return msg


def _with_ends(text: str, old: str | None) -> str:
    """A whole new file keeps the line ends of the one it replaces."""
    if old is not None and Text.of(old).nl == "\r\n":
        return text.replace("\r\n", "\n").replace("\n", "\r\n")
    return text


def _apply_all(edits: list[Edit], current: dict[str, str]) -> tuple[set[str], list[str]]:
    """Apply ``edits`` to ``current`` in place: the paths they touched, and the problems."""
    applier = _Applier(current)
    touched: set[str] = set()
    problems: list[str] = []
    for e in edits:
        try:
            touched.add(applier.apply(e))
        except ValueError as exc:
            problems.append(str(exc))
    return touched, problems


def apply_edits(reply: str, base: dict[str, str], overlay: dict[str, str]) -> dict[str, str]:
    """The new overlay (files that differ from ``base``) after the reply's edits on
    ``base + overlay``; raise ``FormatError`` when the reply holds none or one fails."""
    current = {**base, **overlay}
    edits, problems = parse_edits(reply, current)
    touched, failed = _apply_all(edits, current)
    problems += failed
    if edits and not problems:  # the same reply once more must be refused or change nothing
        again = dict(current)
        if not _apply_all(edits, again)[1] and again != current:
            problems.append("the reply's edits would apply again to their own result (a later "
                            "block puts back what an earlier one searched for); include more of "
                            "the surrounding lines")
    if problems:
        raise FormatError("Some edits in your reply could not be applied, so none were: "
                          + "; ".join(problems[:6]) + ". " + HOW)
    if not edits:
        raise FormatError("Your reply held no edits. " + HOW)
    merged = {**overlay, **{p: current[p] for p in touched}}
    return {p: t for p, t in merged.items() if base.get(p) != t}
