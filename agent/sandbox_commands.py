"""`codemend check` and `codemend sandbox build|doctor`."""

from __future__ import annotations

import argparse
from pathlib import Path

from codemend.agent.render import check_report
from codemend.sandbox.config import SandboxConfig
from codemend.sandbox.errors import BadInput
from rich.console import Console

EXIT = {"pass": 0, "infra_error": 4}


def cmd_check(args: argparse.Namespace) -> int:
    from codemend.sandbox.cold import ColdSandbox
    from codemend.sandbox.workspace import workspace_from_dirs

    if args.timeout is not None and not 0 < args.timeout <= 3600:
        raise BadInput(f"--timeout {args.timeout}: give seconds between 0 and 3600")
    ws = workspace_from_dirs(Path(args.dir), Path(args.tests) if args.tests else None)
    err = Console(stderr=True)
    with ColdSandbox(SandboxConfig(), progress=lambda m: err.print(f"[dim]{m}[/]")) as sb:
        report = sb.check(ws, timeout_s=args.timeout)
    if args.json:
        print(report.model_dump_json())
    else:
        check_report(Console(), report)
    return EXIT.get(report.verdict, 1)


def cmd_sandbox(args: argparse.Namespace) -> int:
    from codemend.sandbox.docker_io import connect

    console = Console(stderr=True)
    client = connect()
    try:
        if args.action == "build":
            from codemend.sandbox.image import build_image, image_exists, image_tag

            tag = image_tag(client)
            if image_exists(client, tag) and not args.rebuild:
                console.print(f"{tag} is up to date (its inputs are unchanged); "
                              "--rebuild builds it again")
            else:
                tag = build_image(client, offline=True if args.offline else None,
                                  progress=lambda m: console.print(m, highlight=False))
            print(tag)
            return 0
        from codemend.sandbox.doctor import doctor

        ok = doctor(client, lambda m: print(m, flush=True))
        return 0 if ok else 4
    finally:
        client.close()

