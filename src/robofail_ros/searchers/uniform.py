"""The paper's "naive for-loop": every perturbation in turn, each from the same initial states as the control."""
from __future__ import annotations

from robofail_ros.adversary_env import EpisodeJob
from robofail_ros.config import episode_seed
from robofail_ros.searchers.base import SearchContext, Searcher


class UniformSweep(Searcher):
    name = "uniform"

    def run(self, ctx: SearchContext, budget: int) -> None:
        n, cfg = len(ctx.names), ctx.config
        jobs = []
        for j in range(budget):
            rep, arm = divmod(j, n)  # repetition r of every perturbation starts from initial state r
            job = EpisodeJob(f"uniform-{j:06d}", (ctx.names[arm],),
                             episode_seed(cfg.seed, rep, cfg.control_episodes), self.name)
            if job.episode_id not in ctx.recorder:
                jobs.append(job)
        ctx.run_jobs(jobs)
        return None
