"""`codemend repair` sessions driven at a real pseudo-terminal, with a scripted model (or the
local OpenAI-compatible server) and the real sandbox. Every assertion reads the screen, the
files on disk, the model's requests or the run database."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import _codemend
from openai_server import OpenAIServer, ok
from wordtools import FIXED, code, make_task, reply, write_replies

pytestmark = pytest.mark.docker
SANDBOX = ("--sandbox", "cold")
"""Cold containers: these sessions are short, so the pool's start costs more than it saves."""
MENU = "[y] apply+check  [n] reject  [e] edit  [h] hint  [d] full diff/output"
ALL = {"count", "initials", "lint"}


def repair(term_factory, tmp_path: Path, spec: Path, *flags: str, env=None):
    """``codemend repair`` in tmp_path, with paths relative to it (as a person types them)."""
    return term_factory("repair", str(spec.relative_to(tmp_path)), "--state-dir", "state",
                        *SANDBOX, *flags, env=env)


def scripted(path: Path) -> tuple[str, str]:
    return ("--model", f"scripted:{path.name}")


def test_reject_with_reason_reaches_the_model_then_accept(term_factory, tmp_path):
    spec = make_task(tmp_path / "task")
    with OpenAIServer() as server:
        server.queue(ok(reply("count_words splits on any whitespace.", {"count"})),
                     ok(reply("Both bugs and the variable name are fixed.", ALL)))
        t = repair(term_factory, tmp_path, spec, "--model", "openai-compat:m", "--base-url",
                   server.url)
        t.wait("baseline: wordtools.py as found")
        t.wait("E741 Ambiguous variable name")
        t.wait("FAILED tests/test_wordtools.py::test_count_words: AssertionError: assert 4 == 3")
        t.wait("FAILED tests/test_wordtools.py::test_initials")
        t.wait("sent to openai-compat:m")
        t.wait("| ## What the sandbox check found")
        t.answer("first instruction for the model", "")
        t.wait("proposal from openai-compat:m: count_words splits on any whitespace.")
        t.wait("+    return len(text.split())")
        t.answer(MENU, "n")
        t.answer("why? (the reason goes to the model)", "initials must be upper-case as well")
        t.wait("proposal from openai-compat:m: Both bugs and the variable name are fixed.")
        assert len(server.requests) == 2
        first, second = (r.json["messages"][-1]["content"] for r in server.requests)
        assert "initials must be upper-case as well" not in first
        assert "rejected it; it was not applied" in second
        assert "Their reason: initials must be upper-case as well" in second
        assert "return len(text.split(\" \"))" in second  # the current code, not the rejected
        t.answer(MENU, "y")
        t.wait("step 1 (fix) checked: pass  3 passed, 0 failed, lint 0")
        t.wait("fixed: tests/test_wordtools.py::test_count_words, "
               "tests/test_wordtools.py::test_initials")
        t.wait("lint: 1 -> 0 finding(s)")
        t.wait("all checks pass")
        t.answer("[w] write to the work tree  [p] patch file  [n] not at all", "w")
        t.wait("wrote wordtools.py in")
        assert t.finish() == 0
    assert (tmp_path / "task" / "wordtools.py").read_text() == code(ALL)


def test_edit_in_the_editor_checks_the_persons_version(term_factory, tmp_path):
    spec = make_task(tmp_path / "task")
    replies = write_replies(tmp_path / "r.json", [reply("count_words fixed.", {"count"})])
    edits = [[old, FIXED[k]] for k, old in
             {"initials": '    return "".join(w[0] for w in name.split())\n',
              "lint": '    l = text.upper()\n    return l + "!"\n'}.items()]
    log = tmp_path / "editor.log"
    env = {"EDITOR": f"{sys.executable} {Path(__file__).parent / 'fake_editor.py'}",
           "FAKE_EDIT": json.dumps(edits), "FAKE_EDIT_LOG": str(log)}
    t = repair(term_factory, tmp_path, spec, *scripted(replies), env=env)
    t.answer("first instruction for the model", "")
    t.wait("proposal from scripted:")
    t.answer(MENU, "e")
    t.wait("step 1 (edit) checked: pass  3 passed, 0 failed, lint 0")
    assert log.read_text() == "wordtools.py\n"
    t.answer("[w] write to the work tree  [p] patch file  [n] not at all", "p")
    line = t.wait("patch written to ")
    assert t.finish() == 0
    patch = Path(line.split("patch written to ")[1].split(" (apply")[0])
    text = patch.read_text()
    assert "+    loud = text.upper()" in text and "+    return len(text.split())" in text
    assert (tmp_path / "task" / "wordtools.py").read_text() == code()  # work tree untouched
    applied = subprocess.run(["git", "apply", "--check", "--directory", "task", str(patch)],
                             cwd=tmp_path, capture_output=True, text=True)
    assert applied.returncode == 0, applied.stderr


