"""Graph nodes: small importable functions ``(state, runtime) -> partial update``.

Live dependencies (model, sandbox) come from the run's context (``Deps``), never from
the checkpointed state.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from codemend.agent.extract import FormatError, reply_summary
from codemend.agent.kinds import Kinds, TaskKind, spec_kinds
from codemend.agent.models.base import Model
from codemend.agent.routing import better, stuck_reason
from codemend.agent.state import Attempt, Escalation, RunState
from codemend.sandbox.base import Sandbox
from codemend.sandbox.errors import BadInput
from codemend.sandbox.retry import checked
from codemend.sandbox.workspace import Workspace
from langgraph.runtime import Runtime
from langgraph.types import interrupt

DEFAULT_MORE = 2
NO_CHANGE = ("Your reply changes nothing: its code is the current code. Propose a change "
             "that makes the failing checks pass.")


@dataclass
class Deps:
    """Per-process dependencies of a run (not checkpointed)."""

    model: Model
    sandbox: Sandbox
    repo_bases: Any = None
    """Repository runs: the base snapshots and baselines (``agent.repo.store.RepoBases``);
    the run store fills it in."""
    fallback: Model | None = None
    """The ``--fallback-model``, used once the run has switched to it."""
    kinds: Kinds = field(default_factory=spec_kinds)
    """The task kinds the nodes call through ``TaskKind`` (``agent/taskkinds.py`` has them
    all; the run store fills it in)."""

    def kind(self, task: object) -> TaskKind:
        """The kind of ``task`` (a ``TaskInfo``)."""
        return self.kinds.of(task)


def _model_step(state: RunState, deps: Deps, messages: list[dict[str, str]], node: str
                ) -> dict[str, Any]:
    if state.on_fallback:
        if deps.fallback is None:
            raise BadInput(f"run {state.run_id} switched to {state.fallback_model}; give it "
                           "again with --fallback-model to go on")
        reply = deps.fallback.complete(messages, call_index=state.fallback_calls)
    else:
        reply = deps.model.complete(messages, call_index=state.model_calls - state.fallback_calls)
    update: dict[str, Any] = {"model_calls": state.model_calls + 1,
                              "fallback_calls": state.fallback_calls + int(state.on_fallback),
                              "summary": reply_summary(reply.text),
                              "iteration": state.iteration + 1, "source": node,
                              "prompt_tokens": state.prompt_tokens + reply.prompt_tokens,
                              "completion_tokens": state.completion_tokens
                              + reply.completion_tokens}
    try:
        update["files"] = deps.kind(state.task).apply_reply(state, deps, reply.text)
        update["format_error"] = None
    except FormatError as exc:
        update["format_error"] = str(exc)
    if state.interactive and update.get("files", state.files) == state.applied and (
            update["format_error"] is None):  # a person is never asked to approve nothing
        update["format_error"] = NO_CHANGE
    return update


def generate(state: RunState, runtime: Runtime[Deps]) -> dict[str, Any]:
    """The first attempt: the task, its visible tests and the files to write."""
    messages = runtime.context.kind(state.task).messages(state, runtime.context, "generate")
    return {**_model_step(state, runtime.context, messages, "generate"), "hint": None,
            "feedback": None}


def fix(state: RunState, runtime: Runtime[Deps]) -> dict[str, Any]:
    """The model repairs the current code from the last check's structured failures."""
    messages = runtime.context.kind(state.task).messages(state, runtime.context, "fix")
    return {**_model_step(state, runtime.context, messages, "fix"), "hint": None,
            "feedback": None}


def autofix(state: RunState, runtime: Runtime[Deps]) -> dict[str, Any]:
    """ruff --fix and ruff format, in the sandbox, without a model call."""
    result = runtime.context.sandbox.autofix(Workspace(files=state.files))
    kind = runtime.context.kind(state.task)
    files = kind.merge_autofix(state, runtime.context, result.files) if result.ok else state.files
    return {"files": files, "source": "autofix", "format_error": None,
            "summary": "ruff --fix and ruff format (no model call)"}


def check(state: RunState, runtime: Runtime[Deps]) -> dict[str, Any]:
    """Check the candidate in the sandbox and record the attempt (and the best so far)."""
    n = len(state.attempts) + 1
    call = state.model_calls - 1 if state.source in ("generate", "fix") else None
    if state.format_error is not None:
        attempt = Attempt(n=n, node=state.source, files=state.files, verdict="format_error",
                          signature="format_error", model_call=call,
                          model=state.current_model if call is not None else None)
    else:
        started = time.monotonic()
        kind = runtime.context.kind(state.task)
        report = kind.judge(state, runtime.context, checked(
            runtime.context.sandbox, kind.workspace(state, runtime.context),
            state.task.check_timeout_s))
        attempt = Attempt(n=n, node=state.source, files=state.files, verdict=report.verdict,
                          passed=report.tests.passed,
                          failed=report.tests.failed + report.tests.errors,
                          lint=len(report.lint.findings), signature=report.signature(),
                          duration_s=round(time.monotonic() - started, 3), report=report,
                          model_call=call,
                          model=state.current_model if call is not None else None)
    best = state.best
    if better(attempt, state.attempts[best] if best is not None else None):
        best = len(state.attempts)
    return {"attempts": [attempt], "best": best}


