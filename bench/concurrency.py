"""concurrency: throughput of 8 independent checks with 1, 2 and 4 in flight, one pool.

Each level starts from a full, idle pool (size 4) and is timed from the first check
submitted to the last report; the median of ``repeats`` runs is kept. Measured: the
default pool (a fresh container per check: ``speedup_2``, ``speedup_4``), a pool that
reuses proven-clean containers (``reuse_*``), and that pool on a task whose tests compute
for a few hundred milliseconds (``heavy_reuse_*``), where the check outweighs the
per-check ``docker exec``.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import docker
from codemend.sandbox.pool import PooledSandbox

from bench.common import machine, median, ratio, say, small_task, table

CHECKS = 8
LEVELS = (1, 2, 4)
SETUPS = (("fresh", 0, False), ("reuse", 1000, False), ("heavy_reuse", 1000, True))


def _batch(pool: PooledSandbox, in_flight: int, heavy: bool) -> tuple[float, int]:
    """Seconds for CHECKS checks with ``in_flight`` at a time; and how many passed."""
    assert pool.wait_ready(120), pool.stats()
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=in_flight) as ex:
        verdicts = list(ex.map(lambda i: pool.check(small_task(i, heavy)).verdict,
                               range(CHECKS)))
    return time.perf_counter() - started, verdicts.count("pass")


def run(repeats: int = 3) -> tuple[dict, str]:
    client = docker.from_env(timeout=120)
    seconds: dict[str, dict[int, float]] = {}
    passed = 0
    try:
        for name, reuses, heavy in SETUPS:
            runs: dict[int, list[float]] = {n: [] for n in LEVELS}
            with PooledSandbox(client=client, size=4, max_parallel=4, max_reuses=reuses) as pool:
                for r in range(repeats):
                    for n in LEVELS:
                        s, ok = _batch(pool, n, heavy)
                        runs[n].append(s)
                        passed += ok
                    say(f"concurrency ({name}): repeat {r + 1}/{repeats}")
            seconds[name] = {n: median(v) for n, v in runs.items()}
    finally:
        client.close()
    total = len(SETUPS) * repeats * len(LEVELS) * CHECKS
    result = {"bench": "concurrency", "checks": CHECKS, "repeats": repeats,
              "wrong_verdicts": total - passed, "machine": machine()}
    rows = []
    for name, secs in seconds.items():
        prefix = "" if name == "fresh" else f"{name}_"
        result[f"{prefix}speedup_2"] = ratio(secs[1], secs[2])
        result[f"{prefix}speedup_4"] = ratio(secs[1], secs[4])
        for n in LEVELS:
            result[f"{name}_checks_per_s_{n}"] = round(CHECKS / secs[n], 2)
            rows.append((name, n, round(secs[n], 2), round(CHECKS / secs[n], 2),
                         ratio(secs[1], secs[n])))
    return result, table(rows, ("pool", "in flight", "seconds", "checks/s", "speedup"))