def test_undo_then_a_different_proposal_and_goto_two_steps_back(term_factory, tmp_path):
    spec = make_task(tmp_path / "task")
    replies = write_replies(tmp_path / "r.json", [
        reply("STEP-A fixes count_words.", {"count"}),
        reply("STEP-B fixes initials.", {"count", "initials"}),
        reply("PROPOSAL-C renames the variable.", ALL),
        reply("PROPOSAL-D renames the variable only.", {"count", "lint"}),
        reply("PROPOSAL-E fixes initials.", {"count", "lint", "initials"}),
        reply("PROPOSAL-F after going back.", {"lint"})])
    t = repair(term_factory, tmp_path, spec, *scripted(replies), "--run-id", "undo-run")
    t.answer("first instruction for the model", "")
    t.wait("STEP-A")
    t.answer(MENU, "y")
    t.wait("step 1 (fix) checked: fail  2 passed, 1 failed, lint 1")
    t.wait("STEP-B")
    t.answer(MENU, "y")
    t.wait("step 2 (fix) checked: fail  3 passed, 0 failed, lint 1")
    t.wait("PROPOSAL-C")
    t.answer(MENU, "u")
    t.wait("back at step 1 (fix, fail); the 1 later step(s) stay in the run's history")
    line = t.wait("PROPOSAL-D")  # a different proposal, from the earlier code
    assert "(wordtools.py +2 -2)" in line
    t.answer(MENU, "d")  # the restored step's own check: initials still fails
    t.wait("FAILED tests/test_wordtools.py::test_initials")
    t.answer(MENU, "history")
    t.wait("step 0   baseline fail  1 passed 2 failed lint 1")
    t.wait("step 1   fix      fail  2 passed 1 failed lint 1")
    t.answer(MENU, "y")
    t.wait("step 2 (fix) checked: fail  2 passed, 1 failed, lint 0")
    t.wait("PROPOSAL-E")
    t.answer(MENU, "goto 0")
    t.wait("back at step 0 (baseline, fail); the 2 later step(s) stay in the run's history")
    t.answer("first instruction for the model", "q")
    t.wait("the code is as found; nothing to write")
    t.wait("continue it with: codemend repair --resume undo-run --state-dir")
    assert t.finish() == 3
    assert (tmp_path / "task" / "wordtools.py").read_text() == code()

    from codemend.agent.runs import RunStore

    with RunStore(tmp_path / "state") as store:
        config = store.config("undo-run")
        now = store.graph.get_state(config).values
        assert [a.node for a in now["attempts"]] == ["baseline"]
        kept = {len(s.values.get("attempts") or []) for s in store.graph.get_state_history(config)}
        assert {1, 2, 3} <= kept  # the abandoned steps are still there: nothing rewritten


