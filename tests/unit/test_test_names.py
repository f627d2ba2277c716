"""Test modules are collected by basename (no packages under tests/): two files of one
name in different folders stop the whole run at collection, so every name is unique."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]


def test_every_test_module_name_is_unique():
    names = Counter(p.name for p in TESTS.rglob("test_*.py")
                    if "cases" not in p.relative_to(TESTS).parts)
    assert not [n for n, k in names.items() if k > 1], names.most_common(3)
