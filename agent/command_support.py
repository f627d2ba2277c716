"""What every command shares below the command modules: settings from flags, the model,
the sandbox and the run's dependencies, a console, and settling a run (the escalation
prompt, outputs, the result line). The command modules (``run_commands``, ``fix_commands``,
``repair``) import this and never each other."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from codemend.agent import render
from codemend.agent.config import OutputOptions, Settings, load_settings
from codemend.agent.interactive import ask_person, interactive_allowed
from codemend.agent.models import resolve_model
from codemend.agent.nodes import Deps
from codemend.agent.repo_outcome import finish_repo
from codemend.agent.runs import Outcome, RunStore, result_json, write_outputs
from codemend.sandbox.config import SandboxConfig
from rich.console import Console
from rich.markup import escape

EXIT = {"solved": 0, "escalated": 3, "failed": 1, "running": 4}


def settings_from(flags: Mapping[str, Any], **extra: Any) -> Settings:
    """A command's settings from its flags (``vars(args)``), then ``CODEMEND_*``, then
    ``[tool.codemend]``, then defaults (``load_settings``)."""
    given = {k: flags.get(k) for k in ("model", "fallback_model", "base_url", "temperature",
                                       "seed", "max_iterations", "state_dir", "sandbox",
                                       "check_timeout")}
    return load_settings({**given, **extra})


def build_sandbox(settings: Settings, stack: ExitStack, console: Console):
    from codemend.sandbox.factory import make_sandbox

    sb = make_sandbox(settings.sandbox, SandboxConfig(),
                      progress=lambda m: console.print(f"[dim]{m}[/]"),
                      size=settings.pool_size)
    stack.callback(sb.close)
    return sb


def build_model(settings: Settings, stack: ExitStack, name: str | None = None):
    model = resolve_model(name or settings.model, base_url=settings.base_url,
                          temperature=settings.temperature, seed=settings.seed)
    stack.callback(model.close)
    return model


def make_deps(settings: Settings, stack: ExitStack, console: Console,
              fallback: str | None = None) -> Deps:
    """Model (and fallback model) first, so a bad --model fails before Docker is asked."""
    model = build_model(settings, stack)
    second = build_model(settings, stack, fallback) if fallback else None
    return Deps(model=model, sandbox=build_sandbox(settings, stack, console), fallback=second)


def note_printer(console: Console):
    return lambda text: console.print(f"[yellow]{escape(text)}[/]")


def console_for(opts: OutputOptions) -> Console:
    # progress goes to stderr when stdout carries JSON
    return Console(stderr=True, quiet=opts.json, soft_wrap=True)


def finish_run(opts: OutputOptions, store: RunStore, out: Outcome, console: Console,
               deps: Deps | None, started: float | None = None) -> int:
    """Settle a run: ask a person at an escalation (on a terminal; needs ``deps`` to go on),
    then write its outputs and print its result."""
    out_dir = Path(opts.out or store.meta(out.run_id)["out"])
    while out.status == "escalated" and deps is not None and interactive_allowed(opts):
        decision = ask_person(console, out, store)
        if decision is None:
            break
        out = store.resume(out.run_id, deps, decision,
                           on_attempt=lambda a, _: render.attempt_line(console, a),
                           on_note=note_printer(console))
    if out.state.task.kind == "repo":
        return finish_repo(opts, store, out, out_dir)
    if out.state.attempts:
        write_outputs(out, out_dir, force=opts.force,
                      resume=store.resume_command(out.run_id))
    if opts.json:
        print(json.dumps(result_json(out, str(out_dir))))
    else:
        elapsed = time.monotonic() - started if started is not None else None
        render.outcome(Console(soft_wrap=True), out, str(out_dir), elapsed_s=elapsed)
    return EXIT.get(out.status, 1)


def model_changes(model: str | None, fallback_model: str | None, state: Any
                  ) -> dict[str, str]:
    """The models a resume switches to (``--model``, ``--fallback-model``), as state fields:
    the attempts they make are recorded under their names, and a fallback first given at
    resume is used where the run would escalate."""
    update = {}
    if model and model != state.model:
        update["model"] = model
    if fallback_model and fallback_model != state.fallback_model:
        update["fallback_model"] = fallback_model
    return update
