"""What the model sees. The generator: task, visible tests, files to write. The fixer:
current code and structured failures. Hidden tests never reach either."""

from __future__ import annotations

from codemend.agent.state import TaskInfo
from codemend.sandbox.parse import trim
from codemend.sandbox.report import CheckReport

SYSTEM = (
    "You are a careful senior Python engineer. You write complete, working, lint-clean "
    "Python 3.11 files. Always answer with the WHOLE content of every file you write, each "
    "in its own fenced ```python block. Never answer with shell commands or partial diffs."
)
MAX_FAILING_TESTS = 8
MAX_FINDINGS = 20
TB_HEAD, TB_TAIL = 600, 1200


def _fence_instructions(task: TaskInfo) -> str:
    if len(task.solution_files) == 1:
        return (f"Reply with the complete file `{task.solution_files[0]}` in one ```python "
                "block.")
    names = ", ".join(f"`{f}`" for f in task.solution_files)
    return (f"Reply with every file ({names}), each in its own ```python block whose first "
            "line is `# file: <path>`.")


def _code_blocks(files: dict[str, str]) -> str:
    return "\n\n".join(f"`{path}`:\n```python\n{code.rstrip()}\n```"
                       for path, code in sorted(files.items()))


def _person(hint: str | None, feedback: str | None) -> list[str]:
    """What a person said (a repair session's reviewer, or an escalation's hint)."""
    parts = []
    if feedback:
        parts.append(f"## A person reviewed your last proposal\n{feedback.strip()}")
    if hint:
        parts.append(f"## Hint from a person reviewing this run\n{hint.strip()}")
    return parts


def generator_messages(task: TaskInfo, *, hint: str | None = None,
                       feedback: str | None = None) -> list[dict[str, str]]:
    tests = "\n\n".join(f"`{path}`:\n```python\n{src.rstrip()}\n```"
                        for path, src in sorted(task.tests.items()))
    files = ", ".join(f"`{f}`" for f in task.solution_files)
    user = (f"## Task\n{task.prompt.strip()}\n\n## Files to write\n{files}\n\n"
            f"## Tests your code must pass (read-only; do not rewrite them)\n{tests}\n\n"
            + "".join(p + "\n\n" for p in _person(hint, feedback))
            + _fence_instructions(task))
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]


def _offending_line(files: dict[str, str], path: str, line: int) -> str:
    lines = files.get(path, "").splitlines()
    if 1 <= line <= len(lines):
        return f"\n      {line:>4} | {lines[line - 1][:200]}"
    return ""


def describe_failures(report: CheckReport, files: dict[str, str]) -> str:
    """The structured failures of a check, as the fixer reads them."""
    t = report.tests
    out = [f"Verdict: {report.verdict}. Tests: {t.passed} passed, {t.failed} failed, "
           f"{t.errors} errors. Lint findings: {len(report.lint.findings)}."]
    if report.verdict in ("timeout", "oom", "output_limit"):
        out.append(f"The check was stopped: {report.message}. Look for infinite loops, "
                   "unbounded recursion, huge allocations or endless printing.")
    if report.lint.findings:
        out.append("\n### Lint findings (ruff)")
        for f in report.lint.findings[:MAX_FINDINGS]:
            out.append(f"- {f.path}:{f.line}:{f.column} {f.code or 'syntax'}: {f.message}"
                       f"{_offending_line(files, f.path, f.line)}")
        if len(report.lint.findings) > MAX_FINDINGS:
            out.append(f"- ... and {len(report.lint.findings) - MAX_FINDINGS} more")
    failing = [c for c in t.cases if c.outcome in ("failed", "error")]
    if failing:
        out.append("\n### Failing tests")
        for c in failing[:MAX_FAILING_TESTS]:
            out.append(f"- {c.id} ({c.outcome}): {trim(c.message, 400, 0)}")
            if c.traceback:
                tb = trim(c.traceback, TB_HEAD, TB_TAIL)
                out.append("  ```\n  " + tb.replace("\n", "\n  ") + "\n  ```")
        if len(failing) > MAX_FAILING_TESTS:
            out.append(f"- ... and {len(failing) - MAX_FAILING_TESTS} more failing tests")
    if t.error and not failing:
        out.append(f"\nTest run problem: {t.error}")
    return "\n".join(out)


def fixer_messages(task: TaskInfo, files: dict[str, str], report: CheckReport | None,
                   *, format_error: str | None = None, hint: str | None = None,
                   feedback: str | None = None) -> list[dict[str, str]]:
    parts = [f"## Task\n{task.prompt.strip()}"]
    if files:
        parts.append(f"## Your current code\n{_code_blocks(files)}")
    if format_error:
        parts.append(f"## Your last reply could not be used\n{format_error}")
    elif report is not None:
        parts.append("## What the sandbox check found\n" + describe_failures(report, files))
    parts += _person(hint, feedback)
    parts.append("Fix the code so every test passes and lint is clean. Do not change the "
                 f"tests. {_fence_instructions(task)}")
    return [{"role": "system", "content": SYSTEM},
            {"role": "user", "content": "\n\n".join(parts)}]