def test_ctrl_c_and_sigkill_then_resume_at_the_same_step(term_factory, tmp_path):
    spec = make_task(tmp_path / "task")
    replies = write_replies(tmp_path / "r.json", [
        reply("FIRST fixes count_words.", {"count"}), reply("SECOND fixes the rest.", ALL)])
    args = (*scripted(replies), "--run-id", "kill-run")
    t = repair(term_factory, tmp_path, spec, *args)
    t.wait("first instruction for the model")
    t.child.sendintr()
    t.wait("codemend: interrupted; continue with `codemend repair --resume kill-run")
    assert t.finish() == 130

    resume = ("repair", "--resume", "kill-run", "--state-dir", "state", *SANDBOX)
    t = term_factory(*resume)
    t.wait("resuming repair session kill-run (task wordtools) at step 0")
    t.answer("first instruction for the model", "")
    t.wait("FIRST")
    t.answer(MENU, "y")
    t.wait("step 1 (fix) checked: fail")
    t.wait("SECOND")
    t.wait(MENU)
    t.kill(signal.SIGKILL)

    t = term_factory(*resume)
    t.wait("resuming repair session kill-run (task wordtools) at step 1")
    t.wait("step 0   baseline fail")
    t.wait("step 1   fix      fail  2 passed 1 failed lint 1")
    t.wait("proposal from scripted:")  # the same proposal, shown again
    t.wait("SECOND fixes the rest.")
    t.answer(MENU, "y")
    t.wait("step 2 (fix) checked: pass")
    t.answer("[w] write to the work tree", "n")
    t.wait("nothing written")
    assert t.finish() == 0


def test_fallback_model_takes_over_where_the_run_would_escalate(term_factory, tmp_path):
    spec = make_task(tmp_path / "task")
    weak = write_replies(tmp_path / "weak.json", [reply("WEAK fixes count_words.", {"count"})])
    write_replies(tmp_path / "strong.json", [reply("STRONG fixes the rest.", ALL)])
    t = repair(term_factory, tmp_path, spec, *scripted(weak), "--fallback-model",
               "scripted:strong.json", "--max-iterations", "1", "--run-id", "fb-run")
    t.answer("first instruction for the model", "")
    t.wait("WEAK")
    t.answer(MENU, "y")
    t.wait("step 1 (fix) checked: fail")
    t.wait("switching models: scripted:weak.json would escalate (the iteration limit (1) was "
           "reached); scripted:strong.json takes over for 2 more iteration(s)")
    t.wait("proposal from scripted:strong.json: STRONG fixes the rest.")
    t.answer(MENU, "history")
    t.wait("step 1   fix      fail  2 passed 1 failed lint 1  scripted:weak.json")
    t.answer(MENU, "y")
    t.wait("step 2 (fix) checked: pass")
    t.answer("[w] write to the work tree", "n")
    assert t.finish() == 0
    shown = subprocess.run([*_codemend(), "show", "fb-run", "--json", "--state-dir", "state"],
                           cwd=tmp_path, capture_output=True, text=True, check=True)
    models = [a["model"] for a in json.loads(shown.stdout)["attempts"]]
    assert models == [None, "scripted:weak.json", "scripted:strong.json"]


def test_repository_session_writes_and_commits_only_when_asked(term_factory, tmp_path):
    from test_fix import GOOD, git, shop

    repo = shop(tmp_path / "shop")
    head = git(repo, "rev-parse", "HEAD")
    write_replies(tmp_path / "r.json", [GOOD])
    t = term_factory("repair", "shop", "--model", "scripted:r.json", "--state-dir", "state",
                     *SANDBOX, "--commit")
    t.wait("baseline: running the tests of")
    t.wait("1 failing test(s) to fix")
    t.wait("FAILED tests/test_prices.py::test_total_with_discount: assert 30.0 == 10.0")
    t.answer("first instruction for the model", "")
    t.wait("proposal from scripted:r.json: The discount must be subtracted.  "
           "(shop/prices.py +1 -1)")
    t.wait("+    return sum(prices) * (1 - discount)")
    assert git(repo, "status", "--porcelain") == ""  # nothing written while proposing
    t.answer(MENU, "y")
    t.wait("step 1 (fix) checked: pass  3 passed, 0 failed, lint 0")
    t.wait("fixed: tests/test_prices.py::test_total_with_discount")
    t.answer("[w] write to the work tree", "w")
    t.wait("wrote shop/prices.py in")
    t.wait("committed shop/prices.py as")
    assert t.finish() == 0
    assert git(repo, "rev-parse", "HEAD~1") == head and git(repo, "status", "--porcelain") == ""
    assert "(1 - discount)" in (repo / "shop" / "prices.py").read_text()
