"""What a case may not leave on the host: processes or files that carry its marker."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SKIP_DIRS = {".git", ".venv", "node_modules", "__pycache__", ".codemend", "proc", "sys"}


def marked_processes(marker: str) -> list[str]:
    """Host processes whose command line contains ``marker`` (container processes show up
    here too: they share the host's kernel)."""
    needle = marker.encode()
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if needle in cmdline:
            shown = cmdline.replace(b"\0", b" ")[:200]
            found.append(f"{pid}: {shown!r}")
    return found


def _walk(root: Path, depth: int, marker: str, found: list[str]) -> None:
    try:
        entries = list(os.scandir(root))
    except OSError:
        return
    for entry in entries:
        if marker in entry.name:
            found.append(entry.path)
        if depth > 0 and entry.is_dir(follow_symlinks=False) and entry.name not in SKIP_DIRS:
            _walk(Path(entry.path), depth - 1, marker, found)


def marked_files(marker: str) -> list[str]:
    """Host files named with ``marker`` where a sandbox escape would most likely put them:
    the filesystem root, temp dirs, the home folder, /dev/shm and this repository."""
    found: list[str] = []
    roots = {(Path("/"), 1), (Path(tempfile.gettempdir()), 4), (Path("/var/tmp"), 2),
             (Path("/dev/shm"), 2), (Path.home(), 2), (REPO, 4), (Path.cwd(), 2),
             (Path("/work"), 2), (Path("/report"), 2), (Path("/opt"), 2)}
    for root, depth in roots:
        _walk(root, depth, marker, found)
    return sorted(set(found))
