"""quick: fast iterations on a big suite (issue 16, item 7).

A real project with more than 10,000 tests (tests/repo_projects.py ``BIG``: dateparser,
about 23,800; its four test modules that need optional extras are left out), its sdist
committed to a git repository with a one-line bug on top. Two figures, side by side:

- ``quick_over_whole``: the sandbox check of the candidate that restores the line, run as
  a healing iteration runs it (only the test files the change can reach within the budget,
  agent/repo/select.py) against the same candidate's check of the whole suite; median of
  ``rounds`` interleaved pairs (the baseline's runs come first and warm the caches).
  Target <= 0.3.
- ``fix_over_host``: ``codemend fix`` with the oracle reply (baseline twice, the quick
  check, the whole suite that verifies the candidate, the diff-coverage run), its
  environment image already built, against one run of the whole suite in a host venv
  where the project is installed (``pytest -q``). Its check time limit is the bench's,
  given as a user gives it (``check-timeout`` in ``[tool.codemend]``).

The machine's load average is recorded before and after: the figures are only comparable
at a similar load.
"""

from __future__ import annotations

import subprocess
import tempfile
import time
from pathlib import Path

from bench.common import BenchError, machine, median, project_modules, say, table


def _tests():
    return project_modules("quick")


def _repo(breadth, rp, work: Path) -> Path:
    """The project as released, less the tests of optional extras and the tests that fail
    as released on this machine (on the host: some of dateparser's depend on today's date),
    left out with ``--deselect`` in a ``pytest.ini``; then the bug."""
    repo = rp.make_repo(rp.BIG, work / "src")
    for rel in rp.BIG_OPTIONAL:
        (repo / rel).unlink()
    rp.commit(repo, "leave out the tests of optional extras")
    failing, _ = _host_run(breadth, rp, repo)
    if failing:
        say(f"quick: left out as failing on the host as released: {failing}")
        (repo / "pytest.ini").write_text("[pytest]\naddopts =\n" + "".join(
            f"    --deselect {i}\n" for i in failing))
        rp.commit(repo, "leave out the tests that fail as released")
    rp.commit_bug(repo, rp.BIG)
    return repo


def _host_run(breadth, rp, repo: Path) -> tuple[list[str], float]:
    """One run of the suite in a host venv with the project installed: the failing node
    ids and the wall time."""
    py = breadth.host_venv(rp.BIG)
    ready = py.parent.parent / ".ready"
    if not ready.is_file():
        breadth._pip(py, repo, "pytest", *rp.BIG.host)
        ready.write_text("")
    breadth._pip(py, repo, "-e", ".")
    start = time.monotonic()
    proc = subprocess.run([str(py), "-m", "pytest", "-q", "-rfE", "-p", "no:cacheprovider"],
                          cwd=repo, capture_output=True, text=True, env=breadth._env())
    took = time.monotonic() - start
    if proc.returncode not in (0, 1):
        raise BenchError(f"the host run failed: {proc.stdout[-500:]}")
    failing = [line.split(" ", 1)[1].split(" - ", 1)[0] for line in proc.stdout.splitlines()
               if line.startswith(("FAILED ", "ERROR "))]
    return failing, took


def _sandbox_pair(repo: Path, rounds: int, timeout_s: float) -> dict:
    from codemend.agent.repo.baseline import FAILING
    from codemend.agent.repo.environment import repo_defaults, sandbox_config
    from codemend.agent.repo.select import costs, selection
    from codemend.agent.repo.snapshot import load_repo
    from codemend.sandbox.docker_io import connect
    from codemend.sandbox.factory import make_sandbox

    _, rp = _tests()
    snap = load_repo(repo)
    fix = {rp.BIG.bug.path: snap.files[rp.BIG.bug.path].replace(rp.BIG.bug.new, rp.BIG.bug.old)}
    client = connect()
    cfg = sandbox_config(snap, client, base=repo_defaults(timeout_s), progress=say)
    with make_sandbox("pool", cfg, client, size=1) as sb:
        base = sb.check(snap.workspace(), timeout_s=cfg.timeout_s)  # the baseline (once)
        targets = [c.id for c in base.tests.cases if c.outcome in FAILING]
        chosen = selection(snap, fix, targets, base)
        cost = costs(base)
        if not chosen:
            raise BenchError(f"no quick check was chosen ({base.verdict}, targets "
                             f"{targets[:3]}, {base.message[:200]})")
        whole_ws = snap.workspace(fix)
        quick_ws = whole_ws.model_copy(update={"select": chosen})
        times: dict[str, list[float]] = {"quick": [], "whole": []}
        cases: dict[str, int] = {}
        for n in range(rounds):  # the baseline's two runs warmed the caches
            order = (("quick", quick_ws), ("whole", whole_ws))
            for name, ws in order if n % 2 == 0 else order[::-1]:
                start = time.monotonic()
                report = sb.check(ws, timeout_s=cfg.timeout_s)
                times[name].append(time.monotonic() - start)
                cases[name] = len(report.tests.cases)
    return {"targets": len(targets), "quick_files": len(chosen),
            "baseline_s": round(base.duration_s, 2),
            "quick_estimate": round(sum(cost[f] for f in chosen) / sum(cost.values()), 3),
            "quick_cases": cases["quick"], "whole_cases": cases["whole"],
            "quick_s": round(median(times["quick"]), 2),
            "whole_s": round(median(times["whole"]), 2)}


