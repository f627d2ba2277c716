"""One driver per run at the terminal: while a repair session waits at its first prompt, a
second terminal's `repair --resume` of it exits 2 naming the session's process; the first
session then goes on and ends normally."""

from __future__ import annotations

import pytest
from wordtools import make_task, reply, write_replies

pytestmark = pytest.mark.docker


def test_a_second_terminal_cannot_drive_a_session_in_use(term_factory, tmp_path):
    make_task(tmp_path / "task")
    write_replies(tmp_path / "r.json", [reply("never asked.", {"count"})])
    state = ("--state-dir", "state", "--sandbox", "cold")
    first = term_factory("repair", "task/spec.toml", "--model", "scripted:r.json", *state,
                         "--run-id", "busy")
    first.wait("first instruction for the model")  # the session holds its run now
    second = term_factory("repair", "--resume", "busy", *state)
    line = second.wait("is in use by process")
    assert second.finish() == 2
    assert line.startswith(f"codemend: run busy is in use by process {first.child.pid} "
                           "(codemend repair task/spec.toml --model scripted:r.json"), line
    assert "resuming" not in second.text()  # refused before anything of the run was read
    first.answer("first instruction for the model", "q")
    first.wait("continue it with: codemend repair --resume busy")
    assert first.finish() == 3
