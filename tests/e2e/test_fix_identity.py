"""Every check is the same as the baseline (issue 16, item 3): a candidate whose files are
identical to the base snapshot collects exactly the same test ids with the same outcomes,
and a fix is judged on ids the baseline's own run gave.

The project is small, real and built here (a git repository with an installable src
layout), with the traits where a candidate's check can drift from the baseline's:

- test ids that name the work folder (a data file parametrized by its absolute path, as
  many projects do with ``glob(os.path.dirname(__file__) ...)``): a check run in another
  folder than the baseline's collects other ids, so the baseline's targets are never seen
  again (each check in its own ``/work/<token>`` made a committed bug come out ``clean``:
  its two baseline runs shared no failing id);
- doctests of the src package's modules (``--doctest-modules`` in ``pyproject.toml``), so
  ``src/tiny/*.py`` are collected as modules by the project's configuration, and only by it;
- a ``tox.ini`` whose own ``[pytest]`` section pytest must ignore (``pyproject.toml``
  comes first), which would turn the doctests off.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from codemend.agent.repo.environment import sandbox_config
from codemend.agent.repo.snapshot import load_repo
from codemend.sandbox.factory import make_sandbox
from repo_identity import differences, outcomes
from repo_projects import commit, git

pytestmark = pytest.mark.docker

WORK = "/work/repo"
"""Where the sandbox unpacks a repository (its editable install points there)."""
BUG = ("src/tiny/words.py", "    return text.upper()", "    return text.lower()")
FILES = {
    "pyproject.toml": (
        '[build-system]\nrequires = ["setuptools>=61"]\nbuild-backend = "setuptools.build_meta"\n\n'
        '[project]\nname = "tiny"\nversion = "1.0"\n\n'
        '[tool.pytest.ini_options]\ntestpaths = ["src", "tests"]\n'
        'addopts = "--doctest-modules"\n'),
    "tox.ini": ("[tox]\nenv_list = py\n\n[testenv]\ncommands = pytest {posargs}\n\n"
                "[pytest]\naddopts = -p no:doctest\n"),
    "src/tiny/__init__.py": '"""Tiny."""\n\nfrom tiny.words import shout\n\n__all__ = ["shout"]\n',
    "src/tiny/words.py": ('"""Shouting."""\n\n\ndef shout(text):\n'
                             '    """\n    >>> shout("hi")\n    \'HI\'\n    """\n'
                             "    return text.upper()\n"),
    "src/tiny/more.py": ('"""More."""\n\n\ndef double(n):\n'
                         '    """\n    >>> double(2)\n    4\n    """\n    return 2 * n\n'),
    "tests/data/digits.txt": "123\n",
    "tests/data/letters.txt": "abc\n",
    "tests/test_data.py": (
        "import glob\nimport os\n\nimport pytest\nfrom tiny import shout\n\n"
        "HERE = os.path.dirname(os.path.abspath(__file__))\n\n\n"
        '@pytest.mark.parametrize("path", sorted(glob.glob(os.path.join(HERE, "data", '
        '"*.txt"))))\ndef test_each_data_file(path):\n'
        "    with open(path) as fh:\n        text = fh.read()\n"
        "    assert shout(text) == text.upper()\n"),
    "tests/test_more.py": ("from tiny.more import double\n\n\n"
                           "def test_double():\n    assert double(3) == 6\n"),
}
DATA = "tests/test_data.py::test_each_data_file[{}/tests/data/{}.txt]"
IDS = {"src/tiny/words.py::tiny.words.shout": "passed", "src/tiny/more.py::tiny.more.double": "passed",
       DATA.format(WORK, "digits"): "passed", DATA.format(WORK, "letters"): "passed",
       "tests/test_more.py::test_double": "passed"}
"""Every id of the suite, as released, and its outcome."""
TARGETS = ["src/tiny/words.py::tiny.words.shout", DATA.format(WORK, "letters")]
"""What the bug fails."""


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    """The project as released, then its bug committed on top."""
    repo = tmp_path_factory.mktemp("identity") / "tiny"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    commit(repo, "tiny 1.0", FILES)
    path, good, bad = BUG
    commit(repo, "introduce a bug", {path: FILES[path].replace(good, bad)})
    return repo


def test_an_identical_candidate_collects_the_same_ids_and_outcomes(tiny, docker_client,
                                                                   sandbox_image):
    """The fix loop's sandbox (one pooled container for the baseline and the candidates)."""
    snap = load_repo(tiny)
    with make_sandbox("pool", sandbox_config(snap, docker_client), docker_client,
                      size=1) as sb:
        base = sb.check(snap.workspace())
        assert differences(sb, snap, BUG[0], baseline=base) == []
    expected = {**IDS, **dict.fromkeys(TARGETS, "failed")}
    assert outcomes(base) == expected, base.output[-2000:]


