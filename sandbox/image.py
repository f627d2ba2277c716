"""Build the check image: online (pull the base) or offline (debootstrap + docker import).

The tag carries a hash of the image's inputs (Dockerfile with its pinned versions, the
runner): unchanged inputs reuse the image, changed inputs rebuild. The tools always come
from wheels pip downloads on the host and installs with ``--no-index`` inside, so the
build step needs no network either way.
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
from collections.abc import Callable
from pathlib import Path

import docker
import docker.errors
from codemend.sandbox.errors import ImageBuildError

Progress = Callable[[str], None]
REPO = "codemend-sandbox"
LOCAL_BASE = "codemend-base:bookworm"
DEFAULT_BASE = "python:3.12-slim"
HERE = Path(__file__).resolve().parent
RUNNER_FILES = ("runner/codemend_runner.py", "runner/codemend_core.py",
                "runner/codemend_inventory.py", "runner/codemend_witness.py",
                "runner/codemend_zygote.py", "runner/codemend_reset.py",
                "runner/codemend_warm.py", "runner/codemend_coverage.py",
                "runner/pytest.ini")


def _quiet(_: str) -> None:
    pass


def dockerfile_path() -> Path:
    for cand in (HERE / "Dockerfile.sandbox", HERE.parent / "Dockerfile.sandbox"):
        if cand.is_file():
            return cand
    raise ImageBuildError("Dockerfile.sandbox is missing from the installation")


def pins() -> dict[str, str]:
    """Pinned tool versions, read from the Dockerfile's ARG lines (one source of truth)."""
    text = dockerfile_path().read_text()
    return dict(re.findall(r"^ARG (\w+_VERSION)=(\S+)$", text, flags=re.M))


def inputs_hash(base_id: str = "") -> str:
    """The Dockerfile, the runner files and the id of the base image they are built on: a
    base that changed (a new ``python:3.12-slim``, a fresh debootstrap) is a new image."""
    h = hashlib.sha256()
    for path in (dockerfile_path(), *(HERE / f for f in RUNNER_FILES)):
        h.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    h.update(b"base\0" + base_id.encode())
    return h.hexdigest()[:12]


def online_base_name() -> str:
    return os.environ.get("CODEMEND_BASE_IMAGE", DEFAULT_BASE)


def image_id(client: docker.DockerClient, name: str) -> str:
    """The id of the image ``name`` the daemon holds (``ImageNotFound`` when it holds none)."""
    found = client.images.get(name).id
    if not found:
        raise ImageBuildError(f"the Docker daemon gave no id for image {name}")
    return found


def current_base(client: docker.DockerClient) -> tuple[str, str] | None:
    """The base a build would use now without downloading, as (name, image id): the online
    base when the daemon holds it, else the locally made one; None when there is neither."""
    for name in (online_base_name(), LOCAL_BASE):
        try:
            return name, image_id(client, name)
        except docker.errors.ImageNotFound:
            continue
    return None


def image_tag(client: docker.DockerClient | None = None, base_id: str | None = None) -> str:
    """The check image's tag: a hash of its inputs, base image id included. Give the
    ``base_id``, or a ``client`` to look the current base up (no base yet: an empty id)."""
    if base_id is None:
        found = current_base(client) if client is not None else None
        base_id = found[1] if found else ""
    return f"{REPO}:{inputs_hash(base_id)}"


def image_exists(client: docker.DockerClient, ref: str) -> bool:
    try:
        client.images.get(ref)
        return True
    except docker.errors.ImageNotFound:
        return False


def ensure_image(client: docker.DockerClient, progress: Progress | None = None) -> str:
    """Return the image tag, building the image first if it is missing."""
    tag = image_tag(client)
    if not image_exists(client, tag):
        (progress or _quiet)(f"sandbox image {tag} is missing: building it (once)")
        tag = build_image(client, offline=None, progress=progress)
    return tag


def build_image(client: docker.DockerClient, offline: bool | None = None,
                progress: Progress | None = None) -> str:
    """Build the image. ``offline``: True forces the local base, None tries online first."""
    say = progress or _quiet
    base = None
    if not offline:
        base = _online_base(client, say)
        if base is None and offline is False:
            raise ImageBuildError(f"could not pull {DEFAULT_BASE}; try `codemend sandbox "
                                  "build --offline`")
    if base is None:
        base = local_base(client, say)
    base_id = image_id(client, base)
    tag = image_tag(base_id=base_id)
    py = _base_python(client, base)
    wheels = download_wheels(py, say)
    with tempfile.TemporaryDirectory(prefix="codemend-build-") as ctx:
        shutil.copy(dockerfile_path(), Path(ctx, "Dockerfile.sandbox"))
        (Path(ctx) / "sandbox" / "runner").mkdir(parents=True)
        for f in RUNNER_FILES:
            shutil.copy(HERE / f, Path(ctx, "sandbox", f))
        shutil.copytree(wheels, Path(ctx, "wheels"))
        say(f"building {tag} from {base}")
        try:
            for line in client.api.build(path=ctx, dockerfile="Dockerfile.sandbox", tag=tag,
                                         buildargs={"BASE_IMAGE": base}, rm=True,
                                         forcerm=True, pull=False, decode=True,
                                         network_mode="none",
                                         labels={"codemend.inputs": inputs_hash(base_id),
                                                 "codemend.base": base_id}):
                if "error" in line:
                    raise ImageBuildError(f"image build failed: {line['error'].strip()}")
                text = str(line.get("stream", "")).strip()
                if text.startswith("Step "):
                    say(text)
        except docker.errors.APIError as exc:
            raise ImageBuildError(f"image build failed: {exc}") from exc
    say(f"built {tag}")
    return tag