def verify_hidden(state: RunState, runtime: Runtime[Deps]) -> dict[str, Any]:
    """Run the hidden tests too. Their report goes to people only, never to the model."""
    if not state.task.hidden_tests:
        return {"hidden": None}
    report = checked(runtime.context.sandbox, state.task.workspace(state.files, hidden=True),
                     state.task.check_timeout_s)
    return {"hidden": report}


def escalation_reason(state: RunState) -> str:
    last = state.last
    if last is not None and last.verdict == "pass" and state.hidden is not None:
        failing = [c.id for c in state.hidden.tests.cases if c.outcome in ("failed", "error")]
        return (f"the visible checks pass but the hidden tests do not ({state.hidden.verdict}"
                f"{': ' + ', '.join(failing[:5]) if failing else ''})")
    stuck = stuck_reason(state.recent)
    if stuck:
        return f"stuck: {stuck}"
    return f"the iteration limit ({state.max_iterations}) was reached"


def escalate(state: RunState, runtime: Runtime[Deps]) -> dict[str, Any]:
    """Pause for a person (interrupt); resume with hint | more | edit | accept | abort."""
    info = Escalation(reason=escalation_reason(state), iteration=state.iteration,
                      best=state.best)
    decision = interrupt(info.model_dump())
    if not isinstance(decision, dict) or decision.get("action") not in (
            "hint", "more", "edit", "accept", "abort"):
        raise ValueError(f"unknown resume decision {decision!r}")
    action = decision["action"]
    update: dict[str, Any] = {"decision": action, "escalation": info}
    more = int(decision.get("more") or 0)
    if action in ("hint", "more", "edit"):
        if more == 0 and state.iteration >= state.max_iterations:
            more = DEFAULT_MORE
        update["max_iterations"] = max(state.max_iterations, state.iteration) + more
        update["hidden"] = None
    if decision.get("hint"):
        update["hint"] = str(decision["hint"])
    if action == "edit":
        update.update(files=dict(decision["files"]), source="edit", format_error=None,
                      iteration=state.iteration + 1)
    if action == "accept" and state.best is not None:
        update["files"] = state.attempts[state.best].files
        update["accepted"] = True
    return update


def instruct(state: RunState, runtime: Runtime[Deps]) -> dict[str, Any]:
    """A repair session pauses before the first model call: the person has seen the baseline
    and may add a first instruction (resume with ``{"instruction": TEXT}``)."""
    decision = interrupt({"kind": "start"})
    text = str((decision or {}).get("instruction") or "").strip() if isinstance(
        decision, dict) else ""
    return {"hint": text or None, "decision": "start"}


REVIEW_ACTIONS = ("apply", "reject", "edit", "hint")


def review(state: RunState, runtime: Runtime[Deps]) -> dict[str, Any]:
    """The approval gate of a repair session, between a proposal and its check.

    Resume with ``{"action": "apply"}``, ``{"action": "edit", "files": {...}}`` (the person's
    version is checked instead), ``{"action": "reject", "reason": TEXT}`` or ``{"action":
    "hint", "hint": TEXT}`` (both drop the proposal and ask the model again).
    """
    decision = interrupt({"kind": "review", "source": state.source, "summary": state.summary})
    action = decision.get("action") if isinstance(decision, dict) else None
    if action not in REVIEW_ACTIONS:
        raise ValueError(f"unknown review decision {decision!r}")
    if action == "apply":
        return {"decision": "apply"}
    if action == "edit":
        return {"decision": "edit", "source": "edit", "format_error": None,
                "files": {**state.files, **dict(decision["files"])},
                "summary": "the person's edit of the proposal"}
    update: dict[str, Any] = {"decision": action, "files": state.applied}
    if action == "reject":
        update["feedback"] = rejection_note(state, str(decision.get("reason") or ""))
    else:
        update["hint"] = str(decision.get("hint") or "") or None
    return update


def rejection_note(state: RunState, reason: str) -> str:
    """What the model is told of a rejected proposal: that it was not applied, and why."""
    changed = sorted(p for p, code in state.files.items() if state.applied.get(p) != code)
    what = f" (it changed {', '.join(changed)})" if changed else ""
    why = reason.strip() or "no reason given"
    return (f"A person reviewed your last proposal{what} and rejected it; it was not applied, "
            f"so the code below is still the current code. Their reason: {why}")


def fallback(state: RunState, runtime: Runtime[Deps]) -> dict[str, Any]:
    """The run would escalate: switch to the fallback model for the rest of the budget."""
    budget = max(state.max_iterations - state.iteration, DEFAULT_MORE)
    why = (f"{state.model} would escalate ({escalation_reason(state)}); {state.fallback_model} "
           f"takes over for {budget} more iteration(s)")
    return {"fallback_reason": why, "fallback_at": len(state.attempts),
            "max_iterations": state.iteration + budget}


def done(state: RunState, runtime: Runtime[Deps]) -> dict[str, Any]:
    """Settle the final status."""
    if state.decision == "abort":
        return {"status": "failed"}
    chosen = state.attempts[state.best] if state.accepted and state.best is not None else state.last
    hidden_ok = not state.task.hidden_tests or (state.hidden is not None
                                                and state.hidden.verdict == "pass")
    solved = chosen is not None and chosen.verdict == "pass" and hidden_ok
    return {"status": "solved" if solved else "failed"}
