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


def repo_timeout(argv: list[str]) -> float:
    """The check time limit a repository command's flags give its sandbox."""
    from codemend.agent.cli import _parser
    from codemend.agent.command_support import settings_from
    from codemend.agent.repo.environment import repo_defaults

    return repo_defaults(settings_from(vars(_parser().parse_args(argv))).check_timeout).timeout_s


def test_the_repository_check_timeout_from_flag_environment_or_pyproject(tmp_path,
                                                                         monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CODEMEND_CHECK_TIMEOUT", raising=False)
    assert repo_timeout(["fix", "."]) == 300  # the repository default
    assert repo_timeout(["fix", ".", "--check-timeout", "900"]) == 900
    assert repo_timeout(["repair", ".", "--check-timeout", "45.5"]) == 45.5
    (tmp_path / "pyproject.toml").write_text("[tool.codemend]\ncheck-timeout = 1800\n")
    assert repo_timeout(["fix", "."]) == 1800
    monkeypatch.setenv("CODEMEND_CHECK_TIMEOUT", "1200")
    assert repo_timeout(["fix", "."]) == 1200
    assert repo_timeout(["fix", ".", "--check-timeout", "60"]) == 60


@pytest.mark.parametrize("value", ["0", "-5", "3601", "inf", "nan"])
def test_a_bad_check_timeout_is_one_line_and_exit_2(tmp_path, monkeypatch, capsys, value):
    from codemend.agent.cli import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CODEMEND_CHECK_TIMEOUT", raising=False)
    assert main(["fix", str(tmp_path), "--check-timeout", value]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"codemend: --check-timeout {value}:"), err
    with pytest.raises(BadInput, match=f"^--check-timeout {value}:"):  # repair's settings
        repo_timeout(["repair", ".", "--check-timeout", value])


def test_a_check_timeout_that_is_no_number_is_exit_2(capsys):
    from codemend.agent.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["fix", ".", "--check-timeout", "soon"])
    assert exc.value.code == 2 and "--check-timeout: invalid float value" in capsys.readouterr().err
