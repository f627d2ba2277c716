"""docs/ARCHITECTURE.md is the one source of truth for shapes: every module path it names
exists, and its layer picture names every layer of the import contracts in pyproject.toml."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "ARCHITECTURE.md").read_text(encoding="utf-8")
# agent/x.py, sandbox/runner/y.py, agent/repo/ (a folder), in prose, tables and the picture
PATH = re.compile(r"(?<![\w/.-])((?:agent|sandbox)/[\w/]*?(?:\w+\.py|/))(?![\w/])")


def named_paths() -> set[str]:
    return set(PATH.findall(DOC))


def test_every_module_the_architecture_names_exists():
    paths = named_paths()
    assert len(paths) > 40, sorted(paths)  # the page names the layout, not a handful
    missing = sorted(p for p in paths if not (ROOT / p).exists())
    assert not missing, f"docs/ARCHITECTURE.md names modules that do not exist: {missing}"


def test_the_layer_picture_names_every_layer_of_the_import_contracts():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    contracts = config["tool"]["importlinter"]["contracts"]
    layers = next(c for c in contracts if c["type"] == "layers")["layers"]
    picture = DOC[DOC.index("```mermaid"):]
    picture = picture[:picture.index("```", 3)]
    for row in layers:
        for module in (m.strip() for m in row.split("|")):
            rel = module.removeprefix("codemend.").replace(".", "/")
            assert f"{rel}.py" in picture or f"{rel}/" in picture, (
                f"{module} is a layer in pyproject.toml but not in the picture")
