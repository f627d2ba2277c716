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


SRC_IN_TESTPATHS = {"pyproject.toml": '[tool.pytest.ini_options]\ntestpaths = ["src", "tests"]\n'
                    'addopts = "--doctest-modules"\n'}
TREE = ["src/pkg/__init__.py", "src/pkg/core.py", "src/pkg/tests/__init__.py",
        "src/pkg/tests/test_core.py", "tests/__init__.py", "tests/test_api.py",
        "checks/__init__.py", "checks/sub/test_x.py"]


def test_a_packages_own_init_under_testpaths_is_source_a_test_packages_is_not():
    """testpaths = ["src", "tests"] (doctests in the source): a fix in src/pkg/__init__.py
    was refused as "a test file"; the __init__.py of a folder holding test modules is one."""
    settings = pytest_settings(SRC_IN_TESTPATHS)
    packages = protected.test_packages(TREE, settings)
    assert packages == {"src/pkg/tests", "tests"}  # checks/ is not under testpaths
    assert protected.reason("src/pkg/__init__.py", settings, packages=packages) is None
    assert protected.reason("src/pkg/tests/__init__.py", settings,
                            packages=packages) == protected.TEST
    assert protected.reason("src/new/__init__.py", settings, packages=packages) is None
    # the file list unknown: every __init__.py under testpaths stays a test file
    assert protected.reason("src/pkg/__init__.py", settings) == protected.TEST


def test_publish_reads_the_test_packages_from_the_recorded_commit(tmp_path):
    import subprocess

    from codemend.agent.ci.errors import Refused
    from codemend.agent.ci.policy import Limits, vet_patch

    def git(*args):
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    files = {**SRC_IN_TESTPATHS, **{p: f"# {p}\n" for p in TREE}}
    for path, text in files.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(text)
    git("init", "-q")
    git("add", "-A")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "base")
    for path, ok in (("src/pkg/__init__.py", True), ("src/pkg/tests/__init__.py", False)):
        (tmp_path / path).write_text("# changed\n")
        patch = tmp_path.parent / "fix.patch"
        patch.write_bytes(subprocess.run(["git", "diff"], cwd=tmp_path, check=True,
                                         capture_output=True).stdout)
        git("checkout", "--", path)
        if ok:
            assert vet_patch(patch, tmp_path, Limits()) == [path]
        else:
            with pytest.raises(Refused, match="a test file"):
                vet_patch(patch, tmp_path, Limits())