def _online_base(client: docker.DockerClient, say: Progress) -> str | None:
    base = online_base_name()
    if image_exists(client, base):
        return base
    say(f"pulling {base}")
    try:
        client.images.pull(base)
        return base
    except docker.errors.DockerException as exc:
        say(f"cannot pull {base} ({str(exc)[:120]}); using a locally made base instead")
        return None


def _base_python(client: docker.DockerClient, base: str) -> str:
    try:
        out = client.containers.run(base, ["python3", "-c", "import sys;print("
                                           "'%d%d' % sys.version_info[:2])"],
                                    remove=True, network_disabled=True)
    except docker.errors.DockerException as exc:
        raise ImageBuildError(f"base image {base} has no working python3: {exc}") from exc
    return out.decode().strip()


def cache_dir() -> Path:
    root = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(root) / "codemend"


def download_wheels(py: str, say: Progress) -> Path:
    """pip-download the pinned tools for the base's Python into a cache folder."""
    machine = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "aarch64",
               "arm64": "aarch64"}.get(platform.machine().lower(), platform.machine())
    p = pins()
    reqs = [f"ruff=={p['RUFF_VERSION']}", f"pytest=={p['PYTEST_VERSION']}",
            f"coverage=={p['COVERAGE_VERSION']}"]
    dest = cache_dir() / "wheels" / f"cp{py}-{machine}-{'-'.join(reqs)}"
    if dest.is_dir() and any(dest.glob("ruff-*.whl")) and any(dest.glob("pytest-*.whl")) \
            and any(dest.glob("coverage-*.whl")):
        return dest
    say(f"downloading wheels for {', '.join(reqs)} (Python {py[0]}.{py[1:]}, {machine})")
    tmp = dest.with_name(dest.name + ".part")
    shutil.rmtree(tmp, ignore_errors=True)
    cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--only-binary=:all:",
           "--platform", f"manylinux_2_17_{machine}", "--platform", f"manylinux2014_{machine}",
           "--python-version", py, "--implementation", "cp", "--dest", str(tmp), *reqs]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise ImageBuildError("pip could not download the sandbox's wheels: "
                              f"{proc.stderr.strip()[-400:]}")
    tmp.rename(dest)
    return dest


def debian_mirror() -> str:
    """CODEMEND_DEBIAN_MIRROR, else the first Debian mirror this host's apt uses."""
    if os.environ.get("CODEMEND_DEBIAN_MIRROR"):
        return os.environ["CODEMEND_DEBIAN_MIRROR"]
    sources = [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]
    for src in sources:
        try:
            text = src.read_text()
        except OSError:
            continue
        for m in re.finditer(r"(?:^URIs:\s*|^deb\s+(?:\[[^]]*\]\s+)?)(\S+)", text, re.M):
            uri = m.group(1)
            if "security" not in uri and "debian" in uri:
                return uri
    raise ImageBuildError("no Debian mirror found in /etc/apt; set CODEMEND_DEBIAN_MIRROR")


def local_base(client: docker.DockerClient, say: Progress) -> str:
    """A Debian bookworm base with python3, made by debootstrap and ``docker import``."""
    if image_exists(client, LOCAL_BASE):
        return LOCAL_BASE
    if shutil.which("debootstrap") is None:
        raise ImageBuildError("building offline needs debootstrap (apt-get install "
                              "debootstrap), or a registry to pull python:3.12-slim from")
    if os.geteuid() != 0:
        raise ImageBuildError("debootstrap needs root: run `sudo codemend sandbox build "
                              "--offline` once")
    mirror = debian_mirror()
    with tempfile.TemporaryDirectory(prefix="codemend-base-") as tmp:
        rootfs = Path(tmp, "rootfs")
        say(f"debootstrap bookworm with python3 from {mirror} (about a minute)")
        proc = subprocess.run(["debootstrap", "--variant=minbase",
                               "--include=python3,python3-venv", "bookworm", str(rootfs),
                               mirror], capture_output=True, text=True)
        if proc.returncode != 0:
            raise ImageBuildError(f"debootstrap failed: {proc.stdout[-400:]}{proc.stderr[-400:]}")
        for junk in ("var/cache/apt/archives", "var/lib/apt/lists"):
            for p in (rootfs / junk).glob("*"):
                if p.is_file():
                    p.unlink()
        tarball = Path(tmp, "rootfs.tar")
        subprocess.run(["tar", "-C", str(rootfs), "-cf", str(tarball), "."], check=True)
        say(f"importing the base as {LOCAL_BASE}")
        repo, tag = LOCAL_BASE.split(":")
        try:
            client.api.import_image_from_file(str(tarball), repository=repo, tag=tag)
        except docker.errors.APIError as exc:
            raise ImageBuildError(f"docker import failed: {exc}") from exc
    return LOCAL_BASE
