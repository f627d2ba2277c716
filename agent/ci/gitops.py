"""git for ``publish``, with plumbing only: the fix commit is built in a private index from
the recorded commit's tree (``read-tree`` / ``apply --cached`` / ``write-tree`` /
``commit-tree``), so the checkout's work tree, index and branches are never touched, and the
only ref that changes anywhere is the ``codemend/`` branch on origin.
"""

from __future__ import annotations

import base64
import os
import subprocess
import tempfile
from pathlib import Path
from urllib.parse import urlparse

from codemend.agent.ci.errors import BadInput, GitHubApiError, MissingPermission, Refused

TRAILER = "Codemend-Run"
BRANCH_PREFIX = "codemend/"
DEFAULT_AUTHOR = ("codemend", "codemend[bot]@users.noreply.github.com")


class Git:
    """One checkout. ``token`` (if any) reaches git through ``GIT_CONFIG_*`` variables, never
    argv, and only for an https origin."""

    def __init__(self, repo: Path, token: str | None = None) -> None:
        self.repo = repo
        self.token = token

    def run(self, *args: str, env: dict[str, str] | None = None, check: bool = True,
            stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        full = {**os.environ, "GIT_TERMINAL_PROMPT": "0", **(env or {})}
        res = subprocess.run(["git", *args], cwd=self.repo, capture_output=True, text=True,
                             env=full, input=stdin, check=False)
        if check and res.returncode != 0:
            raise GitHubApiError(f"git {args[0]} failed: {res.stderr.strip()[:500]}")
        return res

    def out(self, *args: str, **kw) -> str:
        return self.run(*args, **kw).stdout.strip()

    # -- reading -----------------------------------------------------------------------
    def head(self) -> str:
        res = self.run("rev-parse", "--verify", "HEAD", check=False)
        if res.returncode != 0:
            raise BadInput(f"{self.repo}: not a git checkout with a commit; run publish in the "
                           "repository's checkout")
        return res.stdout.strip()

    def message(self, sha: str) -> str:
        return self.out("log", "-1", "--format=%B", sha)

    def made_by_codemend(self, sha: str) -> bool:
        """The loop guard's test: a commit publish made carries the ``Codemend-Run`` trailer."""
        trailers = self.out("log", "-1", "--format=%(trailers:key=" + TRAILER + ",valueonly)", sha)
        return bool(trailers.strip())

    def identity(self) -> tuple[str, str]:
        """The name and email publish commits as (and the committer of every commit it made)."""
        return (os.environ.get("GIT_AUTHOR_NAME") or DEFAULT_AUTHOR[0],
                os.environ.get("GIT_AUTHOR_EMAIL") or DEFAULT_AUTHOR[1])

    def foreign_commits(self, tip: str, base: str) -> list[str]:
        """Commits on ``tip`` (not on ``base``) that publish did not make: no
        ``Codemend-Run`` trailer, or another committer. publish never pushes over them."""
        name, email = self.identity()
        out = self.out("log", "--format=%H%x00%cn%x00%ce%x00%(trailers:key=" + TRAILER
                       + ",valueonly)%x1e", tip, "--not", base)
        foreign = []
        for record in out.split("\x1e"):
            fields = record.strip().split("\0")
            if len(fields) < 4 or not fields[0]:
                continue
            sha, cname, cemail, trailer = fields[0], fields[1], fields[2], fields[3].strip()
            if not trailer or (cname, cemail) != (name, email):
                foreign.append(sha)
        return foreign

    def _auth_env(self) -> dict[str, str]:
        url = self.out("remote", "get-url", "origin", check=False)
        if not self.token or urlparse(url).scheme != "https":
            return {}
        basic = base64.b64encode(f"x-access-token:{self.token}".encode()).decode()
        return {"GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "http.extraHeader",
                "GIT_CONFIG_VALUE_0": f"AUTHORIZATION: basic {basic}"}

    def remote_sha(self, branch: str) -> str | None:
        res = self.run("ls-remote", "origin", f"refs/heads/{branch}", env=self._auth_env(), check=False)
        if res.returncode != 0:
            raise GitHubApiError(f"cannot reach origin: {res.stderr.strip()[:300]}")
        line = res.stdout.strip().splitlines()
        return line[0].split()[0] if line else None

    def fetch(self, branch: str) -> None:
        self.run("fetch", "--no-tags", "origin", f"refs/heads/{branch}", env=self._auth_env())

    def direct_parents(self, sha: str) -> list[str]:
        return self.out("rev-list", "--parents", "-n", "1", sha).split()[1:]

    # -- building ----------------------------------------------------------------------
    def _with_index(self, commit: str, patch: Path, index: Path, check_only: bool) -> None:
        env = {"GIT_INDEX_FILE": str(index)}
        self.run("read-tree", commit, env=env)
        args = ["apply", "--cached", "--whitespace=nowarn"] + (["--check"] if check_only else [])
        res = self.run(*args, str(patch), env=env, check=False)
        if res.returncode != 0:
            raise Refused(f"fix.patch does not apply to {commit[:12]}: {res.stderr.strip()[:400]}")

    def apply_check(self, commit: str, patch: Path) -> None:
        """``git apply --check`` against the recorded commit's tree (not the work tree)."""
        with tempfile.TemporaryDirectory(prefix="codemend-idx-") as tmp:
            self._with_index(commit, patch, Path(tmp) / "index", check_only=True)

    def commit_patch(self, commit: str, patch: Path, parents: list[str], message: str) -> str:
        """A commit whose tree is ``commit``'s tree plus the patch; returns its sha."""
        with tempfile.TemporaryDirectory(prefix="codemend-idx-") as tmp:
            index = Path(tmp) / "index"
            self._with_index(commit, patch, index, check_only=False)
            tree = self.out("write-tree", env={"GIT_INDEX_FILE": str(index)})
        name, email = self.identity()
        ident = {"GIT_AUTHOR_NAME": name, "GIT_AUTHOR_EMAIL": email,
                 "GIT_COMMITTER_NAME": name, "GIT_COMMITTER_EMAIL": email}
        args = ["commit-tree", tree]
        for p in parents:
            args += ["-p", p]
        return self.out(*args, env=ident, stdin=message)

    def push(self, sha: str, branch: str, forbidden: set[str]) -> None:
        """Push ``sha`` to ``origin``'s ``branch``: only a ``codemend/`` branch, never forced."""
        if not branch.startswith(BRANCH_PREFIX) or branch in forbidden:
            raise Refused(f"refusing to push to {branch!r}: publish only pushes codemend/ branches")
        res = self.run("push", "--porcelain", "origin", f"{sha}:refs/heads/{branch}",
                       env=self._auth_env(), check=False)
        if res.returncode == 0:
            return
        err = res.stderr.strip()
        if "403" in err or "denied" in err.lower():
            raise MissingPermission(
                f"git push to origin was denied: the token needs `contents: write` on this "
                f"repository (a GitHub App or fine-grained PAT with Contents: Read and write). "
                f"git said: {err[:300]}")
        raise GitHubApiError(f"git push of {branch} failed: {err[:500]}")
