"""The artifact folder that ``propose`` writes and ``publish`` reads.

``fix.patch``, ``report.json`` and ``summary.md`` come from repository mode; ``meta.json``
says where they belong. ``publish`` parses every field with a strict model and a size cap:
the folder crossed from a job that ran model-written code.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Literal

from codemend.agent.ci.errors import BadInput, Refused
from pydantic import BaseModel, ConfigDict, Field, ValidationError

META_VERSION = 1
MAX_JSON_BYTES = 1 << 20
_SHA = r"^[0-9a-f]{40}$"
_REPO = r"^[A-Za-z0-9_.-]{1,100}/[A-Za-z0-9_.-]{1,100}$"
Status = Literal["fixed", "clean", "escalated", "failed", "skipped"]


class Meta(BaseModel):
    """Where a proposed fix belongs. Written by ``propose``; trusted by nobody."""

    model_config = ConfigDict(extra="ignore")

    version: int = META_VERSION
    repository: str = Field(pattern=_REPO, description="owner/name on GitHub")
    base_branch: str = Field(min_length=1, max_length=200,
                             description="the failing branch; the PR's base")
    commit: str = Field(pattern=_SHA, description="the failing commit the patch applies to")
    run_id: str = Field(pattern=r"^[\w.:-]{1,200}$", description="codemend's run id")
    workflow_run_id: str | None = Field(default=None, max_length=40,
                                        description="GITHUB_RUN_ID of the job that proposed")
    status: Status = Field(description="repository mode's status, or skipped (loop guard)")
    exit_code: int = 0
    model: str | None = Field(default=None, max_length=200,
                              description="provider:name only; never a URL or key")
    skipped_reason: str | None = Field(default=None, max_length=500)


_BRANCH_BAD = re.compile(r"[\x00-\x20~^:?*\[\\]|\.\.|@\{|//|^/|/$|\.lock$|^-")


def check_branch_name(name: str) -> str:
    """Refuse a branch name git or a shell could misread (``git check-ref-format`` rules)."""
    if _BRANCH_BAD.search(name) or name.endswith("."):
        raise Refused(f"meta.json names an unusable branch {name!r}")
    return name


def read_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise BadInput(f"{path} is missing; give the folder `codemend ci github propose --out` wrote")
    if path.stat().st_size > MAX_JSON_BYTES:
        raise Refused(f"{path.name} is larger than {MAX_JSON_BYTES} bytes")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise Refused(f"{path.name} is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise Refused(f"{path.name} must hold a JSON object")
    return data


def load_meta(folder: Path) -> Meta:
    if not folder.is_dir():
        raise BadInput(f"{folder}: not a folder; give the artifact folder `propose --out` wrote")
    try:
        meta = Meta.model_validate(read_json(folder / "meta.json"))
    except ValidationError as exc:
        first = exc.errors()[0]
        raise Refused(f"meta.json: {'.'.join(map(str, first['loc']))}: {first['msg']}") from exc
    check_branch_name(meta.base_branch)
    return meta


def write_meta(folder: Path, meta: Meta) -> Path:
    path = folder / "meta.json"
    path.write_text(meta.model_dump_json(indent=2) + "\n", encoding="utf-8")
    return path
