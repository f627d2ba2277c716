"""Symlinks and hostile tar members never reach outside the workspace.

The host builds the workspace tar from strings, so a link can only come in through
``workspace_from_dirs`` (``codemend check DIR``), which must not follow links; and the
runner must ignore link, device and escaping members even if a tar carried them.
"""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest
from codemend.sandbox.errors import BadInput
from codemend.sandbox.workspace import Workspace, workspace_from_dirs

SECRET = "codemend-host-secret-7f3a"

PROBE = '''import os

from sol import add


def test_no_links_and_nothing_outside():
    here = os.getcwd()
    for root, dirs, files in os.walk(here):
        for name in dirs + files:
            assert not os.path.islink(os.path.join(root, name)), os.path.join(root, name)
    for path in ("/tmp/abs.py", "/escape.py", "/work/escape.py", "/tmp/through.py",
                 os.path.join(here, "link_out.py"), os.path.join(here, "hard.py"),
                 os.path.join(here, "dev")):
        assert not os.path.lexists(path), path
    assert add(1, 2) == 3
'''


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A folder with links pointing outside it, next to a 'host secret'."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.py").write_text(f"SECRET = {SECRET!r}\n")
    (outside / "test_outside.py").write_text(f"def test_x():\n    assert {SECRET!r}\n")
    code = tmp_path / "code"
    (code / "tests").mkdir(parents=True)
    (code / "sol.py").write_text("def add(a, b):\n    return a + b\n")
    (code / "tests" / "test_sol.py").write_text("from sol import add\n\n\ndef test_add():\n"
                                                "    assert add(1, 2) == 3\n")
    (code / "link_out.py").symlink_to(outside / "secret.py")
    (code / "linkdir").symlink_to(outside, target_is_directory=True)
    (code / "tests" / "test_link.py").symlink_to(outside / "test_outside.py")
    (code / "dangling.py").symlink_to(tmp_path / "nowhere.py")
    return tmp_path


def test_workspace_from_dirs_never_follows_links(project: Path):
    ws = workspace_from_dirs(project / "code")
    assert sorted(ws.files) == ["sol.py"]
    assert sorted(ws.tests) == ["tests/test_sol.py"]
    assert not any(SECRET in text for text in [*ws.files.values(), *ws.tests.values()])


def test_tests_dir_links_are_not_followed_either(project: Path):
    ws = workspace_from_dirs(project / "code", project / "code" / "tests")
    assert "tests/test_link.py" not in ws.tests
    assert not any(SECRET in text for text in ws.tests.values())


def test_a_linked_root_folder_is_refused(project: Path):
    (project / "rootlink").symlink_to(project / "code", target_is_directory=True)
    with pytest.raises(BadInput):
        workspace_from_dirs(project / "rootlink")


class HostileTar(Workspace):
    """A workspace whose tar also carries links, devices and escaping names."""

    def tar_bytes(self) -> bytes:
        buf = io.BytesIO(super().tar_bytes())
        with tarfile.open(fileobj=buf, mode="a", format=tarfile.PAX_FORMAT) as tar:
            def add(name: str, kind: bytes, data: bytes = b"", link: str = "") -> None:
                info = tarfile.TarInfo(name)
                info.type, info.linkname, info.size = kind, link, len(data)
                tar.addfile(info, io.BytesIO(data) if data else None)

            add("files/link_out.py", tarfile.SYMTYPE, link="/etc/passwd")
            add("files/linkdir", tarfile.SYMTYPE, link="/tmp")
            add("files/linkdir/through.py", tarfile.REGTYPE, b"x = 1\n")
            add("files/tests2", tarfile.SYMTYPE, link="/tmp")
            add("files/tests2/through.py", tarfile.REGTYPE, b"x = 1\n")
            add("files/hard.py", tarfile.LNKTYPE, link="/etc/shadow")
            add("files/dev", tarfile.CHRTYPE)
            add("files/../escape.py", tarfile.REGTYPE, b"x = 1\n")
            add("/tmp/abs.py", tarfile.REGTYPE, b"x = 1\n")
            add("../../escape.py", tarfile.REGTYPE, b"x = 1\n")
        return buf.getvalue()


@pytest.mark.docker
def test_hostile_tar_members_are_ignored(adv_sandbox, no_leftover_containers):
    ws = HostileTar(files={"sol.py": "def add(a, b):\n    return a + b\n"},
                    tests={"tests/test_probe.py": PROBE})
    report = adv_sandbox.check(ws, timeout_s=20)
    assert report.verdict == "pass", (report.message, report.tests.cases)
    assert report.tests.passed == 1


@pytest.mark.docker
def test_linked_project_checks_without_the_links(project: Path, adv_sandbox,
                                                 no_leftover_containers):
    ws = workspace_from_dirs(project / "code")
    ws = Workspace(files=ws.files, tests={**ws.tests, "tests/test_probe.py": PROBE})
    report = adv_sandbox.check(ws, timeout_s=20)
    assert report.verdict == "pass", (report.message, report.tests.cases)
    assert SECRET not in report.output
