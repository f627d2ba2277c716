"""A person's edit of a candidate: a copy of it in a temporary folder (the work tree as the
candidate has it), ``$EDITOR`` on one file of the copy or on the whole folder, and the files
the person changed taken back. Nothing of the person's own work tree is touched.

Used by the escalation prompt of ``solve``, ``fix`` and ``resume`` and by a repair session.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

from codemend.agent.state import TaskInfo


def candidate_files(task: TaskInfo, files: dict[str, str], base: dict[str, str]
                    ) -> dict[str, str]:
    """Every text file of a candidate: a spec task's solution files (empty when the model has
    not written one yet), a repository's base snapshot with the candidate's overlay."""
    if task.kind == "repo":
        return {**base, **files}
    return {**{p: "" for p in task.solution_files}, **files}


def editable(task: TaskInfo, path: str) -> bool:
    """A file the person may hand back: any file of a repository (tests follow the run's
    rules when checked), a solution file of a spec task."""
    return task.kind == "repo" or path in task.solution_files


def edit_copy(files: dict[str, str], pick: str | None, say: Callable[[str], None]
              ) -> dict[str, str] | None:
    """Open ``$EDITOR`` on ``pick`` (a path in ``files``) or, with None, on the folder that
    holds them all. Return the files that differ afterwards (new ones included), or None
    when the editor could not start or failed."""
    editor = shlex.split(os.environ.get("EDITOR") or "vi")
    with tempfile.TemporaryDirectory(prefix="codemend-edit-") as tmp:
        root = Path(tmp)
        for rel, text in files.items():
            path = root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8", errors="surrogateescape")
        target = root / pick if pick else root
        try:
            code = subprocess.run([*editor, str(target)], check=False).returncode
        except OSError as exc:
            say(f"cannot start the editor {editor[0]}: {exc.strerror or exc}; set $EDITOR")
            return None
        if code != 0:
            say(f"the editor exited with {code}; nothing taken from it")
            return None
        return changed(root, files)


def changed(root: Path, files: dict[str, str]) -> dict[str, str]:
    """The regular files under ``root`` whose text differs from ``files`` (symlinks and
    undecodable files are skipped: a person's edit is text)."""
    out: dict[str, str] = {}
    for path in sorted(root.rglob("*")):
        if path.is_symlink() or not path.is_file():
            continue
        rel = path.relative_to(root).as_posix()
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        if files.get(rel) != text:
            out[rel] = text
    return out


def ask_and_edit(task: TaskInfo, current: dict[str, str], base: dict[str, str],
                 line: Callable[[str], str], say: Callable[[str], None]
                 ) -> dict[str, str] | None:
    """Ask which file to edit (Enter: the whole work tree), open the editor on a copy of the
    candidate and return the next candidate (``current`` with the edits), or None when
    nothing was changed."""
    files = candidate_files(task, current, base)
    while True:
        pick = line("file to edit (Enter: the whole work tree, a copy, in $EDITOR)").strip()
        if not pick or pick in files:
            break
        shown = ", ".join(sorted(files)[:8]) + (" ..." if len(files) > 8 else "")
        say(f"no file {pick} in the candidate; give one of {shown}, or Enter")
    edited = edit_copy(files, pick or None, say)
    if edited is None:
        return None
    taken = {p: t for p, t in edited.items() if editable(task, p)}
    left = sorted(set(edited) - set(taken))
    if left:
        say(f"not taken (not a solution file): {', '.join(left)}")
    if not taken:
        say("no file changed in the editor")
        return None
    say(f"taken from the editor: {', '.join(sorted(taken))}")
    return {**current, **taken}
