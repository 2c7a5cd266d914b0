"""What every searcher over the factor box shares: unit-cube points to episode jobs and back, and Sobol designs.

The searchers work in the unit cube (each factor's range mapped through its scale); an episode gets the FULL
scene in factor units (every factor, nominal ones included), so the log alone says which point was run and a
resumed or later analysis needs no searcher state to place it.
"""
from __future__ import annotations

import math
from typing import Iterable

import numpy as np
from scipy.stats import qmc

from robofail_ros.adversary_env import EpisodeJob
from robofail_ros.config import searched_state_seed
from robofail_ros.episode import ABORTED, EpisodeRecord
from robofail_ros.factors import FactorSpace
from robofail_ros.searchers.base import SearchContext


def require_space(ctx: SearchContext, searcher: str) -> FactorSpace:
    """The context's factor box; a continuous searcher without one is a programming error, said plainly."""
    if ctx.space is None:
        raise ValueError(f"searcher {searcher!r} searches the factor box, but this audit has no factor space "
                         f"(task {ctx.config.sim.task}: its catalogue needs a 'factors:' section)")
    return ctx.space


def scene_job(ctx: SearchContext, searcher: str, index: int, u: np.ndarray) -> EpisodeJob:
    """Episode `index` of `searcher` at unit-cube point `u`, from the initial state the audit's
    `search.initial_states` gives it: state `index` of the control's pool, or a fresh one of its own."""
    space = require_space(ctx, searcher)
    scene = space.scene(space.from_unit(np.asarray(u, dtype=float)))
    return EpisodeJob(job_id(searcher, index), (), searched_state_seed(ctx.config, index, searcher), searcher,
                      scene=scene)


def job_id(searcher: str, index: int) -> str:
    return f"{searcher}-{index:06d}"


def job_index(episode_id: str) -> int:
    """The index in `searcher-000123`."""
    return int(episode_id.rsplit("-", 1)[-1])


def unit_points(space: FactorSpace, records: Iterable[EpisodeRecord]) -> np.ndarray:
    """The unit-cube coordinates (n, d) of logged scenes (a record without a scene ran the nominal one)."""
    rows = [space.to_unit(space.vector(r.scene)) for r in records]
    return np.array(rows, dtype=float).reshape(len(rows), space.dim)


def rated(records: Iterable[EpisodeRecord]) -> list[EpisodeRecord]:
    """Episodes that ran to an outcome: aborted ones say nothing about the scene."""
    return [r for r in records if r.outcome != ABORTED]


def sobol_points(dim: int, n: int, seed: int | Iterable[int], skip: int = 0) -> np.ndarray:
    """Points skip .. skip + n - 1 of the scrambled Sobol sequence of `seed` (scipy.stats.qmc).

    Drawn as a prefix of a power-of-two block, so scipy does not warn about balance: any prefix of the sequence
    is its own first points, and the first 2^k of them keep Sobol's balance properties.
    """
    if n <= 0:
        return np.empty((0, dim))
    total = 1 << max(0, math.ceil(math.log2(skip + n)))
    sampler = qmc.Sobol(dim, scramble=True, rng=np.random.default_rng(seed))
    return sampler.random(total)[skip:skip + n]
