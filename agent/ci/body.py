"""Markdown for the PR body, the comments and the job summary.

Built from report.json's *numbers* and test ids, never from the artifact's own summary.md:
text that crossed from the sandbox job goes into code spans or a fenced block, so it cannot
@-mention people, embed images or links, or close the fence early.
"""

from __future__ import annotations

import re
from typing import Any

from codemend.agent.ci.artifact import Meta

MAX_BODY = 60_000  # GitHub's limit for a PR body or comment is 65,536 characters
MAX_DIFF = 40_000
MAX_TARGETS = 30
COUNTS = ("passed", "failed", "errors", "skipped", "collected")


def code(text: object, limit: int = 200) -> str:
    """``text`` as one inline code span: no backticks, no newlines, capped."""
    s = re.sub(r"[\r\n\t]+", " ", str(text)).replace("`", "'")[:limit]
    return f"`{s}`" if s else "``"


def fenced(text: str, lang: str = "diff") -> str:
    """A fence longer than any backtick run inside, so the content cannot end it."""
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{lang}\n{text.rstrip()}\n{fence}"


def _int(value: object) -> str:
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else "?"


def _counts(block: object) -> dict[str, str]:
    block = block if isinstance(block, dict) else {}
    out = {k: _int(block.get(k)) for k in COUNTS}
    if out["collected"] == "?":
        out["collected"] = _int(block.get("total"))
    return out


def results_table(report: dict[str, Any]) -> str:
    before, after = _counts(report.get("baseline")), _counts(report.get("final"))
    rows = ["| tests | before | after |", "|---|---:|---:|"]
    rows += [f"| {k} | {before[k]} | {after[k]} |" for k in COUNTS]
    return "\n".join(rows)


def _target_id(t: object) -> str:
    return str(t.get("id") or t.get("nodeid") or t) if isinstance(t, dict) else str(t)


def targets(report: dict[str, Any]) -> list[str]:
    raw = report.get("targets")
    return [_target_id(t) for t in raw] if isinstance(raw, list) else []


def _tokens(report: dict[str, Any]) -> str:
    tok = report.get("tokens")
    if isinstance(tok, dict):
        parts = [f"{k} {_int(v)}" for k, v in tok.items() if isinstance(k, str) and len(k) < 30]
        return ", ".join(parts[:4]) or "?"
    return _int(tok)


def facts(report: dict[str, Any], meta: Meta) -> str:
    ts = targets(report)
    lines = [f"- **Targets** ({len(ts)}): " + (", ".join(code(t) for t in ts[:MAX_TARGETS]) or "none")
             + (" ..." if len(ts) > MAX_TARGETS else ""),
             f"- **Iterations**: {_int(report.get('iterations'))} · **model calls**: "
             f"{_int(report.get('model_calls'))} · **tokens**: {_tokens(report)}",
             f"- **Failing commit**: {code(meta.commit[:12])} on {code(meta.base_branch)} · "
             f"**run** {code(meta.run_id)}" + (f" · **model** {code(meta.model)}" if meta.model else "")]
    return "\n".join(lines)


def _line_list(value: object, limit: int = 20) -> str:
    lines = [n for n in value if isinstance(n, int) and not isinstance(n, bool)] if isinstance(
        value, list) else []
    more = f" (+{len(lines) - limit} more)" if len(lines) > limit else ""
    return ", ".join(str(n) for n in lines[:limit]) + more


def diff_coverage(report: dict[str, Any]) -> str:
    """Which changed executable lines the suite ran (report.json's
    ``changed_lines_executed``), and a warning for lines no target test ran."""
    files = report.get("changed_lines_executed")
    if report.get("coverage_error"):
        return "**Diff coverage**: not measured (" + code(report["coverage_error"]) + ")."
    if not isinstance(files, dict) or not files:
        return ""
    rows, unreached = [], []
    for path, f in list(files.items())[:MAX_TARGETS]:
        f = f if isinstance(f, dict) else {}
        missed = _line_list(f.get("not_executed"))
        rows.append(f"- {code(path)}: {_int(f.get('executed'))}/{_int(f.get('total'))} changed "
                    "executable lines ran" + (f"; not run: {missed}" if missed else ""))
        if _line_list(f.get("not_by_targets")):
            unreached.append(f"{code(path)} {_line_list(f.get('not_by_targets'))}")
    out = "**Diff coverage** (coverage.py, on the verifying run)\n\n" + "\n".join(rows)
    if unreached:
        out += ("\n\n> [!WARNING]\n> Changed lines that no target test runs: "
                + "; ".join(unreached) + ". The tests do not show that these lines are right.")
    return out


