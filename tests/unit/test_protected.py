"""The one list of paths a fix may not change (agent/repo/protected.py), as `fix`, `repair`
and `ci github publish` see it."""

from __future__ import annotations

import pytest
from codemend.agent.ci.policy import protected_reason as publish_reason
from codemend.agent.repo import protected
from codemend.agent.repo.layout import pytest_settings

NEVER = [".github/workflows/ci.yml", ".gitmodules", "pkg/evil.pth", "x-1.0.dist-info/METADATA",
         "src/x-1.0.dist-info/entry_points.txt", "x.egg-info/entry_points.txt", "x.egg-link",
         "sitecustomize.py", "src/usercustomize.py", "pkg/__pycache__/m.cpython-312.pyc",
         "pkg/m.pyc", "../outside.py", "/etc/passwd", "a/../../b.py"]
TESTS = ["tests/test_a.py", "test_a.py", "a_test.py", "src/conftest.py", "conftest.py",
         "tests/__init__.py", "testing/helpers.py"]
CONFIG = ["pyproject.toml", "pytest.toml", ".pytest.toml", "pytest.ini", ".pytest.ini",
          "tox.ini", "setup.cfg", "setup.py", "ruff.toml", ".ruff.toml", "requirements-dev.txt",
          "Makefile", "noxfile.py"]
SOURCE = ["pkg/core.py", "src/pkg/__init__.py", "README.md", "pkg/data.json", "pkg/pytest_x.py"]


@pytest.mark.parametrize("path", NEVER)
def test_never_even_with_test_edits(path):
    assert protected.reason(path, allow_test_edits=True)
    assert publish_reason(path, allow_test_edits=True)


@pytest.mark.parametrize("path", TESTS + CONFIG)
def test_tests_and_configuration_only_with_test_edits(path):
    assert protected.reason(path) in (protected.TEST, protected.CONFIG)
    assert publish_reason(path) == protected.reason(path)
    assert protected.reason(path, allow_test_edits=True) is None


@pytest.mark.parametrize("path", SOURCE)
def test_source_is_free(path):
    assert protected.reason(path) is None and publish_reason(path) is None


def test_the_projects_pytest_settings_say_which_files_are_tests():
    settings = pytest_settings({"pytest.toml": '[pytest]\ntestpaths = ["checks"]\n'
                                               'python_files = ["check_*.py"]\n'})
    assert settings.source == "pytest.toml" and settings.testpaths == ("checks",)
    assert protected.reason("checks/check_a.py", settings) == protected.TEST
    assert protected.reason("checks/__init__.py", settings) == protected.TEST
    assert protected.reason("pkg/__init__.py", settings) is None
