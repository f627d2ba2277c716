"""Pure decisions of the loop: where to go after a check, stuck detection, best attempt."""

from __future__ import annotations

from codemend.agent.state import Attempt, RunState

STUCK_REPEATS = 3


def better(candidate: Attempt, best: Attempt | None) -> bool:
    """Is ``candidate`` a better attempt to keep than ``best``?

    A pass always wins. Otherwise more passing tests wins, then fewer lint findings;
    a candidate that makes an earlier-passing test of ``best`` fail is never better.
    """
    if candidate.verdict == "format_error":
        return False
    if best is None:
        return True
    if candidate.verdict == "pass":
        return best.verdict != "pass"
    if best.verdict == "pass":
        return False
    if not best.passing_ids() <= candidate.passing_ids():
        return False  # a regression: earlier-passing tests now fail
    return (candidate.passed, -candidate.lint) > (best.passed, -best.lint)


def stuck_reason(attempts: list[Attempt]) -> str | None:
    """Escalate early: the same failure k times in a row, or code seen before."""
    model_attempts = [a for a in attempts if a.node not in ("autofix", "baseline")]
    if len(model_attempts) >= STUCK_REPEATS:
        tail = model_attempts[-STUCK_REPEATS:]
        if len({a.signature for a in tail}) == 1:
            return f"the same failure {STUCK_REPEATS} times in a row"
    last = attempts[-1] if attempts else None
    if last is not None and last.node == "fix" and last.verdict != "format_error":
        for earlier in attempts[:-1]:
            if earlier.files == last.files:
                return f"the model returned the code of attempt {earlier.n} again"
    return None


def fixable_only_lint(attempt: Attempt) -> bool:
    """Could ruff's autofix help? Any fixable finding, on files autofix did not produce."""
    if attempt.report is None or attempt.node == "autofix":
        return False
    return any(f.fixable for f in attempt.report.lint.findings)


def route_start(state: RunState) -> str:
    """A repair session checks the files it starts from (the baseline) first, unless it
    comes already checked (a repository's baseline, run before the loop)."""
    if state.source == "baseline":
        return "instruct" if state.attempts else "check"
    return "instruct" if state.interactive else "generate"


def route_after_check(state: RunState) -> str:
    last = state.last
    assert last is not None, "check always records an attempt"
    if last.verdict == "pass":
        return "verify_hidden"
    if state.interactive and last.node == "baseline":
        return "instruct"
    return route_work(state)


def route_work(state: RunState) -> str:
    """The next step on a failing check: autofix, fix, or (fallback model, then) a person."""
    last = state.last
    assert last is not None
    if last.verdict in ("fail",) and fixable_only_lint(last):
        return "autofix"
    return route_model(state)


def route_model(state: RunState) -> str:
    """The model's turn: fix, or (the fallback model, then) a person when stuck or at the
    limit."""
    if stuck_reason(state.recent) is not None or state.iteration >= state.max_iterations:
        return "fallback" if state.fallback_model and not state.on_fallback else "escalate"
    return "fix"


def route_after_instruct(state: RunState) -> str:
    return "generate" if state.last is None else route_work(state)


def route_proposal(state: RunState) -> str:
    """In a repair session a proposal waits for the person (review) before its check."""
    return "review" if state.interactive and state.format_error is None else "check"


def route_after_autofix(state: RunState) -> str:
    """A person is never asked to approve nothing: in a repair session, ruff's autofix that
    changed nothing (its fixes fell outside the changed lines) hands over to the model."""
    if state.interactive and state.files == state.applied:
        return route_model(state)
    return route_proposal(state)


def route_after_review(state: RunState) -> str:
    if state.decision in ("apply", "edit"):
        return "check"
    return "fix" if state.last is not None else "generate"


def route_after_hidden(state: RunState) -> str:
    return "done" if state.hidden is None or state.hidden.verdict == "pass" else "escalate"


def route_after_escalate(state: RunState) -> str:
    if state.decision in ("accept", "abort"):
        return "done"
    if state.decision == "edit":
        return "check"
    return "fix"
