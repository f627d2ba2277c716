"""latency: one ruff + pytest check of the same small task, bare vs cold vs pooled.

The contenders run interleaved (the order rotates every round), so load from other work
on the machine spreads over all of them. Before each timed check the pool is left to
finish its background work (refill, removal), which is what it has between an agent's
checks while the model writes; none of that waiting is timed.
"""

from __future__ import annotations

import docker
from codemend.sandbox.cold import ColdSandbox
from codemend.sandbox.pool import PooledSandbox

from bench.common import BareChecker, machine, median, p95, ratio, say, small_task, table, timed


def run(rounds: int = 20) -> tuple[dict, str]:
    ws = small_task()
    bare = BareChecker()
    client = docker.from_env(timeout=120)
    try:
        with ColdSandbox(client=client) as cold, \
                PooledSandbox(client=client, size=2) as pool, \
                PooledSandbox(client=client, size=2, max_reuses=1000) as reuse:
            pools = (pool, reuse)
            contenders = {
                "bare": bare.check,
                "cold": lambda w: cold.check(w).verdict == "pass",
                "pooled": lambda w: pool.check(w).verdict == "pass",
                "pooled_reuse": lambda w: reuse.check(w).verdict == "pass",
            }
            times: dict[str, list[float]] = {name: [] for name in contenders}
            wrong = 0
            names = list(contenders)
            for n in range(rounds + 1):  # round 0 warms caches and is not counted
                for name in names[n % len(names):] + names[:n % len(names)]:
                    for p in pools:
                        p.wait_ready(120)
                    ms, ok = timed(contenders[name], ws)
                    if n:
                        times[name].append(ms)
                        wrong += not ok
                say(f"latency: round {n}/{rounds}")
    finally:
        client.close()
    result = {"bench": "latency", "rounds": rounds, "wrong_verdicts": wrong,
              "machine": machine()}
    for name, values in times.items():
        result[f"{name}_ms"] = round(median(values), 1)
        result[f"{name}_p95_ms"] = round(p95(values), 1)
    result["pooled_over_bare"] = ratio(result["pooled_ms"], result["bare_ms"])
    result["cold_over_pooled"] = ratio(result["cold_ms"], result["pooled_ms"])
    result["pooled_reuse_over_bare"] = ratio(result["pooled_reuse_ms"], result["bare_ms"])
    rows = [(name, result[f"{name}_ms"], result[f"{name}_p95_ms"],
             ratio(result[f"{name}_ms"], result["bare_ms"])) for name in times]
    return result, table(rows, ("check", "median ms", "p95 ms", "x bare"))
