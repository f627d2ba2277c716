"""Test-run rules that keep CI honest (loaded by tests/conftest.py as a plugin).

- Under ``CI=true`` nothing skips silently: a skip (of a Docker, root, network or any other
  test) is turned into a failure that says why it would have skipped. CI runs on a machine
  that has every real part (Docker daemon, root, loopback network), so a skip there means a
  missing install step, never a reason to pass.
- Tests marked ``destructive`` stop the shared ``dockerd`` or mount filesystems. They run in
  CI and on request (``pytest --destructive``, ``make test-destructive``), never in a plain
  local ``pytest`` run, where they would break whatever else uses the same daemon.
"""

from __future__ import annotations

import os

import pytest


def in_ci() -> bool:
    return os.environ.get("CI") == "true"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--destructive", action="store_true", default=False,
                     help="also run tests marked destructive (they stop the shared dockerd "
                          "or mount filesystems); on by default under CI=true")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "destructive: stops the shared dockerd or mounts "
                            "filesystems; runs under CI=true or with --destructive only")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if in_ci() or config.getoption("--destructive"):
        return
    kept, dropped = [], []
    for item in items:
        (dropped if item.get_closest_marker("destructive") else kept).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    outcome = yield
    report = outcome.get_result()
    if not (in_ci() and report.skipped) or hasattr(report, "wasxfail"):
        return
    longrepr = report.longrepr
    reason = longrepr[2] if isinstance(longrepr, tuple) and len(longrepr) == 3 else str(longrepr)
    report.outcome = "failed"
    report.longrepr = (f"{item.nodeid} skipped under CI=true ({reason}); CI has Docker, root "
                       "and a loopback network, so a skip here is a missing set-up step")
