"""SandboxConfig: every limit and hardening switch of a check, with safe defaults."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class SandboxConfig(BaseModel):
    """How a sandbox check runs. Defaults are the hardened settings; loosen with care."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    image: str | None = None
    """Image to run. None: the content-addressed codemend image, built on first use."""
    timeout_s: float = Field(default=60.0, gt=0, le=3600)
    """Wall-clock limit of one check; enforced inside (timeout -s KILL) and by the host."""
    host_grace_s: float = Field(default=5.0, ge=0.5, le=120)
    """Extra time the host waits beyond timeout_s before it kills the whole container."""
    memory_mb: int = Field(default=512, ge=64)
    """Memory limit; swap is disabled (memory == memory+swap)."""
    cpus: float = Field(default=1.0, gt=0, le=64)
    """CPU quota in cores."""
    pids_limit: int = Field(default=128, ge=16)
    """Most processes/threads the container may hold at once (contains fork bombs)."""
    tmpfs_mb: int = Field(default=64, ge=8)
    """Size of the noexec /tmp tmpfs (scratch, pytest's temp files, the JUnit report)."""
    work_tmpfs_mb: int = Field(default=32, ge=4)
    """Size of the noexec /work tmpfs that receives the workspace."""
    report_tmpfs_mb: int = Field(default=64, ge=8)
    """Size of the separate tmpfs pytest writes its JUnit report to."""
    nofile: int = Field(default=256, ge=32)
    """Open-file limit (RLIMIT_NOFILE)."""
    fsize_mb: int = Field(default=64, ge=1)
    """Largest file a process may write (RLIMIT_FSIZE)."""
    output_limit_bytes: int = Field(default=1 << 20, ge=4096)
    """Bytes of stdout and of stderr kept per tool; more ends the check as output_limit."""
    report_limit_bytes: int = Field(default=8 << 20, ge=4096)
    """Largest JUnit report read back from the container."""
    lint_select: str = "E4,E7,E9,F,I"
    """ruff rules checked (``--select``); ruff's classic correctness set plus import order."""
    network: Literal["none"] = "none"
    """Network mode. Only "none" is supported: checks never reach a network."""
    read_only_root: bool = True
    """Mount the container's root filesystem read-only."""
    label: str = "codemend"
    """Label carried by every container, used for cleanup and reaping."""
