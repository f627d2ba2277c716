"""Environment images: the check image plus a repository's own Python environment.

An environment image is derived from the check image (same runner, same hardening) and
tagged ``codemend-env:KEY``, where KEY hashes the check image's id, the sorted
requirement lines and, when the project can be installed, its ``ProjectBuild.key``.
Same inputs on the same check image: the image exists and nothing is built. Checks in it
still run with no network.

The project, its dependencies and its test tools live in one virtual environment,
``/opt/project`` (``VENV``), apart from the check's own tools (``/opt/venv``: the runner's
pytest and ruff), so nothing of the check's can shadow the project: a project that
pytest itself depends on (pluggy, iniconfig, packaging) is imported from its work tree.
pytest is pinned to the check image's version (unless the project is pytest). The
project is installed editable (``pip install -e``, as its CI does) from a copy of its
files at ``/work/repo`` (``WORKDIR``), the fixed path where every check unpacks its work
tree: its metadata, version, entry points and console scripts are there, its code is the
work tree's; pip is in it, as in any virtual environment (``python -m pip show NAME``).
A version from git tags is given as ``PRETEND`` overrides and a PKG-INFO.
``envfinish.py`` records the environment's pytest plugins and the files the install
generated (``/opt/project/codemend-env.json``), which the runner reads.

How the packages get in (``source``):

- ``wheels`` (the default): pip on the host downloads wheels for the image's Python and
  platform (an sdist-only package is built into a wheel on the host when the host's
  Python has the image's version), then the build installs them with ``--no-index`` and
  no network, as the check image's own tools are installed;
- ``registry``: the build itself installs from the package registry (the build needs
  network and must trust the registry's certificate).

A requirement that cannot be had is an ``ImageBuildError`` (exit 4) naming it.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import docker
import docker.errors
from codemend.sandbox.errors import ImageBuildError
from codemend.sandbox.image import (
    Progress,
    _base_python,
    cache_dir,
    ensure_image,
    image_exists,
    image_id,
    pins,
)

REPO = "codemend-env"
Source = Literal["wheels", "registry"]
VENV = "/opt/project"
WORKDIR = "/work/repo"
"""The project's own environment and where its work tree is in every check (the
editable install points there)."""
DOCKERFILE = """\
ARG BASE_IMAGE
FROM ${BASE_IMAGE}
COPY wheels/ /tmp/wheels/
COPY env/ /tmp/codemend-env/
COPY project/ /work/repo/
RUN set -eu; \\
    /opt/venv/bin/python -m venv --without-pip /opt/project; \\
    pip_whl=$(ls /tmp/wheels/pip-*.whl | head -n 1); \\
    cd /work/repo; \\
    env %(pretend)s /opt/project/bin/python "$pip_whl/pip" install --no-cache-dir \\
        --disable-pip-version-check --no-warn-script-location %(index)s "$pip_whl" \\
        -r /tmp/codemend-env/requirements.txt -c /tmp/codemend-env/constraints.txt %(editable)s; \\
    /opt/project/bin/python -I /tmp/codemend-env/envfinish.py; \\
    cd /; rm -rf /tmp/wheels /tmp/codemend-env /work/repo; mkdir -p /work; \\
    find / -xdev -perm /6000 -type f -exec chmod a-s {} + 2>/dev/null || true
LABEL codemend.image="env"
"""
PRETEND = ("SETUPTOOLS_SCM_PRETEND_VERSION", "PDM_BUILD_SCM_VERSION",
           "VERSIONINGIT_OVERRIDE", "POETRY_DYNAMIC_VERSIONING_BYPASS")
"""Version-from-git tools' overrides, set to the nearest tag's version (no git inside)."""
_MISSING = (re.compile(r"No matching distribution found for (\S+)"),
            re.compile(r"Could not find a version that satisfies the requirement (\S+)"),
            re.compile(r"Cannot install (.+?) because these package versions have conflicting"),
            re.compile(r"^Failed to build (\S+)\s*$", re.M))
_COMPILER = re.compile(
    r"command '[^']*(?:gcc|cc|g\+\+|clang)' failed|unable to execute '[^']*(?:gcc|cc)'|"
    r"No such file or directory: '[^']*(?:gcc|cc|c\+\+|clang)'|"
    r"(?:gcc|cc|cargo|rustc|cmake|meson|ninja): (?:command )?not found|"
    r"error: (?:can't find Rust compiler|linker `cc` not found)|Unknown compiler\(s\)|"
    r"CMAKE_C_COMPILER")


@dataclass(frozen=True)
class ProjectBuild:
    """The repository itself, installed editable into its environment (``pip install -e``
    as its CI does), pointing at ``WORKDIR``."""

    name: str
    """Its distribution name, canonical (its own plugins are not loaded with ``-p``)."""
    files: Mapping[str, bytes]
    """The work tree's files, for the build (its backend reads them)."""
    key: str
    """What the install depends on (build configuration, version, top-level names):
    the same key on the same check image reuses the image."""
    build_requires: tuple[str, ...] = ()
    version: str | None = None
    """The nearest tag's version, given to version-from-git tools (see ``PRETEND``)."""


