"""`codemend fix [PATH]`: the command's edge. Its flags become ``Settings``, ``FixOptions``
and ``OutputOptions`` here, once; ``agent/repo_fix.py`` does the work."""

from __future__ import annotations

import argparse

from codemend.agent.config import OutputOptions
from codemend.agent.repo_fix import FixOptions, fix_repository


def cmd_fix(args: argparse.Namespace) -> int:
    """Heal the repository at ``args.path`` (exit codes: docs/ARCHITECTURE.md)."""
    flags = vars(args)
    fix = FixOptions.from_flags(flags)  # bad flags fail before settings or Docker are read
    from codemend.agent.command_support import settings_from  # the heavy imports wait

    return fix_repository(settings_from(flags), fix, OutputOptions.from_flags(flags))
