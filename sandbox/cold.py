"""ColdSandbox: one fresh hardened container per check, removed afterwards."""

from __future__ import annotations

import json
import math
import secrets
import time
from collections.abc import Iterable

import docker
import docker.errors
import requests
from codemend.sandbox.base import FixResult
from codemend.sandbox.config import SandboxConfig
from codemend.sandbox.docker_io import (
    RUNNER,
    connect,
    docker_hint,
    exchange,
    hardened_host_config,
    labels,
    raw_socket,
    reap_orphans,
    remove_quietly,
)
from codemend.sandbox.errors import DockerUnavailable, InfraError
from codemend.sandbox.image import ensure_image
from codemend.sandbox.report import CheckReport
from codemend.sandbox.verdict import RunFacts, build_report
from codemend.sandbox.workspace import Workspace

ENV = {"LANG": "C.UTF-8", "PATH": "/opt/venv/bin:/usr/local/bin:/usr/bin:/bin"}
REPO_WORKDIR = "/work/repo"
"""A repository's work tree in the container: fixed, where its editable install points."""


def manifest(ws: Workspace, cfg: SandboxConfig, timeout_s: float, mode: str) -> dict:
    """The runner's manifest (argv or one line: small). A repository's test list and
    settings travel in the workspace tar instead (``meta/repo.json``)."""
    m = {"token": secrets.token_hex(8), "mode": mode, "timeout_s": timeout_s,
         "output_limit_bytes": cfg.output_limit_bytes,
         "report_limit_bytes": cfg.report_limit_bytes, "lint_select": cfg.lint_select,
         "lint_paths": ws.lint_paths, "test_paths": ws.test_paths}
    if ws.mode == "repo":
        m.update(workspace="repo", test_paths=[])
        if ws.coverage:
            m["coverage"] = ws.coverage
    return m


def stream_cap(cfg: SandboxConfig) -> int:
    """Most bytes the host reads back: the runner's own caps plus JSON overhead."""
    return 2 * cfg.report_limit_bytes + 6 * cfg.output_limit_bytes + (4 << 20)  # + coverage


def fix_result(facts: RunFacts, sent: Iterable[str]) -> FixResult:
    """The autofix reply, trusted only for the files that were ``sent``: any other name
    the container returns (``conftest.py``, ``../x.py``, ...) is dropped and named in
    ``dropped`` and the message, so it can never reach the files the loop writes."""
    try:
        doc = json.loads(facts.stdout.decode("utf-8", errors="replace"))
        files = {str(k): str(v) for k, v in doc["files"].items()}
    except (ValueError, KeyError, TypeError, AttributeError):
        return FixResult(ok=False, message=facts.error or "the autofix run sent no report")
    sent = set(sent)
    dropped = sorted(name for name in files if name not in sent)
    if not dropped:
        return FixResult(files=files)
    shown = ", ".join(repr(name[:80]) for name in dropped[:5])
    more = f" and {len(dropped) - 5} more" if len(dropped) > 5 else ""
    return FixResult(files={k: v for k, v in files.items() if k in sent}, dropped=dropped[:100],
                     message=f"the autofix run returned {len(dropped)} file(s) that were not "
                     f"sent; dropped: {shown}{more}")


class RunnerChecks:
    """check/autofix over the runner's manifest + tar protocol; subclasses provide
    ``config``, ``run(manifest, payload, timeout_s) -> RunFacts`` and ``close()``."""

    config: SandboxConfig

    def run(self, m: dict, payload: bytes, timeout_s: float) -> RunFacts:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def check(self, workspace: Workspace, *, timeout_s: float | None = None) -> CheckReport:
        timeout = timeout_s or self.config.timeout_s
        m = manifest(workspace, self.config, timeout, "check")
        facts = self.run(m, workspace.tar_bytes(), timeout)
        repo = workspace.mode == "repo"
        return build_report(facts, REPO_WORKDIR if repo else f"/work/{m['token']}", timeout,
                            repo=repo)

    def autofix(self, workspace: Workspace) -> FixResult:
        only_code = Workspace(files=workspace.files)
        m = manifest(only_code, self.config, self.config.timeout_s, "fix")
        return fix_result(self.run(m, only_code.tar_bytes(), self.config.timeout_s),
                          only_code.files)


