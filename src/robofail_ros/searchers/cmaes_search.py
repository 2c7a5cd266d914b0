"""The worst-case optimiser: CMA-ES (the `cmaes` package) over the unit cube, maximising the paper's reward.

A failure pays +1000 and a success -100/T, so CMA-ES moves its search distribution towards scenes that break
the policy, and among successes towards those the policy needed longest for (closer to failing). Each
generation is one batch of episodes run in parallel. The optimiser's state is never saved: on resume it is
rebuilt by replaying ask/tell from the log (the same seed asks the same points, and the logged rewards are
told back), so a resumed audit continues exactly where the uninterrupted one would be.
"""
from __future__ import annotations

import numpy as np
from cmaes import CMA

from robofail_ros.episode import FAILURE, EpisodeRecord
from robofail_ros.searchers.base import SearchContext, Searcher
from robofail_ros.searchers.scenes import require_space, scene_job


class LogMismatchError(ValueError):
    """The log holds a different scene than CMA-ES replays to: the factor space changed since the audit began
    (a ValueError, so the command line reports it in one line)."""


def new_optimiser(dim: int, seed: int, sigma: float, population: int) -> CMA:
    """CMA-ES started at the centre of the unit cube and kept inside it."""
    bounds = np.tile([0.0, 1.0], (dim, 1))
    return CMA(mean=np.full(dim, 0.5), sigma=sigma, bounds=bounds, seed=seed, population_size=population)


def optimiser_state(opt: CMA) -> dict:
    """What a snapshot records of the search distribution (CMA-ES's step size has no public accessor)."""
    return {"generation": int(opt.generation), "mean_unit": [float(m) for m in opt.mean],
            "sigma": float(opt._sigma), "should_stop": bool(opt.should_stop())}


class CMAESWorstCase(Searcher):
    name = "cmaes"

    def run(self, ctx: SearchContext, budget: int) -> None:
        space = require_space(ctx, self.name)
        cfg = ctx.config
        population = max(2, cfg.search.batch)
        opt = new_optimiser(space.dim, cfg.seed, cfg.search.cmaes_sigma, population)
        by_id = {r.episode_id: r for r in ctx.recorder.of(self.name)}
        index = 0
        while index < budget:
            # Always ask a whole generation, so the optimiser's random stream is the same whatever the budget.
            asked = [opt.ask() for _ in range(population)]
            n = min(population, budget - index)
            jobs = [scene_job(ctx, self.name, index + k, asked[k]) for k in range(n)]
            fresh = [j for j in jobs if j.episode_id not in ctx.recorder]
            before = len(ctx.recorder.records)
            ctx.run_jobs(fresh)
            by_id.update((r.episode_id, r) for r in ctx.recorder.records[before:])
            records = [by_id[j.episode_id] for j in jobs]
            for job, record in zip(jobs, records):
                _check_replayed(job.episode_id, job.scene, record)
            index += n
            if n < population:  # a partial last generation: its episodes count, but CMA-ES needs all to learn
                break
            # cmaes minimises; the adversary maximises the reward (aborted episodes carry 0: no evidence).
            opt.tell([(x, -float(r.reward)) for x, r in zip(asked, records)])
            if fresh:
                rewards = [float(r.reward) for r in records]
                best = int(np.argmax(rewards))
                ctx.log.snapshot({"searcher": self.name, "episodes": index, **optimiser_state(opt),
                                  "mean_scene": space.scene(space.from_unit(opt.mean)),
                                  "rewards": rewards, "best_episode": records[best].episode_id,
                                  "failures": sum(r.outcome == FAILURE for r in records)})
        return None


def _check_replayed(episode_id: str, scene: dict[str, float] | None, record: EpisodeRecord) -> None:
    if record.scene != scene:
        raise LogMismatchError(
            f"{episode_id}: the log holds scene {record.scene} but CMA-ES replays to {scene}; the factor space "
            f"changed since this audit began. Resume with the original catalogue, or pass --overwrite")
