"""End to end: `codemend fix` on small git repositories made here, through the CLI, with the
scripted model (or a real local OpenAI server) and the real sandbox."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from openai_server import OpenAIServer

pytestmark = pytest.mark.docker

PRICES = '''"""Prices of a basket."""


def total(prices, discount=0.0):
    """Sum of ``prices`` less a fractional ``discount``."""
    return sum(prices) * (1 + discount)


def cheapest(prices):
    return min(prices)
'''
TESTS = '''from shop.prices import cheapest, total


def test_total_without_discount():
    assert total([1.0, 2.0]) == 3.0


def test_total_with_discount():
    assert total([10.0, 10.0], discount=0.5) == 10.0


def test_cheapest():
    assert cheapest([3, 1, 2]) == 1
'''
GOOD = '''The discount must be subtracted.

shop/prices.py
```python
<<<<<<< SEARCH
    return sum(prices) * (1 + discount)
=======
    return sum(prices) * (1 - discount)
>>>>>>> REPLACE
```
'''


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True,
                          check=True).stdout.strip()


def make_repo(path: Path, files: dict[str, str]) -> Path:
    path.mkdir()
    for rel, text in files.items():
        (path / rel).parent.mkdir(parents=True, exist_ok=True)
        (path / rel).write_text(text)
    git(path, "init", "-q", "-b", "main")
    git(path, "add", "-A")
    git(path, "-c", "user.name=t", "-c", "user.email=t@example.org", "commit", "-qm", "init")
    return path


def shop(path: Path, prices: str = PRICES) -> Path:
    return make_repo(path, {"shop/__init__.py": "", "shop/prices.py": prices,
                            "tests/test_prices.py": TESTS, "README.md": "a shop\n"})


def replies(path: Path, *texts: str) -> str:
    path.write_text(json.dumps({"replies": list(texts)}))
    return f"scripted:{path}"


def codemend(*args: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CODEMEND_")}
    env["CODEMEND_STATE_DIR"] = str(cwd / "state")
    return subprocess.run([sys.executable, "-m", "codemend.agent.cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def work(tmp_path, docker_client, sandbox_image, leftover_containers):
    return tmp_path


def test_fix_heals_applies_and_branches(work):
    repo = shop(work / "repo")
    head = git(repo, "rev-parse", "HEAD")
    bad = GOOD.replace("    return sum(prices) * (1 + discount)\n=", "    return sum(x)\n=")
    model = replies(work / "r.json", bad, GOOD)
    res = codemend("fix", str(repo), "--model", model, "--json", "--apply", "--branch",
                   "codemend/discount", cwd=work)
    assert res.returncode == 0, res.stderr
    out = res.stdout and json.loads(res.stdout)
    assert out["status"] == "fixed" and out["model_calls"] == 2 and out["iterations"] == 2
    assert out["targets"] == ["tests/test_prices.py::test_total_with_discount"]
    assert out["files_changed"] == ["shop/prices.py"] and out["flaky"] == []
    assert out["applied"] and out["branch"] == "codemend/discount"
    assert out["tokens"]["prompt"] > 0
    report = json.loads(Path(out["out"], "report.json").read_text())
    assert report["baseline"]["passed"] == 2 and report["baseline"]["failed"] == 1
    assert report["final"]["passed"] == 3 and report["final"]["failed"] == 0
    # the unusable SEARCH went back to the model as a format error, the second reply passed
    assert [a["verdict"] for a in report["attempts"]] == ["format_error", "pass"]
    summary = Path(out["out"], "summary.md").read_text()
    assert "| baseline | 2 | 1 |" in summary and "(1 - discount)" in summary
    # fix.patch applies to a fresh clone of the original commit; the suite then passes
    clone = work / "clone"
    subprocess.run(["git", "clone", "-q", str(repo), str(clone)], check=True)
    git(clone, "checkout", "-q", head)
    git(clone, "apply", out["patch"])
    host = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "tests"], cwd=clone, capture_output=True, text=True)
    assert host.returncode == 0, host.stdout
    # --apply wrote the work tree; --branch committed on a new branch, HEAD did not move
    assert "(1 - discount)" in (repo / "shop/prices.py").read_text()
    assert git(repo, "status", "--porcelain") == "M shop/prices.py"
    assert git(repo, "rev-parse", "HEAD") == head and git(repo, "branch", "--show-current") == "main"
    assert git(repo, "rev-parse", "codemend/discount^") == head
    assert "(1 - discount)" in git(repo, "show", "codemend/discount:shop/prices.py")
    listed = json.loads(codemend("runs", "--json", cwd=work).stdout)["runs"]
    assert [(r["run_id"], r["status"]) for r in listed] == [(out["run_id"], "fixed")]


WEAKEN_TEST = '''```python
# file: tests/test_prices.py
from shop.prices import cheapest, total


def test_total_without_discount():
    assert total([1.0, 2.0]) == 3.0


def test_total_with_discount():
    assert total([10.0, 10.0], discount=0.5) > 0


def test_cheapest():
    assert cheapest([3, 1, 2]) == 1
```
'''
CONFTEST = '''```python
# file: tests/conftest.py
import pytest


def pytest_collection_modifyitems(items):
    for item in items:
        item.add_marker(pytest.mark.skip(reason="later"))
```
'''
LIBRARY_SKIP = '''shop/prices.py
<<<<<<< SEARCH
def total(prices, discount=0.0):
    """Sum of ``prices`` less a fractional ``discount``."""
=======
def total(prices, discount=0.0):
    """Sum of ``prices`` less a fractional ``discount``."""
    if discount:
        import pytest
        pytest.skip("discounts are not supported")
>>>>>>> REPLACE
'''
DELETE_TEST = '''tests/test_prices.py
<<<<<<< SEARCH
def test_total_with_discount():
    assert total([10.0, 10.0], discount=0.5) == 10.0


=======
>>>>>>> REPLACE
'''
SKIP_MARK = '''tests/test_prices.py
<<<<<<< SEARCH
def test_total_with_discount():
=======
@pytest.mark.skip(reason="flaky")
def test_total_with_discount():
>>>>>>> REPLACE
tests/test_prices.py
<<<<<<< SEARCH
from shop.prices import cheapest, total
=======
import pytest

from shop.prices import cheapest, total
>>>>>>> REPLACE
'''


def _reasons(out_dir: str) -> list[str]:
    report = json.loads(Path(out_dir, "report.json").read_text())
    assert report["status"] != "fixed" and report["patch"] is None
    assert all(a["verdict"] != "pass" for a in report["attempts"])
    return [a["reason"] for a in report["attempts"]]


def test_test_weakening_replies_are_never_fixed(work):
    repo = shop(work / "repo")
    model = replies(work / "r.json", WEAKEN_TEST, CONFTEST, LIBRARY_SKIP, DELETE_TEST)
    res = codemend("fix", str(repo), "--model", model, "--json", "--max-iterations", "4",
                   "--run-id", "weak", cwd=work)
    assert res.returncode == 3, res.stderr
    out = json.loads(res.stdout)
    assert out["status"] == "escalated" and out["patch"] is None and out["model_calls"] >= 3
    reasons = _reasons(out["out"])
    report = json.loads(Path(out["out"], "report.json").read_text())
    # test edits are refused before any check, as format errors the model is told of
    assert [a["verdict"] for a in report["attempts"]][:2] == ["format_error", "format_error"]
    assert "tamper evidence on a changed line: T101 shop/prices.py:7" in reasons[2]
    assert not Path(out["out"], "fix.patch").exists()
    assert git(repo, "status", "--porcelain") == ""  # the work tree was never touched
    # a person's edit (a work tree holding the fix) is checked like any candidate
    copy = work / "mine"
    subprocess.run(["git", "clone", "-q", str(repo), str(copy)], check=True)
    (copy / "shop/prices.py").write_text(PRICES.replace("(1 + discount)", "(1 - discount)"))
    res = codemend("resume", "weak", "--edit", str(copy), "--json", cwd=work)
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["status"] == "fixed" and out["files_changed"] == ["shop/prices.py"]
    assert "(1 - discount)" in Path(out["patch"]).read_text()
    assert git(repo, "status", "--porcelain") == ""


def test_allowed_test_edits_still_refuse_deletions_and_skips(work):
    repo = shop(work / "repo")
    model = replies(work / "r.json", SKIP_MARK, DELETE_TEST)
    res = codemend("fix", str(repo), "--model", model, "--json", "--max-iterations", "2",
                   "--allow-test-edits", "--sandbox", "cold", "--run-id", "allowed", cwd=work)
    assert res.returncode == 3, res.stderr
    reasons = _reasons(json.loads(res.stdout)["out"])
    assert "tests/test_prices.py:10 skips or expects failure of tests" in reasons[0]
    assert "target tests/test_prices.py::test_total_with_discount is skipped" in reasons[0]
    assert "target tests/test_prices.py::test_total_with_discount is missing" in reasons[1]
    assert "2 tests collected, 3 at baseline" in reasons[1]
    # accepting the best unverified attempt does not make it a fix
    res = codemend("resume", "allowed", "--accept", "--json", "--sandbox", "cold", cwd=work)
    assert res.returncode == 1, res.stderr
    out = json.loads(res.stdout)
    assert out["status"] == "failed" and out["patch"] is None
    assert git(repo, "status", "--porcelain") == ""


LEAVES_AN_IMPORT = GOOD + '''
shop/prices.py
```python
<<<<<<< SEARCH
"""Prices of a basket."""
=======
"""Prices of a basket."""
import os
>>>>>>> REPLACE
```
'''


def test_a_fix_that_adds_a_fixable_finding_is_finished_by_autofix(work):
    """The model's fix passes the tests but adds an unused import on a line it changed:
    verification refuses it (a new lint finding), ruff's autofix removes the import (only
    on the lines the candidate changed) and the result is fixed, with no second call."""
    repo = shop(work / "repo")
    model = replies(work / "r.json", LEAVES_AN_IMPORT)
    res = codemend("fix", str(repo), "--model", model, "--json", cwd=work)
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["status"] == "fixed" and out["model_calls"] == 1, out
    report = json.loads(Path(out["out"], "report.json").read_text())
    nodes = [(a["node"], a["verdict"]) for a in report["attempts"]]
    assert nodes == [("generate", "fail"), ("autofix", "pass")], nodes
    assert report["attempts"][0]["lint"] == 1 and report["attempts"][0]["failed"] == 0
    patch = Path(out["patch"]).read_text()
    assert "(1 - discount)" in patch and "import os" not in patch


def test_clean_repository_makes_no_model_call(work):
    repo = shop(work / "repo", PRICES.replace("(1 + discount)", "(1 - discount)"))
    with OpenAIServer() as server:
        res = codemend("fix", str(repo), "--model", "openai-compat:coder", "--base-url",
                       server.url, "--json", "--sandbox", "cold", cwd=work)
        assert res.returncode == 0, res.stderr
        assert server.requests == []
    out = json.loads(res.stdout)
    assert out["status"] == "clean" and out["model_calls"] == 0 and out["targets"] == []
    report = json.loads(Path(out["out"], "report.json").read_text())
    assert report["baseline"]["passed"] == 3 and report["patch"] is None


def test_bad_input_is_one_line_and_exit_2(tmp_path):
    model = replies(tmp_path / "r.json", GOOD)
    (tmp_path / "plain").mkdir()
    (tmp_path / "a-file").write_text("x")
    notests = make_repo(tmp_path / "notests", {"lib.py": "X = 1\n"})
    dirty = shop(tmp_path / "dirty")
    (dirty / "shop/prices.py").write_text(PRICES + "# mine\n")
    clean = shop(tmp_path / "clean")
    cases = [((str(tmp_path / "a-file"),), "not a folder"),
             ((str(tmp_path / "plain"),), "not a git repository"),
             ((str(notests),), "no tests found"),
             ((str(dirty), "--apply"), "uncommitted changes (shop/prices.py)"),
             ((str(clean), "--branch", "main"), "is the current or default branch"),
             ((str(clean), "--branch", "bad..name"), "not a valid branch name"),
             ((str(clean), "--max-iterations", "0"), "--max-iterations 0")]
    for args, needle in cases:
        res = codemend("fix", *args, "--model", model, cwd=tmp_path)
        assert res.returncode == 2, (args, res.stderr)
        lines = res.stderr.strip().splitlines()
        assert len(lines) == 1 and needle in lines[0], (args, res.stderr)
    assert (dirty / "shop/prices.py").read_text().endswith("# mine\n")