class ColdSandbox(RunnerChecks):
    """A new container for every check: the simplest, slowest, most isolated backend."""

    name = "cold"

    def __init__(self, config: SandboxConfig | None = None,
                 client: docker.DockerClient | None = None, *, progress=None) -> None:
        self.config = config or SandboxConfig()
        self.client = connect(client)
        self.progress = progress
        self.image = self.config.image or ensure_image(self.client, progress=progress)
        reap_orphans(self.client, self.config.label)

    def close(self) -> None:
        self.client.close()

    def run(self, m: dict, payload: bytes, timeout_s: float) -> RunFacts:
        """Create, feed, read and remove one container. Returns facts; never hangs.
        If our image vanished meanwhile (``docker rmi``, a prune), rebuild it and go on."""
        try:
            return self._run_once(m, payload, timeout_s)
        except docker.errors.ImageNotFound as exc:
            if self.config.image is not None:
                raise InfraError(f"sandbox image {self.image} is missing: build or pull it, "
                                 "or leave the image setting unset") from exc
            if self.progress is not None:
                self.progress(f"sandbox image {self.image} disappeared: rebuilding it")
        self.image = ensure_image(self.client, progress=self.progress)
        try:
            return self._run_once(m, payload, timeout_s)
        except docker.errors.ImageNotFound as exc:
            raise InfraError(f"sandbox image {self.image} is missing: run "
                             "`codemend sandbox build`") from exc

    def _run_once(self, m: dict, payload: bytes, timeout_s: float) -> RunFacts:
        api = self.client.api
        started = time.monotonic()
        deadline = started + timeout_s + self.config.host_grace_s
        cid = None
        try:
            cid = api.create_container(
                self.image, command=[*RUNNER, json.dumps(m)], user="0", environment=ENV,
                stdin_open=True, tty=False, network_disabled=True, use_config_proxy=False,
                labels=labels(self.config, "cold"), working_dir="/work",
                host_config=hardened_host_config(api, self.config))["Id"]
            sock = api.attach_socket(cid, params={"stdin": 1, "stdout": 1, "stderr": 1,
                                                  "stream": 1})
            try:
                api.start(cid)
                got = exchange(sock, payload, deadline, stream_cap(self.config))
            finally:
                raw = raw_socket(sock)
                sock.close()
                raw.close()
            host_killed = got.deadline_hit
            if got.deadline_hit or got.truncated:
                _kill(api, cid)
            try:
                code = api.wait(cid, timeout=max(5, math.ceil(deadline - time.monotonic())))
                exit_code = code.get("StatusCode")
            except Exception:  # the daemon's wait timed out: stop it the hard way
                _kill(api, cid)
                host_killed, exit_code = True, None
            state = api.inspect_container(cid)["State"]
            return RunFacts(stdout=got.stdout, stderr=got.stderr,
                            duration_s=time.monotonic() - started, truncated=got.truncated,
                            host_killed=host_killed, oom_killed=bool(state.get("OOMKilled")),
                            exit_code=exit_code, error=got.error)
        except requests.exceptions.ConnectionError as exc:
            raise DockerUnavailable(docker_hint()) from exc
        except docker.errors.ImageNotFound:
            raise  # run() rebuilds it
        except (docker.errors.APIError, docker.errors.DockerException) as exc:
            return RunFacts(stdout=b"", stderr=b"", duration_s=time.monotonic() - started,
                            error=f"docker: {exc}")
        finally:
            if cid is not None:
                remove_quietly(api, cid)


def _kill(api: docker.APIClient, cid: str) -> None:
    try:
        api.kill(cid)
    except docker.errors.APIError:
        pass  # already gone
