"""The sandbox settings for one repository: its environment image and room for its files.

``sandbox_config`` is what a repository-mode caller needs before ``make_sandbox``: the
cold and the pooled sandbox both take the image through ``SandboxConfig.image``.
"""

from __future__ import annotations

import docker
import docker.errors
from codemend.agent.repo.deps import read_declarations
from codemend.agent.repo.project import project_build, requires_python
from codemend.agent.repo.snapshot import RepoSnapshot, nearest_tag
from codemend.sandbox.config import SandboxConfig
from codemend.sandbox.envimage import Source, ensure_env_image
from codemend.sandbox.errors import BadInput, ImageBuildError
from codemend.sandbox.image import Progress, ensure_image, image_id
from packaging.specifiers import InvalidSpecifier, SpecifierSet

REPO_DEFAULTS = {"timeout_s": 300.0, "memory_mb": 1024, "pids_limit": 256, "tmpfs_mb": 128}
"""A project's whole suite needs more than one spec task's tests."""


def repo_defaults(timeout_s: float | None = None) -> SandboxConfig:
    """The repository defaults, with the user's limit for one check (``--check-timeout``,
    ``Settings.check_timeout``) when given."""
    return SandboxConfig(**{**REPO_DEFAULTS, **({"timeout_s": timeout_s} if timeout_s else {})})
_PYTHONS: dict[str, str] = {}


def work_tmpfs_mb(snapshot: RepoSnapshot) -> int:
    """Room for the repository in the sandbox's /work (tmpfs), with headroom."""
    return max(32, (snapshot.size_bytes * 2 >> 20) + 16)


def image_python(client: docker.DockerClient, image: str) -> str:
    """The full version of the image's Python (``3.11.2``), asked once per image."""
    key = image_id(client, image)
    if key not in _PYTHONS:
        try:
            out = client.containers.run(image, ["python3", "-I", "-c", "import platform;"
                                                "print(platform.python_version())"],
                                        remove=True, network_disabled=True, user="10001")
        except docker.errors.DockerException as exc:
            raise ImageBuildError(f"the sandbox image {image} has no working Python: {exc}"
                                  ) from exc
        _PYTHONS[key] = out.decode().strip()
    return _PYTHONS[key]


def check_python(snapshot: RepoSnapshot, version: str) -> None:
    """Exit 2, one line, when the project's ``requires-python`` excludes ``version``."""
    spec = requires_python(snapshot.files)
    try:
        ok = not spec or SpecifierSet(spec).contains(version, prereleases=True)
    except InvalidSpecifier:
        return  # pip would say the same of the project; its build reports it
    if not ok:
        raise BadInput(f"{snapshot.root}: the project needs Python {spec} (requires-python), "
                       f"the sandbox has Python {version}; build the check image on a Python "
                       "that satisfies it (CODEMEND_BASE_IMAGE=python:X.Y-slim codemend "
                       "sandbox build)")


def sandbox_config(snapshot: RepoSnapshot, client: docker.DockerClient, *,
                   base: SandboxConfig | None = None, source: Source = "wheels",
                   progress: Progress | None = None) -> SandboxConfig:
    """``base`` (default: repository defaults) with the repository's environment image
    (its dependencies and the project itself installed editable, built once per set of
    declarations, see sandbox/envimage.py) and a /work that fits. A Python the project
    excludes is BadInput (exit 2); an undeclarable dependency or a build that needs a
    compiler is ImageBuildError (exit 4) naming it."""
    cfg = base or repo_defaults()
    check = cfg.image or ensure_image(client, progress=progress)
    check_python(snapshot, image_python(client, check))
    image = ensure_env_image(client, read_declarations(snapshot.files).requirements,
                             base=check, source=source, progress=progress,
                             project=project_build(snapshot, nearest_tag(snapshot)))
    return cfg.model_copy(update={"image": image,
                                  "work_tmpfs_mb": max(cfg.work_tmpfs_mb, work_tmpfs_mb(snapshot))})
