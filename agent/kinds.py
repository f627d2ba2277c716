"""Task kinds: how one loop serves spec tasks and repositories.

The graph, routing, autofix, best attempt, stuck detection and escalation are the same for
every kind; a kind only says how a candidate's workspace is made, what the model is
asked, how a reply becomes a candidate, and whether a checked candidate is verified.
``state.files`` is the candidate: a spec task's solution files, or a repository's
overlay of changed files over its base snapshot. ``Kinds`` maps ``TaskInfo.kind`` to a kind;
the composition of every kind lives above, in ``agent/taskkinds.py``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from codemend.agent.extract import extract_files
from codemend.agent.prompts import fixer_messages, generator_messages
from codemend.sandbox.report import CheckReport
from codemend.sandbox.workspace import Workspace

if TYPE_CHECKING:
    from codemend.agent.state import RunState


class TaskKind(Protocol):
    def messages(self, state: RunState, deps: Any, node: str) -> list[dict[str, str]]:
        """The chat for ``node`` (``generate`` or ``fix``)."""
        ...

    def apply_reply(self, state: RunState, deps: Any, text: str) -> dict[str, str]:
        """The next candidate from a reply; raise ``FormatError`` when it holds none."""
        ...

    def workspace(self, state: RunState, deps: Any) -> Workspace:
        """What the sandbox checks for the current candidate."""
        ...

    def judge(self, state: RunState, deps: Any, report: CheckReport) -> CheckReport:
        """The report the loop acts on: verdict ``pass`` only for a verified candidate."""
        ...

    def merge_autofix(self, state: RunState, deps: Any, fixed: dict[str, str]
                      ) -> dict[str, str]:
        """The candidate after ruff's fixes (``fixed``: the files autofix sent back)."""
        ...


class SpecKind:
    """A task spec: write the solution files; the sandbox verdict is the verdict."""

    def messages(self, state: RunState, deps: Any, node: str) -> list[dict[str, str]]:
        if node == "generate":
            return generator_messages(state.task, hint=state.hint, feedback=state.feedback)
        last = state.last
        files = state.files or (state.attempts[state.best].files if state.best is not None
                                else {})
        return fixer_messages(state.task, files, last.report if last else None,
                              format_error=state.format_error, hint=state.hint,
                              feedback=state.feedback)

    def apply_reply(self, state: RunState, deps: Any, text: str) -> dict[str, str]:
        return extract_files(text, state.task.solution_files)

    def workspace(self, state: RunState, deps: Any) -> Workspace:
        return state.task.workspace(state.files)

    def judge(self, state: RunState, deps: Any, report: CheckReport) -> CheckReport:
        return report

    def merge_autofix(self, state: RunState, deps: Any, fixed: dict[str, str]
                      ) -> dict[str, str]:
        return {**state.files, **fixed}


class Kinds:
    """A small registry of task kinds by name (``TaskInfo.kind``). The loop's nodes look a
    task's kind up here and call it through ``TaskKind``; no kind imports a node."""

    def __init__(self, kinds: dict[str, TaskKind]) -> None:
        self._kinds = dict(kinds)

    def __contains__(self, name: object) -> bool:
        return name in self._kinds

    def of(self, task: Any) -> TaskKind:
        name = getattr(task, "kind", "spec")
        try:
            return self._kinds[name]
        except KeyError:
            raise LookupError(f"task kind {name!r} is not registered with this run "
                              f"(known: {', '.join(sorted(self._kinds))})") from None


def spec_kinds() -> Kinds:
    """Spec tasks only: what a run's dependencies hold until the run store gives them every
    kind (``agent/taskkinds.py``)."""
    return Kinds({"spec": SpecKind()})
