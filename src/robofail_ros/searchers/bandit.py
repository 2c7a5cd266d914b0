"""Thompson sampling on Beta posteriors: spend episodes where failure looks most likely.

Each perturbation is an arm whose failure probability has a Beta(1 + failures,
1 + successes) posterior; each worker slot samples every posterior and runs the
arm with the largest draw. The state is rebuilt from the log, so a resumed bandit
continues exactly where the evidence left it.
"""
from __future__ import annotations

import numpy as np

from robofail_ros.adversary_env import EpisodeJob
from robofail_ros.config import episode_seed
from robofail_ros.episode import ABORTED, FAILURE
from robofail_ros.searchers.base import SearchContext, Searcher


class ThompsonBandit(Searcher):
    name = "bandit"

    def run(self, ctx: SearchContext, budget: int) -> None:
        cfg, names = ctx.config, ctx.names
        index = {n: i for i, n in enumerate(names)}
        failures, successes, pulls = (np.zeros(len(names)) for _ in range(3))
        for r in ctx.recorder.of(self.name):
            a = index[r.perturbations[0]]
            pulls[a] += 1
            if r.outcome == FAILURE:
                failures[a] += 1
            elif r.outcome != ABORTED:
                successes[a] += 1
        done = ctx.recorder.count(self.name)
        while done < budget:
            jobs = []
            for _ in range(min(ctx.vec_env.num_envs, budget - done)):
                rng = np.random.default_rng([cfg.seed, done])
                arm = int(np.argmax(rng.beta(1 + failures, 1 + successes)))
                rep = int(pulls[arm])
                jobs.append(EpisodeJob(f"bandit-{done:06d}", (names[arm],),
                                       episode_seed(cfg.seed, rep, cfg.control_episodes), self.name))
                pulls[arm] += 1
                done += 1
            before = len(ctx.recorder.records)
            ctx.run_jobs(jobs)
            for r in ctx.recorder.records[before:]:
                a = index[r.perturbations[0]]
                if r.outcome == FAILURE:
                    failures[a] += 1
                elif r.outcome != ABORTED:
                    successes[a] += 1
        return None
