"""`pip install .` into a fresh virtual environment outside the checkout gives a working
`codemend demo`, and installs nothing generic at the top of site-packages."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def run(*cmd: str | Path, cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(c) for c in cmd], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout)


def test_a_fresh_venv_install_runs_the_demo(tmp_path, sandbox_image, leftover_containers):
    venv = tmp_path / "venv"
    made = run(sys.executable, "-m", "venv", venv, cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    pip = run(venv / "bin" / "python", "-m", "pip", "install", "--quiet", ROOT, cwd=tmp_path)
    assert pip.returncode == 0, pip.stderr[-2000:]

    site = next((venv / "lib").glob("python3*/site-packages"))
    record = next(site.glob("codemend-*.dist-info")) / "RECORD"
    tops = {line.split(",")[0].split("/")[0] for line in record.read_text().splitlines()}
    tops = {t for t in tops if not t.startswith("..")}  # the console script, in bin/
    assert tops == {"codemend", record.parent.name}, tops
    assert not (site / "agent").exists() and not (site / "sandbox").exists()
    assert (site / "codemend" / "agent" / "_tasks" / "examples" / "safe_stats" / "spec.toml").is_file()
    assert (site / "codemend" / "sandbox" / "Dockerfile.sandbox").is_file()

    work = tmp_path / "elsewhere"
    work.mkdir()
    demo = run(venv / "bin" / "codemend", "demo", "--json", "--state-dir", work / "state",
               cwd=work)
    assert demo.returncode == 0, demo.stderr[-2000:]
    result = json.loads(demo.stdout)
    assert result["status"] == "solved" and result["iterations"] == 2, result
    where = run(venv / "bin" / "python", "-c", "import codemend.agent.cli as c; print(c.__file__)",
                cwd=work)
    assert where.stdout.strip().startswith(str(site)), where.stdout  # not the checkout
