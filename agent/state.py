"""The run's state: a Pydantic model, checkpointed after every node."""

from __future__ import annotations

import operator
from typing import Annotated, Any, Literal

from codemend.agent.repotask import RepoTask
from codemend.sandbox.report import CheckReport
from codemend.sandbox.workspace import Workspace
from pydantic import BaseModel, Field

Node = Literal["baseline", "generate", "autofix", "fix", "edit"]
Status = Literal["running", "solved", "escalated", "failed"]
"""A repository run reports ``solved`` as ``fixed`` (agent/repo/output.py)."""


class TaskInfo(BaseModel):
    """What the loop needs of a task spec, frozen into the run so a resume sees the same."""

    name: str
    prompt: str
    solution_files: list[str]
    tests: dict[str, str]
    kind: Literal["spec", "repo"] = "spec"
    """How the workspace, prompts, edits and verification are made (agent/kinds.py)."""
    repo: RepoTask | None = None
    """For ``kind == "repo"``: the repository, its baseline and targets."""
    hidden_tests: dict[str, str] = Field(default_factory=dict)
    check_timeout_s: float = 60.0
    spec_path: str = ""

    @classmethod
    def from_task(cls, task: Any) -> TaskInfo:
        """From a loaded spec (``agent.spec.Task``)."""
        return cls(name=task.name, prompt=task.prompt, solution_files=task.solution_files,
                   tests=task.tests, hidden_tests=task.hidden_tests,
                   check_timeout_s=task.check_timeout_s, spec_path=str(task.spec_path))

    def workspace(self, files: dict[str, str], *, hidden: bool = False) -> Workspace:
        tests = {**self.tests, **(self.hidden_tests if hidden else {})}
        return Workspace(files=files, tests=tests)


class Attempt(BaseModel):
    """One candidate and what the sandbox said of it."""

    n: int
    node: Node
    files: dict[str, str]
    verdict: str
    """A sandbox verdict, or ``format_error`` when the reply held no usable code."""
    passed: int = 0
    failed: int = 0
    lint: int = 0
    signature: str = ""
    duration_s: float = 0.0
    report: CheckReport | None = None
    model_call: int | None = None
    """Index of the model call that produced it (None for autofix and edits)."""
    model: str | None = None
    """The model that wrote it (None for the baseline, autofix and a person's edits); with
    ``--fallback-model`` this shows where the run switched."""

    def passing_ids(self) -> set[str]:
        if self.report is None:
            return set()
        return {c.id for c in self.report.tests.cases if c.outcome == "passed"}


class Escalation(BaseModel):
    """Why the run paused for a person."""

    reason: str
    iteration: int
    best: int | None = None


class RunState(BaseModel):
    """The checkpointed state of one run (LangGraph thread)."""

    run_id: str
    task: TaskInfo
    model: str
    max_iterations: int = 6
    iteration: int = 0
    """Attempts written by the model or a person (autofix does not count)."""
    model_calls: int = 0
    """Model calls made so far; the scripted model replays ``replies[model_calls]``."""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    """Token usage the model server reported, summed over the run."""
    files: dict[str, str] = Field(default_factory=dict)
    """The candidate to check next (or last checked)."""
    source: Node = "generate"
    format_error: str | None = None
    """Set when the last reply held no usable code; fed back to the model."""
    hint: str | None = None
    attempts: Annotated[list[Attempt], operator.add] = Field(default_factory=list)
    best: int | None = None
    """Index into ``attempts`` of the best attempt so far."""
    hidden: CheckReport | None = None
    """The hidden tests' report (never shown to the model)."""
    escalation: Escalation | None = None
    decision: str | None = None
    """The person's last decision: hint | more | edit | accept | abort."""
    status: Status = "running"
    accepted: bool = False
    interactive: bool = False
    """A repair session: a person approves every proposal before it is checked."""
    summary: str = ""
    """One line on the current proposal, from the prose of the model's reply."""
    feedback: str | None = None
    """What a person said of the last proposal (a rejection reason, an undo); sent once."""
    fallback_model: str | None = None
    """The model to switch to when the run would escalate (``--fallback-model``)."""
    fallback_reason: str | None = None
    """Set when the run switched to ``fallback_model``: why the first model was left."""
    fallback_at: int | None = None
    """How many attempts there were at the switch (stuck detection starts again there)."""
    fallback_calls: int = 0
    """Model calls made to the fallback model (its own script index for scripted models)."""

    @property
    def on_fallback(self) -> bool:
        return self.fallback_at is not None

    @property
    def current_model(self) -> str:
        return self.fallback_model if self.on_fallback and self.fallback_model else self.model

    @property
    def recent(self) -> list[Attempt]:
        """The attempts of the model now in use (all of them until a fallback switch)."""
        return self.attempts[self.fallback_at or 0:]

    @property
    def applied(self) -> dict[str, str]:
        """The files as they stand after the last check (a pending proposal not applied)."""
        return self.last.files if self.last is not None else {}

    @property
    def last(self) -> Attempt | None:
        return self.attempts[-1] if self.attempts else None
