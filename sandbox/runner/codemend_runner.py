"""The in-container check runner.

Runs as PID 1 (cold sandbox: one check; pooled sandbox: ``--zygote``), as root with
only CAP_SETUID, CAP_SETGID, CAP_KILL and CAP_CHOWN. It:

1. takes its manifest (JSON) as argv[1] and the workspace as one tar stream on stdin;
2. writes the files root-owned and read-only under the work dir, and inventories them
   (test ids, solution sources) before any sandboxed code runs;
3. runs ``ruff check --output-format json`` and pytest (JUnit XML, plus the witness
   plugin reporting on a pipe) concurrently, each as the sandbox uid with no
   capabilities left, under ``timeout -s KILL``;
4. kills every process of the sandbox uid, then prints exactly one JSON document.
   See docs/SECURITY.md for what the inventory and the witness are for.

Only the standard library is used: this file runs with the image's system Python.
Code under test never shares this process's stdout: its output goes to pipes that this
runner reads with a byte cap.
"""

from __future__ import annotations

import os
import sys

# Isolated mode (-I) leaves the script's folder off sys.path; this folder is root-owned in
# the image, so its modules are put first explicitly (and nothing else is added).
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from codemend_core import main  # noqa: E402
from codemend_zygote import zygote  # noqa: E402

MODES = {"--zygote": zygote}

if __name__ == "__main__":
    sys.exit(MODES.get(sys.argv[1] if len(sys.argv) > 1 else "", main)())
