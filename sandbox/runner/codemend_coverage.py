"""Diff coverage (a repository fix's verifying run only): coverage.py measures the changed
files inside pytest's process, one dynamic context per test (its node id, switched around
each test's protocol, so a line knows which tests ran it; lines run while modules load have
the empty context). Loaded by path, like the witness, before the work folder is on sys.path.

The request comes in ``CODEMEND_COVERAGE`` (JSON ``{"workdir", "out", "files": {rel:
[[first, last], ...]}}``: changed lines, set by the runner); the result, for the changed lines only, goes to
``out`` on the runner's report tmpfs: ``{"files": {rel: {"statements": [...], "executed":
[...], "tests": {"line": [ids]}}}}``. Coverage is stopped before the witness checks that no
trace function is left (its ``pytest_sessionfinish`` runs last). See docs/SECURITY.md for
what this evidence is worth: it is written by the tested process, like the JUnit report.
"""

from __future__ import annotations

import json
import os

ENV = "CODEMEND_COVERAGE"
MAX_IDS = 300  # test ids kept per line (the runner reads at most COVERAGE_CAP bytes)


def coverage_plugin():
    """A pytest plugin that measures the requested files; None when nothing was asked."""
    raw = os.environ.pop(ENV, "")
    if not raw:
        return None
    request = json.loads(raw)
    # what analysis needs later is imported now, while no work folder is on sys.path
    import coverage
    import coverage.parser
    import coverage.python
    import coverage.results  # noqa: F401
    import pytest

    workdir, out = str(request["workdir"]), str(request["out"])
    files = {os.path.join(workdir, rel): rel for rel in request["files"]}
    cov = coverage.Coverage(data_file=None, config_file=False, include=sorted(files))
    cov.set_option("run:core", "ctrace")  # dynamic contexts need a trace-function core
    cov.set_option("report:exclude_lines", [])  # no pragma hides a changed line
    cov.start()

    class DiffCoverage:
        @pytest.hookimpl(wrapper=True)
        def pytest_runtest_protocol(self, item, nextitem):
            cov.switch_context(str(item.nodeid))
            try:
                return (yield)
            finally:
                cov.switch_context("")

        @pytest.hookimpl(tryfirst=True)
        def pytest_sessionfinish(self, session) -> None:
            cov.stop()
            result = {"files": {rel: _lines(cov, path, request["files"][rel])
                                for path, rel in files.items()}}
            _write(out, json.dumps(result))

    return DiffCoverage()


def _lines(cov, path: str, wanted: list) -> dict:
    """Executable and executed lines among ``wanted`` (``[[first, last], ...]``), and the
    tests that ran each."""
    try:
        _, statements, _, missing, _ = cov.analysis2(path)
    except Exception as exc:  # the report says why, the run goes on
        return {"error": f"{type(exc).__name__}: {str(exc)[:200]}"}
    keep = {n for first, last in wanted for n in range(first, min(last, 1 << 20) + 1)}
    statements = sorted(keep.intersection(statements))
    executed = sorted(set(statements) - set(missing))
    data = cov.get_data()
    data.set_query_contexts(None)
    by_line = data.contexts_by_lineno(path)
    return {"statements": statements, "executed": executed,
            "tests": {str(n): sorted(by_line.get(n, []))[:MAX_IDS] for n in executed}}


def _write(path: str, text: str) -> None:
    os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
