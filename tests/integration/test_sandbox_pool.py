"""The pooled sandbox runs the whole Sandbox contract, plus what only a pool can get wrong:
state carried from one check to the next, reuse after a runaway check, leaked containers,
and concurrency."""

from __future__ import annotations

import os
import re
import threading
import time

import pytest
from codemend.sandbox.docker_io import list_ours
from codemend.sandbox.errors import BadInput
from codemend.sandbox.factory import make_sandbox
from codemend.sandbox.pool import PooledSandbox
from codemend.sandbox.workspace import Workspace
from contract.sandbox_contract import SandboxContract, StateContract, probe, timed, ws

PASSES = "def test_add():\n    assert add(1, 2) == 3\n"


def ours(client, pool: PooledSandbox | None = None) -> set[str]:
    """Ids of the codemend containers this test process (or ``pool``) made; other
    processes may share the Docker daemon."""
    key, value = ("codemend.pool", pool.pool_id) if pool else ("codemend.pid", str(os.getpid()))
    return {c["Id"] for c in list_ours(client) if (c.get("Labels") or {}).get(key) == value}


def hostname(report) -> str:
    """The container id prefix a probe printed (see ``SHOW_HOST``)."""
    found = re.findall(r"HOST=(\w+)", report.output)
    assert found, report.output
    return found[0]


SHOW_HOST = "print('HOST=' + open('/etc/hostname').read().strip(), flush=True)\n"


@pytest.fixture(scope="module")
def sandbox(docker_client, sandbox_image):
    with PooledSandbox(client=docker_client, size=2) as sb:
        yield sb


@pytest.fixture
def leftover_containers(docker_client, sandbox):
    """Pool-aware: once the pool is idle, every container of this process is one it holds."""
    yield
    assert sandbox.wait_ready(300), sandbox.stats()
    stray = ours(docker_client) - sandbox.containers()
    assert not stray, f"containers left behind: {sorted(s[:12] for s in stray)}"


class TestPooledSandbox(SandboxContract):
    pass


@pytest.fixture(scope="module")
def reusing_pool(docker_client, sandbox_image):
    """One container, reused: both checks of a state case meet in it."""
    with PooledSandbox(client=docker_client, size=1, max_reuses=4) as sb:
        yield sb


class TestReusingPool(StateContract):
    """The leftover-file and leftover-process cases where they can fail: on a reused
    container, only the reset between checks stands between one check and the next."""

    reuses = True

    @pytest.fixture
    def sandbox(self, reusing_pool):
        return reusing_pool

    @pytest.fixture
    def leftover_containers(self, docker_client, sandbox):
        """By this pool's label: the module's other pool holds containers meanwhile."""
        yield
        assert sandbox.wait_ready(300), sandbox.stats()
        stray = ours(docker_client, sandbox) - sandbox.containers()
        assert not stray, f"containers left behind: {sorted(s[:12] for s in stray)}"