def reproduce(meta: Meta, report: dict[str, Any], head: str | None) -> str:
    ts = " ".join(t for t in targets(report)[:10] if re.fullmatch(r"[\w./:\[\]-]+", t))
    cmds = []
    if head:
        cmds.append(f"git fetch origin {head} && git checkout FETCH_HEAD")
        cmds.append(f"python -m pytest {ts}".rstrip())
    cmds.append(f"git checkout {meta.commit} && codemend fix --model {meta.model or 'PROVIDER:MODEL'}")
    return fenced("\n".join(cmds), "sh")


def _diff(patch: str) -> str:
    if len(patch) > MAX_DIFF:
        patch = patch[:MAX_DIFF] + "\n... (cut; the whole change is in the branch)"
    return "<details><summary>The diff</summary>\n\n" + fenced(patch) + "\n\n</details>"


def _names(report: dict[str, Any], key: str) -> list[str]:
    raw = report.get(key)
    return [str(v) for v in raw if isinstance(v, str)] if isinstance(raw, list) else []


def notices(report: dict[str, Any]) -> str:
    """Definitions the change removes (allowed by ``--allow-deletions``) and advisory
    tamper signs on its changed lines: what a reviewer must look at first."""
    parts = []
    removed = _names(report, "removed")
    if removed:
        parts.append(f"**Removed** ({len(removed)}; the run allowed deletions): "
                     + ", ".join(code(n) for n in removed[:MAX_TARGETS])
                     + (" ..." if len(removed) > MAX_TARGETS else ""))
    advisory = _names(report, "advisory")
    if advisory:
        parts.append("**Advisory signs** on changed lines (not refused; check them): "
                     + ", ".join(code(n) for n in advisory[:MAX_TARGETS])
                     + (" ..." if len(advisory) > MAX_TARGETS else ""))
    return "\n\n".join(parts)


def pr_body(meta: Meta, report: dict[str, Any], patch: str, head: str) -> str:
    parts = [f"codemend reproduced the failing tests of {code(meta.base_branch)} in its sandbox, "
             "healed them, and re-ran the whole suite and the lint to verify the change. "
             "No test, CI or configuration file is changed. A person reviews and merges.",
             results_table(report), facts(report, meta), diff_coverage(report), notices(report),
             "**Reproduce**\n\n" + reproduce(meta, report, head), _diff(patch)]
    return "\n\n".join(p for p in parts if p)[:MAX_BODY]


def update_comment(meta: Meta, report: dict[str, Any], patch: str, head: str) -> str:
    parts = [f"codemend pushed a new verified fix for {code(meta.commit[:12])} to {code(head)}.",
             results_table(report), facts(report, meta), diff_coverage(report), notices(report),
             _diff(patch)]
    return "\n\n".join(p for p in parts if p)[:MAX_BODY]


def foreign_comment(meta: Meta, report: dict[str, Any], patch: str, head: str,
                    foreign: list[str]) -> str:
    shas = ", ".join(code(s[:12]) for s in foreign[:10])
    parts = [f"codemend has a new verified fix for {code(meta.commit[:12])}, but {code(head)} "
             f"holds commits codemend did not make ({shas}), so it pushed nothing: apply the "
             "diff below yourself, or delete the branch to let codemend propose again.",
             results_table(report), facts(report, meta), diff_coverage(report), notices(report),
             _diff(patch)]
    return "\n\n".join(p for p in parts if p)[:MAX_BODY]


def escalation(meta: Meta, report: dict[str, Any], artifact: str) -> str:
    status = str(report.get("status", meta.status))
    tried = report.get("attempts")
    n = len(tried) if isinstance(tried, list) else _int(report.get("iterations"))
    parts = [f"codemend could not heal {code(meta.base_branch)} at {code(meta.commit[:12])} "
             f"(status {code(status)}); it opened no pull request.",
             f"It tried {n} attempt(s). The best attempt's results:", results_table(report),
             facts(report, meta),
             "**Continue locally**: download the artifact " + code(artifact) + " into a checkout of "
             f"{code(meta.commit[:12])}, then\n\n"
             + fenced(f"codemend resume {meta.run_id} --state-dir ARTIFACT/state --hint \"...\"\n"
                      f"# or start again: codemend fix --model {meta.model or 'PROVIDER:MODEL'}", "sh")]
    return "\n\n".join(parts)[:MAX_BODY]
