"""End to end: the CLI with the scripted model (or a real local OpenAI server) and the real
sandbox. Each test runs `codemend` as a subprocess in a fresh folder."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "tasks" / "examples"
pytestmark = pytest.mark.docker
SANDBOX = "pool"


def codemend(*args: str, cwd: Path, timeout: float = 180) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CODEMEND_")}
    env["CODEMEND_SANDBOX"] = SANDBOX
    return subprocess.run([sys.executable, "-m", "codemend.agent.cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


def solve(task: str, cwd: Path, *extra: str) -> subprocess.CompletedProcess:
    folder = EXAMPLES / task
    return codemend("solve", str(folder / "spec.toml"), "--model",
                    f"scripted:{folder / 'replies.toml'}", "--json", *extra, cwd=cwd)


def attempts(cwd: Path, run_id: str) -> list[tuple[str, str]]:
    shown = codemend("show", run_id, "--json", cwd=cwd)
    assert shown.returncode == 0, shown.stderr
    return [(a["node"], a["verdict"]) for a in json.loads(shown.stdout)["attempts"]]


@pytest.fixture
def work(tmp_path, docker_client, sandbox_image, leftover_containers):
    return tmp_path


def test_demo_heals_step_by_step(work):
    res = codemend("demo", "--json", cwd=work)
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["status"] == "solved" and out["iterations"] == 2 and out["verdict"] == "pass"
    assert attempts(work, out["run_id"]) == [("generate", "fail"), ("autofix", "fail"),
                                             ("fix", "pass")]
    written = Path(work, out["out"])
    assert "import statistics" not in (written / "safestats.py").read_text()
    report = json.loads((written / "report.json").read_text())
    assert report["status"] == "solved" and len(report["attempts"]) == 3


def test_demo_human_output_shows_each_step(work):
    res = codemend("demo", cwd=work)
    assert res.returncode == 0, res.stderr
    steps = [ln.split()[1] for ln in res.stderr.splitlines() if ln.strip().startswith("#")]
    assert steps == ["generate", "autofix", "fix"]
    assert "solved" in res.stdout


def test_reply_without_code_is_fed_back_and_healed(work):
    res = solve("slugify", work, "--run-id", "nocode")
    assert res.returncode == 0, res.stderr
    assert attempts(work, "nocode") == [("generate", "format_error"), ("fix", "pass")]


def test_escalates_at_limit_then_resume_more_heals(work):
    res = solve("lru_cache", work, "--run-id", "lim", "--max-iterations", "1")
    assert res.returncode == 3, res.stderr
    out = json.loads(res.stdout)
    assert out["status"] == "escalated" and out["iterations"] == 1
    best = Path(work, out["out"], "lrucache.py")
    assert "class LruCache" in best.read_text()  # the best attempt is written out
    resumed = codemend("resume", "lim", "--more", "1", "--json", cwd=work)
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout)["status"] == "solved"
    assert attempts(work, "lim") == [("generate", "fail"), ("fix", "pass")]
    assert "class LRUCache" in best.read_text()


def test_paused_run_needs_a_decision_without_a_terminal(work):
    assert solve("lru_cache", work, "--run-id", "p", "--max-iterations", "1").returncode == 3
    res = codemend("resume", "p", cwd=work)
    assert res.returncode == 2 and "--hint" in res.stderr and "Traceback" not in res.stderr
    assert codemend("resume", "p", "--abort", "--json", cwd=work).returncode == 1


def test_resume_hint_reaches_the_next_fixer_prompt(work):
    sys.path.insert(0, str(ROOT / "tests"))
    from openai_server import OpenAIServer, ok

    folder = EXAMPLES / "lru_cache"
    replies = __import__("tomllib").loads((folder / "replies.toml").read_text())["replies"]
    with OpenAIServer() as server:
        server.queue(ok(replies[0]), ok(replies[1]))
        model = ["--model", "openai-compat:coder", "--base-url", server.url]
        res = codemend("solve", str(folder / "spec.toml"), *model, "--run-id", "h",
                       "--max-iterations", "1", "--json", cwd=work)
        assert res.returncode == 3, res.stderr
        res = codemend("resume", "h", "--hint", "HINT-7f3: the class must be LRUCache",
                       *model, "--json", cwd=work)
        assert res.returncode == 0, res.stderr
        assert len(server.requests) == 2
        fixer = server.requests[1].json["messages"][-1]["content"]
    assert "HINT-7f3: the class must be LRUCache" in fixer
    assert "HINT-7f3" not in server.requests[0].json["messages"][-1]["content"]
    assert "tests/test_lru_cache.py" in fixer  # the failing test ids reach the fixer


def test_model_server_down_exits_4(work):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nobody listens here once closed
    url = f"http://127.0.0.1:{port}/v1"
    res = codemend("solve", str(EXAMPLES / "lru_cache" / "spec.toml"), "--model",
                   "openai-compat:coder", "--base-url", url, cwd=work)
    assert res.returncode == 4
    assert f"127.0.0.1:{port}" in res.stderr and "Traceback" not in res.stderr


def test_out_dir_is_never_overwritten_without_force(work):
    out = work / "mine"
    out.mkdir()
    (out / "safestats.py").write_text("# my own work\n")
    res = solve("safe_stats", work, "--out", str(out))
    assert res.returncode == 2 and "--force" in res.stderr
    assert (out / "safestats.py").read_text() == "# my own work\n"
    res = solve("safe_stats", work, "--out", str(out), "--force")
    assert res.returncode == 0, res.stderr
    assert "def " in (out / "safestats.py").read_text()


def test_bad_input_is_one_line_exit_2(work):
    spec = work / "bad.toml"
    spec.write_text('name = "x"\nprompt = "p"\nsolution = "/etc/passwd"\n')
    res = codemend("solve", str(spec), "--model", "scripted:none.toml", cwd=work)
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1 and "solution" in res.stderr
    res = codemend("show", "no-such-run", cwd=work)
    assert res.returncode == 2 and "no run" in res.stderr
    res = codemend("solve", str(spec), "--max-iterations", "zero", cwd=work)
    assert res.returncode == 2
