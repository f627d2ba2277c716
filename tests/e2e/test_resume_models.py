"""`codemend resume` with another model: the attempts it makes are recorded under its name,
and a `--fallback-model` first given at resume takes over where the run would escalate."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from e2e_helpers import no_traceback

pytestmark = pytest.mark.docker

SPEC = '''name = "adder"
prompt = "Write add(a, b) in adder.py returning a + b."
solution = "adder.py"

[limits]
check_timeout_s = 60

[[tests]]
name = "tests/test_adder.py"
source = """
from adder import add


def test_add():
    assert add(2, 3) == 5
"""
'''


def reply(body: str) -> str:
    return f"add.\n\n```python\ndef add(a, b):\n    return {body}\n```\n"


def script(path: Path, *replies: str) -> str:
    path.write_text(json.dumps({"replies": list(replies)}))
    return f"scripted:{path.name}"


@pytest.fixture
def work(cli, docker_client, sandbox_image, leftover_containers):
    return cli


def test_resume_with_another_model_and_a_new_fallback(work):
    (work.cwd / "task").mkdir()
    (work.cwd / "task" / "spec.toml").write_text(SPEC)
    first = script(work.cwd / "a.json", reply("a - b"))
    # the second model is asked with the run's call count: its reply for call 1 is used
    second = script(work.cwd / "b.json", reply("unused"), reply("a * b"))
    third = script(work.cwd / "c.json", reply("a + b"))
    state = ("--state-dir", "state", "--sandbox", "cold")
    res = work.run("solve", "task/spec.toml", "--model", first, "--run-id", "m-run",
                   "--max-iterations", "1", *state)
    assert res.code == 3, str(res)  # paused at the iteration limit (no terminal)
    res = work.run("resume", "m-run", "--more", "1", "--model", second, "--fallback-model",
                   third, *state)
    no_traceback(res)
    assert res.code == 0, str(res)
    assert "switching models" in res.stderr + res.stdout
    shown = work.run("show", "m-run", "--json", "--state-dir", "state")
    models = [a["model"] for a in shown.json()["attempts"]]
    assert models == [first, second, third]
    # the run list names the model the resume gave (it kept the first one)
    listed = work.run("runs", "--json", "--state-dir", "state").json()["runs"]
    assert [(r["run_id"], r["model"]) for r in listed] == [("m-run", second)]
