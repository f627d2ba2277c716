"""The scripted model: replays canned replies from a file, for tests and ``codemend demo``.

The file (TOML or JSON) holds ``replies = ["...", ...]``, each a raw assistant message. Call
``n`` of a run (``call_index``, counted in the run's checkpointed state) gets ``replies[n]``, so a
resumed run continues the script where it stopped.
"""

from __future__ import annotations

import json
import time
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Self

from codemend.agent.models.base import Completion
from codemend.agent.models.errors import ScriptExhausted
from codemend.sandbox.errors import BadInput


class ScriptedModel:
    """``Model`` that answers call ``n`` with ``replies[n]``; it never touches a network."""

    def __init__(self, path: str | Path, *, replies: Sequence[str] | None = None) -> None:
        """Load ``path``; with ``replies`` given, use those and read no file."""
        self.path = Path(path)
        self.replies: list[str] = (
            load_replies(self.path) if replies is None else _validate(list(replies), str(path)))
        self.name = f"scripted:{path}"
        self.requests: list[list[dict[str, str]]] = []
        """Every chat this model was asked to answer, in order (for tests and debugging)."""

    @classmethod
    def from_replies(cls, replies: Sequence[str], *, name: str = "<memory>") -> Self:
        """A scripted model from an in-memory list (handy in tests)."""
        return cls(name, replies=replies)

    def complete(self, messages: list[dict[str, str]], *, call_index: int = 0) -> Completion:
        """Return ``replies[call_index]``; raise ``ScriptExhausted`` past the end."""
        if call_index < 0:
            raise ValueError(f"call_index must be >= 0, got {call_index}")
        started = time.monotonic()
        self.requests.append([dict(m) for m in messages])
        if call_index >= len(self.replies):
            raise ScriptExhausted(
                f"scripted model {self.path} has {len(self.replies)} replies; "
                f"call {call_index + 1} asked for more")
        text = self.replies[call_index]
        return Completion(
            text=text,
            prompt_tokens=sum(len(str(m.get("content", "")).split()) for m in messages),
            completion_tokens=len(text.split()),
            model="scripted",
            duration_s=time.monotonic() - started,
            attempts=1,
        )

    def close(self) -> None:
        """Nothing to release."""


def load_replies(path: Path) -> list[str]:
    """Read and validate a script file; every problem is a one-line ``BadInput``."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BadInput(f"scripted model file {path}: not found") from None
    except IsADirectoryError:
        raise BadInput(f"scripted model file {path}: is a directory, expected a file") from None
    except UnicodeDecodeError:
        raise BadInput(f"scripted model file {path}: not UTF-8 text") from None
    except OSError as exc:
        raise BadInput(f"scripted model file {path}: cannot read ({exc.strerror})") from None
    data = _parse(path, text)
    if not isinstance(data, dict) or "replies" not in data:
        raise BadInput(f'scripted model file {path}: missing `replies = ["...", ...]`')
    return _validate(data["replies"], str(path))


def _parse(path: Path, text: str) -> object:
    as_json = path.suffix.lower() == ".json" or (
        path.suffix.lower() != ".toml" and text.lstrip().startswith("{"))
    if as_json:
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise BadInput(f"scripted model file {path}: invalid JSON: {exc}") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise BadInput(f"scripted model file {path}: invalid TOML: {exc}") from None


def _validate(replies: object, where: str) -> list[str]:
    if not isinstance(replies, list) or not replies:
        raise BadInput(f"scripted model file {where}: `replies` must be a non-empty list of "
                       f"strings, got {_describe(replies)}")
    for i, reply in enumerate(replies):
        if not isinstance(reply, str):
            raise BadInput(f"scripted model file {where}: replies[{i}] must be a string, "
                           f"got {_describe(reply)}")
    return list(replies)


def _describe(value: object) -> str:
    if isinstance(value, list) and not value:
        return "an empty list"
    return type(value).__name__
