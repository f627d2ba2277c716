"""Environment images: the check image plus a repository's declared dependencies.

An environment image is derived from the check image (same runner, same hardening, the
same pinned pytest and ruff) and tagged ``codemend-env:KEY``, where KEY hashes the
check image's id and the sorted requirement lines. Same declarations on the same check
image: the image exists and nothing is built. Checks in it still run with no network.

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
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
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
DOCKERFILE = """\
ARG BASE_IMAGE
FROM ${BASE_IMAGE}
COPY wheels/ /tmp/wheels/
COPY requirements.txt constraints.txt /tmp/codemend-env/
RUN set -eu; \\
    pip_whl=$(ls /tmp/wheels/pip-*.whl | head -n 1); \\
    /opt/venv/bin/python "$pip_whl/pip" install --no-cache-dir --disable-pip-version-check \\
        --no-warn-script-location %(index)s -r /tmp/codemend-env/requirements.txt \\
        -c /tmp/codemend-env/constraints.txt; \\
    rm -rf /tmp/wheels /tmp/codemend-env; \\
    find / -xdev -perm /6000 -type f -exec chmod a-s {} + 2>/dev/null || true
LABEL codemend.image="env"
"""
_MISSING = (re.compile(r"No matching distribution found for (\S+)"),
            re.compile(r"Could not find a version that satisfies the requirement (\S+)"),
            re.compile(r"Cannot install (.+?) because these package versions have conflicting"),
            re.compile(r"Failed to build (\S+)"))


def _quiet(_: str) -> None:
    pass


def env_key(base_id: str, requirements: Sequence[str]) -> str:
    text = "\n".join([base_id, *sorted(set(requirements))])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def env_tag(client: docker.DockerClient, requirements: Sequence[str],
            base: str | None = None) -> str:
    """The environment image's tag for ``requirements`` on the check image ``base``."""
    base = base or ensure_image(client)
    return f"{REPO}:{env_key(image_id(client, base), requirements)}"


def ensure_env_image(client: docker.DockerClient, requirements: Sequence[str], *,
                     base: str | None = None, source: Source = "wheels",
                     progress: Progress | None = None) -> str:
    """The image to check a repository in: the check image itself when nothing is
    declared, else its environment image, built first if it does not exist yet."""
    say = progress or _quiet
    base = base or ensure_image(client, progress=progress)
    reqs = sorted(set(requirements))
    if not reqs:
        return base
    tag = env_tag(client, reqs, base)
    if image_exists(client, tag):
        return tag
    say(f"environment image {tag} is missing: building it for {len(reqs)} requirement(s)")
    build_env_image(client, reqs, tag, base, source, say)
    return tag


def _constraints() -> str:
    p = pins()
    return f"pytest=={p['PYTEST_VERSION']}\nruff=={p['RUFF_VERSION']}\n"


def build_env_image(client: docker.DockerClient, reqs: list[str], tag: str, base: str,
                    source: Source, say: Progress) -> None:
    py = _base_python(client, base)
    with tempfile.TemporaryDirectory(prefix="codemend-env-") as ctx:
        root = Path(ctx)
        (root / "requirements.txt").write_text("\n".join(reqs) + "\n")
        (root / "constraints.txt").write_text(_constraints())
        wheels = root / "wheels"
        wheels.mkdir()
        _pip_download(["pip"], py, wheels, root / "constraints.txt", only_pip=True)
        if source == "wheels":
            say(f"downloading wheels for {', '.join(reqs)[:200]} (Python {py[0]}.{py[1:]})")
            _host_wheels(root / "requirements.txt", py, wheels, root / "constraints.txt")
            index = "--no-index --find-links /tmp/wheels"
        else:
            index = "--find-links /tmp/wheels"
        (root / "Dockerfile").write_text(DOCKERFILE % {"index": index})
        say(f"building {tag} from {base}")
        log: list[str] = []
        try:
            for line in client.api.build(path=ctx, dockerfile="Dockerfile", tag=tag, rm=True,
                                         forcerm=True, pull=False, decode=True,
                                         buildargs={"BASE_IMAGE": base},
                                         network_mode="none" if source == "wheels" else None,
                                         labels={"codemend.inputs": tag.split(":")[1],
                                                 "codemend.base": base}):
                if "error" in line:
                    raise ImageBuildError(_why(log + [str(line["error"])], reqs))
                log.append(str(line.get("stream", "")))
        except docker.errors.APIError as exc:
            raise ImageBuildError(f"environment image build failed: {exc}") from exc
    say(f"built {tag}")


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


def _why(lines: list[str], reqs: list[str]) -> str:
    """One line naming the requirement pip could not install, with pip's reason."""
    text = "\n".join(lines)
    for pattern in _MISSING:
        m = pattern.search(text)
        if m:
            return (f"dependency {m.group(1).strip()} cannot be installed in the sandbox's "
                    f"environment image ({m.group(0).strip()[:200]}); fix or remove the "
                    "declaration, or make the package available to pip")
    tail = " ".join(line.strip() for line in lines if line.strip())[-300:]
    return (f"the environment image for {', '.join(reqs)[:200]} could not be built: {tail}")
