"""The Sandbox contract: every Sandbox implementation must pass these, against real Docker.

Subclass ``SandboxContract`` and provide a ``sandbox`` fixture (see test_sandbox_cold.py);
a backend that can reuse a container also runs ``StateContract`` with ``reuses = True``.
Each case asserts its verdict, that it ended within its limit plus a hang bound (the probes
that must be killed run far longer than both), and (via
``leftover_containers``) that no container is left behind.
"""

from __future__ import annotations

import os
import re
import time

import pytest
from codemend.sandbox.workspace import Workspace

LIMIT = 3.0          # seconds, for the cases that must time out
MARGIN = 120.0       # only a hang reaches it: start-up, grace and teardown on a loaded machine
                     # take what they take (the probes that must be killed outlast it)

ADD = "def add(a, b):\n    return a + b\n"


def ws(test_body: str, solution: str = ADD, imports: str = "") -> Workspace:
    test = f"{imports}from sol import add\n\n\n{test_body}"
    return Workspace(files={"sol.py": solution}, tests={"tests/test_sol.py": test})


def probe(body: str) -> Workspace:
    """A test whose body asserts something about the sandbox from inside."""
    lines = "\n".join("    " + line for line in body.strip().splitlines())
    return ws(f"def test_probe():\n    add(1, 2)\n{lines}\n",
              imports="import os\nimport socket\nimport subprocess\nimport sys\n")


SHOW_HOST = "print('HOST=' + open('/etc/hostname').read().strip(), flush=True)\n"
LEFTOVERS = "LEFTOVERS = ('/tmp/leftover', '/dev/shm/leftover', '/report/leftover')\n"


def container_of(report) -> str:
    """The container (hostname) a probe that starts with ``SHOW_HOST`` ran in."""
    found = re.findall(r"HOST=(\w+)", report.output)
    assert found, report.output
    return found[0]


def timed(sandbox, workspace: Workspace, limit: float = 20.0):
    start = time.monotonic()
    report = sandbox.check(workspace, timeout_s=limit)
    elapsed = time.monotonic() - start
    assert elapsed < limit + MARGIN, f"check took {elapsed:.1f}s for a {limit}s limit"
    return report


@pytest.mark.docker
@pytest.mark.usefixtures("leftover_containers")
class StateContract:
    """Nothing one check leaves (files, processes) reaches the next. A backend that reuses
    containers sets ``reuses``: then each case also proves that its two checks ran in the
    same container, so that it can fail there (on fresh containers it passes trivially)."""

    reuses = False

    def test_detached_child_does_not_outlive_the_check(self, sandbox):
        marker = "codemend-detached-marker"
        first = timed(sandbox, probe(SHOW_HOST +
            f"subprocess.Popen(['python3', '-c', 'import time; time.sleep(300)', '{marker}'],\n"
            "                 start_new_session=True, stdout=subprocess.DEVNULL,\n"
            "                 stderr=subprocess.DEVNULL)"))
        assert first.verdict == "pass", first.tests.cases
        second = timed(sandbox, probe(SHOW_HOST +
            "alive = []\nfor pid in os.listdir('/proc'):\n    try:\n"
            "        cmd = open(f'/proc/{pid}/cmdline', 'rb').read()\n"
            "    except OSError:\n        continue\n"
            f"    if b'{marker}' in cmd and b'listdir' not in cmd:\n        alive.append(pid)\n"
            "assert alive == [], alive"))
        assert second.verdict == "pass", second.tests.cases
        self.same_container(first, second)

    def test_next_check_is_clean_after_failures(self, sandbox):
        first = timed(sandbox, probe(SHOW_HOST + LEFTOVERS +
            "for path in LEFTOVERS:\n    open(path, 'w').write('x')\n"
            "assert False, 'this check fails after leaving its files'"))
        assert first.verdict == "fail", first.tests.cases
        r = timed(sandbox, probe(SHOW_HOST + LEFTOVERS +
            "assert [p for p in LEFTOVERS if os.path.exists(p)] == []"))
        assert r.verdict == "pass", r.tests.cases
        self.same_container(first, r)

    def same_container(self, first, second) -> None:
        if self.reuses:
            assert container_of(first) == container_of(second), "the container was not reused"


