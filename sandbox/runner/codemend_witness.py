"""The witness: a pytest plugin loaded by path into pytest's process (never from the
workspace). It reports collection, every test phase and the session's end on a pipe only
the runner reads. Self-contained on purpose: it imports nothing from its own folder, so no
file in the workspace (pytest's cwd) can stand in for a sibling module.
See docs/SECURITY.md.
"""

from __future__ import annotations

import hashlib
import json
import marshal
import os
import sys
import threading

# bound now, before any workspace code runs: code under test may replace the modules' names
_DUMPS, _SHA256 = marshal.dumps, hashlib.sha256

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
# Repository mode in the project's own environment (see repo_pytest)
REPO_BOOT = WITNESS_BOOT.replace("witnessed_pytest", "repo_pytest")
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
# modules whose every function's code is fingerprinted before and after the run: pytest's
# and pluggy's run and report machinery (plugins may patch others, e.g. _pytest.fixtures)
GUARDED = (
    "_pytest.runner", "_pytest.reports", "_pytest.python", "_pytest.skipping",
    "_pytest.outcomes", "_pytest.main", "_pytest.junitxml", "_pytest.unittest",
    "_pytest.nodes", "_pytest.assertion.rewrite", "_pytest.assertion.util",
    "pluggy._callers", "pluggy._execution", "pluggy._hooks", "pluggy._manager", "pluggy._result",
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
    """The watched objects, their modules and their code objects. The objects themselves
    are kept (not their ids), so a replacement can never reuse a freed address."""
    import importlib
    snap = {}
    for module, dotted in WATCHED:
        try:
            importlib.import_module(module)
        except Exception:
            continue
        obj = _resolve(module, dotted)
        if obj is not None:
            snap[f"{module}.{dotted}"] = (obj, sys.modules[module], _codes(obj))
    return snap


def _codes(obj) -> tuple:
    """The code objects behind a function, method, classmethod, staticmethod or property."""
    if isinstance(obj, (staticmethod, classmethod)):
        obj = obj.__func__
    if isinstance(obj, property):
        return tuple(c for f in (obj.fget, obj.fset, obj.fdel) for c in _codes(f))
    code = getattr(obj, "__code__", None) if callable(obj) else None
    return (code,) if type(code).__name__ == "code" else ()


def _digest(codes: tuple) -> str:
    """A fingerprint of code objects: bytecode, constants, names and nested code, as
    marshal writes them (version 2: no back-references, which depend on refcounts)."""
    h = _SHA256()
    for code in codes:
        h.update(_DUMPS(code, 2))
    return h.hexdigest()


def fingerprint() -> dict:
    """``module.Class.name`` -> digest of the code of every function and method defined in
    the ``GUARDED`` modules: swapping ``Function.runtest.__code__`` keeps the function's
    identity, not its code."""
    out = {}
    for name in GUARDED:
        module = sys.modules.get(name)
        if module is None:
            continue
        for key, obj in list(vars(module).items()):
            if isinstance(obj, type) and obj.__module__ == name:
                for attr, member in list(vars(obj).items()):
                    if _codes(member):
                        out[f"{name}.{key}.{attr}"] = _digest(_codes(member))
            elif getattr(obj, "__module__", None) == name and _codes(obj):
                out[f"{name}.{key}"] = _digest(_codes(obj))
    return out


def changed_code(before: dict, after: dict) -> list[str]:
    """What ``fingerprint`` found changed between two snapshots."""
    out = [f"the code of {name} was changed" for name, digest in before.items()
           if after.get(name, digest) != digest]
    out += [f"{name} was removed" for name in before if name not in after]
    return out


def witness_plugin(fd: int):
    """The witness: a pytest plugin object that reports to ``fd`` (JSON, one per line)."""
    import builtins

    import pytest

    class Witness:
        def __init__(self) -> None:
            self.fd = fd
            self.pm, self.hookexec = None, id(None)
            self.snap = _snapshot()
            self.code = fingerprint()
            self.swapped: list[str] = []
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
            """A test's call phase, and a setup or teardown that did not pass (a passed
            one tells the runner nothing: one record per test, so a suite of tens of
            thousands of tests with long ids fits the runner's cap)."""
            self.check_code()
            when, outcome = str(report.when), str(report.outcome)
            if when == "call" or outcome != "passed":
                self.emit({"e": "test", "id": str(report.nodeid)[:300], "when": when,
                           "outcome": outcome})

        @pytest.hookimpl(trylast=True)
        def pytest_sessionfinish(self, session, exitstatus) -> None:
            self.emit({"e": "end", "status": int(exitstatus), "integrity": self.integrity(),
                       "notes": self.notes(), "plugins": _plugin_files(session.config)})

        def check_code(self) -> None:
            """Per report: the watched functions still run the code they had (a swap
            undone before the session ends is still seen)."""
            if len(self.swapped) < 20:
                for name, (obj, _, codes) in self.snap.items():
                    if codes and _codes(obj) != codes and name not in self.swapped:
                        self.swapped.append(name)

        def integrity(self) -> list[str]:
            now = _snapshot()
            bad = [f"{name} was replaced" for name, (obj, module, _) in self.snap.items()
                   if name not in now or now[name][0] is not obj or now[name][1] is not module]
            bad += [f"the code of {name} was changed during a test" for name in self.swapped]
            bad += [p for p in changed_code(self.code, fingerprint())
                    if not any(f" {name} " in p for name in self.swapped)]
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
    try:  # without coverage.py (an environment of the project's own) the tests still run
        spec = u.spec_from_file_location("_codemend_coverage",
                                         os.path.join(RUNNER_DIR, "codemend_coverage.py"))
        if spec is None or spec.loader is None:
            raise ImportError("the runner's coverage module is missing")
        module = u.module_from_spec(spec)
        spec.loader.exec_module(module)
        return [module.coverage_plugin()]
    except Exception as exc:  # no result file: the host reports the coverage as not measured
        print(f"codemend: diff coverage unavailable: {type(exc).__name__}: {exc}"[:300],
              file=sys.stderr)
        return []


def witnessed_pytest(args: list[str], fd: int, workdir: str) -> int:
    """``pytest.main(args)`` with the witness reporting to ``fd``; ``workdir`` goes first on
    sys.path only after pytest and its standard modules are loaded (as ``python -m pytest``
    in it would, minus the shadowing: a project may have its own ``types.py``)."""
    import pytest
    preload_pytest()
    plugins = [witness_plugin(fd), *extra_plugins()]
    sys.path.insert(0, workdir)
    return int(pytest.main(args, plugins=plugins))


def _inside(path: str, folder: str) -> bool:
    real = os.path.realpath(path or ".")
    return real == folder or real.startswith(folder.rstrip("/") + "/")


def _work_tree_later(workdir: str):
    """A plugin that keeps the work tree off sys.path while pytest reads its command line
    (``-p`` plugins are found by entry point and imported then: never from a
    ``*.dist-info`` or module in the work tree), and puts it back, first, before the
    first conftest is loaded (as ``python -m pytest`` in the work tree has it)."""
    import pytest

    class WorkTreeLater:
        def __init__(self) -> None:
            self.held: list[str] | None = None

        @pytest.hookimpl(wrapper=True)
        def pytest_cmdline_parse(self, pluginmanager, args):
            self.held = [p for p in sys.path if _inside(p, workdir)]
            sys.path[:] = [p for p in sys.path if p not in self.held]
            try:
                return (yield)
            finally:
                self.restore()

        @pytest.hookimpl(tryfirst=True)
        def pytest_load_initial_conftests(self, early_config, parser, args) -> None:
            self.restore()

        def restore(self) -> None:
            if self.held is None:
                return
            sys.path.extend(p for p in self.held if p not in sys.path)
            self.held = None
            if workdir not in sys.path:
                sys.path.insert(0, workdir)

    return WorkTreeLater()


def repo_pytest(args: list[str], fd: int, workdir: str) -> int:
    """Repository mode, run by the project's own Python (its environment, where the
    project is installed editable, pointing at ``workdir``): ``pytest.main(args)`` with
    the witness, plugin autoload off (the runner's environment) and the work tree kept
    off sys.path until the ``-p`` plugins are loaded."""
    import pytest
    preload_pytest()
    plugins = [witness_plugin(fd), *extra_plugins(), _work_tree_later(workdir)]
    return int(pytest.main(args, plugins=plugins))
