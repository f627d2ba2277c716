"""The model interface: what every backend returns and the methods the agent calls.

Backends (``openai_compat``, ``scripted``) only match these shapes; ``resolve_model``
in this package picks one by its short name.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field


class Completion(BaseModel):
    """One assistant reply and what it cost."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    text: str
    """The assistant message, as plain text. Never executed; the agent only extracts code."""
    prompt_tokens: int = Field(default=0, ge=0)
    """Input tokens the server reported (0 when it reported none)."""
    completion_tokens: int = Field(default=0, ge=0)
    """Output tokens the server reported (0 when it reported none)."""
    model: str
    """Model name the server says answered (or the requested name when it said nothing)."""
    duration_s: float = Field(default=0.0, ge=0)
    """Wall-clock seconds of the whole call, retries and back-off included."""
    attempts: int = Field(default=1, ge=1)
    """HTTP requests made for this reply (1 + retries)."""
    truncated: bool = False
    """True when the reply was larger than the size cap and only its head was kept."""


@runtime_checkable
class Model(Protocol):
    """A chat model. Implementations: ``OpenAICompatModel``, ``ScriptedModel``."""

    name: str
    """The spec the model was resolved from, e.g. ``ollama:qwen2.5-coder:7b``."""

    def complete(self, messages: list[dict[str, str]], *, call_index: int = 0) -> Completion:
        """Answer a chat (``[{"role": ..., "content": ...}, ...]``).

        ``call_index`` is the n-th model call of the run (0-based, counted by the caller in
        checkpointed state). Real models ignore it; the scripted model replays ``replies[n]``.
        """
        ...

    def close(self) -> None:
        """Release connections. Safe to call more than once."""
        ...
