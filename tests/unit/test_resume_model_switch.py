"""A resume that changes the models (`resume --model B --fallback-model F`) of a run killed
mid-step, with no interrupt pending: the change goes in as a Command's update, before the
graph goes on from its last checkpoint (the e2e test covers a run paused at an escalation)."""

from __future__ import annotations

from codemend.agent.models.scripted import ScriptedModel
from codemend.agent.nodes import Deps
from codemend.agent.runs import RunStore
from test_loop import TASK, FakeSandbox, code, report


class Killed(Exception):
    """Stands for the process dying during a model call."""


class Dying(ScriptedModel):
    def complete(self, messages, *, call_index=0):
        raise Killed


def test_a_killed_run_goes_on_with_the_models_given_at_resume(tmp_path):
    sandbox = FakeSandbox({"A1": report(0, 1), "B1": report(0, 1), "C1": report(1, 0)})
    store = RunStore(tmp_path / "state")
    store.register("r", "add", "scripted:a", str(tmp_path / "out"))
    try:
        store.start("r", TASK, "scripted:a", 1, Deps(model=Dying("a", replies=["x"]),
                                                     sandbox=sandbox))
    except Killed:
        pass
    assert store.outcome("r").status == "running"  # stopped mid-run, nothing pending
    second = ScriptedModel("b", replies=[code("B1")])
    third = ScriptedModel("c", replies=[code("C1")])
    out = store.resume("r", Deps(model=second, sandbox=sandbox, fallback=third),
                       update={"model": "scripted:b", "fallback_model": "scripted:c"})
    assert out.status == "solved"
    assert [a.model for a in out.state.attempts] == ["scripted:b", "scripted:c"]
    store.close()
