"""A small GitHub REST API on 127.0.0.1 for the CI bot's tests: a real HTTP server in a
thread that checks every call (path, auth header, query and payload fields) the way GitHub
would, keeps pull requests and comments in memory, checks branches against the bare origin,
and records each call. Faults (a 500, a 403, a rate limit) are queued per route.
"""

from __future__ import annotations

import json
import re
import subprocess
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

ROUTES = [
    ("GET", r"/repos/(?P<o>[^/]+)/(?P<r>[^/]+)/pulls", "list_pulls"),
    ("POST", r"/repos/(?P<o>[^/]+)/(?P<r>[^/]+)/pulls", "create_pull"),
    ("GET", r"/repos/(?P<o>[^/]+)/(?P<r>[^/]+)/issues/(?P<n>\d+)/comments", "list_comments"),
    ("POST", r"/repos/(?P<o>[^/]+)/(?P<r>[^/]+)/issues/(?P<n>\d+)/comments", "create_comment"),
    ("PATCH", r"/repos/(?P<o>[^/]+)/(?P<r>[^/]+)/issues/comments/(?P<id>\d+)", "update_comment"),
]
LIST_QUERY = {"state", "head", "base", "per_page", "page", "sort", "direction"}
CREATE_PULL = {"title": str, "head": str, "base": str, "body": str, "draft": bool,
               "maintainer_can_modify": bool, "head_repo": str, "issue": int}


@dataclass
class Call:
    method: str
    path: str
    query: dict[str, str]
    payload: Any
    status: int


@dataclass
class Fault:
    method: str
    route: str
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)
    times: int = 1


