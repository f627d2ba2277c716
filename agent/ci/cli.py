"""``codemend ci github propose|publish``: the parser only (imported when the CLI starts, so
it imports nothing heavy); the work is in ``propose`` and ``publish``."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from codemend.agent.ci.policy import Limits

NOT_FROM_FIX = {"help", "path", "out", "apply", "branch"}
"""fix's flags that propose does not take: it never writes the work tree or a local branch."""


def _fix_flags(sub, p: argparse.ArgumentParser, model_flags: Callable) -> None:
    """Give ``propose`` the very flags of ``codemend fix`` (copied from its parser, so the two
    cannot drift), less those that would touch the checkout."""
    fix = sub.choices.get("fix")
    if fix is None:
        model_flags(p)
        return
    for action in fix._actions:
        if action.dest not in NOT_FROM_FIX:
            p._add_action(action)


def add_ci_parser(sub, model_flags: Callable[[argparse.ArgumentParser], None]) -> None:
    ci = sub.add_parser("ci", help="the CI bot: propose a verified fix, publish it as a draft PR")
    forge = ci.add_subparsers(dest="forge", required=True, metavar="FORGE")
    gh = forge.add_parser("github", help="GitHub Actions")
    act = gh.add_subparsers(dest="action", required=True, metavar="ACTION")

    p = act.add_parser("propose", help="read-only: run repository mode on the failing commit and "
                       "write an artifact folder (no GitHub token needed)")
    p.add_argument("path", nargs="?", default=".", help="the checkout (default .)")
    p.add_argument("--out", required=True, help="artifact folder to write")
    p.add_argument("--head-sha", help="the failing commit (workflow_run.head_sha; default GITHUB_SHA)")
    p.add_argument("--head-branch", help="the failing branch (workflow_run.head_branch; default "
                   "GITHUB_HEAD_REF, else GITHUB_REF_NAME)")
    _fix_flags(sub, p, model_flags)

    u = act.add_parser("publish", help="vet the artifact, push a codemend/ branch, open or update "
                       "one draft PR (token: CODEMEND_GITHUB_TOKEN, else GITHUB_TOKEN)")
    u.add_argument("dir", help="the artifact folder propose wrote")
    u.add_argument("--repo", default=".", help="the repository's checkout (default .)")
    u.add_argument("--max-files", type=int, default=Limits.max_files,
                   help=f"refuse a patch changing more files (default {Limits.max_files})")
    u.add_argument("--max-patch-bytes", type=int, default=Limits.max_bytes,
                   help=f"refuse a larger patch (default {Limits.max_bytes})")
    u.add_argument("--allow-test-edits", action="store_true",
                   help="accept changes to tests and configuration (never to CI files)")
    u.add_argument("--max-wait", type=float, default=120.0,
                   help="longest wait in seconds for a rate limit before failing (default 120)")
    u.add_argument("--json", action="store_true", help="print one JSON object")
