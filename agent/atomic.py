"""Writing a file the way codemend writes its outputs: whole or not at all."""

from __future__ import annotations

import os
from pathlib import Path


def replace_file(target: Path, data: bytes) -> None:
    """Write ``data`` to ``target`` through a temporary file in the same folder and
    ``os.replace``, so a reader never sees half a file."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
