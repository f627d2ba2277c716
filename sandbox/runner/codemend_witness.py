"""The witness: a pytest plugin loaded by path into pytest's process (never from the
workspace). It reports collection, every test phase and the session's end on a pipe only
the runner reads. Self-contained on purpose: it imports nothing from its own folder, so no
file in the workspace (pytest's cwd) can stand in for a sibling module.
See docs/SECURITY.md.
"""

from __future__ import annotations

import json
import os
import sys
import threading

WITNESS_FILE = os.path.abspath(__file__)
RUNNER_DIR = os.path.dirname(WITNESS_FILE)
# `python -s -P -c WITNESS_BOOT FD WORKDIR ARGS...`: pytest with the witness. -P keeps the
# current folder (the workspace) off sys.path, and the witness file is loaded by path, so no
# workspace file (json.py, importlib/, ...) can stand in for it or for what it imports.
WITNESS_BOOT = (
    "import sys, importlib.util as u\n"
    "s = u.spec_from_file_location('_codemend_witness', %r)\n"
    "m = u.module_from_spec(s)\n"
    "s.loader.exec_module(m)\n"
    "fd = int(sys.argv.pop(1))\n"
    "workdir = sys.argv.pop(1)\n"
    "sys.exit(m.witnessed_pytest(sys.argv[1:], fd, workdir))\n"
)
# standard modules pytest imports only while it runs (pdb: late, with readline; getpass:
# tmp_path): imported before the work folder goes on sys.path, so a workspace file of the
# same name is never run by pytest itself (it may still be imported by the tests)
LATE_STDLIB = ("pdb", "readline", "getpass", "termios", "pwd", "faulthandler")
# pytest internals whose replacement would let code under test rewrite outcomes
WATCHED = (
    ("_pytest.runner", "call_and_report"), ("_pytest.runner", "runtestprotocol"),
    ("_pytest.runner", "pytest_runtest_makereport"), ("_pytest.runner", "CallInfo.from_call"),
    ("_pytest.reports", "TestReport.from_item_and_call"), ("_pytest.reports", "BaseReport.passed"),
    ("_pytest.reports", "BaseReport.failed"), ("_pytest.reports", "BaseReport.skipped"),
    ("_pytest.python", "Function.runtest"), ("_pytest.python", "pytest_pyfunc_call"),
    ("_pytest.skipping", "pytest_runtest_makereport"), ("_pytest.skipping", "pytest_runtest_setup"),
    ("_pytest.junitxml", "LogXML.pytest_runtest_logreport"),
    ("_pytest.junitxml", "LogXML.pytest_sessionfinish"), ("_pytest.junitxml", "LogXML.finalize"),
    ("_pytest.junitxml", "_NodeReporter.append_failure"), ("_pytest.junitxml", "_NodeReporter.to_xml"),
    ("_pytest.main", "pytest_runtestloop"), ("_pytest.main", "Session.perform_collect"),
    ("_pytest.main", "Session.pytest_runtest_logreport"), ("_pytest.main", "wrap_session"),
    ("_pytest.outcomes", "fail"), ("_pytest.outcomes", "skip"), ("_pytest.outcomes", "xfail"),
    ("_pytest.assertion.rewrite", "AssertionRewritingHook.exec_module"),
    ("pluggy._callers", "_multicall"), ("pluggy._manager", "_multicall"),
    ("pluggy._hooks", "HookCaller.__call__"), ("pluggy._manager", "PluginManager._hookexec"),
    ("builtins", "AssertionError"), ("builtins", "__import__"), ("builtins", "isinstance"),
    ("os", "_exit"), ("sys", "exit"),
)


def _resolve(module: str, dotted: str):
    """The object at ``module.dotted``, looked up in ``__dict__``s (no descriptors run)."""
    obj = sys.modules.get(module)
    for part in dotted.split("."):
        if obj is None:
            return None
        obj = vars(obj).get(part) if hasattr(obj, "__dict__") else None
    return obj


def _snapshot() -> dict:
    """Identities of the watched objects and of their modules."""
    import importlib
    snap = {}
    for module, dotted in WATCHED:
        try:
            importlib.import_module(module)
        except Exception:
            continue
        obj = _resolve(module, dotted)
        if obj is not None:
            snap[f"{module}.{dotted}"] = (id(obj), id(sys.modules[module]))
    return snap


