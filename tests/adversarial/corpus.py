"""The adversarial corpus: one TOML file per case in ``cases/`` (data, never imported).

A case holds hostile code and what the sandbox must make of it::

    description = "what the code tries"
    expect = ["fail"]          # acceptable verdicts
    timeout_s = 10             # the check's limit
    slow = false               # mark the case @pytest.mark.slow
    tamper = ["T204"]          # optional: every one of these codes is in report.tamper
    message = "JUnit"          # optional: a substring of report.message
    failed = ["test_small"]    # optional: tests that must be in the report as failed/error
    passed = ["test_dash"]     # optional: tests that must be in the report as passed
    lint = ["F401"]            # optional: ruff codes that must be among the findings
    none_pass = true           # optional: on a ``fail`` verdict, no test passed
    caught_by = ["T204"]       # optional: a report forged and caught by these codes may show
                               # forged outcomes, so ``failed``/``passed``/``none_pass`` are
                               # then not required (the forger won a race on one backend)

Every case that expects ``fail`` names the evidence that its attack ran and was caught
(``tamper``, ``message``, ``failed`` or ``none_pass``), so it fails when its defence is
removed (docs/SECURITY.md, "Which case guards which defence").
    host_env = {NAME = "..."}  # optional: variables set in the host's environment
    solution = '''...'''       # sol.py
    tests = '''...'''          # tests/test_sol.py (default: DEFAULT_TESTS)
    [files]                    # optional: more solution files, by relative path
    [test_files]               # optional: more test files, by relative path

``@MARKER@`` in any text is replaced by a marker unique to one run of the case, so the
host can look for processes and files that carry it afterwards.
"""

from __future__ import annotations

import secrets
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from codemend.sandbox.report import Verdict
from codemend.sandbox.workspace import Workspace

CASES_DIR = Path(__file__).parent / "cases"
MARKER = "@MARKER@"

DEFAULT_TESTS = '''from sol import add


def test_small():
    assert add(1, 2) == 3


def test_negative():
    assert add(-2, -3) == -5
'''

WRONG_ADD = "def add(a, b):\n    return a - b\n"
"""The honest-but-wrong solution most attacks start from: both default tests fail."""

GOOD = Workspace(files={"sol.py": "def add(a, b):\n    return a + b\n"},
                 tests={"tests/test_sol.py": DEFAULT_TESTS})
"""The follow-up check every case runs on the same sandbox: it must pass."""


@dataclass(frozen=True)
class Case:
    """One adversarial case, loaded from ``cases/<name>.toml``."""

    name: str
    description: str
    expect: tuple[Verdict, ...]
    solution: str
    tests: str = DEFAULT_TESTS
    timeout_s: float = 10.0
    slow: bool = False
    tamper: tuple[str, ...] = ()
    message: str = ""
    failed: tuple[str, ...] = ()
    passed: tuple[str, ...] = ()
    lint: tuple[str, ...] = ()
    none_pass: bool = False
    caught_by: tuple[str, ...] = ()
    host_env: dict[str, str] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)
    test_files: dict[str, str] = field(default_factory=dict)

    def workspace(self, marker: str) -> Workspace:
        """The case's workspace with ``@MARKER@`` replaced by ``marker``."""
        def sub(text: str) -> str:
            return text.replace(MARKER, marker)

        files = {"sol.py": sub(self.solution), **{k: sub(v) for k, v in self.files.items()}}
        tests = {"tests/test_sol.py": sub(self.tests),
                 **{k: sub(v) for k, v in self.test_files.items()}}
        return Workspace(files=files, tests=tests)


def new_marker(case: Case) -> str:
    """A marker no other process on this host carries."""
    return f"cmadv{case.name.replace('_', '')[:20]}{secrets.token_hex(6)}"


def load(path: Path) -> Case:
    data = tomllib.loads(path.read_text())
    expect = data.pop("expect")
    lists = {key: tuple(data.pop(key, ())) for key in ("tamper", "failed", "passed", "lint",
                                                        "caught_by")}
    return Case(name=path.stem, expect=tuple(expect if isinstance(expect, list) else [expect]),
                **lists, **data)


def load_all() -> list[Case]:
    """Every case, in name order."""
    return [load(p) for p in sorted(CASES_DIR.glob("*.toml"))]
