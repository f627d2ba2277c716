"""`sandbox doctor` judges the probe's facts: an unreadable limit is a FAIL, never a pass.

FACTS is what the probe reported from a real check container on a cgroup v1 host (the
e2e test `test_doctor_proves_the_hardening` runs the probe itself).
"""

from __future__ import annotations

import pytest
from codemend.sandbox.config import SandboxConfig
from codemend.sandbox.doctor import UNREAD_HINT, judge

FACTS = {"uid": 10001, "gid": 10001, "cap_eff": "0000000000000000",
         "cap_prm": "0000000000000000", "no_new_privs": "1", "interfaces": ["lo"],
         "writable": ["/tmp", "/report"], "pids_max": "128", "memory_max": "536870912",
         "memsw_max": "536870912", "docker_socket": False,
         "env": ["HOME", "LANG", "PATH", "PYTHONHASHSEED", "TMPDIR"]}


def failures(facts: dict) -> list[str]:
    return [text for good, text in judge(facts, SandboxConfig()) if not good]


def test_a_hardened_container_passes():
    assert failures(FACTS) == []


def test_cgroup_v2_without_swap_passes():
    assert failures({**FACTS, "memsw_max": "0"}) == []


@pytest.mark.parametrize("key, needle", [
    ("memsw_max", "memory+swap cannot be read"),
    ("memory_max", "memory limit cannot be read"),
    ("pids_max", "pids limit cannot be read"),
    ("no_new_privs", "no_new_privs cannot be read"),
])
def test_an_unreadable_limit_fails(key: str, needle: str):
    bad = failures({**FACTS, key: "?"})
    assert len(bad) == 1, bad
    assert needle in bad[0]
    assert bad[0].endswith(UNREAD_HINT)


def test_a_wrong_limit_fails_without_the_unreadable_hint():
    bad = failures({**FACTS, "pids_max": "max"})
    assert bad == ["pids limit max"]
