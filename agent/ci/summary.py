"""``$GITHUB_STEP_SUMMARY``: append, never overwrite, and stay under GitHub's 1 MiB cap."""

from __future__ import annotations

from pathlib import Path

STEP_SUMMARY_CAP = 1 << 20


def append_step_summary(path: Path | None, text: str) -> None:
    """Append ``text`` to the job summary file when there is one (a no-op elsewhere)."""
    if path is None:
        return
    used = path.stat().st_size if path.exists() else 0
    data = (text.rstrip() + "\n\n").encode("utf-8")
    room = STEP_SUMMARY_CAP - used - 100
    if room <= 0:
        return
    if len(data) > room:
        cut = data[:room].decode("utf-8", "ignore").encode()
        data = cut + b"\n\n(cut: the job summary is limited to 1 MiB)\n"
    with path.open("ab") as fh:
        fh.write(data)
