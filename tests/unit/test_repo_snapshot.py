"""load_repo on real git repositories made in tmp_path (no Docker)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import tarfile
from pathlib import Path

import pytest
from codemend.agent.repo.snapshot import load_repo
from codemend.sandbox.errors import BadInput
from repo_projects import commit, git


def _repo(tmp_path: Path, files: dict[str, str | bytes]) -> Path:
    repo = tmp_path / "r"
    repo.mkdir(parents=True)
    git(repo, "init", "-q", "-b", "main")
    for rel, data in files.items():
        path = repo / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data if isinstance(data, bytes) else data.encode())
    commit(repo, "init")
    return repo


FLAT = {"pkg/__init__.py": "X = 1\n", "tests/test_pkg.py": "def test_x():\n    pass\n",
        "tests/data/blob.bin": b"\x00\x01\xff", ".gitignore": "*.log\nbuild/\n"}


def test_files_are_tracked_plus_untracked_not_ignored(tmp_path):
    repo = _repo(tmp_path, FLAT)
    (repo / "new.py").write_text("Y = 2\n")
    (repo / "debug.log").write_text("ignored\n")
    (repo / "build").mkdir()
    (repo / "build" / "out.py").write_text("ignored\n")
    (repo / "pkg" / "__init__.py").unlink()  # tracked, deleted: skipped
    os.symlink("/etc/passwd", repo / "link.py")  # never followed
    (repo / "crlf.py").write_bytes(b"A = 1\r\nB = 2\r\n")
    snap = load_repo(repo)
    assert sorted(snap.files) == [".gitignore", "crlf.py", "new.py", "tests/test_pkg.py"]
    assert snap.binary == {"tests/data/blob.bin": b"\x00\x01\xff"}
    assert snap.files["crlf.py"] == "A = 1\r\nB = 2\r\n"
    assert set(snap.skipped) == {"pkg/__init__.py", "link.py"}
    assert snap.dirty and snap.branch == "main"
    assert snap.head == git(repo, "rev-parse", "HEAD")


def test_clean_detached_and_layout(tmp_path):
    repo = _repo(tmp_path, {**FLAT, "src/lib/__init__.py": "", "pyproject.toml":
                            '[tool.pytest.ini_options]\npythonpath = ["."]\n[tool.ruff]\n'})
    git(repo, "checkout", "-q", "--detach")
    snap = load_repo(repo)
    assert not snap.dirty and snap.branch is None
    assert snap.layout == "src" and snap.python_paths == [".", "src"]
    assert snap.ruff_settings and snap.pytest.source == "pyproject.toml"
    flat = load_repo(_repo(tmp_path / "b", FLAT))
    assert flat.layout == "flat" and flat.python_paths == [] and not flat.ruff_settings


def test_tests_follow_the_projects_pytest_settings(tmp_path):
    repo = _repo(tmp_path, {
        "setup.cfg": "[tool:pytest]\ntestpaths = checks\npython_files = check_*.py\n",
        "checks/check_a.py": "def test_a():\n    pass\n", "checks/helper.py": "",
        "lib/test_not_collected.py": "", "lib/conftest.py": "", "testing/data.txt": "x\n",
        ".github/workflows/ci.yml": "on: push\n", "requirements-dev.txt": "pytest\n",
        "lib/core.py": ""})
    snap = load_repo(repo)
    assert snap.pytest.testpaths == ("checks",)
    assert snap.test_files == ["checks/check_a.py", "lib/conftest.py", "testing/data.txt"]
    assert snap.test_modules == ["checks/check_a.py"]
    assert snap.config_files == [".github/workflows/ci.yml", "lib/conftest.py",
                                 "requirements-dev.txt", "setup.cfg"]
    assert snap.is_protected("checks/check_new.py") and snap.is_protected("tox.ini")
    assert not snap.is_protected("lib/core.py")


def test_workspace_applies_changes_and_carries_the_repo_settings(tmp_path):
    snap = load_repo(_repo(tmp_path, {**FLAT, "src/lib/__init__.py": "A = 1\n"}))
    ws = snap.workspace({"src/lib/__init__.py": "A = 2\n", "tests/test_new.py": "",
                         ".gitignore": None})
    assert ws.mode == "repo"
    assert ws.files == {"src/lib/__init__.py": "A = 2\n", "pkg/__init__.py": "X = 1\n"}
    assert sorted(ws.tests) == ["tests/test_new.py", "tests/test_pkg.py"]
    assert ws.lint_paths == ["."] and ws.test_paths == ["tests/test_new.py", "tests/test_pkg.py"]
    with tarfile.open(fileobj=io.BytesIO(ws.tar_bytes())) as tar:
        names = tar.getnames()
        meta = json.loads(tar.extractfile("meta/repo.json").read())
        blob = tar.extractfile("files/tests/data/blob.bin").read()
    assert "files/tests/data/blob.bin" in names and blob == b"\x00\x01\xff"
    assert meta == {"python_paths": ["src"], "ruff_settings": False,
                    "tests": ["tests/test_new.py", "tests/test_pkg.py"]}


@pytest.mark.parametrize("case, needle", [
    ("missing", "no such folder"), ("file", "not a folder"), ("plain", "not a git repository"),
    ("no_tests", "no tests found"), ("too_big", "over the size cap")])
def test_bad_input_is_one_line_exit_2(tmp_path, case, needle):
    kw = {}
    if case == "missing":
        path = tmp_path / "nope"
    elif case == "file":
        path = tmp_path / "f.py"
        path.write_text("")
    elif case == "plain":
        path = tmp_path / "plain"
        path.mkdir()
        subprocess.run(["git", "init", "-q", str(tmp_path / "elsewhere")], check=True)
    elif case == "no_tests":
        path = _repo(tmp_path, {"pkg/__init__.py": "", "tests/helper.py": ""})
    else:
        path, kw = _repo(tmp_path, {**FLAT, "big.txt": "x" * 5000}), {"max_bytes": 4096}
    with pytest.raises(BadInput) as err:
        load_repo(path, **kw)
    assert needle in str(err.value) and "\n" not in str(err.value)
    assert err.value.exit_code == 2
