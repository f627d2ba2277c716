"""The command line: parse, build config, wire model + sandbox + graph, print."""

from __future__ import annotations

import argparse
import os
import sys

from codemend.sandbox.errors import CodemendError

EXIT_INTERRUPTED = 130


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="codemend", description="Sandboxed, self-healing code "
                                "generation: model-written code is verified in a locked-down "
                                "container before anyone sees it.")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def model_flags(sp: argparse.ArgumentParser, batch: bool = True) -> None:
        sp.add_argument("--model", help="provider:name, e.g. ollama:qwen2.5-coder:7b or "
                        "scripted:replies.toml")
        sp.add_argument("--fallback-model", metavar="MODEL", help="a second model, tried for the "
                        "rest of the budget where the run would escalate")
        sp.add_argument("--base-url", help="server URL (openai-compat, or to override)")
        sp.add_argument("--temperature", type=float)
        sp.add_argument("--seed", type=int)
        sp.add_argument("--state-dir", help="where runs.sqlite lives (default .codemend)")
        sp.add_argument("--sandbox", choices=["pool", "cold"])
        if not batch:
            return
        sp.add_argument("--json", action="store_true", help="print one JSON object")
        sp.add_argument("--interactive", action=argparse.BooleanOptionalAction, default=None,
                        help="ask a person on escalation (default: when on a terminal)")
        sp.add_argument("--force", action="store_true", help="overwrite files in --out")

    s = sub.add_parser("solve", help="run the loop on a task spec")
    s.add_argument("spec")
    s.add_argument("--max-iterations", type=int)
    s.add_argument("--out", help="folder for the final files and report.json")
    s.add_argument("--run-id")
    model_flags(s)

    f = sub.add_parser("fix", help="heal a git repository whose tests fail")
    f.add_argument("path", nargs="?", default=".", help="the work tree (default: .)")
    f.add_argument("--max-iterations", type=int)
    f.add_argument("--out", help="folder for fix.patch, report.json, summary.md (default "
                   ".codemend/out/RUN_ID)")
    f.add_argument("--apply", action="store_true", help="write a verified fix into the work "
                   "tree (refused on a dirty tree unless --force)")
    f.add_argument("--branch", metavar="NAME", help="commit a verified fix on this new local "
                   "branch (the work tree and current branch stay as they are)")
    f.add_argument("--allow-test-edits", action="store_true", help="let the fix change tests "
                   "and their configuration (skips and dropped assertions are still refused)")
    f.add_argument("--allow-deletions", action="store_true", help="let the fix remove "
                   "functions, classes or methods the code had (listed in the report)")
    f.add_argument("--require-coverage", action="store_true", help="refuse a fix whose "
                   "changed executable lines no target test runs (diff coverage)")
    f.add_argument("--check-timeout", type=float, metavar="SECONDS", help="time limit of one "
                   "run of the repository's tests in the sandbox (default 300)")
    f.add_argument("--context-tokens", type=int, help="prompt budget in tokens (default 5000, "
                   "for an 8k-context model)")
    f.add_argument("--run-id")
    model_flags(f)

    d = sub.add_parser("demo", help="a bundled task healed by the scripted model")
    d.add_argument("--task", default=None, help="which bundled example (default: safe_stats)")
    d.add_argument("--state-dir")
    d.add_argument("--sandbox", choices=["pool", "cold"])
    d.add_argument("--json", action="store_true")

    r = sub.add_parser("resume", help="continue a paused or killed run")
    r.add_argument("run_id")
    r.add_argument("--hint")
    r.add_argument("--more", type=int)
    r.add_argument("--edit", metavar="PATH", help="a file (or folder) to use as the next attempt")
    r.add_argument("--accept", action="store_true")
    r.add_argument("--abort", action="store_true")
    r.add_argument("--out")
    model_flags(r)

    rp = sub.add_parser("repair", help="an interactive repair session at the terminal")
    rp.add_argument("target", nargs="?", metavar="PATH | SPEC.toml",
                    help="a task spec (its solution files beside it are the work tree)")
    rp.add_argument("--resume", metavar="RUN_ID", help="continue a session where it stopped")
    rp.add_argument("--allow-deletions", action="store_true", help="a repository fix may "
                    "remove functions, classes or methods the code had")
    rp.add_argument("--commit", action="store_true",
                    help="commit what you choose to write to the work tree (git)")
    rp.add_argument("--max-iterations", type=int)
    rp.add_argument("--check-timeout", type=float, metavar="SECONDS", help="a repository: "
                    "time limit of one run of its tests in the sandbox (default 300)")
    rp.add_argument("--run-id")
    model_flags(rp, batch=False)

    ls = sub.add_parser("runs", help="list runs (or prune finished ones)")
    ls.add_argument("--state-dir")
    ls.add_argument("--json", action="store_true")
    ls.add_argument("--prune", action="store_true", help="delete finished runs (solved or "
                    "failed) and free their space; escalated and unfinished runs stay")
    ls.add_argument("--older-than", type=float, metavar="DAYS",
                    help="with --prune: only runs made more than DAYS days ago")
    sh = sub.add_parser("show", help="one run's attempts")
    sh.add_argument("run_id")
    sh.add_argument("--state-dir")
    sh.add_argument("--json", action="store_true")

    from codemend.agent.eval.flags import add_parser as add_eval

    add_eval(sub)

    c = sub.add_parser("check", help="one sandbox check of a folder")
    c.add_argument("dir")
    c.add_argument("--tests", help="folder of tests (default: test_*.py inside DIR)")
    c.add_argument("--timeout", type=float, help="seconds (default 60)")
    c.add_argument("--json", action="store_true")

    sb = sub.add_parser("sandbox", help="build the check image / diagnose Docker")
    sbs = sb.add_subparsers(dest="action", required=True, metavar="ACTION")
    b = sbs.add_parser("build", help="build the check image")
    b.add_argument("--offline", action="store_true", help="local Debian base, no registry")
    b.add_argument("--rebuild", action="store_true", help="build even if up to date")
    sbs.add_parser("doctor", help="report the daemon, the image and the hardening")

    from codemend.agent.ci.cli import add_ci_parser
    add_ci_parser(sub, model_flags)
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command in ("check", "sandbox"):
            from codemend.agent import sandbox_commands as cmds
        elif args.command == "repair":
            from codemend.agent.repair import command as cmds  # type: ignore[no-redef]
        elif args.command == "eval":
            from codemend.agent.eval import command as cmds  # type: ignore[no-redef]
        elif args.command == "fix":
            from codemend.agent import fix_commands as cmds  # type: ignore[no-redef]
        elif args.command == "ci":
            from codemend.agent.ci import commands as cmds  # type: ignore[no-redef]
        else:
            from codemend.agent import run_commands as cmds  # type: ignore[no-redef]
        return getattr(cmds, f"cmd_{args.command}")(args)
    except CodemendError as exc:
        print(f"codemend: {exc}", file=sys.stderr)
        return exc.exit_code
    except BrokenPipeError:  # e.g. `codemend check DIR --json | head`
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    except KeyboardInterrupt:
        print("codemend: interrupted; a run can be continued with `codemend resume RUN_ID`",
              file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