def witness_plugin(fd: int):
    """The witness: a pytest plugin object that reports to ``fd`` (JSON, one per line)."""
    import builtins

    import pytest

    class Witness:
        def __init__(self) -> None:
            self.fd = fd
            self.pm, self.hookexec = None, id(None)
            self.snap = _snapshot()
            self.builtins = {k: id(v) for k, v in vars(builtins).items()}
            try:
                st = os.fstat(fd)
                self.ident = (st.st_dev, st.st_ino)
            except OSError:
                self.ident = None
            self.emit({"e": "start"})

        def emit(self, record: dict) -> None:
            data = (json.dumps(record) + "\n").encode()
            try:
                while data:
                    data = data[os.write(self.fd, data):]
            except Exception:
                pass  # a lost record is itself evidence: the runner sees it missing

        @pytest.hookimpl(tryfirst=True)
        def pytest_configure(self, config) -> None:
            self.hookexec = id(getattr(config.pluginmanager, "_inner_hookexec", None))
            self.pm = config.pluginmanager

        @pytest.hookimpl(trylast=True)
        def pytest_collectreport(self, report) -> None:
            if not report.passed:
                self.emit({"e": "collect", "outcome": str(report.outcome)})

        @pytest.hookimpl(trylast=True)
        def pytest_collection_finish(self, session) -> None:
            self.emit({"e": "collected", "n": len(session.items)})

        @pytest.hookimpl(tryfirst=True)
        def pytest_runtest_logreport(self, report) -> None:
            self.emit({"e": "test", "id": str(report.nodeid)[:300], "when": str(report.when),
                       "outcome": str(report.outcome)})

        @pytest.hookimpl(trylast=True)
        def pytest_sessionfinish(self, session, exitstatus) -> None:
            self.emit({"e": "end", "status": int(exitstatus), "integrity": self.integrity(),
                       "notes": self.notes(), "plugins": _plugin_files(session.config)})

        def integrity(self) -> list[str]:
            now = _snapshot()
            bad = [f"{name} was replaced" for name, ident in self.snap.items()
                   if now.get(name) != ident]
            if id(getattr(self.pm, "_inner_hookexec", None)) != self.hookexec:
                bad.append("pluggy's hook executor was replaced")
            if sys.gettrace() is not None or sys.getprofile() is not None:
                bad.append("a trace or profile function is set")
            if getattr(threading, "_trace_hook", None) or getattr(threading, "_profile_hook", None):
                bad.append("a thread trace or profile hook is set")
            try:
                st = os.fstat(self.fd)
                ident = (st.st_dev, st.st_ino)
            except OSError:
                ident = None
            if ident != self.ident:
                bad.append("the witness channel was closed or replaced")
            return bad[:20]

        def notes(self) -> list[str]:
            now = {k: id(v) for k, v in vars(builtins).items()}
            changed = sorted(k for k in {*now, *self.builtins}
                             if now.get(k) != self.builtins.get(k) and k != "_")
            return [f"builtins changed: {', '.join(changed[:10])}"] if changed else []

    return Witness()


def _plugin_files(config) -> list[str]:
    """Files of registered plugins that are not part of Python, pytest or this runner."""
    prefixes = tuple({os.path.realpath(p) + "/" for p in (sys.prefix, sys.base_prefix,
                                                           sys.exec_prefix, RUNNER_DIR)})
    out = []
    for _, plugin in config.pluginmanager.list_name_plugin():
        module = plugin if hasattr(plugin, "__file__") else sys.modules.get(
            getattr(type(plugin), "__module__", ""))
        path = str(getattr(module, "__file__", "") or "")
        if path and not os.path.realpath(path).startswith(prefixes):
            out.append(path[:300])
    return sorted(set(out))[:20]


def preload_pytest() -> None:
    """Import pytest, its default plugins and the standard modules it needs later, while
    sys.path holds no workspace folder: pytest then runs its own standard library."""
    import importlib

    import pytest  # noqa: F401
    from _pytest.config import default_plugins
    for name in (*(f"_pytest.{n}" for n in default_plugins), "_pytest._argcomplete", *LATE_STDLIB):
        try:
            importlib.import_module(name)
        except ImportError:
            pass  # e.g. no readline in this Python: then pytest does without it too


def extra_plugins() -> list:
    """The diff-coverage plugin when the runner asked for it (``CODEMEND_COVERAGE``):
    codemend_coverage.py, loaded by path like this file, before the work folder is on
    sys.path."""
    if not os.environ.get("CODEMEND_COVERAGE"):
        return []
    import importlib.util as u
    spec = u.spec_from_file_location("_codemend_coverage",
                                     os.path.join(RUNNER_DIR, "codemend_coverage.py"))
    module = u.module_from_spec(spec)
    spec.loader.exec_module(module)
    return [module.coverage_plugin()]


def witnessed_pytest(args: list[str], fd: int, workdir: str) -> int:
    """``pytest.main(args)`` with the witness reporting to ``fd``; ``workdir`` goes first on
    sys.path only after pytest and its standard modules are loaded (as ``python -m pytest``
    in it would, minus the shadowing: a project may have its own ``types.py``)."""
    import pytest
    preload_pytest()
    plugins = [witness_plugin(fd), *extra_plugins()]
    sys.path.insert(0, workdir)
    return int(pytest.main(args, plugins=plugins))
