"""Model errors, sorted by who is at fault (bases live in ``sandbox.errors``)."""

from __future__ import annotations

from codemend.sandbox.errors import CodemendError, InfraError

START_HINT = "start the server (for Ollama: `ollama serve`) or pick another with --model"


class ModelUnavailable(InfraError):
    """The model server could not be reached, or kept failing, after every retry."""


class ModelProtocolError(InfraError):
    """The server answered, but not with a usable chat completion."""


class ScriptExhausted(CodemendError):
    """The scripted model was asked for more replies than its file holds."""

    exit_code = 2