def _quiet(_: str) -> None:
    pass


def env_key(base_id: str, requirements: Sequence[str], project: ProjectBuild | None = None
            ) -> str:
    recipe = DOCKERFILE + Path(__file__).with_name("envfinish.py").read_text()
    text = "\n".join([base_id, hashlib.sha256(recipe.encode()).hexdigest(),
                      *sorted(set(requirements)), *(["project", project.key] if project else [])])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def env_tag(client: docker.DockerClient, requirements: Sequence[str],
            base: str | None = None, project: ProjectBuild | None = None) -> str:
    """The environment image's tag for ``requirements`` on the check image ``base``."""
    base = base or ensure_image(client)
    return f"{REPO}:{env_key(image_id(client, base), requirements, project)}"


def ensure_env_image(client: docker.DockerClient, requirements: Sequence[str], *,
                     base: str | None = None, source: Source = "wheels",
                     progress: Progress | None = None,
                     project: ProjectBuild | None = None) -> str:
    """The image to check a repository in: the check image itself when nothing is
    declared and nothing can be installed, else its environment image (the project's
    own Python environment at ``VENV``), built first if it does not exist yet."""
    say = progress or _quiet
    base = base or ensure_image(client, progress=progress)
    reqs = sorted(set(requirements))
    if not reqs and project is None:
        return base
    tag = env_tag(client, reqs, base, project)
    if image_exists(client, tag):
        return tag
    what = f"{len(reqs)} requirement(s)" + (f" and {project.name} itself" if project else "")
    say(f"environment image {tag} is missing: building it for {what}")
    build_env_image(client, reqs, tag, base, source, say, project)
    return tag


TOOLS = (("pytest", "PYTEST_VERSION"), ("coverage", "COVERAGE_VERSION"))
"""The check's tools that run inside pytest's process, so in the project's environment too
(the witness needs the image's pytest; diff coverage imports coverage)."""


def _named(reqs: Sequence[str], name: str) -> bool:
    return any(re.match(rf"{re.escape(name)}\b(?![-_.])", r.strip(), re.I) for r in reqs)


def _tools(reqs: Sequence[str], project: ProjectBuild | None) -> tuple[list[str], str]:
    """(the tools to add, the constraints file): pytest pinned to the check image's (unless
    the project is pytest), coverage to its pin unless the project declares its own."""
    p = pins()
    own = project.name if project else ""
    add = [name for name, _ in TOOLS if name != own]
    pinned = [f"{name}=={p[key]}" for name, key in TOOLS if key in p and name != own
              and not (name == "coverage" and _named(reqs, name))]
    if own != "ruff":
        pinned.append(f"ruff=={p['RUFF_VERSION']}")
    return add, "".join(f"{line}\n" for line in pinned)


def _context(root: Path, reqs: list[str], project: ProjectBuild | None) -> None:
    env = root / "env"
    env.mkdir()
    tools, constraints = _tools(reqs, project)
    (env / "requirements.txt").write_text("\n".join([*reqs, *tools]) + "\n")
    (env / "constraints.txt").write_text(constraints)
    shutil.copy(Path(__file__).with_name("envfinish.py"), env / "envfinish.py")
    files = dict(project.files) if project else {}
    if project and project.version and "PKG-INFO" not in files:
        # setuptools-scm and setuptools-git-versioning read it when there is no git
        files["PKG-INFO"] = (f"Metadata-Version: 2.1\nName: {project.name}\n"
                             f"Version: {project.version}\n").encode()
    (env / "project.json").write_text(json.dumps({"name": project.name if project else "",
                                                  "install": project is not None,
                                                  "files": sorted(files)}))
    (root / "project").mkdir()
    for rel, data in files.items():
        dest = root / "project" / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(data)


def build_env_image(client: docker.DockerClient, reqs: list[str], tag: str, base: str,
                    source: Source, say: Progress, project: ProjectBuild | None = None) -> None:
    py = _base_python(client, base)
    with tempfile.TemporaryDirectory(prefix="codemend-env-") as ctx:
        root = Path(ctx)
        _context(root, reqs, project)
        constraints = root / "env" / "constraints.txt"
        wheels = root / "wheels"
        wheels.mkdir()
        _pip_download(["pip"], py, wheels, constraints, only_pip=True)
        if source == "wheels":
            say(f"downloading wheels for {', '.join(reqs)[:200] or 'the build'} "
                f"(Python {py[0]}.{py[1:]})")
            _host_wheels(root / "env" / "requirements.txt", py, wheels, constraints)
            if project:
                _build_wheels(project, py, wheels, constraints)
            index = "--no-index --find-links /tmp/wheels"
        else:
            index = "--find-links /tmp/wheels"
        pretend = " ".join(f"{k}={project.version}" for k in PRETEND) \
            if project and project.version else ""
        (root / "Dockerfile").write_text(DOCKERFILE % {
            "index": index, "pretend": pretend, "editable": "-e /work/repo" if project else ""})
        say(f"building {tag} from {base}")
        _docker_build(client, ctx, tag, base, source, reqs, project)
    say(f"built {tag}")


