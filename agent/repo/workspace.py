"""Which repository files are tests or test configuration, and the sandbox workspace of a
candidate (the base snapshot with the overlay on top)."""

from __future__ import annotations

import posixpath

from codemend.sandbox.errors import BadInput
from codemend.sandbox.workspace import Workspace

TEST_DIRS = frozenset({"tests", "test", "testing"})
CONFIG_NAMES = frozenset({"conftest.py", "pytest.ini", "tox.ini", "setup.cfg", "ruff.toml",
                          ".ruff.toml", "noxfile.py", ".pre-commit-config.yaml",
                          ".gitlab-ci.yml", ".travis.yml", "azure-pipelines.yml",
                          "sitecustomize.py", "usercustomize.py", ".coveragerc"})
CI_DIRS = (".github/", ".circleci/", ".gitlab/", ".buildkite/")


def is_test_module(path: str) -> bool:
    """A module pytest collects by its name (or a conftest.py)."""
    name = posixpath.basename(path)
    return name.endswith(".py") and (name.startswith("test_") or name.endswith("_test.py")
                                     or name == "conftest.py")


def protected_reason(path: str) -> str | None:
    """Why a change to ``path`` would change the tests rather than the code (None: it would
    not). pyproject.toml is judged by its sections (see verify.pyproject_reason)."""
    name = posixpath.basename(path)
    parts = path.split("/")
    if name in CONFIG_NAMES or name.endswith(".pth"):
        return "test, lint or CI configuration"
    if path.startswith(CI_DIRS):
        return "a CI workflow file"
    if is_test_module(path) or any(p in TEST_DIRS for p in parts[:-1]):
        return "a test file"
    return None


def repo_workspace(files: dict[str, str]) -> Workspace:
    """Tests (by name, and conftest.py files) are collected; the rest is code."""
    tests = {p: t for p, t in files.items() if is_test_module(p)}
    return Workspace(files={p: t for p, t in files.items() if p not in tests}, tests=tests)


def require_tests(files: dict[str, str], where: str) -> None:
    """BadInput when the repository has no test module at all."""
    if not any(is_test_module(p) and not p.endswith("conftest.py") for p in files):
        raise BadInput(f"{where}: no tests found (no test_*.py or *_test.py files)")
