"""The LangGraph wiring of the loop (see docs/ARCHITECTURE.md, "The loop")."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from codemend.agent import nodes
from codemend.agent import routing as r
from codemend.agent.nodes import Deps
from codemend.agent.state import RunState
from langgraph.graph import END, START, StateGraph

NODES = ("generate", "check", "autofix", "fix", "verify_hidden", "escalate", "done",
         "instruct", "review", "fallback")
MODEL = ["fix", "fallback", "escalate"]
WORK = ["autofix", *MODEL]


def changes_only(fn: Callable[..., Any]) -> Callable[..., Any]:
    """A node that writes only the fields it changes: a field set to the value it already has
    is dropped, so a checkpoint records (and versions) only what moved. ``attempts`` is a
    list that is added to, so its writes always stand."""

    @functools.wraps(fn)
    def node(state: RunState, runtime: Any) -> Any:
        out = fn(state, runtime)
        if not isinstance(out, dict):
            return out
        return {k: v for k, v in out.items()
                if k == "attempts" or k not in RunState.model_fields or getattr(state, k) != v}

    return node


def build_graph(checkpointer=None):
    """generate → check → verify_hidden → done, with autofix / fix / escalate loops.

    A repair session (``interactive``) starts with a baseline check and ``instruct``, and
    every proposal passes ``review`` (a person) before its check; ``fallback`` switches to
    the second model where the run would escalate.
    """
    g = StateGraph(RunState, context_schema=Deps)
    for name in NODES:
        g.add_node(name, changes_only(getattr(nodes, name)))
    g.add_conditional_edges(START, r.route_start, ["check", "instruct", "generate"])
    g.add_conditional_edges("instruct", r.route_after_instruct, ["generate", *WORK])
    for proposer in ("generate", "fix"):
        g.add_conditional_edges(proposer, r.route_proposal, ["review", "check"])
    g.add_conditional_edges("autofix", r.route_after_autofix, ["review", "check", *MODEL])
    g.add_conditional_edges("review", r.route_after_review, ["check", "fix", "generate"])
    g.add_conditional_edges("check", r.route_after_check, ["verify_hidden", "instruct", *WORK])
    g.add_edge("fallback", "fix")
    g.add_conditional_edges("verify_hidden", r.route_after_hidden, ["done", "escalate"])
    g.add_conditional_edges("escalate", r.route_after_escalate, ["fix", "check", "done"])
    g.add_edge("done", END)
    return g.compile(checkpointer=checkpointer)