def run(rounds: int = 1, timeout_s: float = 1800.0, e2e: bool = True) -> tuple[dict, str]:
    """``timeout_s``: the sandbox checks' limit here (a loaded machine needs more than the
    repository default); ``e2e``: also time ``codemend fix`` against a host run."""
    breadth, rp = _tests()
    load_before = machine()
    with tempfile.TemporaryDirectory(prefix="codemend-quick-") as tmp:
        work = Path(tmp)
        repo = _repo(breadth, rp, work)
        (work / "pyproject.toml").write_text(f"[tool.codemend]\ncheck-timeout = {timeout_s}\n")
        say("quick: sandbox checks, quick against whole ...")
        pair = _sandbox_pair(repo, rounds, timeout_s)
        say(f"quick: {pair} ({machine()})")
        if not e2e:
            result = {"bench": "quick", "project": f"{rp.BIG.name} {rp.BIG.version}", **pair,
                      "quick_over_whole": round(pair["quick_s"] / pair["whole_s"], 3),
                      "machine_before": load_before, "machine": machine()}
            return result, table([("sandbox: quick check", f"{pair['quick_s']:.1f} s",
                                   f"{pair['quick_files']} files, {pair['quick_cases']} tests"),
                                  ("sandbox: whole suite", f"{pair['whole_s']:.1f} s",
                                   f"{pair['whole_cases']} tests"),
                                  ("quick / whole", f"{result['quick_over_whole']:.3f}",
                                   "target <= 0.3")], ("quick: " + result["project"], "time",
                                                       "what"))
        say("quick: the host's run of the whole suite ...")
        host_s = _host_run(breadth, rp, repo)[1]
        say("quick: codemend fix with the oracle reply ...")
        start = time.monotonic()
        report = breadth.codemend_fix(repo, work, [breadth.oracle(rp.BIG)], "fix")
        fix_s = time.monotonic() - start
    if report.get("status") != "fixed":
        why = [str(a.get("reason", ""))[:300] for a in report.get("attempts", [])]
        raise BenchError(f"codemend fix did not fix it: {report.get('status')} "
                         f"{report.get('reason', '')[:300]} {why}; the pair: {pair}")
    final = report["final"]
    result = {"bench": "quick", "project": f"{rp.BIG.name} {rp.BIG.version}", **pair,
              "quick_over_whole": round(pair["quick_s"] / pair["whole_s"], 3),
              "host_s": round(host_s, 1), "fix_s": round(fix_s, 1),
              "fix_over_host": round(fix_s / host_s, 2),
              "final_collected": final["collected"], "machine_before": load_before,
              "machine": machine()}
    rows = [("sandbox: quick check", f"{pair['quick_s']:.1f} s",
             f"{pair['quick_files']} files, {pair['quick_cases']} tests"),
            ("sandbox: whole suite", f"{pair['whole_s']:.1f} s", f"{pair['whole_cases']} tests"),
            ("quick / whole", f"{result['quick_over_whole']:.3f}", "target <= 0.3"),
            ("codemend fix, to a verified fix", f"{fix_s:.1f} s",
             f"fixed; the final check ran {final['collected']} tests"),
            ("host: one run of the suite", f"{host_s:.1f} s", "pytest -q in a host venv"),
            ("fix / host run", f"{result['fix_over_host']:.2f}", "")]
    return result, table(rows, ("quick: " + result["project"], "time", "what"))
