"""Diff coverage's pure parts: the runner's result read as hostile data (sandbox/coverage.py)
and summarised against the run's targets (agent/repo/coverage.py)."""

from __future__ import annotations

import json

from codemend.agent.repo.coverage import refusal, spans, summarize
from codemend.agent.repotask import SUITE_TARGET
from codemend.sandbox import coverage

T = "tests/test_a.py::test_target"


def doc(files: object) -> dict:
    return {"coverage": {"present": True, "truncated": False, "data": json.dumps({"files": files})}}


def test_spans_group_runs_of_lines():
    assert spans({7, 3, 4, 5, 9}) == [[3, 5], [7, 7], [9, 9]]
    assert spans(set()) == []


def test_read_keeps_only_executed_statements_and_coerces_everything():
    got = coverage.read(doc({"a.py": {"statements": [3, 1, 2, "x", True, -1],
                                      "executed": [1, 2, 99],
                                      "tests": {"1": [""], "2": [T, 5, "\ud800"]}}}))
    assert got == {"error": None, "files": {"a.py": {
        "statements": [1, 2, 3], "executed": [1, 2], "tests": {"1": [""], "2": [T, "?"]}}}}


def test_read_says_why_there_is_no_result():
    assert coverage.read({}) is None  # not asked for
    assert coverage.read({"coverage": {"present": False, "error": "FileNotFoundError"}}) == {
        "files": None, "error": "the test run wrote no coverage result (FileNotFoundError)"}
    assert coverage.read({"coverage": {"present": True, "truncated": True, "data": ""}})["error"] \
        == "the coverage result was larger than the sandbox reads"
    for bad in ("{", json.dumps({"files": []}), json.dumps({"files": {"a.py": {"statements": 1}}})):
        got = coverage.read({"coverage": {"present": True, "truncated": False, "data": bad}})
        assert got["files"] is None and got["error"].startswith("the coverage result is unreadable")


def raw(tests: dict[str, list[str]], statements=(1, 2, 3, 4)) -> dict:
    return {"files": {"a.py": {"statements": list(statements),
                               "executed": sorted(int(n) for n in tests), "tests": tests}},
            "error": None}


def test_summary_counts_lines_and_names_those_no_target_ran():
    got = summarize(raw({"1": [""], "2": [T], "3": ["tests/test_a.py::test_other"]}), [T])
    assert got == {"error": None, "files": {"a.py": {"executed": 3, "total": 4,
                                                     "not_executed": [4],
                                                     "not_by_targets": [3, 4]}}}
    assert refusal(got) == ("--require-coverage: changed lines that no target test runs: "
                            "a.py:3, 4. Change only code the failing tests exercise")
    every = summarize(raw({"1": [T], "2": [T], "3": [T], "4": [T]}), [T])
    assert every["files"]["a.py"]["not_by_targets"] == [] and refusal(every) is None


def test_targets_match_junit_and_node_ids_modules_and_the_suite():
    nested = "tests/test_a.py::TestA::TestB::test_x"  # pytest's node id
    assert summarize(raw({"1": [nested]}, [1]), ["tests/test_a.py::TestA.TestB::test_x"])[
        "files"]["a.py"]["not_by_targets"] == []
    assert summarize(raw({"1": [T]}, [1]), ["tests/test_a.py"])["files"]["a.py"][
        "not_by_targets"] == []  # a module that did not collect at baseline
    assert summarize(raw({"1": [T]}, [1]), ["tests/test_b.py"])["files"]["a.py"][
        "not_by_targets"] == [1]
    assert summarize(raw({"1": [T], "2": []}, [1, 2]), [SUITE_TARGET])["files"]["a.py"][
        "not_by_targets"] == [2]


def test_no_result_is_a_refusal_under_require_coverage():
    got = summarize({"files": None, "error": "the coverage run ended timeout: ..."}, [T])
    assert got["files"] is None
    assert refusal(got).startswith("--require-coverage: the changed lines' coverage could not be "
                                   "measured (the coverage run ended timeout")
