"""``search.json``: the search-level facts of a run directory (recipe hash, status, counts, front)."""

from __future__ import annotations

import time
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from .._atomic import atomic_write_text
from .._readers import read_model
from ..rundir import SearchRunDir

__all__ = ["ConfirmationState", "SearchState", "SearchStatus"]

#: running: a driver is (or was, if it died) working on it; finished: every planned trial ended;
#: interrupted: stopped by Ctrl-C / SIGTERM (resumable); stopped: `search.time_limit_s` ran out
SearchStatus = Literal["running", "finished", "interrupted", "stopped"]


class ConfirmationState(BaseModel):
    """The confirmation of a finished search (``alternas confirm``, or ``report.confirm`` after a search)."""

    model_config = ConfigDict(extra="forbid")

    status: SearchStatus = "running"
    top_k: int = Field(description="candidates asked for (`report.confirm.top_k`); fewer when fewer were open to win")
    candidates: list[str] = Field(description="the search trials retrained, the winner rule's best first")
    seeds: list[int] = Field(description="the new training seeds, the same for every candidate")
    finished_runs: int = 0
    failed_runs: int = 0
    sessions: int = 0
    wall_seconds: float = 0.0

    @property
    def planned_runs(self) -> int:
        return len(self.candidates) * len(self.seeds)


class SearchState(BaseModel):
    """What a search run directory's ``search.json`` holds."""

    model_config = ConfigDict(extra="forbid")

    name: str
    recipe: str = Field(description="the recipe file the search was started from")
    recipe_hash: str = Field(description="hash of the resolved recipe; a resume must match it")
    status: SearchStatus = "running"
    sampler: str
    seed: int
    quality_metric: str
    planned_trials: int
    finished_trials: int = 0
    failed_trials: int = 0
    stopped_trials: int = Field(0, description="trials the successive-halving scheduler ended at a rung")
    front: list[str] = Field(default_factory=list, description="trial ids on the Pareto front, by MACs")
    cluster: str = Field(
        "local", description="`local`, the address of the Ray cluster joined, or `current` (the caller's own Ray)"
    )
    sessions: int = Field(0, description="how many times the search was started or resumed")
    created_at: float = Field(default_factory=time.time, description="UNIX time")
    updated_at: float = Field(default_factory=time.time, description="UNIX time")
    wall_seconds: float = Field(0.0, description="driver wall time over all sessions")
    confirmation: ConfirmationState | None = Field(None, description="the confirmation runs, once started")

    @classmethod
    def read(cls, layout: SearchRunDir) -> SearchState | None:
        """The state of ``layout``, or ``None`` when it has no ``search.json``.

        Raises:
            CheckpointError: the file is malformed.
        """
        if not layout.search_file.is_file():
            return None
        return read_model(layout.search_file, cls)

    def write(self, layout: SearchRunDir) -> None:
        """Write ``search.json`` atomically."""
        self.updated_at = time.time()
        layout.root.mkdir(parents=True, exist_ok=True)
        atomic_write_text(layout.search_file, self.model_dump_json(indent=2))
