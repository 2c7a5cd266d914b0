"""Active learning of the failure boundary: episodes go where P(failure | scene) is least certain near 0.5.

A threshold ("fails when the light is below 0.31x nominal") is where P(failure) crosses 0.5, so an audit that
reports thresholds should spend its episodes near that crossing, not deep inside regions that surely fail or
surely succeed (where a Sobol sweep spends most of its). After a scrambled Sobol design (the same points the
sweep starts with), each batch fits the probabilistic failure model (continuous.surrogate.FailureModel) to every
outcome so far and scores candidate points (see below) with the straddle heuristic (Bryan et al., 2005), taken on
P itself rather than on the classifier's latent f (P = logistic(f)):

    straddle(x) = half-width of P's 95% band at x - |P(x) - 0.5|,

high where the model is unsure AND its estimate is near the boundary. On the latent f (1.96 sd_f - |mean_f|)
the variance term is unbounded: with a sharp boundary the fitted amplitude grows, extrapolation to the faces
of the box gets sd_f ~ 25, and every pick went to a face (measured on a known threshold, test_continuous_
searchers). On P the band's half-width is at most 0.5, so a face that surely fails or surely succeeds cannot
outrank a point on the boundary. The batch takes the best candidates
kept apart from one another (so one batch does not pile onto one spot), and a share of it goes to the candidate
farthest from every episode so far, so a failure region the model has not seen can still be found. The control
episodes are data too: they ran the nominal scene (every factor at nominal), so the model knows from the start
where the policy works. That matters when most of the box fails (measured with the vision policy on Lift: 63 of
the 64 design points and 483 of 512 episodes failed), since the boundary is then the edge of a small working
region around nominal, which points spread over a 24-dimensional box almost never come near. So half of the
candidates are Sobol points pulled towards the nominal scene (to 1/2, 1/4, 1/8 or 1/16 of their distance): the
scenes on the way from "works" to "fails" along every direction, where a threshold lies. The model is
refitted every batch with its hyperparameters kept, and re-optimised every few batches (seconds instead of a
fraction of one). A share of each batch tests the thresholds the model now implies, on the lines they are read
from (searchers/claims.py): one episode at the failing end of each claim's interval, and episodes inside the
intervals not yet pinned (claims.PINNED_WIDTH); and a share probes the
factor lines that still hold fewer experiments than the line model needs (claims.line_probes), so no factor's
threshold depends on the box model alone having guessed that it matters. Every decision is logged
before its episodes run: a resumed audit finishes the batch it had chosen, then continues.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial.distance import cdist
from scipy.special import expit

from robofail_ros.episode import FAILURE
from robofail_ros.factors import FactorSpace
from robofail_ros.searchers.base import SearchContext, Searcher
from robofail_ros.searchers.claims import claim_checks, line_probes
from robofail_ros.searchers.scenes import (
    job_id, rated, require_space, scene_job, sobol_points, unit_points,
)

#: P(failure) at the boundary the searcher pins down (a threshold is where P crosses it).
LEVEL = 0.5
#: Standard-normal quantile of the 95% band: the "1.96" of the straddle heuristic.
Z95 = 1.959963984540054
#: Fractions of their distance from the nominal scene that the pulled half of the candidates keep.
PULLS = (1 / 2, 1 / 4, 1 / 8, 1 / 16)


def candidate_points(space: FactorSpace, n: int, seed: int, batch_no: int) -> np.ndarray:
    """n candidates for one batch: a third scrambled Sobol points of the whole box, a third pulled towards nominal,
    a third on the factor axes through nominal.

    The pulled third keeps PULLS (cycled) of each point's offset from the nominal scene, so the candidates cover the
    whole box and, densely, the neighbourhood of nominal where the policy is known to work. The axis third moves one
    factor (cycled) to a scrambled Sobol value and keeps every other at nominal: the reported thresholds are the
    crossings of P(failure) along exactly these lines, and when most of the box fails (the vision policy) no box
    or pulled point lies on them, so without this third a threshold is read off a model that never saw its line.
    """
    nominal = space.to_unit(space.nominal)
    n_box, n_pulled = n - 2 * (n // 3), n // 3
    box = sobol_points(space.dim, n_box, [seed, batch_no + 1])
    offsets = sobol_points(space.dim, n_pulled, [seed, batch_no + 1, 1]) - nominal
    pulls = np.resize(np.asarray(PULLS), n_pulled)[:, None]
    return np.vstack([box, nominal + pulls * offsets, axis_points(nominal, n // 3, [seed, batch_no + 1, 2])])


def axis_points(nominal: np.ndarray, n: int, seed) -> np.ndarray:
    """n points on the lines through `nominal` parallel to the axes: point k moves factor k % dim.

    Each factor's values are one column of a scrambled Sobol design, so every line is covered evenly.
    """
    nominal = np.asarray(nominal, dtype=float)
    dim, k = len(nominal), np.arange(n)
    values = sobol_points(dim, -(-n // dim), seed)
    points = np.repeat(nominal[None, :], n, axis=0)
    points[k, k % dim] = values[k // dim, k % dim]
    return points


@dataclass
class Choice:
    """One chosen candidate, with why it was chosen."""

    index: int
    """Row of the candidate matrix."""
    rule: str
    """'straddle' (near the boundary and uncertain), 'explore' (far from every episode so far), 'check' (tests
    a threshold the model implies, searchers/claims.py) or 'line' (a factor's line through nominal that holds too
    few experiments for the line model, claims.line_probes)."""
    score: float
    """The straddle value, for an exploration pick its distance to the nearest point run or chosen, for a check its
    rank among the untested claims (0 = widest interval)."""


def straddle(latent_mean: np.ndarray, latent_sd: np.ndarray) -> np.ndarray:
    """The straddle acquisition on P = logistic(f): large where P's 95% band is wide and its median near 0.5."""
    half_width = (expit(latent_mean + Z95 * latent_sd) - expit(latent_mean - Z95 * latent_sd)) / 2.0
    return half_width - np.abs(expit(latent_mean) - LEVEL)


