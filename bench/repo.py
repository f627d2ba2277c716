"""repo: real projects' own suites, bare on the host vs in the sandbox (repository mode),
and the time to build an environment image the first time vs when it is cached.

Projects are tests/repo_projects.py's (toolz, inflection: flat; isodate: src layout,
depends on six), each unpacked from its sdist and committed in a temporary git repo.
"bare" is ``python -m pytest -q`` in the project with the host's pytest (the image's
version), its dependencies installed with pip into a target folder and put on
PYTHONPATH with ``src/``. "cold"/"pooled" are ``Sandbox.check`` of the repository
workspace in its environment image (pytest and ruff, as a check does). Contenders run
interleaved, the order rotating each round; round 0 warms caches and is not counted.

The image figure builds a set of requirements only this benchmark uses (``six`` and
``toolz``), removing that image first, so the first build is a real first build (its
wheels still come from pip's own cache after the first run); "cached" is the same call
again, which finds the image and builds nothing.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import docker

from bench.common import BenchError, interleaved, machine, median, ratio, say, table, timed

BENCH_REQS = ("six", "toolz==1.2.0")


def _projects():
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    try:
        import repo_projects
    except ImportError as exc:  # pytest is a dev dependency
        raise BenchError(f"bench repo needs the dev install (make install): {exc}") from exc
    return repo_projects


def _bare(repo: Path, python_paths: list[str], deps_dir: Path | None) -> bool:
    paths = [str(repo / p) for p in python_paths] + ([str(deps_dir)] if deps_dir else [])
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/tmp"),
           "PYTHONPATH": os.pathsep.join(paths), "PYTHONDONTWRITEBYTECODE": "1",
           "LANG": "C.UTF-8"}
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
                          cwd=repo, env=env, capture_output=True)
    return proc.returncode == 0


def _deps(reqs: tuple[str, ...], dest: Path) -> Path | None:
    if not reqs:
        return None
    proc = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--target",
                           str(dest), *reqs], capture_output=True, text=True)
    if proc.returncode != 0:
        raise BenchError(f"pip could not install {reqs} for the bare run: {proc.stderr[-300:]}")
    return dest


def _image_build(client: docker.DockerClient) -> dict:
    from codemend.sandbox.envimage import ensure_env_image, env_tag

    tag = env_tag(client, BENCH_REQS)
    try:
        client.images.remove(tag)  # ours: only this benchmark builds this set
    except docker.errors.ImageNotFound:
        pass
    first, _ = timed(lambda: ensure_env_image(client, BENCH_REQS, progress=say))
    cached = [timed(lambda: ensure_env_image(client, BENCH_REQS))[0] for _ in range(5)]
    return {"image_first_build_s": round(first / 1000, 1),
            "image_cached_ms": round(median(cached), 1)}


def _measure(cold, pool, repo: Path, snap, deps: Path | None, rounds: int, name: str) -> dict:
    """Median ms of the project's suite: bare, cold, pooled, interleaved."""
    ws = snap.workspace()
    contenders = {
        "bare": lambda: _bare(repo, snap.python_paths, deps),
        "cold": lambda: cold.check(ws).tests.ok,
        "pooled": lambda: pool.check(ws).tests.ok,
    }
    return interleaved(contenders, rounds, lambda: pool.wait_ready(300), f"repo: {name}")


def _fresh_vs_forked(client, snap, cfg, rounds: int) -> dict:
    """A pooled repository check in the project's environment (a fresh interpreter of
    it per check: nothing preloaded can shadow the project) against the same check in
    the check image, where the zygote's preloaded pytest is forked. Interleaved."""
    from codemend.agent.repo.environment import REPO_DEFAULTS
    from codemend.sandbox.config import SandboxConfig
    from codemend.sandbox.factory import make_sandbox

    ws = snap.workspace()
    with make_sandbox("pool", cfg, client, size=1) as fresh, \
            make_sandbox("pool", SandboxConfig(**REPO_DEFAULTS), client, size=1) as forked:
        med = interleaved({"fresh": lambda: fresh.check(ws).verdict != "infra_error",
                           "forked": lambda: forked.check(ws).verdict != "infra_error"},
                          rounds, lambda: fresh.wait_ready(300) and forked.wait_ready(300),
                          "repo: fresh vs forked")
    return {"pool_fresh_ms": med["fresh"], "pool_forked_ms": med["forked"],
            "fresh_over_forked": ratio(med["fresh"], med["forked"])}


def run(rounds: int = 3) -> tuple[dict, str]:
    rp = _projects()
    from codemend.agent.repo.environment import sandbox_config
    from codemend.agent.repo.snapshot import load_repo
    from codemend.sandbox.factory import make_sandbox

    client = docker.from_env(timeout=300)
    result: dict = {"bench": "repo", "rounds": rounds}
    rows = []
    try:
        with tempfile.TemporaryDirectory(prefix="codemend-bench-repo-") as tmp:
            for name, project in rp.PROJECTS.items():
                repo = rp.make_repo(project, Path(tmp) / name)
                snap = load_repo(repo)
                deps = _deps(project.deps, Path(tmp) / f"{name}-deps")
                cfg = sandbox_config(snap, client, progress=say)
                with make_sandbox("cold", cfg, client) as cold, \
                        make_sandbox("pool", cfg, client, size=1) as pool:
                    med = _measure(cold, pool, repo, snap, deps, rounds, name)
                result[name] = {**{f"{k}_ms": v for k, v in med.items()},
                                "cold_over_bare": ratio(med["cold"], med["bare"]),
                                "pooled_over_bare": ratio(med["pooled"], med["bare"]),
                                "tests": project.tests, "image": cfg.image}
                rows.append((name, med["bare"], med["cold"], med["pooled"],
                             ratio(med["cold"], med["bare"]), ratio(med["pooled"], med["bare"])))
                if name == "toolz":
                    result["toolz"].update(_fresh_vs_forked(client, snap, cfg, rounds))
        per = [result[name] for name in rp.PROJECTS]
        result["worst_cold_over_bare"] = max(p["cold_over_bare"] for p in per)
        result["worst_pooled_over_bare"] = max(p["pooled_over_bare"] for p in per)
        t0 = time.monotonic()
        result.update(_image_build(client))
        say(f"repo: image figures in {time.monotonic() - t0:.1f} s")
    finally:
        client.close()
    result["machine"] = machine()
    text = table(rows, ("project", "bare ms", "cold ms", "pooled ms", "cold x bare",
                        "pooled x bare"))
    fresh = result["toolz"]
    text += (f"\npooled toolz check, fresh interpreter of its environment "
             f"{fresh['pool_fresh_ms']} ms vs forked from the check image's zygote "
             f"{fresh['pool_forked_ms']} ms: x{fresh['fresh_over_forked']}")
    text += (f"\nenvironment image ({', '.join(BENCH_REQS)}): first build "
             f"{result['image_first_build_s']} s, cached {result['image_cached_ms']} ms")
    return result, text
