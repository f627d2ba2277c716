"""Run in the reference parser's own venv by bench/edits.py: read the corpus cases (JSON on
stdin), call the reference's parsing and applying functions on each reply, print the changed
files per case (null for a refusal) as JSON. Nothing of the reference is copied here; only
its public functions are called, the way its own coders call them.

The reference reads and writes files as text with the platform's line ends (its default),
so that is what this driver does too.
"""

from __future__ import annotations

import io
import json
import sys
import tempfile
from contextlib import redirect_stdout
from pathlib import Path


def _editblock(reply: str, root: Path, files: dict[str, str]) -> dict[str, str]:
    from aider.coders import editblock_coder as eb

    fence = eb.DEFAULT_FENCE
    out = dict(files)
    edits = [e for e in eb.find_original_update_blocks(reply, fence, list(files))
             if e[0] is not None]
    if not edits:
        raise ValueError("no edits")
    for path, original, updated in edits:
        full = root / path
        new = eb.do_replace(str(full), out.get(path), original, updated, fence) \
            if path in out or not original.strip() else None
        if not new and original.strip():  # its coder then tries the other files
            for other in files:
                new = eb.do_replace(str(root / other), out[other], original, updated, fence)
                if new:
                    path = other
                    break
        if not new and new != "":
            raise ValueError(f"{path}: no match")
        out[path] = new
    return out


def _udiff(reply: str, root: Path, files: dict[str, str]) -> dict[str, str]:
    from aider.coders import udiff_coder as ud

    out = dict(files)
    last = None
    edits = []
    for path, hunk in ud.find_diffs(reply):
        path = path or last
        last = path
        edits.append((path, hunk))
    if not edits:
        raise ValueError("no edits")
    for path, hunk in edits:
        hunk = ud.normalize_hunk(hunk)
        if not hunk:
            continue
        new = ud.do_replace(str(root / path), out.get(path), hunk)
        if not new:
            raise ValueError(f"{path}: no match")
        out[path] = new
    return out


def _whole(reply: str, root: Path, files: dict[str, str]) -> dict[str, str]:
    from aider.coders.wholefile_coder import WholeFileCoder

    coder = object.__new__(WholeFileCoder)
    coder.partial_response_content = reply
    coder.multi_response_content = ""
    coder.fence = ("```", "```")
    coder.root = str(root)
    coder.abs_fnames = {str(root / p) for p in files}
    edits = coder.get_edits()
    if not edits:
        raise ValueError("no edits")
    out = dict(files)
    for path, _source, lines in edits:
        out[path] = "".join(lines)
    return out


def outcome(reply: str, files: dict[str, str]) -> dict[str, str] | None:
    files = {p: t.replace("\r\n", "\n") for p, t in files.items()}  # read as text
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for p, t in files.items():
            (root / p).parent.mkdir(parents=True, exist_ok=True)
            (root / p).write_text(t)
        if "<<<<<<< SEARCH" in reply:
            how = _editblock
        elif "```diff" in reply:
            how = _udiff
        else:
            how = _whole
        try:
            with redirect_stdout(io.StringIO()):
                out = how(reply, root, files)
        except Exception:  # noqa: BLE001 - any failure of the reference is its refusal
            return None
    return {p: t for p, t in out.items() if files.get(p) != t}


def main() -> None:
    cases = json.load(sys.stdin)
    json.dump([outcome(c["reply"], c["files"]) for c in cases], sys.stdout)


if __name__ == "__main__":
    main()
