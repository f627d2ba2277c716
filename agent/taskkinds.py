"""Every task kind, by name: what the run store gives a run's dependencies. It lives above
the kinds themselves, so ``agent/kinds.py`` never imports a concrete kind and the loop's
nodes reach each one only through the ``TaskKind`` protocol."""

from __future__ import annotations

from codemend.agent.kinds import Kinds, SpecKind
from codemend.agent.repo.kind import RepoKind


def task_kinds() -> Kinds:
    """Spec tasks and repositories."""
    return Kinds({"spec": SpecKind(), "repo": RepoKind()})
