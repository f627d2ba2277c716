"""The witness and the runner's cap on a big suite with long test ids (jsonschema's 7,700
tests of its JSON-Schema-Test-Suite ids overflowed the old per-phase records): the
witness, loaded as the runner loads it, reports every test of a real pytest run, and
the runner reads the session's end, with no problem."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

RUNNER_DIR = Path(__file__).resolve().parents[2] / "sandbox" / "runner"
TESTS = 5000
ID_WORDS = 28  # ids of about 300 characters, as the runner keeps them


def test_every_test_of_a_big_suite_with_long_ids_is_witnessed(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(RUNNER_DIR))
    from codemend_inventory import WITNESS_CAP, WitnessPipe
    from codemend_witness import WITNESS_BOOT, WITNESS_FILE

    names = ["_".join(f"case{n}word{w}" for w in range(ID_WORDS)) for n in range(TESTS)]
    (tmp_path / "test_many.py").write_text(
        "import pytest\n\n"
        f"@pytest.mark.parametrize('name', {names!r}, ids={names!r})\n"
        "def test_a_validator_of_a_long_name(name):\n"
        "    assert name\n")
    per_phase = 3 * TESTS * (len(names[0]) + 90)
    assert per_phase > 4 << 20, "the suite must outgrow one record per phase at the old cap"
    pipe = WitnessPipe()
    proc = subprocess.Popen(
        [sys.executable, "-s", "-P", "-c", WITNESS_BOOT % WITNESS_FILE, str(pipe.w), str(tmp_path), "-q",
         "-p", "no:cacheprovider", "--no-header", str(tmp_path)],
        cwd=tmp_path, pass_fds=(pipe.w,), stdout=subprocess.DEVNULL,
        env={k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")})
    pipe.start()
    assert proc.wait() == 0
    got = pipe.result()
    assert got["problems"] == [], got["problems"]
    assert (got["started"], got["ended"], got["exitstatus"]) == (True, True, 0)
    assert (got["collected"], got["ran"], got["outcomes"]["passed"]) == (TESTS, TESTS, TESTS)
    assert len(pipe.sink["data"]) < WITNESS_CAP
