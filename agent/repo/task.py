"""``RepoTask`` and its counts live in ``agent/repotask.py``, beside the run's state that
holds them; this name stays for code that imported them from here."""

from codemend.agent.repotask import DEFAULT_CONTEXT_TOKENS, SUITE_TARGET, Counts, RepoTask

__all__ = ["DEFAULT_CONTEXT_TOKENS", "SUITE_TARGET", "Counts", "RepoTask"]
