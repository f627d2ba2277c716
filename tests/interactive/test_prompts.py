"""The escalation prompt of `solve` (and `fix`: the same code) as a terminal shows it, and
`repair` refusing to run without a terminal."""

from __future__ import annotations

import re
import subprocess

import pytest
from conftest import _codemend
from wordtools import make_task, reply, write_replies

ESCALATION = ("[h] hint  [m] more iterations  [e] edit  [a] accept best  [s] stop (stay paused)"
              "  [b] abort (default s) > ")


@pytest.mark.docker
def test_solve_escalation_prompt_renders_every_key(term_factory, tmp_path):
    make_task(tmp_path / "task", broken=False)
    write_replies(tmp_path / "r.json", [reply("count_words only.", {"count"})])
    t = term_factory("solve", "task/spec.toml", "--model", "scripted:r.json", "--state-dir",
                     "state", "--sandbox", "cold", "--max-iterations", "1", "--interactive")
    t.wait("paused: the iteration limit (1) was reached")
    line = t.wait("[h] hint")
    assert line.endswith(ESCALATION.rstrip())
    assert "int, ore iterations" not in t.text()
    t.answer(ESCALATION.rstrip(), "x")  # not a key: said so, asked again
    t.wait("type one of h, m, e, a, s, b")
    t.answer(ESCALATION.rstrip(), "b")
    t.wait("failed after 1 iteration(s)")
    assert t.finish() == 1
    # the spinner leaves nothing behind: no stray elapsed-time line (the time is in the result)
    assert not [x for x in t.lines() if re.fullmatch(r"\s*\d+\.\ds", x)]
    assert re.search(r"failed after 1 iteration\(s\), \d+ check\(s\), \d+ tokens in \d+\.\ds",
                     t.text())


def test_repair_without_a_terminal_exits_2_with_one_line(tmp_path):
    spec = make_task(tmp_path / "task")
    done = subprocess.run([*_codemend(), "repair", str(spec), "--model", "scripted:none.json"],
                          cwd=tmp_path, stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "needs one" in lines[0] and "codemend solve" in lines[0] and "codemend fix" in lines[0]
    assert not (tmp_path / ".codemend").exists()  # nothing started, nothing recorded
