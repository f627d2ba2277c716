"""``cmd_ci``: turn parsed flags and the ``GITHUB_*`` variables into a propose or publish."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from codemend.agent.ci.policy import Limits


def _env_path(name: str) -> Path | None:
    value = os.environ.get(name)
    return Path(value) if value else None


def cmd_ci(args: argparse.Namespace) -> int:
    if args.action == "propose":
        from codemend.agent.ci.propose import propose

        return propose(args)
    from codemend.agent.ci.publish import PublishConfig, publish

    cfg = PublishConfig(
        folder=Path(args.dir), repo_dir=Path(args.repo),
        token=os.environ.get("CODEMEND_GITHUB_TOKEN") or os.environ.get("GITHUB_TOKEN"),
        api_url=os.environ.get("GITHUB_API_URL") or None,
        expected_repository=os.environ.get("GITHUB_REPOSITORY") or None,
        limits=Limits(max_files=args.max_files, max_bytes=args.max_patch_bytes,
                      allow_test_edits=args.allow_test_edits),
        step_summary=_env_path("GITHUB_STEP_SUMMARY"), max_wait_s=args.max_wait)
    done = publish(cfg)
    if args.json:
        print(json.dumps(done.as_json()))
    else:
        print(f"codemend: {done.reason}" + (f": {done.pull_request}" if done.pull_request else ""))
    return 0
