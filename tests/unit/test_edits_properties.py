"""Properties of applying edits, over generated files and SEARCH/REPLACE blocks: an accepted
edit changes no line outside a region that matches its SEARCH, lands on the one region the
SEARCH was taken from when no other region could match it, and the same reply applied
twice is refused or a no-op."""

from __future__ import annotations

import pytest
from codemend.agent.extract import FormatError
from codemend.agent.repo.edit_match import find
from codemend.agent.repo.edit_text import Text, lines_of
from codemend.agent.repo.edits import apply_edits
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

LINE = st.sampled_from(["a = 1", "b = 2", "    c()", "    return a", "", "def f():",
                        "        d", "# ...", "...", "\tt", "x = 1  "])
LINES = st.lists(LINE, min_size=1, max_size=12)
SETTINGS = settings(max_examples=300, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


def sr(path: str, search: list[str], replace: list[str]) -> str:
    body = "".join(x + "\n" for x in search) + "=======\n" + "".join(x + "\n" for x in replace)
    return f"{path}\n<<<<<<< SEARCH\n{body}>>>>>>> REPLACE\n"


def _norm(lines: list[str]) -> list[str]:
    return [x.strip() for x in lines if x.strip()]


@st.composite
def edit(draw):
    file = draw(LINES)
    i = draw(st.integers(0, len(file) - 1))
    j = draw(st.integers(i + 1, len(file)))
    region = file[i:j]
    assume(_norm(region))  # a blank SEARCH creates a file: not an edit of one
    how = draw(st.sampled_from(["same", "trailing", "indent", "dedent", "blank-ends"]))
    if how == "trailing":
        search = [x + "  " for x in region]
    elif how == "indent":
        search = ["  " + x if x.strip() else x for x in region]
    elif how == "dedent":
        search = [x.removeprefix("    ") for x in region]
    elif how == "blank-ends":
        search = ["", *region, ""]
    else:
        search = list(region)
    replace = draw(st.lists(LINE, max_size=4))
    return file, i, j, search, replace


def _apply(file: list[str], search: list[str], replace: list[str]) -> list[str] | None:
    text = "".join(x + "\n" for x in file)
    try:
        out = apply_edits(sr("m.py", search, replace), {"m.py": text}, {})
    except FormatError:
        return None
    return Text.of(out.get("m.py", text)).lines


@SETTINGS
@given(edit())
def test_an_accepted_edit_changes_only_a_region_matching_its_search(case):
    file, i, j, search, replace = case
    got = _apply(file, search, replace)
    if got is None:
        return
    found = find(file, lines_of("".join(x + "\n" for x in search)),
                 lines_of("".join(x + "\n" for x in replace)), False)
    assert got == file[:found.start] + found.new + file[found.end:] or got == file
    matched = file[found.start:found.end]
    if "..." not in search and "# ..." not in search:
        assert _norm(matched) == _norm(search)  # the region holds the SEARCH's lines
    assert _norm(found.new) == _norm(replace) or "..." in replace or "# ..." in replace
    # when no other window of the file holds the SEARCH's lines, it is the one it came from
    windows = {(k, e) for k in range(len(file)) for e in range(k + 1, len(file) + 1)
               if file[k].strip() and file[e - 1].strip() and _norm(file[k:e]) == _norm(search)}
    if len(windows) == 1 and not any(x.strip() in ("...", "# ...") for x in search):
        assert _core(file, found.start, found.end) == _core(file, i, j) == windows.pop()


def _core(file: list[str], a: int, b: int) -> tuple[int, int]:
    """The span without blank lines at its ends."""
    while a < b and not file[a].strip():
        a += 1
    while b > a and not file[b - 1].strip():
        b -= 1
    return a, b


@SETTINGS
@given(edit(), st.lists(LINE, min_size=1, max_size=3), st.lists(LINE, max_size=3), st.booleans())
def test_the_same_reply_twice_is_refused_or_changes_nothing(case, search2, replace2, two):
    file, _, _, search, replace = case
    blocks = [(search, replace), (search2, replace2)] if two else [(search, replace)]
    once = _apply_blocks(file, blocks)
    if once is None:
        return
    twice = _apply_blocks(once, blocks)
    assert twice is None or twice == once


def _apply_blocks(file: list[str], blocks: list[tuple[list[str], list[str]]]) -> list[str] | None:
    text = "".join(x + "\n" for x in file)
    try:
        out = apply_edits("".join(sr("m.py", s, r) for s, r in blocks), {"m.py": text}, {})
    except FormatError:
        return None
    return Text.of(out.get("m.py", text)).lines


@pytest.mark.parametrize("search, where", [
    (["return a"], "    return a"),  # a dedented line matches whole lines only
    (["c()"], "    c()"),
])
def test_a_dedented_search_never_matches_inside_a_line(search, where):
    file = ["def f():", where, "", "z = 'return a c()'"]
    got = _apply(file, search, ["pass"])
    assert got == ["def f():", "    pass", "", "z = 'return a c()'"]
