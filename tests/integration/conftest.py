"""Integration fixtures: a real local OpenAI-protocol server (see tests/openai_server.py)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

TESTS_DIR = str(Path(__file__).parents[1])
if TESTS_DIR not in sys.path:
    sys.path.insert(0, TESTS_DIR)  # makes `import openai_server` work

from openai_server import OpenAIServer  # noqa: E402


@pytest.fixture
def openai_server() -> Iterator[OpenAIServer]:
    """A running server on 127.0.0.1; yields it (``.url`` is the /v1 base URL)."""
    with OpenAIServer() as server:
        yield server