#: Two candidates closer than this in the model's length scales (RBF correlation above exp(-1/2) = 0.61) are one
#: place to the model; a batch takes at most one pick from such a place unless they are apart in plain distance.
DIVERSITY_RADIUS = 1.0


def choose_batch(candidates: np.ndarray, acquisition: np.ndarray, seen: np.ndarray, n: int,
                 explore_share: float, length_scales: np.ndarray | None = None) -> list[Choice]:
    """`n` candidate rows: round(n * explore_share) by maximin distance to `seen`, the rest by `acquisition`.

    Acquisition picks are greedy; a candidate is passed over when it is near an earlier pick of the batch in both
    senses: closer than the candidates' median nearest-neighbour distance, and (given the model's per-factor
    length scales) closer than DIVERSITY_RADIUS length scales. Plain distance alone would treat the dense
    candidates near nominal as one spot although a factor with a sharp effect tells them apart; length scales
    alone would treat every point on one threshold as one spot although repeating it at other values of the
    factors that do not matter is how a threshold is pinned. So a batch spreads along the boundary instead of
    sampling one spot n times. Exploration picks maximise the plain distance to every point run or chosen so far.
    """
    m = len(candidates)
    n = min(n, m)
    n_explore = int(round(n * explore_share))
    between = cdist(candidates, candidates)
    np.fill_diagonal(between, np.inf)
    close = between < float(np.median(between.min(axis=1)))
    np.fill_diagonal(between, 0.0)
    if length_scales is not None:
        scaled = candidates / np.asarray(length_scales, dtype=float)
        close &= cdist(scaled, scaled) < DIVERSITY_RADIUS
    taken = np.zeros(m, bool)
    near_chosen = np.zeros(m, bool)
    choices: list[Choice] = []
    for _ in range(n - n_explore):
        score = np.where(taken | near_chosen, -np.inf, acquisition)
        if not np.isfinite(score).any():  # everything is near a pick already: fall back to the best untaken
            score = np.where(taken, -np.inf, acquisition)
        i = int(np.argmax(score))
        taken[i] = True
        near_chosen |= close[i]
        choices.append(Choice(i, "straddle", float(acquisition[i])))
    nearest = cdist(candidates, seen).min(axis=1) if len(seen) else np.full(m, np.inf)
    for c in choices:
        nearest = np.minimum(nearest, between[c.index])
    for _ in range(n_explore):
        i = int(np.argmax(np.where(taken, -np.inf, nearest)))
        taken[i] = True
        choices.append(Choice(i, "explore", float(nearest[i])))
        nearest = np.minimum(nearest, between[i])
    return choices


