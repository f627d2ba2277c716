"""A stand-in for $EDITOR: edits the files it is given as a person would, by replacing text.

``FAKE_EDIT`` holds a JSON list of ``[old, new]`` pairs; ``FAKE_EDIT_LOG`` (optional) gets
one line per file opened, so a test can see which files the session opened.
"""

import json
import os
import sys

pairs = json.loads(os.environ["FAKE_EDIT"])
log = os.environ.get("FAKE_EDIT_LOG")
for path in sys.argv[1:]:
    with open(path, encoding="utf-8") as fh:
        text = fh.read()
    for old, new in pairs:
        text = text.replace(old, new)
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(text)
    if log:
        with open(log, "a", encoding="utf-8") as fh:
            fh.write(os.path.basename(path) + "\n")
