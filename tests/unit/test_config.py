"""Settings precedence: flags > CODEMEND_* environment > [tool.codemend] > defaults."""

from __future__ import annotations

import pytest
from codemend.agent.config import load_settings
from codemend.sandbox.errors import BadInput


def test_precedence(tmp_path, monkeypatch):
    (tmp_path / "pyproject.toml").write_text(
        '[tool.codemend]\nmodel = "vllm:from-pyproject"\nmax-iterations = 9\nsandbox = "cold"\n')
    s = load_settings({}, cwd=tmp_path)
    assert (s.model, s.max_iterations, s.sandbox) == ("vllm:from-pyproject", 9, "cold")
    monkeypatch.setenv("CODEMEND_MODEL", "ollama:from-env")
    monkeypatch.setenv("CODEMEND_MAX_ITERATIONS", "4")
    s = load_settings({}, cwd=tmp_path)
    assert (s.model, s.max_iterations, s.sandbox) == ("ollama:from-env", 4, "cold")
    s = load_settings({"model": "openai:from-flag", "max_iterations": None}, cwd=tmp_path)
    assert (s.model, s.max_iterations) == ("openai:from-flag", 4)


def test_defaults(tmp_path):
    s = load_settings({}, cwd=tmp_path)
    assert s.model.startswith("ollama:") and s.sandbox == "pool" and s.max_iterations is None


@pytest.mark.parametrize(("env", "value", "needle"), [
    ("CODEMEND_SANDBOX", "warm", "CODEMEND_SANDBOX"),
    ("CODEMEND_MAX_ITERATIONS", "lots", "CODEMEND_MAX_ITERATIONS"),
])
def test_bad_environment_names_the_variable(tmp_path, monkeypatch, env, value, needle):
    monkeypatch.setenv(env, value)
    with pytest.raises(BadInput, match=needle):
        load_settings({}, cwd=tmp_path)


def test_bad_pyproject(tmp_path):
    (tmp_path / "pyproject.toml").write_text("[tool.codemend\n")
    with pytest.raises(BadInput, match="pyproject.toml"):
        load_settings({}, cwd=tmp_path)
    (tmp_path / "pyproject.toml").write_text('[tool.codemend]\nunknown = 1\n')
    with pytest.raises(BadInput, match="unknown"):
        load_settings({}, cwd=tmp_path)
