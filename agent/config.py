"""Settings: flags > CODEMEND_* environment > [tool.codemend] in pyproject.toml > defaults."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from codemend.sandbox.errors import BadInput
from pydantic import BaseModel, ConfigDict, Field, ValidationError


class Settings(BaseModel):
    """Everything a run needs to know that is not in the task spec."""

    model_config = ConfigDict(extra="forbid")

    model: str = "ollama:qwen2.5-coder:7b"
    """Model as ``provider:name`` (see docs/ARCHITECTURE.md, "Models")."""
    fallback_model: str | None = None
    """A second model, tried for the rest of the budget where a run would escalate."""
    base_url: str | None = None
    """Server URL for ``openai-compat`` (or to override a provider's default)."""
    temperature: float | None = Field(None, ge=0, le=2)
    """Sampling temperature passed to the server (its default when unset)."""
    seed: int | None = None
    """Sampling seed passed to the server, when it supports one."""
    max_iterations: int | None = Field(None, ge=1, le=100)
    """Model attempts before escalating; the spec's [limits] value when unset."""
    state_dir: Path = Path(".codemend")
    """Where runs.sqlite (checkpoints) and default outputs live."""
    sandbox: Literal["pool", "cold"] = "pool"
    """pool: warm hardened containers (fast); cold: a new container per check."""
    pool_size: int = Field(default=2, ge=1, le=32)
    """Containers the pool keeps ready."""
    check_timeout: float | None = Field(None, gt=0, le=3600, allow_inf_nan=False)
    """Seconds one check of a repository's suite may run (``fix``, ``repair``: the baseline,
    each candidate, the whole suite that verifies it); 300 when unset."""


ENV_PREFIX = "CODEMEND_"


def _pyproject(cwd: Path) -> dict[str, Any]:
    path = cwd / "pyproject.toml"
    if not path.is_file():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise BadInput(f"{path}: cannot read [tool.codemend]: {exc}") from exc
    section = data.get("tool", {}).get("codemend", {})
    if not isinstance(section, dict):
        raise BadInput(f"{path}: [tool.codemend] must be a table")
    return {k.replace("-", "_"): v for k, v in section.items()}


def _environment() -> dict[str, Any]:
    out = {}
    for name in Settings.model_fields:
        value = os.environ.get(ENV_PREFIX + name.upper())
        if value not in (None, ""):
            out[name] = value
    return out


def load_settings(flags: dict[str, Any], cwd: Path | None = None) -> Settings:
    merged: dict[str, Any] = {}
    layers = (("pyproject.toml [tool.codemend]", _pyproject(cwd or Path.cwd())),
              ("environment", _environment()),
              ("flags", {k: v for k, v in flags.items() if v is not None}))
    for where, layer in layers:
        merged.update(layer)
        try:
            Settings.model_validate(merged)
        except ValidationError as exc:
            err = exc.errors()[0]
            field = ".".join(str(p) for p in err["loc"]) or "settings"
            if where == "flags":  # as the user typed it: --check-timeout 0
                flag = "--" + field.replace("_", "-")
                given = layer.get(field, "")
                given = f"{given:g}" if isinstance(given, float) else given
                raise BadInput(f"{flag} {given}: {err['msg']}") from None
            label = ENV_PREFIX + field.upper() if where == "environment" else field
            raise BadInput(f"{where}: {label}: {err['msg']}") from None
    return Settings.model_validate(merged)


@dataclass(frozen=True)
class OutputOptions:
    """How a command settles and shows a run: typed once, from its flags, at the command's
    edge (``OutputOptions.from_flags(vars(args))``); nothing below takes the flags."""

    json: bool = False
    """Machine output on stdout (one JSON object); progress goes to stderr."""
    force: bool = False
    """Replace files an earlier run left in the output folder."""
    interactive: bool | None = None
    """Ask a person at an escalation: None asks when on a terminal (not with ``json``)."""
    out: str | None = None
    """The output folder (None: the run's recorded one)."""

    @classmethod
    def from_flags(cls, flags: Mapping[str, Any]) -> OutputOptions:
        interactive = flags.get("interactive")
        out = flags.get("out")
        return cls(json=bool(flags.get("json")), force=bool(flags.get("force")),
                   interactive=None if interactive is None else bool(interactive),
                   out=None if out is None else str(out))
