"""The sandbox settings for one repository: its environment image and room for its files.

``sandbox_config`` is what a repository-mode caller needs before ``make_sandbox``: the
cold and the pooled sandbox both take the image through ``SandboxConfig.image``.
"""

from __future__ import annotations

import docker
from codemend.agent.repo.deps import read_declarations
from codemend.agent.repo.snapshot import RepoSnapshot
from codemend.sandbox.config import SandboxConfig
from codemend.sandbox.envimage import Source, ensure_env_image
from codemend.sandbox.image import Progress

REPO_DEFAULTS = {"timeout_s": 300.0, "memory_mb": 1024, "pids_limit": 256, "tmpfs_mb": 128}
"""A project's whole suite needs more than one spec task's tests."""


def work_tmpfs_mb(snapshot: RepoSnapshot) -> int:
    """Room for the repository in the sandbox's /work (tmpfs), with headroom."""
    return max(32, (snapshot.size_bytes * 2 >> 20) + 16)


def sandbox_config(snapshot: RepoSnapshot, client: docker.DockerClient, *,
                   base: SandboxConfig | None = None, source: Source = "wheels",
                   progress: Progress | None = None) -> SandboxConfig:
    """``base`` (default: repository defaults) with the repository's environment image
    (built once per set of declarations, see sandbox/envimage.py) and a /work that fits.
    An undeclarable dependency raises ImageBuildError (exit 4) naming it."""
    cfg = base or SandboxConfig(**REPO_DEFAULTS)
    image = ensure_env_image(client, read_declarations(snapshot.files).requirements,
                             base=cfg.image, source=source, progress=progress)
    return cfg.model_copy(update={"image": image,
                                  "work_tmpfs_mb": max(cfg.work_tmpfs_mb, work_tmpfs_mb(snapshot))})
