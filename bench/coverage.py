"""coverage: what diff coverage costs. A repository fix's verified candidate gets one more
check with coverage.py on (agent/repo/coverage.py); this is that check, with and without
coverage, side by side on the same repository in one run.

Projects are tests/repo_projects.py's (toolz, inflection: flat; isodate: src layout), each
unpacked from its sdist, with its known bug's file and line as the changed lines (what a
fix that restores that line measures). Both contenders are ``Sandbox.check`` of the same
workspace in the project's environment image on a pooled sandbox (as ``codemend fix``
runs them): "plain" without a coverage request, "coverage" with it. They run interleaved,
the order swapping each round; round 0 warms caches and is not counted. A coverage run
that brings back no figures is an error, not a time.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import docker

from bench.common import BenchError, interleaved, machine, ratio, say, table
from bench.repo import _projects


def _changed(repo: Path, project) -> dict[str, list[list[int]]]:
    lines = (repo / project.bug.path).read_text().splitlines()
    n = lines.index(project.bug.old) + 1
    return {project.bug.path: [[n, n]]}


def _measure(pool, snap, request: dict, rounds: int, name: str) -> dict:
    ws = snap.workspace()
    covered = ws.model_copy(update={"coverage": request})

    def plain() -> bool:
        return pool.check(ws).tests.ok

    def with_coverage() -> bool:
        report = pool.check(covered)
        files = (report.coverage or {}).get("files")
        if not files or not all(f.get("executed") for f in files.values()):
            raise BenchError(f"{name}: the coverage run brought back no figures "
                             f"({(report.coverage or {}).get('error') or report.message})")
        return report.tests.ok

    return interleaved({"plain": plain, "coverage": with_coverage}, rounds,
                       lambda: pool.wait_ready(300), f"coverage: {name}")


def run(rounds: int = 5) -> tuple[dict, str]:
    rp = _projects()
    from codemend.agent.repo.environment import sandbox_config
    from codemend.agent.repo.snapshot import load_repo
    from codemend.sandbox.factory import make_sandbox

    client = docker.from_env(timeout=300)
    result: dict = {"bench": "coverage", "rounds": rounds}
    rows = []
    try:
        with tempfile.TemporaryDirectory(prefix="codemend-bench-coverage-") as tmp:
            for name, project in rp.PROJECTS.items():
                repo = rp.make_repo(project, Path(tmp) / name)
                snap = load_repo(repo)
                cfg = sandbox_config(snap, client, progress=say)
                with make_sandbox("pool", cfg, client, size=1) as pool:
                    med = _measure(pool, snap, _changed(repo, project), rounds, name)
                over = ratio(med["coverage"], med["plain"])
                result[name] = {"plain_ms": med["plain"], "coverage_ms": med["coverage"],
                                "coverage_over_plain": over, "tests": project.tests}
                rows.append((name, project.tests, med["plain"], med["coverage"], over))
    finally:
        client.close()
    result["worst_coverage_over_plain"] = max(r[4] for r in rows)
    result["machine"] = machine()
    text = table(rows, ("project", "tests", "plain ms", "coverage ms", "coverage x plain"))
    return result, text
