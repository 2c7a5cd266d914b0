"""Parallel simulation workers: a VecEnv of adversary environments, one process each.

PPO drives the VecEnv through SB3 as usual; the other searchers and the control run
send explicit episode batches through `env_method`, which SB3 dispatches to every
worker before collecting the answers, so the batch runs in parallel.
"""
from __future__ import annotations

import functools
from typing import Iterable

from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv, VecEnv

from robofail_ros.adversary_env import AdversaryEnv, EpisodeJob
from robofail_ros.config import AuditConfig
from robofail_ros.episode import EpisodeRecord


def make_vec_env(config: AuditConfig, completed: Iterable[EpisodeRecord] = (), run_tag: str = "r0") -> VecEnv:
    """One AdversaryEnv per worker; each gets the logged episodes it may re-use on resume."""
    completed = list(completed)
    n = config.workers
    fns = [
        functools.partial(
            AdversaryEnv, config=config, worker=w, n_workers=n, run_tag=run_tag,
            completed=[r for r in completed if r.worker == f"w{w}" and r.searcher == "ppo"],
        )
        for w in range(n)
    ]
    if n == 1:
        return DummyVecEnv(fns)
    return SubprocVecEnv(fns, start_method="forkserver")


def run_batch(vec_env: VecEnv, jobs: list[EpisodeJob]) -> list[EpisodeRecord]:
    """Run `jobs` spread round-robin over the workers, in parallel; returns records in job order."""
    if not jobs:
        return []
    n = vec_env.num_envs
    by_worker = {w: jobs[w::n] for w in range(n)}
    results = vec_env.env_method("run_jobs", by_worker)
    records: list[EpisodeRecord | None] = [None] * len(jobs)
    for w, worker_results in enumerate(results):
        for i, d in enumerate(worker_results):
            records[w + i * n] = EpisodeRecord.from_json(d)
    return [r for r in records if r is not None]
