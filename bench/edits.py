"""The edits corpus (tests/unit/edits_corpus/) through codemend's edit parser and, side by
side, through a reference parser installed in a throwaway venv (never a dependency of
codemend): how many replies each applies correctly, applies wrongly, or refuses though
they should apply.

The reference runs in its own interpreter (``--reference-python``, or a venv made under the
cache dir on first use); its driver (bench/edits_reference.py) only calls the reference's
own parsing and applying functions on the same inputs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
import venv
from dataclasses import dataclass, field
from pathlib import Path

from bench.common import BenchError

CORPUS = Path(__file__).resolve().parents[1] / "tests" / "unit" / "edits_corpus"
REFERENCE = "aider-chat"
DRIVER = Path(__file__).with_name("edits_reference.py")


@dataclass
class Case:
    name: str
    covers: str
    reply: str
    files: dict[str, str]
    expected: dict[str, str] | None
    """The changed files with their new text; None: the reply must be refused."""
    mentions: list[str] = field(default_factory=list)


def _crlf(files: dict[str, str]) -> dict[str, str]:
    return {p: t.replace("\n", "\r\n") for p, t in files.items()}


def load_corpus(root: Path = CORPUS) -> list[Case]:
    repos = tomllib.loads((root / "repos.toml").read_text())
    cases: list[Case] = []
    for path in sorted(root.glob("*.toml")):
        if path.name == "repos.toml":
            continue
        for raw in tomllib.loads(path.read_text()).get("case", []):
            files = {**repos.get(raw.get("repo", ""), {}), **raw.get("files", {})}
            expected = None if raw.get("refused") else raw.get("expected", {})
            bad = [p for p, t in {**files, **(expected or {})}.items() if not isinstance(t, str)]
            if bad or not isinstance(raw.get("refused", False), bool):
                raise ValueError(f"{path.name}: case {raw['name']}: keys after a table header "
                                 f"belong to it ({bad}); put them before [case.files]")
            if raw.get("crlf"):
                files = _crlf(files)
                expected = _crlf(expected) if expected is not None else None
            cases.append(Case(f"{path.stem}/{raw['name']}", raw["covers"], raw["reply"], files,
                              expected, list(raw.get("mentions", []))))
    return cases


def codemend_outcome(case: Case) -> tuple[dict[str, str] | None, str]:
    """What codemend makes of a case: the changed files, or None and its message."""
    from codemend.agent.extract import FormatError
    from codemend.agent.repo.edits import apply_edits

    try:
        return apply_edits(case.reply, case.files, {}), ""
    except FormatError as exc:
        return None, exc.message


def judge(case: Case, got: dict[str, str] | None) -> str:
    """``applied`` (the right outcome, a refusal included when that is right), ``wrong``
    (files that differ from the right ones) or ``refused`` (though it should apply)."""
    if got is None:
        return "applied" if case.expected is None else "refused"
    return "applied" if got == case.expected else "wrong"


def reference_python(cache: Path) -> Path:
    """The interpreter of a venv holding the reference parser, made on first use."""
    env = cache / "edits-reference-venv"
    python = env / "bin" / "python"
    if not python.exists():
        venv.create(env, with_pip=True)
        done = subprocess.run([str(python), "-m", "pip", "install", "-q", REFERENCE],
                              capture_output=True, text=True)
        if done.returncode:
            raise BenchError(f"installing the reference parser failed: {done.stderr[-800:]}")
    return python


def reference_outcomes(python: Path, cases: list[Case]) -> list[dict[str, str] | None]:
    payload = json.dumps([{"reply": c.reply, "files": c.files} for c in cases])
    done = subprocess.run([str(python), str(DRIVER)], input=payload, capture_output=True,
                          text=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    if done.returncode:
        raise BenchError(f"the reference driver failed: {done.stderr[-800:]}")
    return json.loads(done.stdout)


def run(reference: Path | None = None, cache: Path | None = None) -> tuple[dict, str]:
    cases = load_corpus()
    ours = [judge(c, codemend_outcome(c)[0]) for c in cases]
    cache = cache or Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "codemend"
    python = reference or reference_python(cache)
    theirs = [judge(c, got) for c, got in zip(cases, reference_outcomes(python, cases),
                                              strict=True)]
    tally = {who: {k: res.count(k) for k in ("applied", "wrong", "refused")}
             for who, res in (("codemend", ours), ("reference", theirs))}
    result = {"bench": "edits", "cases": len(cases), "reference": REFERENCE, **tally,
              "per_case": {c.name: [a, b] for c, a, b in zip(cases, ours, theirs, strict=True)}}
    rows = [f"edits corpus: {len(cases)} replies; codemend vs {REFERENCE}'s parser",
            f"{'':<28}{'codemend':>10}{REFERENCE:>12}"]
    for k, label in (("applied", "applied correctly"), ("wrong", "wrong result"),
                     ("refused", "refused, should apply")):
        rows.append(f"{label:<28}{tally['codemend'][k]:>10}{tally['reference'][k]:>12}")
    differ = [f"  {c.name}: codemend {a}, {REFERENCE} {b}"
              for c, a, b in zip(cases, ours, theirs, strict=True) if a != b]
    return result, "\n".join(rows + (["cases that differ:", *differ] if differ else []))


if __name__ == "__main__":
    print(run()[1], file=sys.stderr)
