"""tests/ci_rules.py: under CI=true a skip is a failure; destructive tests run only on request."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]

SAMPLE = '''
import os, shutil
import pytest

def test_plain():
    assert True

def test_needs_docker():
    if shutil.which("no-such-dockerd-here") is None:
        pytest.skip("no Docker daemon")

@pytest.mark.skipif(True, reason="needs root")
def test_needs_root():
    pass

@pytest.mark.xfail(strict=True, reason="known")
def test_known_bug():
    assert False

@pytest.mark.destructive
def test_stops_dockerd():
    assert True
'''


def run(tmp_path: Path, *args: str, ci: bool) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_sample.py").write_text(SAMPLE)
    (tmp_path / "conftest.py").write_text(f"import sys\nsys.path.insert(0, {str(TESTS)!r})\n"
                                          "pytest_plugins = ['ci_rules']\n")
    env = {k: v for k, v in os.environ.items() if k != "CI" and not k.startswith("PYTEST_")}
    if ci:
        env["CI"] = "true"
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-rA",
                           "-p", "no:cacheprovider", "--rootdir", str(tmp_path),
                           str(tmp_path / "test_sample.py"), *args],
                          capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120)


def test_under_ci_every_skip_fails_with_its_reason(tmp_path):
    proc = run(tmp_path, ci=True)
    assert proc.returncode == 1, proc.stdout
    # a skip in the call is a failure, one raised while setting up (skipif) an error
    assert "1 failed, 2 passed, 1 xfailed, 1 error" in proc.stdout, proc.stdout
    assert "skipped under CI=true (Skipped: no Docker daemon)" in proc.stdout
    assert "needs root" in proc.stdout
    assert "PASSED test_sample.py::test_stops_dockerd" in proc.stdout  # runs in CI


def test_outside_ci_skips_stay_skips_and_destructive_tests_are_deselected(tmp_path):
    proc = run(tmp_path, ci=False)
    assert proc.returncode == 0, proc.stdout
    assert "1 passed, 2 skipped, 1 deselected, 1 xfailed" in proc.stdout, proc.stdout


def test_destructive_tests_run_on_request(tmp_path):
    proc = run(tmp_path, "--destructive", "-m", "destructive", ci=False)
    assert proc.returncode == 0, proc.stdout
    assert "1 passed, 4 deselected" in proc.stdout, proc.stdout
