"""Settings are typed once, at the edge: only the command modules (and the parsers) see the
command line's ``argparse.Namespace``; everything below takes ``Settings``,
``OutputOptions`` or the few fields it needs."""

from __future__ import annotations

import ast
from pathlib import Path

from codemend.agent.config import OutputOptions

ROOT = Path(__file__).resolve().parents[2]
EDGE = {"agent/cli.py", "agent/fix_commands.py", "agent/run_commands.py",
        "agent/sandbox_commands.py", "agent/repair/command.py", "agent/eval/command.py",
        "agent/eval/flags.py", "agent/ci/cli.py", "agent/ci/commands.py", "agent/ci/propose.py"}


def test_no_module_below_the_commands_imports_argparse():
    below = []
    for path in sorted((ROOT / "agent").rglob("*.py")) + sorted((ROOT / "sandbox").rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        tree = ast.parse(path.read_text(encoding="utf-8"))
        names = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        names |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
        if "argparse" in names and rel not in EDGE:
            below.append(rel)
    assert not below, f"below the command layer, these take the command line: {below}"


def test_output_options_are_read_from_the_flags_once():
    opts = OutputOptions.from_flags({"json": 1, "force": None, "interactive": False,
                                     "out": Path("/tmp/o"), "model": "x"})
    assert opts == OutputOptions(json=True, force=False, interactive=False, out="/tmp/o")
    assert OutputOptions.from_flags({}).interactive is None
