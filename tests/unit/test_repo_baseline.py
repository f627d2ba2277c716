"""Baseline failures the host does not have (issue 16, item 5): a test that fails only for
the sandbox's environment is reported apart, never a target nor a regression."""

from __future__ import annotations

from pathlib import Path

import pytest
from codemend.agent.repo import verify
from codemend.agent.repo.baseline import run_baseline
from codemend.agent.repo.envfail import cause
from codemend.agent.repo.snapshot import from_files
from codemend.agent.repotask import RepoTask
from codemend.sandbox.report import CheckReport, LintReport, TestCase, TestReport

SNAP = from_files(Path("/repo"), {"pkg/__init__.py": "", "tests/test_a.py": "x = 1\n"}, {})

# the failures as pytest reports them in the sandbox (message, traceback tail)
ENVIRONMENT = {
    "network": ("socket.gaierror: [Errno -3] Temporary failure in name resolution",
                "E   socket.gaierror: [Errno -3] Temporary failure in name resolution"),
    "network2": ("urllib.error.URLError: <urlopen error [Errno 101] Network is unreachable>",
                 ""),
    "locale": ("locale.Error: unsupported locale setting",
               "tests/test_a.py:9: in test_fr\n    locale.setlocale(locale.LC_ALL, 'fr_FR')\n"
               "E   locale.Error: unsupported locale setting"),
    "zone": ("zoneinfo._common.ZoneInfoNotFoundError: 'No time zone found with key "
             "Europe/Paris'", ""),
    "read-only": ("PermissionError: [Errno 1] Operation not permitted",
                  "tests/test_loader.py:129: in test_caches_template_based_on_mtime\n"
                  "    os.utime(filepath, (mtime, mtime))\n"
                  "E   PermissionError: [Errno 1] Operation not permitted"),
    "cache": ("PermissionError: [Errno 13] Permission denied: '.mypy_cache'", ""),
    "ruff cache": ("pytest_ruff.RuffError: ruff failed   Cause: Failed to create temporary file"
                   "   Cause: No such file or directory (os error 2) at path "
                   "\"/work/repo/.ruff_cache/0.17.6/.tmpOp9llZ\"", ""),
    "hypothesis": ("AssertionError", "E   hypothesis.errors.HypothesisWarning: The database "
                   "setting is not configured, and the default location is unusable - falling "
                   "back to an in-memory database for this session.  path=PosixPath("
                   "'/work/repo/.hypothesis/examples')\n\nDuring handling of the above "
                   "exception, another exception occurred:\nE   AssertionError"),
    "script": ("FileNotFoundError: [Errno 2] No such file or directory: 'mytool'",
               "E   FileNotFoundError: [Errno 2] No such file or directory: 'mytool'"),
}
CODE = {
    "assert": ("AssertionError: assert 2 == 3", "E   assert 2 == 3"),
    "data file": ("FileNotFoundError: [Errno 2] No such file or directory: "
                  "'/work/x/tests/data/in.json'", ""),
    "value": ("ValueError: invalid literal for int() with base 10: 'x'", ""),
}


def case(cid: str, outcome: str, text: tuple[str, str] = ("", "")) -> TestCase:
    return TestCase(id=cid, outcome=outcome, message=text[0], traceback=text[1])


def report(cases: list[TestCase]) -> CheckReport:
    bad = sum(c.outcome == "failed" for c in cases)
    return CheckReport(verdict="fail" if bad else "pass", duration_s=1.0, lint=LintReport(ok=True),
                       tests=TestReport(ok=not bad, passed=len(cases) - bad, failed=bad,
                                        cases=cases))


@pytest.mark.parametrize("name", sorted(ENVIRONMENT))
def test_each_environment_cause_is_named(name):
    assert cause(case("t", "failed", ENVIRONMENT[name])) is not None


@pytest.mark.parametrize("name", sorted(CODE))
def test_ordinary_failures_are_not_the_environment(name):
    assert cause(case("t", "failed", CODE[name])) is None


class Replay:
    def __init__(self, *reports):
        self.reports = list(reports)

    def check(self, workspace, *, timeout_s=None):
        return self.reports.pop(0)


def test_environment_failures_are_reported_apart_and_never_targets():
    cases = [case("tests/test_a.py::test_dns", "failed", ENVIRONMENT["network"]),
             case("tests/test_a.py::test_fr", "failed", ENVIRONMENT["locale"]),
             case("tests/test_a.py::test_sum", "failed", CODE["assert"]),
             case("tests/test_a.py::test_ok", "passed")]
    got = run_baseline(Replay(report(cases), report(cases)), SNAP, 30)
    assert got.targets == ["tests/test_a.py::test_sum"]
    assert got.environment == {"tests/test_a.py::test_dns": "network (the sandbox has none)",
                               "tests/test_a.py::test_fr": "locale (not installed in the sandbox)"}
    # only environment failures: nothing for the model to fix
    only_env = [c for c in cases if c.id != "tests/test_a.py::test_sum"]
    assert run_baseline(Replay(report(only_env), report(only_env)), SNAP, 30).clean
    # a candidate is not blamed for them: they fail after the fix as before
    task = RepoTask(root="/repo", base_id="b", targets=got.targets,
                    environment=got.environment)
    fixed = [c if c.id != "tests/test_a.py::test_sum" else case(c.id, "passed") for c in cases]
    assert verify.test_problems(report(fixed), got.report, task, SNAP) == []
