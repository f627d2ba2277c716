"""Sandbox backends by short name, imported lazily."""

from __future__ import annotations

from typing import Any

from codemend.sandbox.base import Sandbox
from codemend.sandbox.config import SandboxConfig
from codemend.sandbox.errors import BadInput

KINDS = {"pool": "codemend.sandbox.pool:PooledSandbox", "cold": "codemend.sandbox.cold:ColdSandbox"}


def make_sandbox(kind: str = "pool", config: SandboxConfig | None = None, client=None,
                 **kw: Any) -> Sandbox:
    """Build the sandbox named ``kind`` (pool | cold); a cold sandbox ignores ``size``."""
    if kind not in KINDS:
        raise BadInput(f"unknown sandbox {kind!r}; choose one of {', '.join(KINDS)}")
    module, _, name = KINDS[kind].partition(":")
    cls = getattr(__import__(module, fromlist=[name]), name)
    if kind == "cold":
        kw.pop("size", None)
    return cls(config, client, **kw)
