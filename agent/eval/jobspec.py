"""What an eval job is, as plain data that travels to Ray workers: the task and sample
(``Job``) and how to build its model (``ModelSpec``). Both the spec-task job
(``job.py``) and the repository job (``repos.py``) build on it."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from codemend.agent.eval.suite import EvalTask
from codemend.agent.models import resolve_model
from codemend.agent.models.base import Model
from codemend.agent.models.scripted import ScriptedModel


@dataclass(frozen=True)
class ModelSpec:
    """How to build the model of a job (plain data: it travels to Ray workers)."""

    model: str
    base_url: str | None = None
    temperature: float | None = None
    seed: int | None = None

    def build(self, task: EvalTask, sample: int) -> Model:
        replies = task.replies_for(sample)
        if replies is not None:
            return ScriptedModel.from_replies(list(replies), name=f"scripted:{task.id}")
        # sample k of a task asks with seed + k, so the K samples differ yet replay alike
        seed = None if self.seed is None else self.seed + sample
        return resolve_model(self.model, base_url=self.base_url,
                             temperature=self.temperature, seed=seed)


@dataclass(frozen=True)
class Job:
    task: EvalTask
    sample: int

    @property
    def id(self) -> str:
        return f"{self.task.id}#{self.sample}"

    @property
    def run_id(self) -> str:
        """The task id made safe for a run id; an id that had to change gets a hash of the
        original, so "a b" and "a-b" stay two runs."""
        safe = re.sub(r"[^A-Za-z0-9_.-]", "-", self.task.id)
        if safe != self.task.id:
            safe += "-" + hashlib.sha256(self.task.id.encode("utf-8", "surrogatepass")
                                         ).hexdigest()[:8]
        return f"{safe}.s{self.sample}"
