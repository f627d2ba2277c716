"""The LangGraph wiring of the loop (see docs/ARCHITECTURE.md, "The loop")."""

from __future__ import annotations

from codemend.agent import nodes
from codemend.agent.nodes import Deps
from codemend.agent.routing import route_after_check, route_after_escalate, route_after_hidden
from codemend.agent.state import RunState
from langgraph.graph import END, START, StateGraph


def build_graph(checkpointer=None):
    """generate → check → verify_hidden → done, with autofix / fix / escalate loops."""
    g = StateGraph(RunState, context_schema=Deps)
    for name in ("generate", "check", "autofix", "fix", "verify_hidden", "escalate", "done"):
        g.add_node(name, getattr(nodes, name))
    g.add_edge(START, "generate")
    g.add_edge("generate", "check")
    g.add_conditional_edges("check", route_after_check,
                            ["verify_hidden", "autofix", "fix", "escalate"])
    g.add_edge("autofix", "check")
    g.add_edge("fix", "check")
    g.add_conditional_edges("verify_hidden", route_after_hidden, ["done", "escalate"])
    g.add_conditional_edges("escalate", route_after_escalate, ["fix", "check", "done"])
    g.add_edge("done", END)
    return g.compile(checkpointer=checkpointer)