def test_fix_is_judged_on_the_ids_its_baseline_gave(tiny, tmp_path, docker_client,
                                                    sandbox_image, leftover_containers):
    """``codemend fix`` with a reply that writes the released line back: ``fixed``, with
    the bug's two failing tests as targets, and the final check counting what the baseline
    collected, all passing."""
    path, good, bad = BUG
    reply = f"Restore the line.\n\n{path}\n<<<<<<< SEARCH\n{bad}\n=======\n{good}\n>>>>>>> REPLACE\n"
    replies = tmp_path / "replies.json"
    replies.write_text(json.dumps({"replies": [reply] * 4}))  # one is enough when right
    env = {k: v for k, v in os.environ.items() if not k.startswith("CODEMEND_")}
    env["CODEMEND_STATE_DIR"] = str(tmp_path / "state")
    res = subprocess.run([sys.executable, "-m", "codemend.agent.cli", "fix", str(tiny),
                          "--model", f"scripted:{replies}", "--json", "--out",
                          str(tmp_path / "out")], cwd=tmp_path, env=env, capture_output=True,
                         text=True, timeout=600)
    assert (tmp_path / "out" / "report.json").is_file(), (res.stdout[-2000:], res.stderr[-3000:])
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    why = [(a["node"], a["verdict"], a.get("reason", "")[:400]) for a in report["attempts"]]
    assert (report["status"], report["targets"], report["flaky"]) == ("fixed", TARGETS, []), \
        (report["status"], report["targets"], why)
    assert res.returncode == 0 and report["model_calls"] == 1, why
    baseline, final = report["baseline"], report["final"]
    assert (baseline["passed"], baseline["failed"], baseline["collected"]) == (3, 2, len(IDS))
    assert (final["passed"], final["failed"], final["errors"], final["collected"]) == \
        (len(IDS), 0, 0, len(IDS))



COINS = 24
SETUP = ('[build-system]\nrequires = ["setuptools>=61"]\nbuild-backend = "setuptools.build_meta"\n\n'
         '[project]\nname = "coins"\nversion = "1.0"\n')
SEEDED = {
    # pytest-randomly shuffles the tests and seeds ``random`` before each one
    "randomly": {
        "tox.ini": "[testenv]\ndeps =\n    pytest\n    pytest-randomly\ncommands = pytest\n",
        "coins.py": "import random\n\n\ndef toss(n):\n"
                    "    return [random.random() for _ in range(n + 1)][-1] < 0.5\n",
        "tests/test_coins.py": ("import pytest\nfrom coins import toss\n\n\n"
                                f"@pytest.mark.parametrize('n', range({COINS}))\n"
                                "def test_heads(n):\n    assert toss(n)\n"),
    },
    # hypothesis draws its examples from a seed of its own per test
    "hypothesis": {
        "tox.ini": "[testenv]\ndeps =\n    pytest\n    hypothesis\ncommands = pytest\n",
        "coins.py": "def heads(x):\n    return x % 2 == 1\n",
        "tests/test_coins.py": (
            "import pytest\nfrom coins import heads\nfrom hypothesis import Phase, given, settings\n"
            "from hypothesis import strategies as st\n\n\n"
            f"@pytest.mark.parametrize('n', range({COINS}))\n"
            "@settings(max_examples=2, database=None, phases=[Phase.generate], deadline=None)\n"
            "@given(x=st.integers(1, 2**32))\ndef test_heads(n, x):\n    assert heads(x)\n"),
    },
}


@pytest.mark.parametrize("plugin", sorted(SEEDED))
def test_a_plugin_that_draws_a_seed_per_run_draws_the_same_in_every_check(
        plugin, tmp_path, docker_client, sandbox_image):
    """A plugin the project's tox env declares draws a random seed of its own for every
    run: each check then tosses other coins, and an identical candidate fails other tests
    than its baseline (about half of them). Every check of a repository gets one seed."""
    repo = tmp_path / "coins"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    commit(repo, "coins 1.0", {"pyproject.toml": SETUP, **SEEDED[plugin]})
    snap = load_repo(repo)
    with make_sandbox("pool", sandbox_config(snap, docker_client), docker_client,
                      size=1) as sb:
        base = sb.check(snap.workspace())
        assert differences(sb, snap, "coins.py", baseline=base) == []
    assert len(outcomes(base)) == COINS, base.output[-2000:]


def test_a_plugin_the_project_turns_off_stays_off(tmp_path, docker_client, sandbox_image):
    """``-p no:randomly`` in the project's addopts: its CI never loads pytest-randomly,
    though its tox env installs it; every check runs without it too (naming the
    environment's plugins with ``-p`` after the project's options turned it back on)."""
    repo = tmp_path / "off"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    commit(repo, "off 1.0", {
        "pyproject.toml": SETUP + '\n[tool.pytest.ini_options]\naddopts = "-p no:randomly"\n',
        "tox.ini": "[testenv]\ndeps =\n    pytest-randomly\n    hypothesis\ncommands = pytest\n",
        "coins.py": "HEADS = True\n",
        "tests/test_plugins.py": (
            "def test_randomly_is_off(pytestconfig):\n"
            "    assert not pytestconfig.pluginmanager.has_plugin('randomly')\n\n\n"
            "def test_an_environment_plugin_is_on(pytestconfig):\n"
            "    assert pytestconfig.pluginmanager.has_plugin('hypothesispytest')\n")})
    snap = load_repo(repo)
    with make_sandbox("cold", sandbox_config(snap, docker_client), docker_client) as sb:
        report = sb.check(snap.workspace())
    assert outcomes(report) == {"tests/test_plugins.py::test_randomly_is_off": "passed",
                                "tests/test_plugins.py::test_an_environment_plugin_is_on":
                                    "passed"}, report.output[-2000:]