@pytest.mark.docker
@pytest.mark.usefixtures("leftover_containers")
class SandboxContract(StateContract):
    """Everything a Sandbox implementation must do (this class holds all but the state cases)."""

    # -- verdicts of ordinary code -------------------------------------------------
    def test_pass(self, sandbox):
        r = timed(sandbox, ws("def test_add():\n    assert add(1, 2) == 3\n"))
        assert r.verdict == "pass", r.message
        assert r.tests.passed == 1 and r.lint.ok
        assert r.tests.cases[0].id == "tests/test_sol.py::test_add"

    def test_failing_assert(self, sandbox):
        r = timed(sandbox, ws("def test_add():\n    assert add(1, 2) == 3\n\n\n"
                              "def test_wrong():\n    assert add(2, 2) == 5, 'two and two'\n"))
        assert r.verdict == "fail"
        assert (r.tests.passed, r.tests.failed) == (1, 1)
        bad = next(c for c in r.tests.cases if c.outcome == "failed")
        assert bad.id == "tests/test_sol.py::test_wrong"
        assert "two and two" in bad.message and "test_sol.py" in bad.traceback

    def test_lint_only_failure(self, sandbox):
        r = timed(sandbox, ws("def test_add():\n    assert add(1, 2) == 3\n",
                              solution="import os\n\n\n" + ADD))
        assert r.verdict == "fail"
        assert r.tests.ok and r.tests.passed == 1
        assert [(f.code, f.path, f.line) for f in r.lint.findings] == [("F401", "sol.py", 1)]

    def test_syntax_error(self, sandbox):
        r = timed(sandbox, ws("def test_add():\n    assert add(1, 2) == 3\n",
                              solution="def add(a, b)\n    return a + b\n"))
        assert r.verdict == "fail"
        assert any(f.code in (None, "invalid-syntax") for f in r.lint.findings)
        assert not r.tests.ok and r.tests.errors >= 1

    def test_import_error(self, sandbox):
        r = timed(sandbox, ws("def test_add():\n    assert add(1, 2) == 3\n",
                              solution="def plus(a, b):\n    return a + b\n"))
        assert r.verdict == "fail"
        assert r.tests.errors == 1
        assert "ImportError" in r.tests.cases[0].traceback + r.tests.cases[0].message

    # -- limits ----------------------------------------------------------------------
    def test_sleep_past_limit(self, sandbox):
        r = timed(sandbox, probe("import time\ntime.sleep(3600)"), limit=LIMIT)
        assert r.verdict == "timeout"

    def test_cpu_spin(self, sandbox):
        r = timed(sandbox, probe("while True:\n    pass"), limit=LIMIT)
        assert r.verdict == "timeout"

    def test_memory_bomb(self, sandbox):
        r = timed(sandbox, probe("blocks = []\nwhile True:\n    blocks.append(bytearray(50 << 20))"))
        assert r.verdict == "oom", r.message

    def test_fork_bomb_is_contained(self, sandbox):
        r = timed(sandbox, probe("while True:\n    try:\n        os.fork()\n"
                                 "    except OSError:\n        pass"), limit=LIMIT)
        # contained by the pids limit (pytest fails or the limit kills it) or, when the
        # forks hold more memory than the container has (a slow, loaded machine lets more of
        # them touch their pages before the limit), by the memory limit
        assert r.verdict in ("timeout", "fail", "oom"), (r.verdict, r.message)
        after = timed(sandbox, ws("def test_add():\n    assert add(1, 2) == 3\n"))
        assert after.verdict == "pass", (after.verdict, after.message)

    def test_output_flood(self, sandbox):
        r = timed(sandbox, probe("while True:\n    sys.stdout.write('x' * 65536)"))
        assert r.verdict == "output_limit"
        assert r.truncated

    def test_tmp_fill_hits_enospc_inside(self, sandbox):
        r = timed(sandbox, probe(
            "import errno\nblob = b'x' * (1 << 20)\ntry:\n"
            "    with open('/tmp/fill', 'wb') as fh:\n        for _ in range(10000):\n"
            "            fh.write(blob)\n            fh.flush()\n"
            "    raise AssertionError('no ENOSPC')\nexcept OSError as exc:\n"
            "    assert exc.errno in (errno.ENOSPC, errno.EFBIG), exc"))
        assert r.verdict == "pass", r.tests.cases

    # -- isolation -------------------------------------------------------------------
    def test_only_loopback_network(self, sandbox):
        r = timed(sandbox, probe(
            "assert sorted(n for _, n in socket.if_nameindex()) == ['lo']\n"
            "s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)\ns.settimeout(2)\n"
            "try:\n    err = s.connect_ex(('10.255.255.1', 9))\nfinally:\n    s.close()\n"
            "assert err != 0"))
        assert r.verdict == "pass", r.tests.cases

    def test_no_host_environment(self, sandbox, monkeypatch):
        monkeypatch.setenv("CODEMEND_FAKE_SECRET", "hunter2-do-not-leak")
        assert os.environ["CODEMEND_FAKE_SECRET"]
        r = timed(sandbox, probe(
            "assert 'CODEMEND_FAKE_SECRET' not in os.environ\n"
            "assert not any('hunter2' in v for v in os.environ.values())\n"
            "assert set(os.environ) <= {'PATH', 'HOME', 'TMPDIR', 'LANG', 'COLUMNS', "
            "'PYTHONDONTWRITEBYTECODE', 'PYTHONHASHSEED', 'PYTEST_CURRENT_TEST', 'PYTEST_VERSION',"
            " 'PWD'}"))
        assert r.verdict == "pass", r.tests.cases

    def test_unprivileged(self, sandbox):
        r = timed(sandbox, probe(
            "assert os.getuid() != 0 and os.geteuid() != 0 and os.getgid() != 0\n"
            "status = open('/proc/self/status').read()\n"
            "eff = [ln for ln in status.splitlines() if ln.startswith('CapEff:')][0]\n"
            "prm = [ln for ln in status.splitlines() if ln.startswith('CapPrm:')][0]\n"
            "assert int(eff.split()[1], 16) == 0 and int(prm.split()[1], 16) == 0\n"
            "assert 'NoNewPrivs:\\t1' in status"))
        assert r.verdict == "pass", r.tests.cases

    def test_root_fs_and_tests_read_only(self, sandbox):
        r = timed(sandbox, probe(
            "import pathlib\n"
            "for target in ('/usr/evil', '/etc/evil', '/opt/codemend/evil', 'evil.py',\n"
            "               'tests/conftest.py'):\n"
            "    try:\n        open(target, 'w').close()\n"
            "    except OSError:\n        continue\n"
            "    raise AssertionError('wrote ' + target)\n"
            "for own in (__file__, 'sol.py'):\n"
            "    try:\n        open(own, 'a').close()\n"
            "    except OSError:\n        continue\n"
            "    raise AssertionError('could modify ' + own)\n"
            "try:\n    os.chmod(__file__, 0o777)\nexcept OSError:\n    pass\n"
            "else:\n    raise AssertionError('chmod on the tests worked')"))
        assert r.verdict == "pass", r.tests.cases

    # -- tampering and hostile output ---------------------------------------------------
    def test_os_exit_zero_is_not_a_pass(self, sandbox):
        r = timed(sandbox, probe("os._exit(0)"))
        assert r.verdict == "fail"
        assert "JUnit" in r.message

    def test_sys_exit_zero_is_not_a_pass(self, sandbox):
        r = timed(sandbox, ws("def test_add():\n    assert add(1, 2) == 3\n",
                              solution=ADD + "\n\nimport sys\n\nsys.exit(0)\n"))
        assert r.verdict == "fail"

    def test_invalid_utf8_and_huge_messages(self, sandbox):
        r = timed(sandbox, probe(
            "os.write(1, b'\\xff\\xfe\\x00 not utf-8 \\xc3\\x28')\n"
            "raise AssertionError('\\udcff' + 'x' * (20 * 1024 * 1024))"))
        assert r.verdict == "fail"
        case = r.tests.cases[0]
        assert case.outcome == "failed"
        assert len(case.message) <= 4000 and len(case.traceback) <= 8000
        assert "characters cut" in case.message + case.traceback

