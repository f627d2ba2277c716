"""The repository kind of task (see agent/kinds.py): the candidate is an overlay of changed
files over the base snapshot, stored once in ``RepoBases``; checks run the repository's
own suite and are judged against its baseline (agent/repo/verify.py)."""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from codemend.agent.extract import FormatError
from codemend.agent.repo.baseline import FAILING, STOPPED, outcomes, suite_broken
from codemend.agent.repo.context import build_messages
from codemend.agent.repo.coverage import covered
from codemend.agent.repo.edits import apply_edits
from codemend.agent.repo.paths import unsafe_reason
from codemend.agent.repo.select import restrict, selection
from codemend.agent.repo.snapshot import RepoSnapshot
from codemend.agent.repo.store import RepoBases
from codemend.agent.repo.verify import changed_lines, verify
from codemend.agent.repo.workspace import pristine, protected_reason
from codemend.agent.repotask import SUITE_TARGET, RepoTask
from codemend.sandbox.report import CheckReport
from codemend.sandbox.retry import checked
from codemend.sandbox.source import split_lines
from codemend.sandbox.workspace import Workspace

if TYPE_CHECKING:
    from codemend.agent.state import RunState


def _parts(state: RunState, deps: Any) -> tuple[RepoTask, RepoSnapshot, CheckReport]:
    bases: RepoBases = deps.repo_bases
    task = state.task.repo
    assert task is not None, "a repo task carries its RepoTask"
    return task, bases.snapshot(task.base_id), bases.baseline(state.run_id)


class RepoKind:
    def messages(self, state: RunState, deps: Any, node: str) -> list[dict[str, str]]:
        task, snap, baseline = _parts(state, deps)
        base = snap.files
        overlay = state.files if node == "fix" else {}
        report = baseline
        feedback = None
        if node == "fix":
            report = next((a.report for a in reversed(state.attempts) if a.report is not None),
                          baseline)
            last = state.last
            feedback = state.format_error or (last.report.message if last and last.report
                                              else None)
        failing = [c.id for c in report.tests.cases if c.outcome in ("failed", "error")
                   and c.id not in task.flaky]
        targets = list(dict.fromkeys([*task.targets, *failing]))
        return build_messages(files={**base, **overlay}, base=base, overlay=overlay,
                              report=report, targets=targets,
                              budget_tokens=task.context_tokens, feedback=feedback,
                              hint="\n\n".join(t for t in (state.feedback, state.hint) if t)
                              or None, is_test=snap.is_test_file)

    def apply_reply(self, state: RunState, deps: Any, text: str) -> dict[str, str]:
        """Edits apply to the current candidate, less any change to tests or their
        configuration the run does not allow. A reply that changes one, or writes through a
        symbolic link or into a submodule, is a format error: it never reaches a check."""
        task, snap, _ = _parts(state, deps)
        overlay = pristine(snap, state.files, task.allow_test_edits)
        new = apply_edits(text, snap.files, overlay)
        edited = sorted(p for p in new if new[p] != overlay.get(p))
        refuse_paths(snap, task, edited)
        not_text = [p for p in edited if p in snap.binary]
        if not_text:
            raise FormatError(f"{', '.join(not_text[:3])} is not UTF-8 text (binary, or another "
                              "encoding): codemend does not edit it; change other files")
        return new

    def workspace(self, state: RunState, deps: Any) -> Workspace:
        """The candidate's code with the base's tests and their configuration (the pristine
        harness, unless the run allows test edits); on a big suite, only the tests its change
        can reach (a quick check, agent/repo/select.py)."""
        task, snap, baseline = _parts(state, deps)
        chosen = selection(snap, state.files, task.targets, baseline)
        return harness(snap, task, state.files).model_copy(update={"select": chosen or []})

    def judge(self, state: RunState, deps: Any, report: CheckReport) -> CheckReport:
        """Verified against the baseline; a quick check that passes is followed by the
        whole suite, whose verdict is the one kept. So is one whose targets pass but that
        fails otherwise: a test that passes in the whole suite may fail in a part of it
        (structlog's ``process_name`` is ``MainProcess`` only once some other test module
        has imported multiprocessing), so only the whole suite can call it a regression."""
        task, snap, baseline = _parts(state, deps)
        chosen = selection(snap, state.files, task.targets, baseline)
        if chosen:
            quick = verify(report, restrict(baseline, chosen), task, snap, state.files)
            if quick.verdict != "pass" and _targets_fail(report, task.targets):
                note = f"a quick check of the {len(chosen)} test file(s) the change can reach"
                return quick.model_copy(update={"message": "; ".join(
                    m for m in (quick.message, note) if m)})
            report = checked(deps.sandbox, harness(snap, task, state.files),
                             state.task.check_timeout_s)
        judged = verify(report, baseline, task, snap, state.files)
        if judged.verdict != "pass" or not (task.coverage or task.require_coverage):
            return judged
        return covered(judged, deps.sandbox, task, snap, state.files,
                       harness(snap, task, state.files), state.task.check_timeout_s)

    def merge_autofix(self, state: RunState, deps: Any, fixed: dict[str, str]
                      ) -> dict[str, str]:
        """ruff's fixes, kept only where they touch lines the candidate changed: a fix
        never reformats the rest of a user's file."""
        base = _parts(state, deps)[1].files
        out = dict(state.files)
        for path, new in fixed.items():
            if path in out:
                out[path] = scoped(base.get(path), out[path], new)
        return {p: t for p, t in out.items() if base.get(p) != t}


def _targets_fail(report: CheckReport, targets: list[str]) -> bool:
    """A quick check's failure that no part of the suite can invent: a target still fails
    (or the suite target's suite still breaks), or the check was stopped."""
    got = outcomes(report)
    return report.verdict in STOPPED or any(got.get(t) in FAILING for t in targets) or (
        SUITE_TARGET in targets and suite_broken(report))


def harness(snap: RepoSnapshot, task: RepoTask, overlay: dict[str, str]) -> Workspace:
    """The workspace every check of a candidate runs: its code over the base snapshot, with
    every protected path as the base holds it (agent/repo/workspace.py)."""
    return snap.workspace(pristine(snap, overlay, task.allow_test_edits))


def refuse_paths(snap: RepoSnapshot, task: RepoTask, paths: list[str]) -> None:
    """Raise ``FormatError`` (for the model) when a reply's edit touches a protected path
    or one that leaves the repository's own files."""
    bad = []
    for path in paths:
        why = protected_reason(snap, path, task.allow_test_edits)
        if why:
            bad.append(f"{path} is {why}")
        elif (unsafe := unsafe_reason(Path(task.root), path)) is not None:
            bad.append(f"{path} cannot be written: {unsafe}")
    if bad:
        raise FormatError("Your reply changed files a fix may not change, so none of its "
                          f"edits were used: {'; '.join(bad[:6])}. A fix changes the "
                          "project's source code, never its tests, their configuration or "
                          "files Python reads at start-up. Reply again with edits to source "
                          "files only.")


def scoped(base: str | None, candidate: str, fixed: str) -> str:
    """``fixed``'s hunks (against ``candidate``) that overlap the candidate's changed lines."""
    changed = changed_lines(base, candidate)
    a, b = split_lines(candidate, keepends=True), split_lines(fixed, keepends=True)
    out: list[str] = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        touched = tag != "equal" and any(n in changed for n in range(i1, i2 + 2))
        out += b[j1:j2] if touched else a[i1:i2]
    return "".join(out)