def _docker_build(client: docker.DockerClient, ctx: str, tag: str, base: str, source: Source,
                  reqs: list[str], project: ProjectBuild | None) -> None:
    log: list[str] = []
    try:
        for line in client.api.build(path=ctx, dockerfile="Dockerfile", tag=tag, rm=True,
                                     forcerm=True, pull=False, decode=True,
                                     buildargs={"BASE_IMAGE": base},
                                     network_mode="none" if source == "wheels" else None,
                                     labels={"codemend.inputs": tag.split(":")[1],
                                             "codemend.base": base}):
            if "error" in line:
                raise ImageBuildError(_why(log + [str(line["error"])], reqs, project))
            log.append(str(line.get("stream", "")))
    except docker.errors.APIError as exc:
        raise ImageBuildError(f"environment image build failed: {exc}") from exc


def _machine() -> str:
    return {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "aarch64",
            "arm64": "aarch64"}.get(platform.machine().lower(), platform.machine())


def _pip_download(args: list[str], py: str, dest: Path, constraints: Path,
                  only_pip: bool = False) -> subprocess.CompletedProcess:
    m = _machine()
    cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--only-binary=:all:",
           "--platform", f"manylinux_2_17_{m}", "--platform", f"manylinux2014_{m}",
           "--platform", f"manylinux_2_28_{m}", "--platform", f"linux_{m}",
           "--python-version", py, "--implementation", "cp", "--dest", str(dest),
           "-c", str(constraints), *args]
    if only_pip:
        cached = cache_dir() / "wheels" / f"pip-cp{py}"
        if not any(cached.glob("pip-*.whl")):
            # a folder per process, renamed into place: two processes filling the cache at
            # once each download, and the first rename wins
            tmp = cached.with_name(f"{cached.name}.{os.getpid()}.part")
            shutil.rmtree(tmp, ignore_errors=True)
            proc = subprocess.run([*cmd[:cmd.index("--dest") + 1], str(tmp), "pip"],
                                  capture_output=True, text=True)
            if proc.returncode != 0:
                shutil.rmtree(tmp, ignore_errors=True)
                raise ImageBuildError(f"pip could not download itself for the environment "
                                      f"image: {proc.stderr.strip()[-300:]}")
            if not any(cached.glob("pip-*.whl")):
                shutil.rmtree(cached, ignore_errors=True)
            try:
                tmp.rename(cached)
            except OSError:  # another process's download is in place
                shutil.rmtree(tmp, ignore_errors=True)
        for whl in cached.glob("pip-*.whl"):
            shutil.copy(whl, dest)
        return subprocess.CompletedProcess(cmd, 0)
    return subprocess.run(cmd, capture_output=True, text=True)


def _host_wheels(requirements: Path, py: str, dest: Path, constraints: Path) -> None:
    """Wheels for the image's Python and platform; with the same Python on the host,
    what has no such wheel (an sdist-only package) is built into one here."""
    proc = _pip_download(["-r", str(requirements)], py, dest, constraints)
    if proc.returncode == 0:
        return
    same_python = f"{sys.version_info[0]}{sys.version_info[1]}" == py
    if same_python and "No matching distribution" in proc.stderr:
        built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet",
                                "--wheel-dir", str(dest), "-r", str(requirements),
                                "-c", str(constraints)], capture_output=True, text=True)
        if built.returncode == 0:
            return
        proc = built
    reqs = requirements.read_text().split()
    raise ImageBuildError(_why(proc.stderr.splitlines(), reqs))


def _build_wheels(project: ProjectBuild, py: str, dest: Path, constraints: Path) -> None:
    """Wheels of the project's build backend (its ``[build-system] requires``, or
    setuptools for a setup.py), for pip's isolated build inside the image."""
    needs = list(project.build_requires or ("setuptools>=40.8.0",))
    # what backends ask for an editable build alone (setuptools < 70.1, hatchling)
    proc = _pip_download([*needs, "wheel", "editables"], py, dest, constraints)
    if proc.returncode != 0:
        raise ImageBuildError(_why(proc.stderr.splitlines(), needs, None))


def _why(lines: list[str], reqs: list[str], project: ProjectBuild | None = None) -> str:
    """One line naming the requirement pip could not install, with pip's reason."""
    text = "\n".join(lines)
    if _COMPILER.search(text):
        name = project.name if project else "a dependency"
        return (f"{name} needs a compiler to build (C extension or native code), and the "
                "sandbox's environment image has none: repository mode supports pure-Python "
                "projects and dependencies that ship wheels")
    for pattern in _MISSING:
        m = pattern.search(text)
        if m:
            return (f"dependency {m.group(1).strip()} cannot be installed in the sandbox's "
                    f"environment image ({m.group(0).strip()[:200]}); fix or remove the "
                    "declaration, or make the package available to pip")
    tail = " ".join(line.strip() for line in lines if line.strip())[-300:]
    return (f"the environment image for {', '.join(reqs)[:200]} could not be built: {tail}")
