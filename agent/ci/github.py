"""The few GitHub REST calls ``publish`` makes, through githubkit.

githubkit builds each request from GitHub's own OpenAPI description (paths, parameters and
bodies are typed), speaks httpx, follows ``GITHUB_API_URL`` for Enterprise and tests, and
already knows GitHub's rate-limit signals (``Retry-After``, ``x-ratelimit-remaining`` /
``x-ratelimit-reset``). What is ours: a cap on how long a retry may wait, and turning a 403
into a message that names the permission the token lacks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from codemend.agent.ci.errors import BadInput, GitHubApiError, MissingPermission

MARKER = "<!-- codemend -->"
PERM_PULLS = "pull-requests: write"
PERM_READ = "pull-requests: read"


def _import_githubkit():
    try:
        import githubkit
        from githubkit import retry
    except ImportError as exc:
        raise BadInput("publish needs githubkit: pip install 'codemend[github]'") from exc
    return githubkit, retry


def _capped(decide: Callable, max_wait_s: float) -> Callable:
    """Retry as githubkit decides (3x on 5xx with 1/4/9 s, 3x on rate limits for as long as
    the server says), but never sleep past ``max_wait_s``: a CI job should fail and say so.
    A reset already past gives githubkit a zero wait, which it would turn into 60 s; 1 s."""
    from githubkit.typing import RetryOption

    def decision(exc: Exception, count: int) -> RetryOption:
        opt = decide(exc, count)
        if not opt.do_retry:
            return opt
        if not opt.retry_after or opt.retry_after <= timedelta(0):
            return RetryOption(True, timedelta(seconds=1))
        if opt.retry_after > timedelta(seconds=max_wait_s):
            return RetryOption(False)
        return opt
    return decision


class GitHubClient:
    """A repository's pull requests and comments. ``api_url`` defaults to api.github.com."""

    def __init__(self, repository: str, token: str, api_url: str | None = None,
                 max_wait_s: float = 120.0) -> None:
        githubkit, retry = _import_githubkit()
        self.owner, self.repo = repository.split("/", 1)
        chain = retry.RetryChainDecision(retry.RetryRateLimit(max_retry=3),
                                         retry.RetryServerError(max_retry=3))
        self._gh = githubkit.GitHub(githubkit.TokenAuthStrategy(token), base_url=api_url or None,
                                    auto_retry=_capped(chain, max_wait_s), timeout=30.0,
                                    user_agent="codemend-ci")

    @contextmanager
    def _call(self, what: str, permission: str) -> Iterator[None]:
        from githubkit.exception import RateLimitExceeded, RequestError, RequestFailed

        try:
            yield
        except RateLimitExceeded as exc:
            raise GitHubApiError(f"{what}: GitHub's rate limit holds for {exc.retry_after}; "
                                 "re-run the job later") from exc
        except RequestFailed as exc:
            status = exc.response.status_code
            try:
                message = str(exc.response.json().get("message", ""))[:300]
            except Exception:  # noqa: BLE001 - any non-JSON body
                message = exc.response.text[:300]
            if status == 401:
                raise GitHubApiError(f"{what}: the token was rejected (401 {message}); check "
                                     "CODEMEND_GITHUB_TOKEN") from exc
            if status == 403 or (status == 422 and "not permitted" in message):
                raise MissingPermission(
                    f"{what}: GitHub answered {status} ({message}). The token needs "
                    f"`{permission}` (and `contents: write` to push): give the job a GitHub App "
                    "or fine-grained PAT token with those permissions; see README, CI bot") from exc
            raise GitHubApiError(f"{what}: GitHub answered {status} ({message})") from exc
        except RequestError as exc:
            raise GitHubApiError(f"{what}: cannot reach the GitHub API ({exc.exc!r}); "
                                 "check GITHUB_API_URL") from exc

    def open_pulls(self, *, head: str | None = None, base: str | None = None,
                   state: str = "open") -> list[dict[str, Any]]:
        """Pull requests (open unless ``state``), filtered by ``head`` (``owner:branch``) or
        ``base``."""
        kw: dict[str, Any] = {"state": state, "per_page": 100}
        if head:
            kw["head"] = head
        if base:
            kw["base"] = base
        with self._call("listing pull requests", PERM_READ):
            return list(self._gh.rest.pulls.list(self.owner, self.repo, **kw).json())

    def create_pull(self, *, title: str, head: str, base: str, body: str) -> dict[str, Any]:
        with self._call("opening the draft pull request", PERM_PULLS):
            resp = self._gh.rest.pulls.create(self.owner, self.repo, title=title, head=head,
                                              base=base, body=body, draft=True,
                                              maintainer_can_modify=True)
            return resp.json()

    def sticky_comment(self, number: int, body: str) -> dict[str, Any]:
        """One codemend comment per PR: edit ours (found by MARKER) or post a first one."""
        body = f"{MARKER}\n{body}"
        with self._call(f"commenting on #{number}", PERM_PULLS):
            comments = self._gh.rest.issues.list_comments(self.owner, self.repo, number,
                                                          per_page=100).json()
            for c in comments:
                if MARKER in (c.get("body") or ""):
                    return self._gh.rest.issues.update_comment(self.owner, self.repo, c["id"],
                                                               body=body).json()
            return self._gh.rest.issues.create_comment(self.owner, self.repo, number,
                                                       body=body).json()

    def comment(self, number: int, body: str) -> dict[str, Any]:
        """A new comment (an update to a codemend PR is news, so it is not folded away)."""
        with self._call(f"commenting on #{number}", PERM_PULLS):
            return self._gh.rest.issues.create_comment(self.owner, self.repo, number,
                                                       body=f"{MARKER}\n{body}").json()
