"""A small, real OpenAI chat-completions server on 127.0.0.1 for tests.

``OpenAIServer`` runs ``http.server.ThreadingHTTPServer`` on an ephemeral port in a background
thread. Queue what the next requests get with ``server.queue(ok("..."), status(503), ...)``;
once the queue is empty every request gets ``server.default``. ``server.requests`` records each
request (path, headers, parsed JSON body) so tests can assert on model/messages/temperature/seed.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Behaviour:
    """One scripted response."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    declared_length: int | None = None
    """Content-Length to announce; larger than the body means the body is cut short."""
    stall_s: float = 0.0
    """Seconds to wait before answering (ended early when the server stops)."""


@dataclass(frozen=True)
class Request:
    """What the server received."""

    path: str
    headers: dict[str, str]
    json: Any


def completion_body(text: str, *, usage: dict[str, int] | None = None,
                    model: str = "served-model") -> dict[str, Any]:
    """A chat-completion response object carrying ``text``."""
    body: dict[str, Any] = {
        "id": "chatcmpl-test", "object": "chat.completion", "created": 0, "model": model,
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": text}}],
    }
    if usage is not None:
        body["usage"] = usage
    return body


def ok(text: str = "```python\nprint('hi')\n```", *,
       usage: dict[str, int] | None = None, model: str = "served-model") -> Behaviour:
    """A normal reply (with ``usage`` when given)."""
    return json_reply(completion_body(text, usage=usage, model=model))


def json_reply(obj: object, status_code: int = 200) -> Behaviour:
    """Any JSON document as the response body."""
    return Behaviour(status=status_code, body=json.dumps(obj).encode(),
                     headers={"Content-Type": "application/json"})


def status(code: int, *, retry_after: str | None = None, body: bytes = b"") -> Behaviour:
    """An error status, optionally with ``Retry-After``."""
    headers = {"Content-Type": "application/json"}
    if retry_after is not None:
        headers["Retry-After"] = retry_after
    return Behaviour(status=code, body=body, headers=headers)


def invalid_json() -> Behaviour:
    """A 200 whose body is not JSON."""
    return Behaviour(body=b"<html>this is not json", headers={"Content-Type": "text/html"})


def no_choices() -> Behaviour:
    """A 200 with an empty ``choices`` list."""
    return json_reply({"id": "x", "object": "chat.completion", "choices": []})


def truncated() -> Behaviour:
    """A reply whose Content-Length promises more than is sent before the connection closes."""
    body = json.dumps(completion_body("hello")).encode()
    return Behaviour(body=body[: len(body) // 2], declared_length=len(body),
                     headers={"Content-Type": "application/json"})


def huge(n_bytes: int = 5_000_000, char: str = "x") -> Behaviour:
    """A normal reply whose text is ``n_bytes`` long."""
    return ok(char * n_bytes, usage={"prompt_tokens": 1, "completion_tokens": 1})


def stall(seconds: float) -> Behaviour:
    """Wait ``seconds`` before answering normally (to trip a client's read timeout)."""
    return Behaviour(body=json.dumps(completion_body("late")).encode(), stall_s=seconds,
                     headers={"Content-Type": "application/json"})


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.0"  # one request per connection: nothing lingers at shutdown

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        try:
            body: Any = json.loads(raw)
        except ValueError:
            body = None
        owner = self.server.owner
        owner.record(Request(self.path, dict(self.headers.items()), body))
        behaviour = owner.next_behaviour()
        if behaviour.stall_s and owner.stopping.wait(behaviour.stall_s):
            return
        self.send_response(behaviour.status)
        for key, value in behaviour.headers.items():
            self.send_header(key, value)
        length = behaviour.declared_length or len(behaviour.body)
        self.send_header("Content-Length", str(length))
        self.end_headers()
        self.wfile.write(behaviour.body)

    def log_message(self, format: str, *args: object) -> None:
        """Keep test output quiet."""


class _Server(ThreadingHTTPServer):
    daemon_threads = False
    block_on_close = True
    owner: OpenAIServer

    def handle_error(self, request: object, client_address: object) -> None:
        """A client hanging up early (timeouts, size caps) is expected; stay quiet."""


class OpenAIServer:
    """The server; use as a context manager. ``url`` is its ``/v1`` base URL."""

    def __init__(self) -> None:
        self.default: Behaviour = ok()
        self.requests: list[Request] = []
        self.stopping = threading.Event()
        self._queue: deque[Behaviour] = deque()
        self._lock = threading.Lock()
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT/v1`` (only while running)."""
        if self._httpd is None:
            raise RuntimeError("OpenAIServer is not running; use it as a context manager")
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    def queue(self, *behaviours: Behaviour) -> None:
        """Answer the next requests with these, in order."""
        with self._lock:
            self._queue.extend(behaviours)

    def next_behaviour(self) -> Behaviour:
        with self._lock:
            return self._queue.popleft() if self._queue else self.default

    def record(self, request: Request) -> None:
        with self._lock:
            self.requests.append(request)

    def __enter__(self) -> OpenAIServer:
        self._httpd = _Server(("127.0.0.1", 0), _Handler)
        self._httpd.owner = self
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
            name="openai-test-server")
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        assert self._httpd is not None and self._thread is not None
        self.stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()  # joins the request threads (block_on_close)
        self._thread.join()
        self._httpd = self._thread = None
