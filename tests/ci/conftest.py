"""Fixtures for the CI bot's tests: the stage, the fake GitHub API, the GITHUB_* variables."""

from __future__ import annotations

from pathlib import Path

import pytest
from fake_github import FakeGitHub
from ghstage import REPOSITORY, TOKEN, Stage, make_stage


@pytest.fixture
def stage(tmp_path: Path) -> Stage:
    return make_stage(tmp_path)

@pytest.fixture
def fake(stage: Stage):
    with FakeGitHub(REPOSITORY, TOKEN, stage.origin) as gh:
        yield gh


@pytest.fixture
def actions_env(monkeypatch: pytest.MonkeyPatch, stage: Stage, fake: FakeGitHub) -> Path:
    """The variables a GitHub Actions job has; returns the job summary file."""
    summary = stage.tmp / "step_summary.md"
    for k, v in {"GITHUB_ACTIONS": "true", "GITHUB_REPOSITORY": REPOSITORY,
                 "GITHUB_API_URL": fake.url, "GITHUB_SHA": stage.failing,
                 "GITHUB_REF_NAME": "feature", "GITHUB_RUN_ID": "77",
                 "GITHUB_STEP_SUMMARY": str(summary), "CODEMEND_GITHUB_TOKEN": TOKEN}.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("GITHUB_HEAD_REF", raising=False)
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    return summary