@pytest.mark.docker
class TestPoolOnly:
    def test_reused_container_starts_clean(self, docker_client, sandbox_image):
        dirty = probe(SHOW_HOST + (
            "import ctypes\n"
            "for path in ('/tmp/left', '/report/left', '/dev/shm/left'):\n"
            "    open(path, 'w').write('x')\n"
            "os.makedirs('/tmp/deep/er')\nos.chmod('/tmp/deep', 0)\n"
            "assert ctypes.CDLL(None).shmget(0, 4096, 0o1600) >= 0\n"
            "subprocess.Popen(['python3', '-c', 'import time; time.sleep(300)', 'pool-marker'],\n"
            "                 start_new_session=True, stdout=subprocess.DEVNULL,\n"
            "                 stderr=subprocess.DEVNULL)"))
        clean = probe(SHOW_HOST + (
            "token = os.path.basename(os.getcwd())\n"
            "assert os.listdir('/tmp') == [] and os.listdir('/dev/shm') == []\n"
            "assert os.listdir('/work') == [token]\n"
            "assert set(os.listdir('/report')) <= {token}\n"
            "assert len(open('/proc/sysvipc/shm').read().splitlines()) == 1\n"
            "for pid in os.listdir('/proc'):\n"
            "    if pid.isdigit():\n"
            "        try:\n            cmd = open(f'/proc/{pid}/cmdline', 'rb').read()\n"
            "        except OSError:\n            continue\n"
            "        assert b'pool-marker' not in cmd, cmd"))
        with PooledSandbox(client=docker_client, size=1, max_reuses=3) as sb:
            first = timed(sb, dirty)
            second = timed(sb, clean)
            assert first.verdict == "pass", first.tests.cases
            assert second.verdict == "pass", second.tests.cases
            assert hostname(first) == hostname(second), "the container was not reused"
        assert not ours(docker_client, sb)

    def test_timed_out_container_is_never_reused(self, docker_client, sandbox_image):
        with PooledSandbox(client=docker_client, size=1, max_reuses=5) as sb:
            before = timed(sb, probe(SHOW_HOST))
            hung = timed(sb, probe(SHOW_HOST + "import time\ntime.sleep(60)"), limit=2.0)
            after = timed(sb, probe(SHOW_HOST))
        assert (before.verdict, hung.verdict, after.verdict) == ("pass", "timeout", "pass")
        assert hostname(before) == hostname(hung), "a passing check's container is reused"
        assert hostname(after) != hostname(hung), "a timed-out container was reused"
        assert not ours(docker_client, sb)

    def test_close_removes_every_container(self, docker_client, sandbox_image):
        sb = PooledSandbox(client=docker_client, size=2, max_reuses=1)
        assert timed(sb, ws(PASSES)).verdict == "pass"
        assert sb.wait_ready(300)
        assert len(sb.containers()) == 2 and sb.containers() == ours(docker_client, sb)
        sb.close()
        assert not ours(docker_client, sb)

    def test_concurrent_checks(self, docker_client, sandbox_image):
        good = ws(PASSES)
        bad = Workspace(files={"sol.py": "def add(a, b):\n    return a - b\n"},
                        tests=good.tests)
        with PooledSandbox(client=docker_client, size=2, max_parallel=2) as sb:
            in_flight, most, lock = [0], [0], threading.Lock()
            real = sb._exchange

            def counting(*args, **kw):
                with lock:
                    in_flight[0] += 1
                    most[0] = max(most[0], in_flight[0])
                try:
                    return real(*args, **kw)
                finally:
                    with lock:
                        in_flight[0] -= 1

            sb._exchange = counting
            results: dict[int, str] = {}

            def one(i: int) -> None:
                results[i] = sb.check(good if i % 2 else bad, timeout_s=20).verdict

            assert sb.wait_ready(300)
            threads = [threading.Thread(target=one, args=(i,)) for i in range(6)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=120)
        assert results == {i: "pass" if i % 2 else "fail" for i in range(6)}
        assert most[0] == 2
        assert not ours(docker_client, sb)

    def test_warm_processes_are_out_of_reach(self, sandbox):
        """The zygote (PID 1) and the worker are root and alone hold the channel: the
        checked code can neither signal nor read them, nor open, list or borrow their
        descriptors (the channel), and no socket leads to them."""
        r = timed(sandbox, probe(
            "roots = []\n"
            "for pid in os.listdir('/proc'):\n"
            "    if not pid.isdigit():\n        continue\n"
            "    try:\n        status = open(f'/proc/{pid}/status').read()\n"
            "    except OSError:\n        continue\n"
            "    if '\\nUid:\\t0\\t' in status:\n        roots.append(int(pid))\n"
            "assert 1 in roots and len(roots) >= 2, roots\n"
            "for pid in roots:\n"
            "    try:\n        os.kill(pid, 0)\n"
            "    except PermissionError:\n        pass\n"
            "    else:\n        raise AssertionError(f'could signal {pid}')\n"
            "    for name in ('mem', 'environ', 'fd/0', 'fd/1', 'fd/2'):\n"
            "        try:\n            open(f'/proc/{pid}/{name}', 'rb').read(1)\n"
            "        except OSError:\n            continue\n"
            "        raise AssertionError(f'could read /proc/{pid}/{name}')\n"
            "    try:\n        os.listdir(f'/proc/{pid}/fd')\n"
            "    except OSError:\n        pass\n"
            "    else:\n        raise AssertionError(f'could list /proc/{pid}/fd')\n"
            "    if os.uname().machine == 'x86_64':  # pidfd_getfd: borrow the channel's fd 0\n"
            "        import ctypes\n"
            "        libc = ctypes.CDLL(None, use_errno=True)\n"
            "        pidfd = libc.syscall(434, pid, 0)\n"
            "        got = libc.syscall(438, pidfd, 0, 0) if pidfd >= 0 else -1\n"
            "        assert got < 0 and ctypes.get_errno() in (1, 38), (pid, got)\n"
            "assert os.readlink('/proc/self/fd/0') == '/dev/null'\n"
            "for line in open('/proc/net/unix').read().splitlines()[1:]:\n"
            "    assert 'codemend' not in line, line"))
        assert r.verdict == "pass", r.tests.cases

    def test_autofix(self, sandbox):
        r = sandbox.autofix(Workspace(files={"sol.py": "import sys\nimport os\nx=1\n"}))
        assert r.ok, r.message
        assert r.files["sol.py"] == "x = 1\n"


def test_make_sandbox_names_the_kinds():
    with pytest.raises(BadInput, match="pool, cold"):
        make_sandbox("warm")


@pytest.mark.docker
def test_make_sandbox_builds_a_pool(docker_client, sandbox_image):
    started = time.monotonic()
    with make_sandbox("pool", client=docker_client, size=1) as sb:
        assert isinstance(sb, PooledSandbox)
        assert sb.check(ws(PASSES)).verdict == "pass"
    assert time.monotonic() - started < 180  # a hang bound only: closing must not hang
