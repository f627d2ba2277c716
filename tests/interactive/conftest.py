"""Drive the real ``codemend`` CLI under a pseudo-terminal (pexpect) and read what a person
would see: the child's output goes through a terminal emulator (pyte), which also answers
the cursor-position requests prompt_toolkit sends, as a real terminal does."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import pexpect
import pyte
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e"))

ROWS, COLS = 50, 220
"""A common terminal height; wide enough that lines don't wrap. Lines that scroll off the
top are kept (``pyte.HistoryScreen``), so a test reads the whole session."""


def _codemend() -> list[str]:
    script = Path(sys.executable).parent / "codemend"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "codemend.agent.cli"]


def _default_sigint() -> None:
    """Ctrl-C as at a terminal, even when the suite itself runs with SIGINT ignored (in the
    background of a shell without job control, which the child would inherit)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class _Screen(pyte.HistoryScreen):
    def __init__(self, reply) -> None:
        super().__init__(COLS, ROWS, history=100_000, ratio=0.5)
        self._reply = reply

    def write_process_input(self, data: str) -> None:  # the terminal answering (CPR)
        self._reply(data)


class Term:
    """One CLI process on a pty, and the screen it draws."""

    def __init__(self, argv: list[str], cwd: Path, env: dict[str, str] | None = None) -> None:
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("CODEMEND_")}
        full_env.update({"TERM": "xterm-256color", "COLUMNS": str(COLS), "LINES": str(ROWS)})
        full_env.update(env or {})
        self.child = pexpect.spawn(_codemend()[0], [*_codemend()[1:], *argv], cwd=str(cwd),
                                   env=full_env, dimensions=(ROWS, COLS), encoding="utf-8",
                                   codec_errors="replace", preexec_fn=_default_sigint)
        self.raw = open(cwd / f".term-{time.monotonic_ns()}.log", "w", encoding="utf-8")  # noqa: SIM115
        self.child.logfile_read = self.raw
        self.screen = _Screen(lambda data: self.child.send(data))
        self.stream = pyte.Stream(self.screen)
        self.mark = 0
        self.exitstatus: int | None = None

    def pump(self, timeout: float = 0.1) -> bool | None:
        """Feed what the child wrote to the screen: True if it wrote something, None if
        not, False once it has exited."""
        try:
            self.stream.feed(self.child.read_nonblocking(1 << 16, timeout=timeout))
        except pexpect.TIMEOUT:
            return None
        except pexpect.EOF:
            return False
        return True

    def settle(self, quiet_s: float = 0.3, limit_s: float = 5.0) -> None:
        """Read until the child has been quiet for ``quiet_s``: a prompt is drawn (and has had
        its cursor-position answer) before a person starts typing."""
        deadline = time.monotonic() + limit_s
        while time.monotonic() < deadline and self.pump(quiet_s):
            pass

    def lines(self) -> list[str]:
        """Every line shown so far: those scrolled off the top, then the screen."""
        gone = ["".join(line[x].data for x in range(COLS)) for line in self.screen.history.top]
        return [line.rstrip() for line in [*gone, *self.screen.display]]

    def text(self) -> str:
        return "\n".join(line for line in self.lines() if line)

    def wait(self, text: str, timeout: float = 180.0) -> str:
        """Wait until ``text`` shows on the line last found or below it; return that line.
        (Answering a prompt moves past the prompt's line.)"""
        deadline = time.monotonic() + timeout
        alive = True
        while True:
            for i, line in enumerate(self.lines()[self.mark:], start=self.mark):
                if text in line:
                    self.mark = i
                    return line
            if not alive or time.monotonic() > deadline:
                state = "exited" if not alive else "timed out"
                raise AssertionError(f"{state} waiting for {text!r}; the screen shows:\n"
                                     f"{self.text()[-6000:]}")
            alive = self.pump() is not False

    def answer(self, prompt: str, line: str, timeout: float = 180.0) -> None:
        """Wait for ``prompt``, then type ``line`` and Enter."""
        self.wait(prompt, timeout)
        self.settle()
        self.child.send(line + "\r")
        self.mark += 1

    def finish(self, timeout: float = 180.0) -> int:
        """Wait for the process to end; its exit status."""
        deadline = time.monotonic() + timeout
        while self.pump() is not False and time.monotonic() < deadline:
            pass
        self.child.close()
        self.raw.close()
        self.exitstatus = self.child.exitstatus if self.child.exitstatus is not None else (
            128 + (self.child.signalstatus or 0))
        return self.exitstatus

    def kill(self, sig: int) -> None:
        self.child.kill(sig)
        self.finish(120)


@pytest.fixture
def term_factory(tmp_path, docker_client, sandbox_image):
    """Start ``codemend ARGV`` under a pty in tmp_path; every process is ended afterwards."""
    started: list[Term] = []

    def start(*argv: str, env: dict[str, str] | None = None) -> Term:
        t = Term([*argv], tmp_path, env)
        started.append(t)
        return t

    yield start
    for t in started:  # a test that failed mid-session: Ctrl-C first, so the CLI cleans up
        if t.child.isalive():
            t.child.sendintr()
            deadline = time.monotonic() + 120  # the CLI removes its containers
            while t.child.isalive() and time.monotonic() < deadline:
                t.pump(0.2)
            t.child.terminate(force=True)
        t.raw.close()
