"""The image tag follows its inputs; the offline build finds the host's Debian mirror."""

from __future__ import annotations

import shutil

import pytest
from codemend.sandbox import image
from codemend.sandbox.errors import ImageBuildError


def test_tag_changes_with_the_dockerfile_and_pins(tmp_path, monkeypatch):
    copy = tmp_path / "Dockerfile.sandbox"
    shutil.copy(image.dockerfile_path(), copy)
    monkeypatch.setattr(image, "dockerfile_path", lambda: copy)
    first = image.image_tag()
    assert image.image_tag() == first  # unchanged inputs: the same tag (reused)
    assert first.startswith("codemend-sandbox:") and len(first.split(":")[1]) == 12
    copy.write_text(copy.read_text().replace("ARG RUFF_VERSION=", "ARG RUFF_VERSION=0"))
    assert image.image_tag() != first  # a changed pin: a new tag (rebuilt)
    assert image.pins()["RUFF_VERSION"].startswith("0")


def test_tag_changes_with_the_base_image_id():
    assert image.image_tag(base_id="sha256:aaa") == image.image_tag(base_id="sha256:aaa")
    assert image.image_tag(base_id="sha256:aaa") != image.image_tag(base_id="sha256:bbb")


def test_pins_are_read_from_the_dockerfile():
    pins = image.pins()
    assert set(pins) >= {"RUFF_VERSION", "PYTEST_VERSION", "COVERAGE_VERSION"}
    assert all(v[0].isdigit() for v in pins.values())


def test_debian_mirror_from_env(monkeypatch):
    monkeypatch.setenv("CODEMEND_DEBIAN_MIRROR", "http://mirror.invalid/debian")
    assert image.debian_mirror() == "http://mirror.invalid/debian"


def test_debian_mirror_parses_deb822_and_one_line_sources(tmp_path, monkeypatch):
    monkeypatch.delenv("CODEMEND_DEBIAN_MIRROR", raising=False)
    real_path = image.Path

    def fake_path(p):
        mapped = {"/etc/apt/sources.list": tmp_path / "sources.list",
                  "/etc/apt/sources.list.d": tmp_path / "d"}.get(str(p))
        return mapped if mapped is not None else real_path(p)

    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "debian.sources").write_text(
        "Types: deb\nURIs: http://local.mirror/debian\nSuites: bookworm\n\n"
        "Types: deb\nURIs: http://local.mirror/debian-security\n")
    monkeypatch.setattr(image, "Path", fake_path)
    assert image.debian_mirror() == "http://local.mirror/debian"
    (tmp_path / "d" / "debian.sources").unlink()
    (tmp_path / "sources.list").write_text("deb [arch=amd64] http://other.mirror/debian bookworm main\n")
    assert image.debian_mirror() == "http://other.mirror/debian"
    (tmp_path / "sources.list").write_text("# nothing\n")
    with pytest.raises(ImageBuildError, match="CODEMEND_DEBIAN_MIRROR"):
        image.debian_mirror()


def test_host_dev_tools_are_pinned_to_the_image_versions():
    import tomllib

    root = image.dockerfile_path().parent
    dev = tomllib.loads((root / "pyproject.toml").read_text())["project"]["optional-dependencies"]["dev"]
    pins = image.pins()
    assert f"ruff=={pins['RUFF_VERSION']}" in dev
    assert f"pytest=={pins['PYTEST_VERSION']}" in dev
    assert f"coverage=={pins['COVERAGE_VERSION']}" in dev
