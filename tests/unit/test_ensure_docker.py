"""scripts/ensure-docker.sh on the machines it must handle, with fake docker/dockerd/apt-get.

Each case runs the real script under a PATH that holds only fakes and the few system tools
it needs, so the real dockerd and apt-get of this machine are out of reach. The fakes write
what they were asked to do into a log that the assertions read."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "ensure-docker.sh"
TOOLS = ("bash", "seq", "sleep", "nohup", "cat", "touch", "chmod", "dirname", "env")

FAKE_DOCKER = """#!/bin/bash
echo "docker $*" >> "$FAKE/calls"
[ "$1" = info ] && [ -f "$FAKE/running" ]
"""
FAKE_DOCKERD = """#!/bin/bash
echo "dockerd $*" >> "$FAKE/calls"
[ -f "$FAKE/never-answers" ] || touch "$FAKE/running"
"""
FAKE_APT = """#!/bin/bash
echo "apt-get $*" >> "$FAKE/calls"
if [ "$1" = install ]; then
  for p in "$@"; do
    case "$p" in
      docker.io) printf '%s' "$DOCKER" > "$FAKE/bin/docker"; printf '%s' "$DOCKERD" > "$FAKE/bin/dockerd"
                 chmod +x "$FAKE/bin/docker" "$FAKE/bin/dockerd" ;;
      debootstrap) printf '#!/bin/bash\\n' > "$FAKE/bin/debootstrap"; chmod +x "$FAKE/bin/debootstrap" ;;
    esac
  done
fi
"""


class Machine:
    """A fake machine: a bin folder of fakes, a uid, and the calls made."""

    def __init__(self, root: Path, *, uid: int = 0) -> None:
        self.root = root
        self.bin = root / "bin"
        self.bin.mkdir()
        system = root / "system"
        system.mkdir()
        for tool in TOOLS:
            found = shutil.which(tool)
            assert found, f"{tool} is needed by the test"
            (system / tool).symlink_to(found)
        self.fake("id", f"#!/bin/bash\n[ \"$1\" = -u ] && echo {uid}\n")
        self.fake("apt-get", FAKE_APT)
        self.path = f"{self.bin}:{system}"

    def fake(self, name: str, text: str) -> None:
        (self.bin / name).write_text(text)
        (self.bin / name).chmod(0o755)

    def with_client(self) -> Machine:
        self.fake("docker", FAKE_DOCKER)
        return self

    def with_engine(self) -> Machine:
        self.fake("dockerd", FAKE_DOCKERD)
        return self

    def with_debootstrap(self) -> Machine:
        self.fake("debootstrap", "#!/bin/bash\n")
        return self

    def running(self) -> Machine:
        (self.root / "running").touch()
        return self

    def run(self) -> tuple[subprocess.CompletedProcess[str], list[str]]:
        env = {"PATH": self.path, "FAKE": str(self.root), "DOCKER": FAKE_DOCKER,
               "DOCKERD": FAKE_DOCKERD, "CODEMEND_DOCKERD_LOG": str(self.root / "dockerd.log"),
               "CODEMEND_DOCKERD_WAIT": "3", "HOME": str(self.root)}
        proc = subprocess.run([shutil.which("bash"), str(SCRIPT)], env=env, capture_output=True,
                              text=True, timeout=60)
        calls = self.root / "calls"
        return proc, calls.read_text().splitlines() if calls.exists() else []


def installs(calls: list[str]) -> list[str]:
    return [c.removeprefix("apt-get install -y -qq ") for c in calls if c.startswith("apt-get install")]


def test_a_client_without_an_engine_installs_docker_io_and_starts_dockerd(tmp_path):
    proc, calls = Machine(tmp_path).with_client().run()
    assert proc.returncode == 0, proc.stderr
    assert installs(calls) == ["docker.io debootstrap"]
    assert "dockerd " in calls
    assert calls[-1] == "docker info"  # decided on a daemon that answers
    assert "the Docker daemon answers" in proc.stdout


def test_nothing_at_all_installs_docker_io(tmp_path):
    proc, calls = Machine(tmp_path).with_debootstrap().run()
    assert proc.returncode == 0, proc.stderr
    assert installs(calls) == ["docker.io"]
    assert "dockerd " in calls


def test_an_engine_installed_but_not_running_is_started_without_installing(tmp_path):
    proc, calls = Machine(tmp_path).with_client().with_engine().with_debootstrap().run()
    assert proc.returncode == 0, proc.stderr
    assert installs(calls) == []
    assert calls.count("dockerd ") == 1


def test_a_running_daemon_is_left_alone(tmp_path):
    proc, calls = Machine(tmp_path).with_client().with_engine().with_debootstrap().running().run()
    assert proc.returncode == 0, proc.stderr
    assert set(calls) == {"docker info"}  # asked the daemon, installed and started nothing


def test_a_running_daemon_without_debootstrap_only_installs_debootstrap(tmp_path):
    proc, calls = Machine(tmp_path).with_client().running().run()
    assert proc.returncode == 0, proc.stderr
    assert installs(calls) == ["debootstrap"]
    assert not any(c.startswith("dockerd") for c in calls)


def test_not_root_with_a_client_only_says_what_to_install(tmp_path):
    proc, calls = Machine(tmp_path, uid=1000).with_client().with_debootstrap().run()
    assert proc.returncode == 1
    assert "no Docker engine (dockerd)" in proc.stderr and "apt-get install docker.io" in proc.stderr
    assert installs(calls) == [] and not any(c.startswith("dockerd") for c in calls)


def test_not_root_with_an_engine_that_is_down_says_how_to_start_it(tmp_path):
    proc, _ = Machine(tmp_path, uid=1000).with_client().with_engine().with_debootstrap().run()
    assert proc.returncode == 1
    assert "no daemon answers. Start it" in proc.stderr


@pytest.mark.skipif(os.name != "posix", reason="bash script")
def test_a_daemon_that_never_answers_is_a_clear_failure(tmp_path):
    m = Machine(tmp_path).with_client().with_engine().with_debootstrap()
    (tmp_path / "never-answers").touch()
    proc, calls = m.run()
    assert proc.returncode == 1
    assert "dockerd did not answer within 3 s" in proc.stderr
    assert calls.count("dockerd ") == 1
