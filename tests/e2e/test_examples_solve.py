"""Every example task solves in the real sandbox: with its scripted replies, or with a
single reply holding its reference solution."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from codemend.agent.runs import RunStore
from codemend.sandbox.cold import ColdSandbox

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("run_examples", ROOT / "scripts" / "run_examples.py")
run_examples = importlib.util.module_from_spec(spec)
spec.loader.exec_module(run_examples)
FOLDERS = sorted(p.parent for p in (ROOT / "tasks" / "examples").glob("*/spec.toml"))
pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
def shared(docker_client, sandbox_image, tmp_path_factory):
    with RunStore(tmp_path_factory.mktemp("state")) as store, \
            ColdSandbox(client=docker_client) as sandbox:
        yield store, sandbox


def test_there_are_enough_examples():
    assert len(FOLDERS) >= 8
    assert sum((f / "replies.toml").is_file() for f in FOLDERS) >= 3


@pytest.mark.parametrize("folder", FOLDERS, ids=[f.name for f in FOLDERS])
def test_example_solves(folder, shared):
    store, sandbox = shared
    row = run_examples.solve_example(folder, store, sandbox)
    assert row["status"] == "solved", row
    if row["source"] == "replies.toml":
        assert row["iterations"] >= 2  # the scripts reproduce a failure first
