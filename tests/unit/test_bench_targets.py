"""The speed targets block that ``make bench`` writes into bench/RESULTS.md."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repo: bench is no package dir

from bench import targets  # noqa: E402

RUN = [{"bench": "latency", "pooled_over_bare": 0.19, "wrong_verdicts": 0, "machine": "load 1"},
       {"bench": "concurrency", "speedup_2": 1.2, "wrong_verdicts": 0},
       {"bench": "humaneval", "sandbox_over_reference_all": 2.01, "verdicts_right": 328}]


def test_judge_compares_each_target_key():
    rows = {r["key"] + r["bench"]: r["met"] for r in targets.judge(RUN)}
    assert rows == {"pooled_over_barelatency": True, "wrong_verdictslatency": True,
                    "speedup_2concurrency": False, "wrong_verdictsconcurrency": True,
                    "sandbox_over_reference_allhumaneval": False, "verdicts_righthumaneval": True}
    doc = targets.summary(targets.judge(RUN))
    assert doc["pooled_over_bare"] == 0.19 and doc["speedup_2"] == 1.2
    assert doc["not_met"] == ["sandbox_over_reference_all", "speedup_2"]


def test_a_bench_that_did_not_run_or_broke_is_not_met():
    assert targets.judge([{"bench": "breakdown"}]) == []
    [row, _] = targets.judge([{"bench": "latency", "error": "no docker"}])
    assert row["measured"] is None and not row["met"]


def test_record_replaces_only_its_block(tmp_path):
    path = tmp_path / "RESULTS.md"
    path.write_text("# Results\n\nhistory stays\n")
    targets.record(path, RUN, "bench/run.py all")
    targets.record(path, RUN[:1], "bench/run.py latency")
    text = path.read_text()
    assert text.startswith("# Results\n\nhistory stays\n")
    assert text.count(targets.BEGIN) == 1 and text.count(targets.END) == 1
    assert "`bench/run.py latency`" in text and "speedup_2" not in text
    assert "| latency | `pooled_over_bare` | <= 0.2 | 0.19 | yes |" in text
