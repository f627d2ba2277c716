"""The person's work tree: what a repair session starts from and may write back to.

Nothing here runs unless the person chose it: ``write`` refuses to replace a file that
changed on disk since the session read it (the person's own work), ``patch`` writes a new
file under the state dir, and ``commit`` runs only with ``--commit``.
"""

from __future__ import annotations

import difflib
import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from codemend.agent.repo.paths import check_writable


@dataclass(frozen=True)
class WorkTree:
    """Where the session's files come from and may go back to.

    A spec task: the folder of ``spec.toml``; candidates are whole solution files and
    ``base`` is empty. A repository: its root; candidates are overlays of changed files over
    ``base``, the snapshot the run started from.
    """

    root: Path
    base: dict[str, str] = field(default_factory=dict)

    def full(self, candidate: dict[str, str], paths: set[str]) -> dict[str, str]:
        """The content of ``paths`` with ``candidate`` over ``base`` (absent: no such file)."""
        out = {p: candidate.get(p, self.base.get(p)) for p in paths}
        return {p: t for p, t in out.items() if t is not None}

    def pair(self, old: dict[str, str], new: dict[str, str]) -> tuple[dict[str, str],
                                                                      dict[str, str]]:
        """Both candidates as whole files over the paths either touches (for diffs)."""
        paths = set(old) | set(new)
        return self.full(old, paths), self.full(new, paths)

    def read(self, paths: list[str]) -> dict[str, str]:
        """The files among ``paths`` that exist on disk now."""
        out = {}
        for rel in paths:
            path = self.root / rel
            if path.is_file():
                out[rel] = path.read_bytes().decode("utf-8", errors="surrogateescape")
        return out

    def write(self, final: dict[str, str], origin: dict[str, str]) -> list[str]:
        """Write what ``final`` changes against ``origin``. Raise ``FileExistsError`` (naming
        the files) and write nothing when any of them changed on disk since the session read
        it: that is the person's own work. Raise ``UnsafePath`` and write nothing when a path
        passes through a symbolic link or into a submodule."""
        old, new = self.pair(origin, final)
        todo = {rel: text for rel, text in new.items() if old.get(rel) != text}
        check_writable(self.root, sorted(todo))
        disk = self.read(sorted(todo))
        clash = [rel for rel in sorted(todo) if disk.get(rel) != old.get(rel)]
        if clash:
            raise FileExistsError(", ".join(clash))
        for rel, text in sorted(todo.items()):
            replace_file(self.root / rel, text)
        return sorted(todo)

    def patch(self, path: Path, origin: dict[str, str], final: dict[str, str]) -> Path:
        return write_patch(path, *self.pair(origin, final))


def replace_file(target: Path, text: str) -> None:
    """Write whole or not at all (a temp file renamed over the target)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8", errors="surrogateescape")
        if target.exists():
            os.chmod(tmp, target.stat().st_mode & 0o7777)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def unified(old: dict[str, str], new: dict[str, str]) -> str:
    """A ``git apply``-able unified diff from ``old`` to ``new`` (paths as a/ and b/)."""
    out: list[str] = []
    for rel in sorted(set(old) | set(new)):
        a, b = old.get(rel), new.get(rel)
        if a == b:
            continue
        out += difflib.unified_diff(
            (a or "").splitlines(keepends=True), (b or "").splitlines(keepends=True),
            fromfile=f"a/{rel}" if a is not None else "/dev/null",
            tofile=f"b/{rel}" if b is not None else "/dev/null")
        if out and not out[-1].endswith("\n"):
            out[-1] += "\n\\ No newline at end of file\n"
    return "".join(out)


def write_patch(path: Path, old: dict[str, str], new: dict[str, str]) -> Path:
    """Write the diff to a new file ``path`` (never over an existing one: a number is added)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    candidate, n = path, 1
    while candidate.exists():
        n += 1
        candidate = path.with_name(f"{path.stem}-{n}{path.suffix}")
    candidate.write_text(unified(old, new), encoding="utf-8", errors="surrogateescape")
    return candidate.resolve()


def commit(root: Path, paths: list[str], message: str) -> str:
    """Commit exactly ``paths`` (the person's other staged changes stay staged). Returns a
    line to show: the new commit, or why nothing was committed."""
    def git(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["git", "-C", str(root), *argv], capture_output=True, text=True,
                              check=False)

    if git("rev-parse", "--is-inside-work-tree").returncode != 0:
        return f"{root} is not in a git repository; nothing committed"
    added = git("add", "--", *paths)
    done = git("commit", "--quiet", "-m", message, "--only", "--", *paths) if (
        added.returncode == 0) else added
    if done.returncode != 0:
        return f"git commit failed: {(done.stderr or done.stdout).strip()[:300]}"
    head = git("rev-parse", "--short", "HEAD").stdout.strip()
    return f"committed {', '.join(paths)} as {head}"