class BoundarySearch(Searcher):
    name = "boundary"

    def run(self, ctx: SearchContext, budget: int) -> None:
        from robofail_ros.continuous.surrogate import FailureModel

        space = require_space(ctx, self.name)
        cfg, search = ctx.config, ctx.config.search
        n0 = min(search.initial_design, budget)
        design = [scene_job(ctx, self.name, i, u) for i, u in enumerate(sobol_points(space.dim, n0, cfg.seed))]
        todo = [j for j in design if j.episode_id not in ctx.recorder]
        if todo:
            ctx.log.snapshot({"searcher": self.name, "phase": "initial design",
                              "design": "scrambled Sobol (scipy.stats.qmc)", "points": n0, "remaining": len(todo)})
        ctx.run_jobs(todo)

        # Batches already chosen (in the log): finish any whose episodes did not all run, then go on after them.
        batches = [s for s in ctx.snapshots if s.get("searcher") == self.name and "chosen" in s]
        index = n0 + sum(len(b["chosen"]) for b in batches)
        unfinished = [scene_job(ctx, self.name, c["index"], np.asarray(c["unit"]))
                      for b in batches for c in b["chosen"] if job_id(self.name, c["index"]) not in ctx.recorder]
        ctx.run_jobs(unfinished)

        model = FailureModel(space.dim, circular=space.circular, seed=cfg.seed)
        fitted_once = False
        batch_no = len(batches)
        while index < budget:
            n = min(search.batch, budget - index)
            # Control episodes ran the nominal scene: unit_points places their scene None at the nominal point.
            controls = [r for r in ctx.recorder.records if r.scene is None and not r.perturbations]
            records = rated(controls + ctx.recorder.of(self.name))
            seen = unit_points(space, controls[:1] + ctx.recorder.of(self.name))
            X = unit_points(space, records)
            y = np.array([r.outcome == FAILURE for r in records], dtype=int)
            candidates = candidate_points(space, search.candidates, cfg.seed, batch_no)
            decision: dict = {"searcher": self.name, "batch": batch_no, "episodes": index, "rated": len(y),
                              "failures": int(y.sum()), "of_which_control": len(rated(controls))}
            boundary_seen = 0 < y.sum() < len(y)
            if boundary_seen:
                # The last batches re-optimise too: their checks then test the claims of a model like the one the
                # report is read from (re-optimised on every episode), not of hyperparameters a few batches old.
                optimise = (not fitted_once or batch_no % search.optimise_every == 0
                            or budget - index <= search.optimise_every * search.batch)
                model.fit(X, y, optimize=optimise)
                fitted_once = True
                checks = claim_checks(model, space, seen, cfg.seed, limit=int(round(n * search.check_share)))
                probes = line_probes(space, np.vstack([seen, checks]), int(round(n * search.line_share)))
                mean, var = model.latent(candidates)
                choices = choose_batch(candidates, straddle(mean, np.sqrt(var)), np.vstack([seen, checks, probes]),
                                       n - len(checks) - len(probes), search.explore_share, model.length_scales)
                choices += [Choice(len(candidates) + k, "check", float(k)) for k in range(len(checks))]
                choices += [Choice(len(candidates) + len(checks) + k, "line", float(k)) for k in range(len(probes))]
                candidates = np.vstack([candidates, checks, probes])
                decision.update(optimised=optimise, model=model.describe(space.names))
                chosen = candidates[[c.index for c in choices]]
                p, p_low, p_high = model.predict(chosen)
                latent_mean, latent_var = model.latent(chosen)
            else:  # all outcomes alike: no boundary to straddle yet, so look where nothing has been run
                choices = choose_batch(candidates, np.zeros(len(candidates)), seen, n, 1.0)
                decision.update(optimised=False, model="none: every rated outcome alike, so exploring")
                p = p_low = p_high = latent_mean = latent_var = np.full(len(choices), np.nan)
            jobs = [scene_job(ctx, self.name, index + k, candidates[c.index]) for k, c in enumerate(choices)]
            decision["chosen"] = [
                {"index": index + k, "episode_id": j.episode_id, "rule": c.rule, "score": c.score,
                 "p": _number(p[k]), "p_low": _number(p_low[k]), "p_high": _number(p_high[k]),
                 "latent_mean": _number(latent_mean[k]), "latent_sd": _number(np.sqrt(latent_var[k])),
                 "unit": [float(v) for v in candidates[c.index]]}
                for k, (c, j) in enumerate(zip(choices, jobs))]
            ctx.log.snapshot(decision)  # before the episodes run: a crash mid-batch resumes this very batch
            ctx.run_jobs(jobs)
            index += len(jobs)
            batch_no += 1
        return None


def _number(v: float) -> float | None:
    """A float for the JSON log (None where the model had nothing to say: JSON has no NaN)."""
    return float(v) if np.isfinite(v) else None
