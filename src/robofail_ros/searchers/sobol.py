"""The baseline over the factor box: a scrambled Sobol sweep, the continuous analogue of the paper's for-loop.

Every other continuous searcher is compared with this one. Sobol points fill the box far more evenly than
random draws (any 2^k consecutive points put one point in each of 2^k equal slices of every factor), so the
sweep's failure rate over the box and its Sobol-index estimates are the unbiased reference. The design is a
pure function of the audit seed: a resumed sweep regenerates it and runs only the points the log lacks.
"""
from __future__ import annotations

from robofail_ros.searchers.base import SearchContext, Searcher
from robofail_ros.searchers.scenes import require_space, scene_job, sobol_points


class SobolSweep(Searcher):
    name = "sobol"

    def run(self, ctx: SearchContext, budget: int) -> None:
        space = require_space(ctx, self.name)
        points = sobol_points(space.dim, budget, ctx.config.seed)
        jobs = [scene_job(ctx, self.name, i, u) for i, u in enumerate(points)]
        todo = [j for j in jobs if j.episode_id not in ctx.recorder]
        if todo:
            ctx.log.snapshot({"searcher": self.name, "design": "scrambled Sobol (scipy.stats.qmc)",
                              "seed": ctx.config.seed, "points": budget, "remaining": len(todo)})
        ctx.run_jobs(todo)
        return None
