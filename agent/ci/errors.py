"""Errors of the CI bot. A refusal is its own class so the message always says *why*."""

from __future__ import annotations

from codemend.sandbox.errors import BadInput, CodemendError, InfraError

__all__ = ["BadInput", "CodemendError", "InfraError", "Refused", "GitHubApiError", "MissingPermission"]


class Refused(CodemendError):
    """The artifact failed vetting (forged, too big, stale or touching protected paths).
    Exit 4: nothing was pushed or posted, and a person should look at the run."""

    exit_code = 4


class GitHubApiError(InfraError):
    """The GitHub API (or the push to origin) failed after retries."""


class MissingPermission(GitHubApiError):
    """A 403 that is not a rate limit: the token lacks a permission; the message names it."""
