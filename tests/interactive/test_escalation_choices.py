"""The escalation prompt's `a` (accept best) and `e` (edit) as a person uses them at a real
pseudo-terminal: in a repair session, in `fix` on a repository (no solution files: the edit
is of the whole work tree, a copy) and in `solve` on a task of two files (either may be
edited). A fake $EDITOR edits as a person would."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from test_fix import GOOD, git, shop
from wordtools import BUGGY, FIXED, code, make_task, reply, write_replies

pytestmark = pytest.mark.docker
SANDBOX = ("--sandbox", "cold")
MENU = "[y] apply+check  [n] reject  [e] edit  [h] hint  [d] full diff/output"
ESCALATION = "[h] hint  [m] more iterations  [e] edit  [a] accept best"
WRITE = "[w] write to the work tree  [p] patch file  [n] not at all"


def editor(tmp_path: Path, pairs: list[list[str]]) -> dict[str, str]:
    return {"EDITOR": f"{sys.executable} {Path(__file__).parent / 'fake_editor.py'}",
            "FAKE_EDIT": json.dumps(pairs), "FAKE_EDIT_LOG": str(tmp_path / "editor.log")}


def test_accept_best_in_a_session_offers_the_write_and_says_the_checks_fail(term_factory,
                                                                            tmp_path):
    make_task(tmp_path / "task")
    write_replies(tmp_path / "r.json", [reply("COUNT-ONLY fixes count_words.", {"count"})])
    t = term_factory("repair", "task/spec.toml", "--model", "scripted:r.json", "--state-dir",
                     "state", *SANDBOX, "--max-iterations", "1")
    t.answer("first instruction for the model", "")
    t.wait("COUNT-ONLY")
    t.answer(MENU, "y")
    t.wait("step 1 (fix) checked: fail  2 passed, 1 failed, lint 1")
    t.wait("paused: the iteration limit (1) was reached")
    t.answer(ESCALATION, "a")
    t.wait("you accepted step 1 (fix): the checks did not pass (fail, 2 passed, 1 failed, "
           "lint 1)")
    t.answer(WRITE, "w")
    t.wait("wrote wordtools.py in")
    assert t.finish() == 1
    assert (tmp_path / "task" / "wordtools.py").read_text() == code({"count"})


def test_fix_escalation_edit_opens_a_copy_of_the_whole_work_tree(term_factory, tmp_path):
    repo = shop(tmp_path / "shop")
    write_replies(tmp_path / "r.json", [GOOD.replace("(1 - discount)", "(1 + 2 * discount)")])
    t = term_factory("fix", "shop", "--model", "scripted:r.json", "--state-dir", "state",
                     *SANDBOX, "--max-iterations", "1", "--interactive",
                     env=editor(tmp_path, [["(1 + 2 * discount)", "(1 - discount)"]]))
    t.wait("paused: the iteration limit (1) was reached")
    t.answer(ESCALATION, "e")
    t.answer("file to edit (Enter: the whole work tree", "")
    t.wait("taken from the editor: shop/prices.py")
    t.wait("fixed after 2 iteration(s)")
    assert t.finish() == 0
    assert (tmp_path / "editor.log").read_text() == "folder: shop/prices.py\n"
    assert git(repo, "status", "--porcelain") == ""  # the copy was edited, not the work tree


TWO_FILES = '''
from doubling import double
from tripling import triple


def test_double():
    assert double(2) == 4


def test_triple():
    assert triple(2) == 6
'''


def test_solve_escalation_edit_of_the_second_file_of_a_two_file_task(term_factory, tmp_path):
    task = tmp_path / "task"
    task.mkdir()
    (task / "spec.toml").write_text(
        'name = "twofiles"\nprompt = "double and triple a number."\n'
        'solution = ["doubling.py", "tripling.py"]\n\n'
        '[limits]\ncheck_timeout_s = 60\n\n'
        f'[[tests]]\nname = "tests/test_two.py"\nsource = """{TWO_FILES}"""\n')
    write_replies(tmp_path / "r.json", [
        "Both.\n\n```python\n# file: doubling.py\ndef double(x):\n    return x * 2\n```\n\n"
        "```python\n# file: tripling.py\ndef triple(x):\n    return x * 4\n```\n"])
    t = term_factory("solve", "task/spec.toml", "--model", "scripted:r.json", "--state-dir",
                     "state", *SANDBOX, "--max-iterations", "1", "--interactive",
                     env=editor(tmp_path, [["x * 4", "x * 3"]]))
    t.wait("paused: the iteration limit (1) was reached")
    t.answer(ESCALATION, "e")
    t.answer("file to edit", "nothere.py")
    t.wait("no file nothere.py in the candidate; give one of doubling.py, tripling.py")
    t.answer("file to edit", "tripling.py")
    t.wait("taken from the editor: tripling.py")
    t.wait("solved after 2 iteration(s)")
    assert t.finish() == 0
    assert (tmp_path / "editor.log").read_text() == "tripling.py\n"


def test_session_escalation_edit_takes_the_persons_files_back(term_factory, tmp_path):
    make_task(tmp_path / "task")
    write_replies(tmp_path / "r.json", [reply("COUNT-ONLY fixes count_words.", {"count"})])
    rest = [[BUGGY[k], FIXED[k]] for k in ("initials", "lint")]
    t = term_factory("repair", "task/spec.toml", "--model", "scripted:r.json", "--state-dir",
                     "state", *SANDBOX, "--max-iterations", "1", env=editor(tmp_path, rest))
    t.answer("first instruction for the model", "")
    t.wait("COUNT-ONLY")
    t.answer(MENU, "y")
    t.wait("paused: the iteration limit (1) was reached")
    t.answer(ESCALATION, "e")
    t.answer("file to edit", "")
    t.wait("taken from the editor: wordtools.py")
    t.wait("step 2 (edit) checked: pass  3 passed, 0 failed, lint 0")
    t.answer(WRITE, "n")
    assert t.finish() == 0
    assert (tmp_path / "editor.log").read_text() == "folder: wordtools.py\n"
