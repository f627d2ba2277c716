"""Steps of a repair session, read from LangGraph's checkpoints, and forks to go back.

A step is an applied change that was checked (step 0 is the baseline when the session started
from existing code). Its checkpoint is the one the ``check`` node wrote. Going back (``u``,
``goto N``) never rewrites anything: it asks LangGraph for a new checkpoint that branches
from that step's (``update_state`` on the earlier config), so the abandoned steps stay in
the thread's history and the next proposal starts from exactly the earlier files and results.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from codemend.agent.state import Attempt, RunState


@dataclass(frozen=True)
class Step:
    """One step on the current branch."""

    number: int
    attempt_index: int
    """Index into ``RunState.attempts``."""
    attempt: Attempt


def steps(state: RunState) -> list[Step]:
    """The steps of the branch ``state`` is on (replies without usable code are not steps)."""
    out: list[Step] = []
    for i, a in enumerate(state.attempts):
        if a.verdict != "format_error":
            out.append(Step(len(out), i, a))
    return out


def step_config(graph: Any, config: Mapping[str, Any], attempt_index: int) -> dict:
    """The config of the checkpoint written by the check that recorded attempt
    ``attempt_index`` on the current branch: the oldest ancestor of the current checkpoint
    holding that many attempts."""
    history = {s.config["configurable"]["checkpoint_id"]: s
               for s in graph.get_state_history(config)}
    snap = graph.get_state(config)
    found = None
    while snap is not None:
        if len(snap.values.get("attempts") or []) == attempt_index + 1:
            found = snap
        parent = snap.parent_config
        snap = history.get(parent["configurable"]["checkpoint_id"]) if parent else None
    if found is None:
        raise LookupError(f"no checkpoint for attempt {attempt_index + 1} on this branch")
    return found.config


def fork(graph: Any, config: Mapping[str, Any], target: Step, now: RunState, note: str) -> dict:
    """Branch from ``target``'s checkpoint. Counters of what was really spent (model calls,
    tokens) carry over, so a scripted model goes on with its next reply and a real one is
    told (``note``) that a person went back."""
    earlier = step_config(graph, config, target.attempt_index)
    keep = {"model_calls": now.model_calls, "fallback_calls": now.fallback_calls,
            "prompt_tokens": now.prompt_tokens, "completion_tokens": now.completion_tokens,
            "feedback": note, "hint": None}
    return graph.update_state(earlier, keep, as_node="check")
