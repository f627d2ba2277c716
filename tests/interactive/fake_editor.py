"""A stand-in for $EDITOR: edits the files it is given as a person would, by replacing text.
Given a folder, it edits every file under it.

``FAKE_EDIT`` holds a JSON list of ``[old, new]`` pairs; ``FAKE_EDIT_LOG`` (optional) gets
one line per file opened (a folder: ``folder: `` and the files it changed), so a test can see
what the session opened.
"""

import json
import os
import sys
from pathlib import Path

pairs = json.loads(os.environ["FAKE_EDIT"])
log = os.environ.get("FAKE_EDIT_LOG")


def edit(path: Path) -> bool:
    text = before = path.read_text(encoding="utf-8")
    for old, new in pairs:
        text = text.replace(old, new)
    path.write_text(text, encoding="utf-8")
    return text != before


for arg in sys.argv[1:]:
    target = Path(arg)
    if target.is_dir():
        touched = [p.relative_to(target).as_posix() for p in sorted(target.rglob("*"))
                   if p.is_file() and edit(p)]
        line = f"folder: {' '.join(touched)}"
    else:
        edit(target)
        line = target.name
    if log:
        with open(log, "a", encoding="utf-8") as fh:
            fh.write(line + "\n")
