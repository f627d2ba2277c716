"""Solve every example task with its scripted replies (or, without a script, a single reply
holding the reference solution) in the real sandbox; print iterations and wall time.

    python scripts/run_examples.py [--sandbox pool|cold] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from codemend.agent.models.scripted import ScriptedModel  # noqa: E402
from codemend.agent.nodes import Deps  # noqa: E402
from codemend.agent.runs import RunStore  # noqa: E402
from codemend.agent.spec import load_task  # noqa: E402
from codemend.agent.state import TaskInfo  # noqa: E402
from codemend.sandbox.factory import make_sandbox  # noqa: E402

EXAMPLES = ROOT / "tasks" / "examples"


def reference_reply(folder: Path, solution_files: list[str]) -> str:
    blocks = []
    for rel in solution_files:
        code = (folder / "reference" / rel).read_text()
        head = f"# file: {rel}\n" if len(solution_files) > 1 else ""
        blocks.append(f"```python\n{head}{code}```")
    return "Here is the solution.\n\n" + "\n\n".join(blocks)


def solve_example(folder: Path, store: RunStore, sandbox) -> dict:
    task = load_task(folder / "spec.toml")
    replies = folder / "replies.toml"
    if replies.is_file():
        model, source = ScriptedModel(replies), "replies.toml"
    else:
        model = ScriptedModel.from_replies([reference_reply(folder, task.solution_files)])
        source = "reference"
    info = TaskInfo.from_task(task)
    run_id = f"example-{task.name}-{time.time_ns()}"
    store.register(run_id, task.name, "scripted", "")
    started = time.monotonic()
    out = store.start(run_id, info, "scripted", task.max_iterations,
                      Deps(model=model, sandbox=sandbox))
    return {"task": task.name, "source": source, "status": out.status,
            "iterations": out.iterations, "checks": len(out.state.attempts),
            "nodes": [a.node for a in out.state.attempts],
            "wall_s": round(time.monotonic() - started, 2)}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sandbox", default="pool", choices=["pool", "cold"])
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp, RunStore(Path(tmp)) as store:
        sandbox = make_sandbox(args.sandbox)
        try:
            for folder in sorted(p.parent for p in EXAMPLES.glob("*/spec.toml")):
                rows.append(solve_example(folder, store, sandbox))
                if not args.json:
                    r = rows[-1]
                    print(f"{r['task']:<16} {r['source']:<13} {r['status']:<9} "
                          f"{r['iterations']} it. {r['checks']} checks "
                          f"({' > '.join(r['nodes'])})  {r['wall_s']:.2f}s", flush=True)
        finally:
            sandbox.close()
    if args.json:
        print(json.dumps(rows))
    return 0 if all(r["status"] == "solved" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
