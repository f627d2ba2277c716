"""The host's end of the channel to a pooled container's zygote: the attach stream of the
container's PID 1, kept open for the container's whole life.

One request per check goes in on stdin (``<manifest bytes> <payload bytes>\\n``, the
manifest, the workspace tar); the worker's messages come back on stdout, each
``<kind> <bytes>\\n`` and its body, inside Docker's multiplexed frames; the zygote's
``codemend-zygote: ended <code>`` lines come on stderr. sandbox/runner/codemend_zygote.py
is the other end; docs/SECURITY.md says what a checked program can do with it (nothing:
only root processes hold it).
"""

from __future__ import annotations

import socket
import struct
import time

from codemend.sandbox.docker_io import raw_socket

ENDED = b"codemend-zygote: ended "
MAX_STDERR_BYTES = 1 << 16


class ChannelError(OSError):
    """The channel broke: EOF, a malformed message or a socket error."""


class WorkerEnded(ChannelError):
    """The worker ended (exit ``code``) before sending the message waited for."""

    def __init__(self, code: int) -> None:
        super().__init__(f"the check process ended with code {code} before its report")
        self.code = code


class Overflow(ChannelError):
    """A message larger than the cap: the rest is not read."""


class Channel:
    """Framed messages over one hijacked attach socket. One thread at a time."""

    def __init__(self, sock) -> None:
        self.sock = sock
        self._raw: socket.socket = raw_socket(sock)
        self._frames = bytearray()  # undemultiplexed bytes
        self._out = bytearray()  # stdout bytes not yet taken as messages
        self._err = bytearray()  # stderr bytes not yet taken as lines
        self.stderr = bytearray()  # diagnostics (not status lines) since the last take
        self.ended: list[int] = []  # worker exit codes seen since the last take

    def send(self, manifest: bytes, payload: bytes, deadline: float) -> None:
        """Write one request."""
        self._raw.settimeout(max(0.05, deadline - time.monotonic()))
        try:
            self._raw.sendall(b"%d %d\n" % (len(manifest), len(payload)) + manifest + payload)
        except TimeoutError:
            raise
        except OSError as exc:
            raise ChannelError(f"sending the check failed: {exc}") from exc

    def receive(self, deadline: float, cap: int) -> tuple[str, bytes]:
        """The next message (kind, body). Raises TimeoutError at ``deadline``, Overflow
        beyond ``cap`` bytes, WorkerEnded when a worker ends with a non-zero code first,
        ChannelError at EOF."""
        while True:
            got = self._message(cap)
            if got is not None:
                return got
            failed = [c for c in self.ended if c != 0]
            if failed:
                raise WorkerEnded(failed[0])
            self._fill(deadline)

    def take_stderr(self) -> bytes:
        """The diagnostics collected so far (and forget them)."""
        text, self.stderr = bytes(self.stderr), bytearray()
        self.ended.clear()
        return text

    def close(self) -> None:
        try:
            self.sock.close()
        finally:
            self._raw.close()

    # -- internals -------------------------------------------------------------------
    def _message(self, cap: int) -> tuple[str, bytes] | None:
        end = self._out.find(b"\n", 0, 80)
        if end < 0:
            if len(self._out) >= 80:
                raise ChannelError(f"malformed message from the container: {bytes(self._out[:80])!r}")
            return None
        head = bytes(self._out[:end]).split()
        if len(head) != 2 or not head[1].isdigit():
            raise ChannelError(f"malformed message from the container: {bytes(self._out[:300])!r}")
        size = int(head[1])
        if size > cap:
            raise Overflow(f"the container sent a {size}-byte message (cap {cap})")
        if len(self._out) < end + 1 + size:
            return None
        body = bytes(self._out[end + 1:end + 1 + size])
        del self._out[:end + 1 + size]
        return head[0].decode("ascii", errors="replace"), body

    def _fill(self, deadline: float) -> None:
        """Read what arrives (up to ~1 s) and sort it into stdout and stderr."""
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("no message arrived before the deadline")
        self._raw.settimeout(min(left, 1.0))
        try:
            chunk = self._raw.recv(1 << 16)
        except TimeoutError:
            return
        except OSError as exc:
            raise ChannelError(f"reading from the container failed: {exc}") from exc
        if not chunk:
            raise ChannelError("the container closed the channel")
        self._frames += chunk
        while len(self._frames) >= 8:
            kind, size = struct.unpack(">BxxxL", bytes(self._frames[:8]))
            if len(self._frames) < 8 + size:
                break
            data = bytes(self._frames[8:8 + size])
            del self._frames[:8 + size]
            if kind == 2:
                self._stderr(data)
            else:
                self._out += data

    def _stderr(self, data: bytes) -> None:
        self._err += data
        *lines, rest = bytes(self._err).split(b"\n")
        self._err = bytearray(rest[-MAX_STDERR_BYTES:])
        for line in lines:
            if line.startswith(ENDED) and line[len(ENDED):].lstrip(b"-").isdigit():
                self.ended.append(int(line[len(ENDED):]))
            elif len(self.stderr) < MAX_STDERR_BYTES:
                self.stderr += line[:MAX_STDERR_BYTES] + b"\n"
