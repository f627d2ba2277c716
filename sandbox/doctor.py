"""`codemend sandbox doctor`: the daemon, the image, and the hardening proven from inside."""

from __future__ import annotations

import json
from collections.abc import Callable

import docker
from codemend.sandbox.cold import ColdSandbox
from codemend.sandbox.config import SandboxConfig
from codemend.sandbox.image import image_exists, image_tag, pins
from codemend.sandbox.workspace import Workspace

MARK = "CODEMEND-PROBE:"
UNREAD = "cannot be read"
UNREAD_HINT = ("the doctor cannot prove this limit; the cgroup file was missing or unreadable "
               "(cgroup v1 needs swap accounting, `swapaccount=1`, for memory+swap)")
PROBE = r'''
import json, os, socket


def _cg(*names):
    for n in names:
        try:
            return open(n).read().strip()
        except OSError:
            pass
    return "?"  # judge() turns it into a FAIL, never a pass


def _writable(path):
    try:
        with open(os.path.join(path, ".codemend-probe"), "w"):
            pass
        os.unlink(os.path.join(path, ".codemend-probe"))
        return True
    except OSError:
        return False


def test_probe():
    status = dict(line.split(":\t", 1) for line in open("/proc/self/status") if ":\t" in line)
    facts = {
        "uid": os.getuid(), "gid": os.getgid(),
        "cap_eff": status["CapEff"].strip(), "cap_prm": status["CapPrm"].strip(),
        "no_new_privs": status.get("NoNewPrivs", "?").strip(),
        "interfaces": sorted(n for _, n in socket.if_nameindex()),
        "writable": [p for p in ("/", "/usr", "/etc", "/opt/codemend", "/work", ".", "/tmp",
                                 "/report") if _writable(p)],
        "pids_max": _cg("/sys/fs/cgroup/pids/pids.max", "/sys/fs/cgroup/pids.max"),
        "memory_max": _cg("/sys/fs/cgroup/memory/memory.limit_in_bytes",
                          "/sys/fs/cgroup/memory.max"),
        "memsw_max": _cg("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes",
                         "/sys/fs/cgroup/memory.swap.max"),
        "docker_socket": os.path.exists("/var/run/docker.sock"),
        "env": sorted(os.environ),
    }
    print("CODEMEND-PROBE:" + json.dumps(facts))
'''


def doctor(client: docker.DockerClient, say: Callable[[str], None]) -> bool:
    """Print one line per fact; return True when everything is as hardened as it should be."""
    ok = True

    def line(good: bool, text: str) -> None:
        nonlocal ok
        ok = ok and good
        say(f"{'ok  ' if good else 'FAIL'} {text}")

    info = client.version()
    cgroup = client.info().get("CgroupVersion", "?")
    line(True, f"Docker daemon {info.get('Version')} (API {info.get('ApiVersion')}), "
               f"cgroup v{cgroup}")
    tag = image_tag(client)
    p = pins()
    line(True, f"image {tag} ({'present' if image_exists(client, tag) else 'missing: building'}); "
               f"ruff {p.get('RUFF_VERSION')}, pytest {p.get('PYTEST_VERSION')}")
    with ColdSandbox(SandboxConfig(), client=client, progress=say) as sb:
        report = sb.check(Workspace(tests={"test_probe.py": PROBE}), timeout_s=30)
    facts = None
    for raw in report.output.splitlines():
        if raw.startswith(MARK):
            facts = json.loads(raw[len(MARK):])
    if facts is None:
        line(False, f"the probe container did not report ({report.verdict}: {report.message})")
        return False
    for good, text in judge(facts, SandboxConfig()):
        line(good, text)
    return ok


def judge(facts: dict, cfg: SandboxConfig) -> list[tuple[bool, str]]:
    """(good, line) for each fact the probe reported from inside a check container.

    A limit the probe could not read ("?") is a failure, never a pass: the doctor proves
    the hardening, so what it cannot see it cannot vouch for.
    """
    mem = str(cfg.memory_mb << 20)
    swap = facts["memsw_max"]
    out = [
        (facts["uid"] != 0 and facts["gid"] != 0,
         f"code runs as uid {facts['uid']}, gid {facts['gid']} (not root)"),
        (int(facts["cap_eff"], 16) == 0 and int(facts["cap_prm"], 16) == 0,
         f"effective capabilities {facts['cap_eff']} (none)"),
        (facts["no_new_privs"] == "1", "no_new_privs is set" if facts["no_new_privs"] == "1"
         else f"no_new_privs {_shown(facts['no_new_privs'])} (want 1)"),
        (facts["interfaces"] == ["lo"], f"network interfaces: {', '.join(facts['interfaces'])}"),
        (set(facts["writable"]) <= {"/tmp", "/report"},
         f"writable paths: {', '.join(facts['writable'])} (root FS and workspace read-only)"),
        (facts["pids_max"] == str(cfg.pids_limit), f"pids limit {_shown(facts['pids_max'])}"),
        (facts["memory_max"] == mem and swap in (mem, "0"),
         f"memory limit {_mib(facts['memory_max'])}, memory+swap {_mib(swap)}"),
        (not facts["docker_socket"], "no Docker socket inside"),
        (True, f"environment: {', '.join(facts['env'])}"),
    ]
    return [(good, text if good or UNREAD not in text else f"{text}: {UNREAD_HINT}")
            for good, text in out]


def _shown(value: str) -> str:
    return UNREAD if value == "?" else value


def _mib(value: str) -> str:
    if value == "?":
        return UNREAD
    return f"{int(value) >> 20} MiB" if value.isdigit() else value