class FakeGitHub:
    """``with FakeGitHub("acme/widget", "tok", origin) as gh: gh.url ...``."""

    def __init__(self, repository: str, token: str, origin: Path) -> None:
        self.owner, self.repo = repository.split("/")
        self.token = token
        self.origin = origin
        self.pulls: list[dict[str, Any]] = []
        self.comments: dict[int, list[dict[str, Any]]] = {}
        self.calls: list[Call] = []
        self.problems: list[str] = []  # calls GitHub would have rejected
        self.faults: list[Fault] = []
        self._next = 1
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> FakeGitHub:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    # -- test helpers ------------------------------------------------------------------
    def fail(self, method: str, route: str, status: int, message: str = "", times: int = 1,
             headers: dict[str, str] | None = None) -> None:
        self.faults.append(Fault(method, route, status, {"message": message}, headers or {}, times))

    def add_pull(self, head: str, base: str, head_repo: str | None = None, title: str = "pr") -> dict:
        return self._new_pull({"title": title, "head": head, "base": base, "body": "", "draft": False},
                              head_repo or f"{self.owner}/{self.repo}")

    def routes(self) -> list[tuple[str, str]]:
        return [(c.method, c.path) for c in self.calls]

    # -- state -------------------------------------------------------------------------
    def _sha(self, branch: str) -> str | None:
        res = subprocess.run(["git", "rev-parse", "--verify", "-q", f"refs/heads/{branch}"],
                             cwd=self.origin, capture_output=True, text=True, check=False)
        return res.stdout.strip() or None

    def _new_pull(self, p: dict[str, Any], head_repo: str) -> dict[str, Any]:
        n = self._next
        self._next += 1
        full = f"{self.owner}/{self.repo}"
        pr = {"number": n, "id": 1000 + n, "state": "open", "draft": p.get("draft", False),
              "title": p["title"], "body": p.get("body", ""),
              "html_url": f"https://github.example/{full}/pull/{n}",
              "user": {"login": "codemend[bot]"},
              "head": {"ref": p["head"], "sha": self._sha(p["head"]), "label": f"{self.owner}:{p['head']}",
                       "repo": {"full_name": head_repo}},
              "base": {"ref": p["base"], "sha": self._sha(p["base"]), "repo": {"full_name": full}}}
        self.pulls.append(pr)
        return pr

    # -- the endpoints -----------------------------------------------------------------
    def list_pulls(self, q: dict[str, str], _p: Any, **_: str) -> tuple[int, Any]:
        bad = set(q) - LIST_QUERY
        if bad or ("head" in q and not re.fullmatch(r"[^:]+:.+", q["head"])):
            return 422, {"message": f"bad query {sorted(bad) or q['head']}"}
        out = [p for p in self.pulls if q.get("state", "open") in ("all", p["state"])]
        if "head" in q:
            owner, ref = q["head"].split(":", 1)
            out = [p for p in out if p["head"]["ref"] == ref
                   and p["head"]["repo"]["full_name"].split("/")[0] == owner]
        if "base" in q:
            out = [p for p in out if p["base"]["ref"] == q["base"]]
        return 200, out

    def create_pull(self, _q: dict[str, str], p: Any, **_: str) -> tuple[int, Any]:
        if not isinstance(p, dict) or not {"title", "head", "base"} <= set(p):
            return 422, {"message": "title, head and base are required"}
        for key, value in p.items():
            if key not in CREATE_PULL or not isinstance(value, CREATE_PULL[key]):
                return 422, {"message": f"field {key} is unknown or of the wrong type"}
        if self._sha(p["head"]) is None or self._sha(p["base"]) is None:
            return 422, {"message": "Validation Failed: head or base is not a branch"}
        if any(x["head"]["ref"] == p["head"] and x["state"] == "open" for x in self.pulls):
            return 422, {"message": f"A pull request already exists for {self.owner}:{p['head']}."}
        return 201, self._new_pull(p, f"{self.owner}/{self.repo}")

    def _pull(self, n: str) -> dict[str, Any] | None:
        return next((p for p in self.pulls if p["number"] == int(n)), None)

    def list_comments(self, _q: dict[str, str], _p: Any, n: str, **_: str) -> tuple[int, Any]:
        if self._pull(n) is None:
            return 404, {"message": "Not Found"}
        return 200, self.comments.get(int(n), [])

    def create_comment(self, _q: dict[str, str], p: Any, n: str, **_: str) -> tuple[int, Any]:
        if self._pull(n) is None:
            return 404, {"message": "Not Found"}
        if not isinstance(p, dict) or set(p) != {"body"} or not isinstance(p["body"], str):
            return 422, {"message": "body (a string) is the only field"}
        c = {"id": 5000 + sum(map(len, self.comments.values())) + 1, "body": p["body"],
             "user": {"login": "codemend[bot]"}, "html_url": f"https://github.example/c/{n}"}
        self.comments.setdefault(int(n), []).append(c)
        return 201, c

    def update_comment(self, _q: dict[str, str], p: Any, id: str, **_: str) -> tuple[int, Any]:
        if not isinstance(p, dict) or set(p) != {"body"}:
            return 422, {"message": "body is the only field"}
        for cs in self.comments.values():
            for c in cs:
                if c["id"] == int(id):
                    c["body"] = p["body"]
                    return 200, c
        return 404, {"message": "Not Found"}

    # -- HTTP --------------------------------------------------------------------------
    def _dispatch(self, method: str, raw_path: str, headers: Any, raw: bytes) -> tuple[int, Any, dict]:
        parts = urlsplit(raw_path)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        try:
            payload = json.loads(raw) if raw else None
        except json.JSONDecodeError:
            payload = "<not json>"
        status, body, extra = self._route(method, parts.path, query, payload, headers)
        with self._lock:
            self.calls.append(Call(method, parts.path, query, payload, status))
        return status, body, extra

    def _route(self, method: str, path: str, query: dict, payload: Any, headers: Any):
        if path.endswith(".git/info/refs"):  # git's smart HTTP: a token without contents: write
            return 403, {"message": "Permission denied"}, {}
        if headers.get("Authorization") not in (f"token {self.token}", f"Bearer {self.token}"):
            self.problems.append(f"{method} {path}: bad Authorization header")
            return 401, {"message": "Bad credentials"}, {}
        if payload == "<not json>" or (method in ("POST", "PATCH") and
                                       "json" not in headers.get("Content-Type", "")):
            self.problems.append(f"{method} {path}: body is not JSON")
            return 400, {"message": "Problems parsing JSON"}, {}
        for m, pattern, name in ROUTES:
            match = re.fullmatch(pattern, path)
            if m != method or not match:
                continue
            for f in self.faults:
                if f.method == method and f.route == name and f.times > 0:
                    f.times -= 1
                    return f.status, f.body, f.headers
            args = match.groupdict()
            if (args.pop("o"), args.pop("r")) != (self.owner, self.repo):
                self.problems.append(f"{method} {path}: another repository")
                return 404, {"message": "Not Found"}, {}
            with self._lock:
                status, body = getattr(self, name)(query, payload, **args)
            if status >= 400:
                self.problems.append(f"{method} {path}: {status} {body}")
            return status, body, {}
        self.problems.append(f"{method} {path}: no such endpoint")
        return 404, {"message": "Not Found"}, {}

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                status, body, extra = fake._dispatch(self.command, self.path, self.headers, raw)
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                for k, v in extra.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PATCH = _serve

            def log_message(self, *args: object) -> None:
                pass

        return Handler
