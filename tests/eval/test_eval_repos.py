"""`codemend eval` on a folder of git repositories with committed bugs (repository mode, as
`codemend fix`): real repositories made here, the real sandbox, a scripted model."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.docker
BUGGY = '''def total(prices, discount=0.0):
    """Sum of ``prices`` less a fractional ``discount``."""
    return sum(prices) * (1 + discount)
'''
TESTS = '''from shop.prices import total


def test_total_without_discount():
    assert total([1.0, 2.0]) == 3.0


def test_total_with_discount():
    assert total([10.0, 10.0], discount=0.5) == 10.0
'''
GOOD = '''The discount must be subtracted.

shop/prices.py
```python
<<<<<<< SEARCH
    return sum(prices) * (1 + discount)
=======
    return sum(prices) * (1 - discount)
>>>>>>> REPLACE
```
'''
UNUSABLE = GOOD.replace("    return sum(prices) * (1 + discount)\n=", "    return sum(x)\n=")


def make_repo(path: Path, prices: str, tests: str = TESTS) -> None:
    files = {"shop/__init__.py": "", "shop/prices.py": prices, "tests/test_prices.py": tests}
    for rel, text in files.items():
        (path / rel).parent.mkdir(parents=True, exist_ok=True)
        (path / rel).write_text(text)
    for args in (["init", "-q", "-b", "main"], ["add", "-A"],
                 ["-c", "user.name=t", "-c", "user.email=t@example.org", "commit", "-qm", "x"]):
        subprocess.run(["git", "-C", str(path), *args], check=True, capture_output=True)


def test_a_folder_of_repositories_is_a_suite(tmp_path, docker_client, sandbox_image,
                                             leftover_containers):
    suite = tmp_path / "repos"
    make_repo(suite / "first", BUGGY)  # healed by the first reply
    make_repo(suite / "second", BUGGY)  # an unusable edit, then the fix
    make_repo(suite / "clean", BUGGY.replace("1 + discount", "1 - discount"))  # no bug
    script = tmp_path / "script.json"
    script.write_text(json.dumps({"first": [GOOD], "second": [UNUSABLE, GOOD],
                                  "clean": [GOOD]}))
    env = {k: v for k, v in os.environ.items() if not k.startswith("CODEMEND_")}
    res = subprocess.run([sys.executable, "-m", "codemend.agent.cli", "eval", str(suite),
                          "--model", f"scripted:{script}", "--out", str(tmp_path / "ev"),
                          "--json"], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=600, stdin=subprocess.DEVNULL)
    assert res.returncode == 0, res.stderr
    summary = json.loads(res.stdout)
    records = {json.loads(x)["task"]: json.loads(x)
               for x in (tmp_path / "ev" / "results.jsonl").read_text().splitlines()}
    got = {t: (r["status"], r["pass_first"], r["pass_healed"], r["iterations"], r["model_calls"])
           for t, r in records.items()}
    assert got == {"first": ("solved", True, True, 1, 1), "second": ("solved", False, True, 2, 2),
                   "clean": ("clean", False, False, 0, 0)}
    # the clean repository had no bug to heal: it counts apart, not as a miss
    assert (summary["tasks"], summary["jobs"], summary["clean"]) == (3, 3, 1)
    assert (summary["pass_first"], summary["pass_healed"], summary["mean_iterations"]) == \
        (1 / 2, 1.0, 3 / 2)
    assert "| clean (every test passes at baseline) | 1 |" in (tmp_path / "ev" / "report.md"
                                                                ).read_text()
    for name in ("first", "second"):  # eval only measures: the work trees are untouched
        assert (suite / name / "shop" / "prices.py").read_text() == BUGGY
