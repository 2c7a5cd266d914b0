"""What every searcher gets and gives: a pool of workers and a recorder in, a distribution out."""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stable_baselines3.common.vec_env import VecEnv

from robofail_ros.adversary_env import EpisodeJob
from robofail_ros.config import AuditConfig
from robofail_ros.factors import FactorSpace
from robofail_ros.record import AuditLog, Recorder
from robofail_ros.workers import run_batch


class CheckpointError(RuntimeError):
    """A saved adversary cannot be loaded; the message says what to do."""


@dataclass
class SearchContext:
    config: AuditConfig
    vec_env: VecEnv
    recorder: Recorder
    log: AuditLog
    names: list[str]
    out_dir: Path
    space: FactorSpace | None = None
    """The task's factor box, for the continuous searchers (None in a catalogue audit)."""
    snapshots: list[dict[str, Any]] = field(default_factory=list)
    """Search decisions already in the log (a resumed searcher finishes a batch it had chosen)."""

    def run_jobs(self, jobs: list[EpisodeJob]) -> None:
        """Run jobs in worker-sized batches, recording each finished episode at once."""
        batch = max(1, self.vec_env.num_envs)
        for i in range(0, len(jobs), batch):
            for record in run_batch(self.vec_env, jobs[i:i + batch]):
                self.recorder.add(record)


class Searcher(ABC):
    """Chooses which perturbations (or scenes of the factor box) to spend episodes on."""

    name: str

    @abstractmethod
    def run(self, ctx: SearchContext, budget: int) -> list[float] | None:
        """Spend up to `budget` episodes (counting those already logged); return π(a|o) if the searcher has one."""
