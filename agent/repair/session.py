"""A repair session: the person and the loop at one terminal.

The loop is the one graph of every run (``agent/graph.py``) with ``interactive`` set: it
pauses (LangGraph ``interrupt``) before the first model call (``instruct``), before every
check of a proposal (``review``) and where it would escalate. This module only shows what
the graph paused on, asks the person, and resumes the graph with the answer. Going back
(``u``, ``goto N``) forks from an earlier checkpoint (``steps.fork``).
"""

from __future__ import annotations

import os
import shlex
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from codemend.agent.edit_copy import ask_and_edit
from codemend.agent.nodes import Deps
from codemend.agent.repair import view
from codemend.agent.repair.steps import Step, fork, steps
from codemend.agent.repair.target import WorkTree, commit
from codemend.agent.repo.paths import UnsafePath
from codemend.agent.runs import RunStore, with_update
from codemend.agent.state import Attempt, RunState
from codemend.agent.taskkinds import task_kinds
from codemend.agent.terminal import ESCALATION, Menu, Option, Terminal
from codemend.sandbox.retry import checked
from langgraph.types import Command
from rich.markup import escape

REVIEW = Menu((Option("y", "apply+check"), Option("n", "reject"), Option("e", "edit"),
               Option("h", "hint"), Option("d", "full diff/output"), Option("t", "re-test"),
               Option("u", "undo"), Option("q", "quit")), words=("history", "goto N"))
WRITE = Menu((Option("w", "write to the work tree"), Option("p", "patch file"),
              Option("n", "not at all")), default="n")
Next = Command | None | int
"""What a handler returns: resume the graph with a Command, continue (None) or exit (int)."""


