"""Benchmarks: ``python bench/run.py NAME [--json]``, NAME one of latency, humaneval, loop,
concurrency, breakdown, repo, edits, coverage, quick (a big suite's healing iteration),
breadth (real projects' verdicts, not a speed figure), or ``all``.

Each benchmark prints one JSON line (its figures, side by side) and a readable table. With
``--json`` stdout carries only the JSON line(s); tables and progress go to stderr.
Benchmarks report ratios; they never fail on time.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repo: bench, sandbox, agent

from bench import targets  # noqa: E402
from bench.common import BenchError  # noqa: E402

ALL = ("latency", "humaneval", "loop", "concurrency")


def _bench(name: str, args: argparse.Namespace) -> tuple[dict, str]:
    if name == "latency":
        from bench import latency
        return latency.run(rounds=args.rounds)
    if name == "humaneval":
        from bench import humaneval
        return humaneval.run(in_flight=args.in_flight)
    if name == "loop":
        try:
            from bench import loop
        except ImportError as exc:  # the agent loop (agent/graph.py) is not there (yet)
            raise BenchError(f"bench loop needs the agent loop (agent.graph): {exc}") from exc
        return loop.run(**({"iterations": args.iterations} if args.iterations else {}))
    if name == "concurrency":
        from bench import concurrency
        return concurrency.run(repeats=args.repeats)
    if name == "repo":
        from bench import repo
        return repo.run(rounds=args.repo_rounds)
    if name == "quick":
        from bench import quick
        return quick.run(rounds=args.quick_rounds, e2e=not args.quick_no_e2e)
    if name == "breadth":
        from bench import breadth
        return breadth.run(args.projects.split(",") if args.projects else None)
    if name == "coverage":
        from bench import coverage
        return coverage.run(rounds=args.repo_rounds)
    if name == "edits":
        from bench import edits
        return edits.run(reference=args.reference_python)
    from bench import breakdown
    return breakdown.run(rounds=args.rounds)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench/run.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("name", choices=[*ALL, "breakdown", "repo", "edits", "coverage",
                                         "breadth", "quick", "all"])
    parser.add_argument("--json", action="store_true", help="stdout: only the JSON line(s)")
    parser.add_argument("--rounds", type=int, default=20, help="latency/breakdown rounds")
    parser.add_argument("--repeats", type=int, default=3, help="concurrency repeats")
    parser.add_argument("--in-flight", type=int, default=2, help="humaneval checks in flight")
    parser.add_argument("--iterations", type=int, help="loop iterations (default: its own)")
    parser.add_argument("--repo-rounds", type=int, default=3, help="repo/coverage rounds per project")
    parser.add_argument("--reference-python", type=Path, metavar="PYTHON",
                        help="edits: the interpreter of a venv with the reference parser "
                             "(default: one made under the cache dir)")
    parser.add_argument("--projects", help="breadth: a comma-separated subset of projects")
    parser.add_argument("--quick-rounds", type=int, default=1, help="quick: measured pairs")
    parser.add_argument("--quick-no-e2e", action="store_true",
                        help="quick: only the sandbox pair, not codemend fix against the host")
    parser.add_argument("--record", type=Path, metavar="FILE",
                        help="write the figures against the targets into FILE's latest-run block")
    args = parser.parse_args(argv)
    failed = 0
    results = []
    for name in ALL if args.name == "all" else (args.name,):
        try:
            result, text = _bench(name, args)
        except BenchError as exc:
            result, text = {"bench": name, "error": str(exc)}, f"{name}: {exc}"
            failed += args.name != "all" or name != "loop"
        results.append(result)
        print(json.dumps(result), flush=True)
        print(text, file=sys.stderr if args.json else sys.stdout, flush=True)
    rows = targets.judge(results)
    if rows:  # the speed targets this run measured, side by side
        print(json.dumps(targets.summary(rows)), flush=True)
        print(targets.text(rows), file=sys.stderr if args.json else sys.stdout, flush=True)
    if args.record and args.name == "breadth":
        from bench import breadth
        breadth.record(args.record, text, "bench/run.py breadth")
    elif args.record:
        targets.record(args.record, results, f"bench/run.py {args.name}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
