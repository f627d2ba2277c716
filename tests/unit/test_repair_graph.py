"""The repair session's half of the graph (instruct and review interrupts, forks from an
earlier step) and the fallback model, with a fake sandbox, scripted models and a real SQLite
checkpoint file. The pty tests (tests/interactive) drive the same through the CLI."""

from __future__ import annotations

from codemend.agent.models.scripted import ScriptedModel
from codemend.agent.nodes import Deps
from codemend.agent.repair.steps import fork, steps
from codemend.agent.runs import RunStore
from codemend.agent.state import RunState
from langgraph.types import Command
from test_loop import TASK, FakeSandbox, code, report


class Recording(ScriptedModel):
    """A scripted model that keeps the user message of every request."""

    def __init__(self, replies: list[str], name: str = "scripted:m") -> None:
        super().__init__(name, replies=replies)
        self.name = name


def session(tmp_path, replies, by_code, *, start="A0", fallback=None, max_iterations=6):
    store = RunStore(tmp_path / "state")
    model = Recording(replies)
    second = Recording(fallback, "scripted:second") if fallback else None
    sb = FakeSandbox(by_code)
    deps = Deps(model=model, sandbox=sb, fallback=second)
    store.register("s", "add", "scripted:m", str(tmp_path / "out"))
    first = RunState(run_id="s", task=TASK, model="scripted:m", max_iterations=max_iterations,
                     interactive=True, files={"sol.py": start + "\n"}, source="baseline",
                     fallback_model="scripted:second" if fallback else None)
    store.drive("s", first, deps)
    return store, deps, model, sb


def now(store) -> tuple[RunState, object]:
    snap = store.graph.get_state(store.config("s"))
    return RunState.model_validate(snap.values), snap


def resume(store, deps, value) -> tuple[RunState, object]:
    store.drive("s", Command(resume=value), deps)
    return now(store)


def test_baseline_then_instruct_before_any_model_call(tmp_path):
    store, deps, model, sb = session(tmp_path, [code("A1")], {"A0": report(0, 1),
                                                              "A1": report(1, 0, ids=("t",))})
    state, snap = now(store)
    assert [a.node for a in state.attempts] == ["baseline"] and len(sb.calls) == 1
    assert snap.interrupts[0].value == {"kind": "start"} and model.requests == []
    state, snap = resume(store, deps, {"instruction": "FIRST-WORDS"})
    assert "FIRST-WORDS" in model.requests[0][-1]["content"]
    assert snap.interrupts[0].value["kind"] == "review" and len(sb.calls) == 1  # not checked
    state, snap = resume(store, deps, {"action": "apply"})
    assert state.status == "solved" and [a.node for a in state.attempts] == ["baseline", "fix"]
    assert state.attempts[-1].model == "scripted:m" and state.attempts[0].model is None
    store.close()


def test_rejected_proposal_is_never_checked_and_its_reason_reaches_the_model(tmp_path):
    store, deps, model, sb = session(tmp_path, [code("BAD"), code("A1")],
                                     {"A0": report(0, 1), "A1": report(1, 0, ids=("t",))})
    resume(store, deps, {"instruction": ""})
    state, snap = resume(store, deps, {"action": "reject", "reason": "NOT-LIKE-THAT"})
    second = model.requests[1][-1]["content"]
    assert "Their reason: NOT-LIKE-THAT" in second and "rejected it" in second
    assert "A0" in second and "BAD" not in second.split("## A person")[0]  # current code shown
    assert state.files == {"sol.py": "A1\n"} and len(sb.calls) == 1  # BAD was never checked
    assert "NOT-LIKE-THAT" not in model.requests[0][-1]["content"]
    store.close()


def test_edit_checks_the_persons_files(tmp_path):
    store, deps, model, sb = session(tmp_path, [code("A1")],
                                     {"A0": report(0, 1), "MINE": report(1, 0, ids=("t",))})
    resume(store, deps, {"instruction": ""})
    state, _ = resume(store, deps, {"action": "edit", "files": {"sol.py": "MINE\n"}})
    assert state.attempts[-1].node == "edit" and state.attempts[-1].files == {"sol.py": "MINE\n"}
    assert state.status == "solved" and state.attempts[-1].model is None
    store.close()


