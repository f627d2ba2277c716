"""Every reply of the edits corpus (tests/unit/edits_corpus/) gets its one right outcome:
exactly the expected files, or a refusal whose message tells the model what to do."""

from __future__ import annotations

import pytest
from codemend.agent.repo.edits import HOW

from bench.edits import Case, codemend_outcome, load_corpus

CASES = load_corpus()


def test_the_corpus_is_large_and_covers_every_rule():
    assert len(CASES) >= 45
    covers = {c.covers for c in CASES}
    assert covers >= {"search/replace", "whole-file", "paths", "whitespace", "elisions",
                      "dividers", "diffs", "refusal", "never wrong"}
    assert sum(c.expected is None for c in CASES) >= 10 <= sum(c.expected is not None
                                                               for c in CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_corpus_reply(case: Case):
    got, message = codemend_outcome(case)
    if case.expected is None:
        assert got is None, f"applied though it must be refused: {got}"
        for word in case.mentions:
            assert word in message, f"{word!r} not in the message: {message}"
        assert HOW in message or "held no edits" in message
    else:
        assert got == case.expected, message
