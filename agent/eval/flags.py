"""The flags of `codemend eval` (kept apart so building the CLI's parser imports nothing heavy)."""

from __future__ import annotations

from typing import Any


def add_parser(sub: Any) -> None:
    e = sub.add_parser("eval", help="measure a model: pass rate first try and after healing")
    e.add_argument("suite", nargs="?", help="humaneval, or a folder of tasks (each subfolder "
                   "holding a spec.toml)")
    e.add_argument("--model", help="provider:name; scripted replays each task's replies.toml; "
                   "scripted:FILE a JSON file mapping task ids to reply lists")
    e.add_argument("--samples", type=int, help="runs per task (K, for pass@k; default 1)")
    e.add_argument("--max-iterations", type=int, help="per run (default: each task's limit)")
    e.add_argument("--workers", type=int, default=1, help="runs at once (local mode)")
    e.add_argument("--limit", type=int, help="only the first N tasks of the suite")
    e.add_argument("--tasks", help="only these task ids, comma-separated (humaneval: 0,17 or "
                   "HumanEval/0,...)")
    e.add_argument("--out", help="the eval folder (default .codemend/eval/SUITE-TIME)")
    e.add_argument("--resume", metavar="DIR", help="continue the eval in DIR, skipping the "
                   "runs it finished")
    e.add_argument("--ray", metavar="ADDRESS", help="run on a Ray cluster (head host:port)")
    e.add_argument("--base-url")
    e.add_argument("--temperature", type=float)
    e.add_argument("--seed", type=int, help="sample k asks with seed + k")
    e.add_argument("--state-dir")
    e.add_argument("--sandbox", choices=["pool", "cold"])
    e.add_argument("--json", action="store_true", help="print summary.json on stdout")
