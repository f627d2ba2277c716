"""Failures the sandbox's environment causes, not the code: never targets.

A check runs with no network, the image's locale and time-zone data, a read-only work
tree, and only the console scripts the environment image installs. A test that fails
only for one of those reasons fails on no developer's machine, so handing it to the model
as a target would ask for a change the code does not need. ``cause(case)`` names the
reason from the failure's message and traceback (None: an ordinary failure); the baseline
lists such tests in the report's ``environment`` and leaves them out of the targets and
of the regressions.
"""

from __future__ import annotations

import re

from codemend.sandbox.report import TestCase

CAUSES = (
    ("network (the sandbox has none)", re.compile(
        r"socket\.gaierror|Temporary failure in name resolution|Name or service not known|"
        r"Network is unreachable|No address associated with hostname|\[Errno -[23]\]|"
        r"\[Errno 101\]|urlopen error|NewConnectionError|Failed to establish a new connection|"
        r"ConnectError: \[Errno")),
    ("locale (not installed in the sandbox)", re.compile(
        r"locale\.Error: unsupported locale setting|unsupported locale setting|"
        r"unknown locale")),
    ("time zone data (not in the sandbox)", re.compile(
        r"ZoneInfoNotFoundError|No time zone found with key|UnknownTimeZoneError|"
        r"No module named 'tzdata'")),
    ("a read-only work tree (the sandbox's files cannot be changed)", re.compile(
        r"PermissionError: \[Errno 1\] Operation not permitted|"
        r"OSError: \[Errno 30\] Read-only file system|"
        r"PermissionError: \[Errno 13\] Permission denied: '(/work/|\.?[\w\-]*cache)|"
        r"Failed to create temporary file|"
        r"The database setting is not configured, and the default location is unusable")),
    ("a console script not on PATH", re.compile(
        r"FileNotFoundError: \[Errno 2\] No such file or directory: '[\w.\-]+'$|"
        r": [\w.\-]+: (command )?not found$", re.M)),
)


def cause(case: TestCase) -> str | None:
    """Why ``case`` fails for the environment's sake (None: it does not)."""
    text = f"{case.message}\n{case.traceback}"
    for name, pattern in CAUSES:
        if pattern.search(text):
            return name
    return None
