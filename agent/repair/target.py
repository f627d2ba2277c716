"""The person's work tree: what a repair session starts from and may write back to.

Nothing here runs unless the person chose it: ``write`` refuses to replace a file that
changed on disk since the session read it (the person's own work), ``patch`` writes a new
file under the state dir, and ``commit`` runs only with ``--commit``.
"""

from __future__ import annotations

import difflib
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class SpecTarget:
    """A spec task's folder: the solution files live beside ``spec.toml``."""

    root: Path
    files: tuple[str, ...]
    """The paths the session may change (the spec's solution files), relative to ``root``."""

    def read(self) -> dict[str, str]:
        """The solution files that exist now (an empty dict: nothing written yet)."""
        out = {}
        for rel in self.files:
            path = self.root / rel
            if path.is_file():
                out[rel] = path.read_text(encoding="utf-8", errors="surrogateescape")
        return out

    def changed_since(self, origin: dict[str, str]) -> list[str]:
        """Files whose content on disk is no longer what the session started from."""
        now = self.read()
        return sorted(rel for rel in self.files if now.get(rel) != origin.get(rel))

    def write(self, files: dict[str, str], origin: dict[str, str]) -> list[str]:
        """Write the changed ``files``; refuse (BadInput-free: return nothing written and let
        the caller offer a patch) when the person changed any of them meanwhile."""
        todo = {rel: code for rel, code in files.items() if origin.get(rel) != code}
        clash = [rel for rel in self.changed_since(origin) if rel in todo]
        if clash:
            raise FileExistsError(", ".join(clash))
        for rel, code in sorted(todo.items()):
            replace_file(self.root / rel, code)
        return sorted(todo)


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
