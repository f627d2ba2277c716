"""Every case of the adversarial corpus, through the real sandbox, on every backend.

For each case: the verdict is one the case allows (a hostile solution never turns failing
tests into a pass), the check ends within its limit plus a margin, no container, host
process or host file is left behind, and the next check on the same sandbox passes.
"""

from __future__ import annotations

import time

import pytest
from adversarial.corpus import GOOD, Case, load_all, new_marker
from adversarial.hostcheck import marked_files, marked_processes

MARGIN_S = 120.0  # only a hang reaches it (start-up and teardown on a loaded machine are slow);
#                   the cases that must be killed run far longer than limit + margin
CASES = load_all()


def _param(case: Case):
    return pytest.param(case, id=case.name, marks=[pytest.mark.slow] if case.slow else [])


def test_corpus_is_big_enough():
    assert len(CASES) >= 30, [c.name for c in CASES]


def test_every_fail_case_names_its_evidence():
    """A ``fail`` verdict alone would also come from a broken sandbox or an honest bug."""
    bare = [c.name for c in CASES if c.expect == ("fail",)
            and not (c.tamper or c.message or c.failed or c.none_pass)]
    assert bare == []


@pytest.mark.docker
@pytest.mark.parametrize("case", [_param(c) for c in CASES])
def test_case(case: Case, adv_sandbox, no_leftover_containers, monkeypatch):
    for name, value in case.host_env.items():
        monkeypatch.setenv(name, value)
    marker = new_marker(case)
    workspace = case.workspace(marker)
    started = time.monotonic()
    report = adv_sandbox.check(workspace, timeout_s=case.timeout_s)
    elapsed = time.monotonic() - started
    detail = (f"{case.description}\nverdict={report.verdict} message={report.message!r}\n"
              f"tamper={report.tamper}\ncases={[(c.id, c.outcome) for c in report.tests.cases]}"
              f"\noutput={report.output[-1500:]!r}")
    assert report.verdict in case.expect, detail
    assert elapsed < case.timeout_s + MARGIN_S, f"took {elapsed:.1f}s\n{detail}"
    codes = {s.split()[0] for s in report.tamper}
    assert set(case.tamper) <= codes, f"tamper evidence {sorted(codes)} lacks {case.tamper}\n{detail}"
    if case.message:
        assert case.message in report.message, detail
    caught = bool(case.caught_by) and set(case.caught_by) <= codes
    if report.verdict in ("pass", "fail") and not caught:  # the outcomes are evidence
        outcomes = {c.id.rsplit("::", 1)[-1]: c.outcome for c in report.tests.cases}
        for name in case.failed:  # the attack did not turn these into passes
            assert outcomes.get(name) in ("failed", "error"), f"{name} did not fail\n{detail}"
        for name in case.passed:
            assert outcomes.get(name) == "passed", f"{name} did not pass\n{detail}"
        assert not (case.none_pass and report.tests.passed), f"a test passed\n{detail}"
        found = {f.code for f in report.lint.findings}
        assert set(case.lint) <= found, f"lint findings {sorted(found)} lack {case.lint}\n{detail}"
    report.model_dump_json()  # whatever the code printed, the report serialises

    after = adv_sandbox.check(GOOD, timeout_s=20)
    assert after.verdict == "pass", f"the next check failed: {after.message}\n{detail}"
    assert marked_processes(marker) == [], detail
    assert marked_files(marker) == [], detail