class Session:
    """Drives one repair run between the graph and the person."""

    def __init__(self, store: RunStore, run_id: str, deps: Deps, term: Terminal,
                 target: WorkTree, *, commit: bool, out_dir: Path,
                 baseline: Any = None, update: dict[str, Any] | None = None) -> None:
        """``baseline``: a repository's baseline report (a spec task's is its step 0);
        ``update``: state fields the first resume of the graph sets (the models of a
        resume)."""
        self.store, self.run_id, self.deps, self.term = store, run_id, deps, term
        if deps.repo_bases is None:  # the preview and re-test read a repository's base too
            deps.repo_bases = store.bases()
        deps.kinds = task_kinds()
        self.target, self.commit, self.out_dir = target, commit, out_dir
        self.baseline, self.update = baseline, update
        self.config = store.config(run_id)
        self.prev: Attempt | None = None
        self.step = -1
        """The number of the last step shown (the baseline is step 0)."""

    # -- the loop ---------------------------------------------------------------------
    def run(self, payload: Any) -> int:
        """Drive from ``payload`` (a first state, or None to go on) until the person leaves."""
        if payload is not None:
            self.advance(payload)
        while True:
            snap = self.store.graph.get_state(self.config)
            state = RunState.model_validate(snap.values)
            if snap.interrupts:
                value = snap.interrupts[0].value or {}
                kind = value.get("kind")
                handler = {"start": self.on_start, "review": self.on_review}.get(
                    kind if isinstance(kind, str) else "", self.on_escalation)
                nxt = handler(state, value)
                if isinstance(nxt, int):
                    return nxt
                self.advance(nxt)
            elif snap.next:
                self.advance(None)  # killed mid-step: go on from the last checkpoint
            else:
                return self.finish(state)

    def advance(self, payload: Any) -> None:
        payload, self.update = with_update(payload, self.update), None
        snap = self.store.graph.get_state(self.config)
        if snap.values:
            state = RunState.model_validate(snap.values)
            self.prev, self.step = last_step(state), len(steps(state)) - 1
        with self.term.console.status("[dim]model and sandbox at work...[/]"):
            self.store.drive(self.run_id, payload, self.deps, on_attempt=self.show_attempt,
                             on_note=lambda t: self.term.say(f"[yellow]{escape(t)}[/]"))

    def show_attempt(self, attempt: Attempt, _: Any) -> None:
        if attempt.verdict == "format_error":
            view.comparison(self.term.console, self.prev, attempt)
            return
        self.step += 1
        if attempt.node != "baseline":  # the baseline is shown in full by on_start
            view.check_result(self.term.console, self.step, self.prev, attempt)
        self.prev = attempt

    # -- the prompts --------------------------------------------------------------------
    def on_start(self, state: RunState, _: dict) -> Next:
        """Before the first model call: the baseline, what goes out, a first instruction."""
        view.baseline(self.term.console, state, self.baseline)
        asked = state.model_copy(update=self.update) if self.update else state  # a new model
        view.request_preview(self.term.console, asked, self.deps)
        text = self.term.line("first instruction for the model (Enter: none, q: quit)")
        if text == "q":
            return self.quit(state)
        return Command(resume={"instruction": text})

    def on_review(self, state: RunState, _: dict) -> Next:
        console = self.term.console
        old, new = self.target.pair(state.applied, state.files)
        who = "ruff" if state.source == "autofix" else state.current_model
        console.print(f"[bold]proposal[/] from {escape(who)}: {escape(state.summary or '')}  "
                      f"[dim]({escape(view.changed_stat(old, new))})[/]", soft_wrap=True)
        view.diff(console, old, new)
        while True:
            key, arg = self.term.choose(REVIEW)
            if key == "y":
                return Command(resume={"action": "apply"})
            if key == "n":
                reason = self.term.line("why? (the reason goes to the model)")
                return Command(resume={"action": "reject", "reason": reason})
            if key == "h":
                hint = self.term.line("hint for the next try")
                return Command(resume={"action": "hint", "hint": hint})
            if key == "e":
                changed = [p for p in sorted(new) if old.get(p) != new[p]] or sorted(new)
                edited = self.edit(new, changed)
                if edited is None:
                    continue
                if all(new.get(p) == code for p, code in edited.items()):
                    self.term.say("[dim]no change made in the editor; applying the proposal[/]")
                    return Command(resume={"action": "apply"})
                return Command(resume={"action": "edit", "files": edited})
            if key == "d":
                view.diff(console, old, new, full=True)
                view.full_output(console, last_step(state))
            elif key == "t":
                self.retest(state)
            elif key == "history":
                view.history(console, state, steps(state))
            elif key in ("u", "goto"):
                if self.go_back(state, key, arg):
                    return None
            elif key == "q":
                return self.quit(state)

    def on_escalation(self, state: RunState, value: dict) -> Next:
        self.term.say(f"[yellow]paused[/]: {escape(str(value.get('reason', '')))}")
        view.history(self.term.console, state, steps(state))
        key, _ = self.term.choose(ESCALATION)
        if key == "h":
            return Command(resume={"action": "hint", "hint": self.term.line("hint for the fixer")})
        if key == "m":
            n = self.term.line("how many more iterations", default="2")
            return Command(resume={"action": "more", "more": int(n) if n.isdigit() else 2})
        if key == "e":
            files = ask_and_edit(state.task, state.applied, self.target.base, self.term.line,
                                 lambda text: self.term.say(escape(text)))
            if files is None:
                return self.on_escalation(state, value)
            return Command(resume={"action": "edit", "files": files})
        if key == "a":
            return Command(resume={"action": "accept"})
        if key == "b":
            return Command(resume={"action": "abort"})
        return self.quit(state)

    # -- actions ------------------------------------------------------------------------
    def go_back(self, state: RunState, key: str, arg: str) -> bool:
        branch = steps(state)
        now = branch[-1].number if branch else -1
        if key == "u":
            if now < 1:
                self.term.say("[yellow]nothing to undo: this is the first step[/]")
                return False
            target = now - 1
        elif not arg.isdigit() or int(arg) > now:
            self.term.say(f"[yellow]goto N: N is a step from 0 to {now} (see `history`)[/]")
            return False
        else:
            target = int(arg)
        dest: Step = branch[target]
        later = now - target
        note = (f"A person went back to this code, undoing the {later} later step(s); the "
                "changes made since are gone. Propose a different change than before.")
        fork(self.store.graph, self.config, dest, state, note)
        self.term.say(f"back at step {target} ({dest.attempt.node}, {dest.attempt.verdict}); "
                      f"the {later} later step(s) stay in the run's history")
        return True

    def retest(self, state: RunState) -> None:
        last = last_step(state)
        if last is None:
            self.term.say("[dim]nothing to check yet[/]")
            return
        now = state.model_copy(update={"files": state.applied})
        kind = self.deps.kind(state.task)
        with self.term.console.status("[dim]checking in the sandbox...[/]"):
            report = kind.judge(now, self.deps, checked(
                self.deps.sandbox, kind.workspace(now, self.deps), state.task.check_timeout_s))
        again = Attempt(n=last.n, node=last.node, files=state.applied, verdict=report.verdict,
                        passed=report.tests.passed,
                        failed=report.tests.failed + report.tests.errors,
                        lint=len(report.lint.findings), report=report)
        self.term.say(f"re-test of the current code (not a new step): {report.verdict}, "
                      f"{again.passed} passed, {again.failed} failed")
        if view.failing(again) == view.failing(last) and again.verdict == last.verdict:
            self.term.say("  same results as its recorded check")
        else:
            view.comparison(self.term.console, last, again)

    def edit(self, files: dict[str, str], paths: list[str]) -> dict[str, str] | None:
        """Open ``paths`` (with ``files``' content) in $EDITOR; the person's version, or None."""
        editor = shlex.split(os.environ.get("EDITOR") or "vi")
        with tempfile.TemporaryDirectory(prefix="codemend-edit-") as tmp:
            full = []
            for rel in paths:
                path = Path(tmp) / rel
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(files.get(rel, ""), encoding="utf-8")
                full.append(str(path))
            try:
                code = subprocess.run([*editor, *full], check=False).returncode
            except OSError as exc:
                self.term.say(f"[red]cannot start the editor {escape(editor[0])}: "
                              f"{escape(exc.strerror or str(exc))}[/]; set $EDITOR")
                return None
            if code != 0:
                self.term.say(f"[yellow]the editor exited with {code}; nothing taken from it[/]")
                return None
            return {rel: (Path(tmp) / rel).read_text(encoding="utf-8") for rel in paths}

    def quit(self, state: RunState) -> int:
        self.offer_write(state)
        self.term.say(f"session saved; continue it with: [bold]"
                      f"{escape(self.store.resume_command(self.run_id))}[/]")
        last = last_step(state)
        return 0 if last is not None and last.verdict == "pass" else 3

    def finish(self, state: RunState) -> int:
        if state.status == "solved":
            hidden = " (and the hidden tests)" if state.hidden is not None else ""
            self.term.say(f"[green]all checks pass{hidden}[/]")
            self.offer_write(state)
            return 0
        if state.accepted and state.best is not None:
            best = state.attempts[state.best]
            number = next((s.number for s in steps(state) if s.attempt_index == state.best), 0)
            self.term.say(f"[yellow]you accepted step {number} ({best.node}): the checks did "
                          f"not pass ({best.verdict}, {best.passed} passed, {best.failed} "
                          f"failed, lint {best.lint}); write it only if you mean to keep "
                          "code that fails them[/]")
            self.offer_write(state)
            return 1
        self.term.say(f"[red]the run ended {state.status}[/]")
        return 1

    def offer_write(self, state: RunState) -> None:
        """Ask whether the current state goes to the work tree, a patch file or nowhere."""
        origin, final = origin_files(state), final_files(state)
        old, new = self.target.pair(origin, final)
        if old == new:
            self.term.say("[dim]the code is as found; nothing to write[/]")
            return
        self.term.say(f"changes: {escape(view.changed_stat(old, new))}")
        key, _ = self.term.choose(WRITE)
        patch_path = self.out_dir / f"{self.run_id}.patch"
        if key == "p":
            path = self.target.patch(patch_path, origin, final)
            self.term.say(f"patch written to {escape(str(path))} (apply it in "
                          f"{escape(str(self.target.root))} with `git apply`)")
        elif key == "w":
            try:
                written = self.target.write(final, origin)
            except FileExistsError as exc:
                path = self.target.patch(patch_path, origin, final)
                self.term.say(f"[yellow]{escape(str(exc))} changed on disk since the session "
                              f"started; not overwritten. The patch is in {escape(str(path))}[/]")
                return
            except UnsafePath as exc:
                path = self.target.patch(patch_path, origin, final)
                self.term.say(f"[yellow]not written: {escape(str(exc))}. The patch is in "
                              f"{escape(str(path))}[/]")
                return
            self.term.say(f"wrote {escape(', '.join(written))} in {escape(str(self.target.root))}")
            if self.commit:
                self.term.say(escape(commit(self.target.root, written,
                                            f"codemend repair: {state.task.name} "
                                            f"(run {self.run_id})")))
        else:
            self.term.say("[dim]nothing written[/]")


def last_step(state: RunState) -> Attempt | None:
    for a in reversed(state.attempts):
        if a.verdict != "format_error":
            return a
    return None


def origin_files(state: RunState) -> dict[str, str]:
    """The files as the session found them (the baseline's; nothing when there was none)."""
    first = state.attempts[0] if state.attempts else None
    return dict(first.files) if first is not None and first.node == "baseline" else {}


def final_files(state: RunState) -> dict[str, str]:
    if state.accepted and state.best is not None:
        return state.attempts[state.best].files
    return state.applied