def test_fork_restores_an_earlier_step_and_keeps_the_past(tmp_path):
    by_code = {"A0": report(0, 3), "A1": report(1, 2, ids=("a",)),
               "A2": report(2, 1, ids=("a", "b")), "A3": report(0, 3), "A4": report(0, 3)}
    store, deps, model, sb = session(tmp_path, [code(f"A{i}") for i in range(1, 5)], by_code)
    resume(store, deps, {"instruction": ""})
    resume(store, deps, {"action": "apply"})
    state, snap = resume(store, deps, {"action": "apply"})
    assert [s.attempt.files["sol.py"] for s in steps(state)] == ["A0\n", "A1\n", "A2\n"]
    assert state.files == {"sol.py": "A3\n"} and snap.interrupts  # A3 proposed, pending
    step1 = steps(state)[1]
    fork(store.graph, store.config("s"), step1, state, "WENT-BACK")
    store.drive("s", None, deps)
    after, snap = now(store)
    assert [s.attempt.files["sol.py"] for s in steps(after)] == ["A0\n", "A1\n"]
    assert after.attempts[-1].report == step1.attempt.report  # the same results, exactly
    assert after.files == {"sol.py": "A4\n"}  # the next reply, not A3 again
    assert "WENT-BACK" in model.requests[-1][-1]["content"]
    assert "A1" in model.requests[-1][-1]["content"]  # proposed from the earlier code
    assert after.model_calls == 4 and snap.interrupts[0].value["kind"] == "review"
    counts = {len(s.values.get("attempts") or [])
              for s in store.graph.get_state_history(store.config("s"))}
    assert 3 in counts  # the abandoned step 2 is still in the thread's history
    store.close()


def test_fallback_model_takes_the_rest_of_the_budget_in_an_unattended_run(tmp_path):
    store = RunStore(tmp_path / "state")
    first = Recording([code("A"), code("B")])
    second = Recording([code("C")], "scripted:second")
    sb = FakeSandbox({"A": report(0, 1), "B": report(0, 1), "C": report(1, 0, ids=("t",))})
    deps = Deps(model=first, sandbox=sb, fallback=second)
    store.register("r", "add", "scripted:m", str(tmp_path / "out"))
    notes: list[str] = []
    out = store.start("r", TASK, "scripted:m", 2, deps, on_note=notes.append,
                      fallback_model="scripted:second")
    assert out.status == "solved"
    assert [a.model for a in out.state.attempts] == ["scripted:m", "scripted:m",
                                                     "scripted:second"]
    assert out.state.fallback_calls == 1 and out.state.max_iterations == 4
    assert notes and "iteration limit (2)" in notes[0] and "scripted:second takes over" in notes[0]
    assert len(second.requests) == 1
    store.close()


def test_without_a_fallback_the_run_escalates(tmp_path):
    store = RunStore(tmp_path / "state")
    sb = FakeSandbox({"A": report(0, 1)})
    deps = Deps(model=Recording([code("A")]), sandbox=sb)
    store.register("r", "add", "scripted:m", str(tmp_path / "out"))
    out = store.start("r", TASK, "scripted:m", 1, deps)
    assert out.status == "escalated" and out.state.fallback_reason is None
    store.close()


def test_hint_drops_the_proposal_and_asks_again_with_it(tmp_path):
    store, deps, model, sb = session(tmp_path, [code("BAD"), code("A1")],
                                     {"A0": report(0, 1), "A1": report(1, 0, ids=("t",))})
    resume(store, deps, {"instruction": ""})
    state, snap = resume(store, deps, {"action": "hint", "hint": "TRY-PLUS"})
    assert "TRY-PLUS" in model.requests[1][-1]["content"] and len(sb.calls) == 1
    assert state.files == {"sol.py": "A1\n"} and snap.interrupts[0].value["kind"] == "review"
    store.close()


def test_plain_resume_refuses_a_repair_session(tmp_path):
    import argparse

    import pytest
    from codemend.agent.run_commands import cmd_resume
    from codemend.sandbox.errors import BadInput

    store, *_ = session(tmp_path, [code("A1")], {"A0": report(0, 1)})
    store.close()
    args = argparse.Namespace(run_id="s", state_dir=str(tmp_path / "state"), model=None,
                              fallback_model=None, base_url=None, temperature=None, seed=None,
                              max_iterations=None, sandbox=None, json=False, hint=None,
                              more=None, edit=None, accept=False, abort=False)
    with pytest.raises(BadInput, match="repair session; continue it with `codemend repair "
                                       "--resume s --state-dir"):
        cmd_resume(args)


def test_a_reply_that_changes_nothing_is_never_offered_for_review(tmp_path):
    store, deps, model, sb = session(tmp_path, [code("A0"), code("A1")],
                                     {"A0": report(0, 1), "A1": report(1, 0, ids=("t",))})
    state, snap = resume(store, deps, {"instruction": ""})
    assert snap.interrupts[0].value["kind"] == "review"  # the second reply, not the first
    assert [a.verdict for a in state.attempts] == ["fail", "format_error"]
    assert "changes nothing" in model.requests[1][-1]["content"]
    assert state.files == {"sol.py": "A1\n"} and len(sb.calls) == 1
    store.close()
