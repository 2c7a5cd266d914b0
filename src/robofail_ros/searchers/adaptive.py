"""Interval-narrowing allocation: see every perturbation once, then spend episodes where the answer is least sure.

Thompson sampling (bandit.py) chases the worst perturbation, which is right for finding one failure
but leaves the others with wide or no intervals; the uniform sweep spends as much on a perturbation
that failed 0/10 as on one that failed 5/10. An audit reports every perturbation's rate and ranks them,
so this searcher runs one round-robin pass over the catalogue (every failure mode gets seen) and then
gives each next episode to the perturbation whose 95% Wilson interval is widest among those whose
interval still overlaps another's: the estimate that is least certain and could still change the
ranking. Rates near 0 or 1 get narrow intervals quickly, so episodes flow to the mid-rate ones, but no
perturbation is run from an initial state of the pool twice while another still has unused ones.
Once every perturbation has used the whole pool, repeats happen; the intervals that steer the
allocation then count each (perturbation, initial state) once, with the mean outcome of its repeats,
as the analysis does (analysis.py): a repeat of a deterministic policy's episode would otherwise
narrow an interval without evidence and steer episodes away from it for nothing.

The allocation rule is a pure function of the counts (`choose_arm`), and the counts are rebuilt from
the log on resume, as in bandit.py, so a resumed audit continues exactly where the evidence left it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

import numpy as np

from robofail_ros.adversary_env import EpisodeJob
from robofail_ros.config import episode_seed
from robofail_ros.episode import ABORTED, FAILURE, EpisodeRecord
from robofail_ros.searchers.base import SearchContext, Searcher
from robofail_ros.stats import experiment_means, wilson_interval


@dataclass
class ArmCounts:
    """Per perturbation: episodes sent (pulls), episodes that ran to an outcome (valid), and failures."""

    pulls: np.ndarray
    valid: np.ndarray
    failures: np.ndarray
    index: dict[str, int] = field(default_factory=dict)
    outcomes: dict[int, tuple[list[bool], list[int]]] = field(default_factory=dict)
    """Per arm: the rated outcomes and their initial-state seeds, so repeats of one experiment count once."""

    @classmethod
    def empty(cls, names: list[str]) -> "ArmCounts":
        n = len(names)
        return cls(np.zeros(n, int), np.zeros(n, int), np.zeros(n, int), {a: i for i, a in enumerate(names)})

    @classmethod
    def from_records(cls, names: list[str], records: Iterable[EpisodeRecord]) -> "ArmCounts":
        """The counts a log implies: how a resumed searcher picks up its state."""
        counts = cls.empty(names)
        for r in records:
            arm = counts.index[r.perturbations[0]]
            counts.pulls[arm] += 1
            counts.observe(r)
        return counts

    def observe(self, record: EpisodeRecord) -> None:
        """Add a finished episode's outcome (its pull was counted when it was sent); aborts are not rated."""
        if record.outcome == ABORTED:
            return
        arm = self.index[record.perturbations[0]]
        self.valid[arm] += 1
        self.failures[arm] += record.outcome == FAILURE
        outcomes, seeds = self.outcomes.setdefault(arm, ([], []))
        outcomes.append(record.outcome == FAILURE)
        seeds.append(record.seed)

    def interval_counts(self) -> tuple[np.ndarray, np.ndarray]:
        """(k, n) per arm for its Wilson interval: n distinct initial states rated, k the sum of their mean outcomes.

        An arm whose counts were set without outcomes (by hand) counts every valid episode as distinct.
        """
        k, n = self.failures.astype(float), self.valid.astype(float)
        for arm, (outcomes, seeds) in self.outcomes.items():
            means = experiment_means(outcomes, seeds)
            k[arm], n[arm] = sum(m for m, _ in means), len(means)
        return k, n


def choose_arm(counts: ArmCounts, rng: np.random.Generator, pending: Iterable[int] = (),
               pool_size: int | None = None) -> int:
    """The perturbation that should get the next episode.

    1. Round-robin pass: the lowest-index perturbation never sent yet.
    2. Otherwise the widest Wilson interval (each initial state counted once: `interval_counts`) among
       perturbations whose interval overlaps another's (all of them if none overlaps), leaving out, while
       others remain: arms whose episodes mostly abort (more aborted than rated: more episodes would not
       narrow them); arms already run from all `pool_size` initial states (repetition r starts from state
       r mod pool_size, and a deterministic policy would only repeat its outcome); arms `pending` in this batch. Past pool_size x arms episodes every episode is a
       repeat, which leaves every interval as it is: grow the control run (the pool) for such budgets.
    Ties go to a uniformly drawn one of the tied arms, so the choice is a function of (counts, rng).
    """
    unsent = np.flatnonzero(counts.pulls == 0)
    if unsent.size:
        return int(unsent[0])
    n_arms = len(counts.pulls)
    bounds = np.array([wilson_interval(float(k), int(n)) for k, n in zip(*counts.interval_counts())])
    lo, hi = bounds[:, 0], bounds[:, 1]
    width = hi - lo
    overlaps = np.array([any(lo[i] <= hi[j] and lo[j] <= hi[i] for j in range(n_arms) if j != i)
                         for i in range(n_arms)])
    eligible = ~(counts.pulls - counts.valid > counts.valid)
    if pool_size is not None and (eligible & (counts.pulls < pool_size)).any():
        eligible = eligible & (counts.pulls < pool_size)
    candidates = eligible & overlaps if (eligible & overlaps).any() else eligible
    busy = np.zeros(n_arms, bool)
    busy[list(pending)] = True
    if (candidates & ~busy).any():
        candidates = candidates & ~busy
    if not candidates.any():
        candidates = np.ones(n_arms, bool)
    score = np.where(candidates, width, -np.inf)
    tied = np.flatnonzero(np.isclose(score, score.max(), rtol=0.0, atol=1e-12))
    return int(rng.choice(tied))


class AdaptiveAllocation(Searcher):
    name = "adaptive"

    def run(self, ctx: SearchContext, budget: int) -> None:
        cfg, names = ctx.config, ctx.names
        counts = ArmCounts.from_records(names, ctx.recorder.of(self.name))
        done = ctx.recorder.count(self.name)
        while done < budget:
            jobs, pending = [], []
            for _ in range(min(ctx.vec_env.num_envs, budget - done)):
                arm = choose_arm(counts, np.random.default_rng([cfg.seed, done]), pending, cfg.control_episodes)
                rep = int(counts.pulls[arm])  # repetition r of a perturbation starts from initial state r
                jobs.append(EpisodeJob(f"{self.name}-{done:06d}", (names[arm],),
                                       episode_seed(cfg.seed, rep, cfg.control_episodes), self.name))
                counts.pulls[arm] += 1
                pending.append(arm)
                done += 1
            before = len(ctx.recorder.records)
            ctx.run_jobs(jobs)
            for r in ctx.recorder.records[before:]:
                counts.observe(r)
        return None
