"""What a refused edit tells the model: where the SEARCH nearly is (within the prompt's
budget), which lines an ambiguous one matches, and what the diff header said."""

from __future__ import annotations

import pytest
from codemend.agent.extract import FormatError
from codemend.agent.repo.edits import HINTS, apply_edits

BIG = "".join(f"def f{k}(x):\n    return x + {k}\n\n\n" for k in range(400))


def sr(path: str, old: str, new: str) -> str:
    return f"{path}\n<<<<<<< SEARCH\n{old}=======\n{new}>>>>>>> REPLACE\n"


def refusal(reply: str, files: dict[str, str]) -> str:
    with pytest.raises(FormatError) as err:
        apply_edits(reply, files, {})
    return err.value.message


def test_a_missing_search_is_answered_with_the_nearest_lines_numbered():
    msg = refusal(sr("m.py", "def f217(x):\n    return x + 271\n", "def f217(x):\n    return 0\n"),
                  {"m.py": BIG})
    assert "is not in the file" in msg
    assert "  869 | def f217(x):" in msg and "  870 |     return x + 217" in msg


def test_refusals_stay_within_the_prompt_budget():
    blocks = "".join(sr("m.py", f"def f{k}(x):\n    return x - {k}\n", "pass\n") for k in range(40))
    msg = refusal(blocks, {"m.py": BIG})
    assert msg.count(" | def f") == HINTS  # nearest lines for the first few only
    assert len(msg) < 3000
    assert msg.count("is not in the file") == 6  # the first six problems are listed


def test_an_ambiguous_shifted_search_names_every_candidate_line():
    files = {"m.py": "class A:\n    def run(self):\n        return 1\n\n\n"
                     "class B:\n    def run(self):\n        return 1\n"}
    msg = refusal(sr("m.py", "def run(self):\n    return 1\n", "def run(self):\n    return 2\n"),
                  files)
    assert "occurs 2 times (at lines 2, 7)" in msg


def test_a_diff_hunk_refusal_quotes_its_header_line():
    files = {"m.py": "a = 1\nb = 2\na = 1\nb = 2\n"}
    reply = "```diff\n--- a/m.py\n+++ b/m.py\n@@ -3,2 +3,2 @@\n a = 1\n-b = 2\n+b = 3\n```\n"
    msg = refusal(reply, files)
    assert "the diff hunk occurs 2 times (at lines 1, 3)" in msg and "says line 3" in msg


def test_edits_apply_to_the_candidate_and_a_whole_crlf_file_keeps_crlf():
    base = {"w.py": "x = 1\r\ny = 2\r\n"}
    overlay = {"w.py": "x = 1\r\ny = 3\r\n"}
    out = apply_edits(sr("w.py", "y = 3\n", "y = 4\n"), base, overlay)
    assert out == {"w.py": "x = 1\r\ny = 4\r\n"}
    whole = apply_edits("```python\n# file: w.py\nx = 5\ny = 2\n```\n", base, {})
    assert whole == {"w.py": "x = 5\r\ny = 2\r\n"}


def test_an_elision_with_too_many_readings_is_refused_as_ambiguous():
    files = {"m.py": "def f(x):\n" + "    y = x\n    z = y\n" * 3000 + "    return z\n"}
    reply = sr("m.py", "    y = x\n...\n    z = y\n...\n    y = x\n...\n    return z\n", "pass\n")
    msg = refusal(reply, files)
    assert "occurs 3000 times" in msg or "more than one span" in msg
