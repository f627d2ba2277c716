"""Lines as Python counts them, patches as git writes them, and code as the witness sees
it: property tests of sandbox/source.py and agent/repo/patch.py, and the witness's code
fingerprint, without Docker."""

from __future__ import annotations

import ast
import importlib.util
import subprocess
from pathlib import Path

import pytest
from codemend.agent.repo.output import patch_text
from codemend.sandbox.source import changed_lines, split_lines
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

ODD = "\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
"""Characters ``str.splitlines`` breaks lines at and Python does not."""
ENDINGS = st.sampled_from(["\n", "\r\n", "\r"])
JUNK = st.text(alphabet=st.sampled_from(list("ab #=+_") + list(ODD)), max_size=12)
WITNESS = Path(__file__).resolve().parents[2] / "sandbox" / "runner" / "codemend_witness.py"


@st.composite
def modules(draw) -> list[str]:
    """Statements ``x<i> = "<junk>"  # <junk>``, each with its own line ending."""
    n = draw(st.integers(1, 8))
    return [f'x{i} = "{draw(JUNK)}"  # {draw(JUNK)}{draw(ENDINGS)}' for i in range(n)]


@given(modules())
def test_lines_are_the_ones_python_numbers(stmts):
    text = "".join(stmts)
    tree = ast.parse(text)
    lines = split_lines(text)
    assert len(lines) == len(stmts) == len(tree.body)
    for k, node in enumerate(tree.body):
        assert node.lineno == k + 1
        assert lines[node.lineno - 1].startswith(f"x{k} = ")
    assert "".join(split_lines(text, keepends=True)) == text


@given(modules(), st.data())
def test_a_changed_statement_is_the_changed_line(stmts, data):
    k = data.draw(st.integers(0, len(stmts) - 1))
    new = list(stmts)
    new[k] = new[k].replace(" = ", " = 1 or ", 1)
    old_text, new_text = "".join(stmts), "".join(new)
    changed = changed_lines(old_text, new_text)
    tree = ast.parse(new_text)
    assert changed == {tree.body[k].lineno}
    assert "1 or" in ast.unparse(tree.body[k])


def test_str_splitlines_would_shift_the_lines():
    text = 'a = 1\n\x0c\nb = "\u2028"\nc = 3\n'
    assert len(text.splitlines()) == 6 and len(split_lines(text)) == 4
    assert changed_lines(text, text.replace("c = 3", "c = 4")) == {4}
    assert ast.parse(text).body[2].lineno == 4


def _git(cwd: Path, *args: str, stdin: bytes | None = None) -> None:
    subprocess.run(["git", "-C", str(cwd), *args], input=stdin, check=True,
                   capture_output=True)


TEXTS = st.lists(st.tuples(st.text(alphabet=st.sampled_from(list("xy= ") + list(ODD) + ["é"]),
                                   max_size=6), st.sampled_from(["\n", "\r\n", "\r", ""])),
                 max_size=6).map(lambda parts: "".join(a + b for a, b in parts))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(old=TEXTS, new=TEXTS, added=TEXTS)
def test_every_patch_applies_with_git_apply(tmp_path_factory, old, new, added):
    repo = tmp_path_factory.mktemp("apply")
    (repo / "m.py").write_bytes(old.encode())
    (repo / "keep.py").write_bytes(b"k = 0\n")
    _git(repo, "init", "-q")
    patch = patch_text({"m.py": old, "keep.py": "k = 0\n"}, {"m.py": new, "new dir/n.py": added})
    if old == new and not added:
        assert "m.py" not in patch.split("new dir")[0]
    _git(repo, "apply", "--check", "-", stdin=patch.encode("utf-8", "surrogateescape"))
    _git(repo, "apply", "-", stdin=patch.encode("utf-8", "surrogateescape"))
    assert (repo / "m.py").read_bytes() == new.encode()
    assert (repo / "new dir" / "n.py").read_bytes() == added.encode()
    assert (repo / "keep.py").read_bytes() == b"k = 0\n"


def test_a_patch_keeps_the_file_mode(tmp_path):
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "run.sh").write_text("a\n")
    (tmp_path / "bin" / "run.sh").chmod(0o755)
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "add", "-A")
    _git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@example.org", "commit", "-qm", "i")
    patch = patch_text({"bin/run.sh": "a\n"}, {"bin/run.sh": "b\n"}, root=tmp_path, head="HEAD")
    assert " 100755\n" in patch and "old mode" not in patch
    done = subprocess.run(["git", "-C", str(tmp_path), "apply", "-"], input=patch.encode(),
                          capture_output=True, check=True)
    assert done.stderr == b""  # no "has type 100755, expected 100644" warning
    assert (tmp_path / "bin" / "run.sh").read_text() == "b\n"


@pytest.fixture(scope="module")
def witness():
    spec = importlib.util.spec_from_file_location("codemend_witness_under_test", WITNESS)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_fingerprint_sees_a_swapped_code_object(witness):
    from _pytest.python import Function

    before = witness.fingerprint()
    assert "_pytest.python.Function.runtest" in before, sorted(before)[:50]
    assert any(k.endswith("._multicall") for k in before)
    assert witness.fingerprint() == before
    original = Function.runtest.__code__
    try:
        Function.runtest.__code__ = (lambda self: None).__code__
        after = witness.fingerprint()
    finally:
        Function.runtest.__code__ = original
    assert witness.changed_code(before, after) == [
        "the code of _pytest.python.Function.runtest was changed"]
    assert witness.changed_code(before, witness.fingerprint()) == []
