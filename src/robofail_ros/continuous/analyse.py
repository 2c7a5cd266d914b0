"""From the episodes of a continuous audit to a `SceneAnalysis`: one fitted model, everything read from it.

Control episodes (no perturbation, no scene) give the reference rate; searched episodes (with a scene) give the
data the failure model is fitted on; aborted episodes are counted but never rated. Every random choice derives
from `seed`, so the same episodes give the same analysis.

Repeated experiments are not new evidence (as in the discrete analysis, analysis.py): episodes with the same
initial state and scene (`record.episode_key`) are one experiment, and a deterministic policy only copies its
outcome. The control rate counts each initial state once; the failure model, the rules and the calibration see
one row per distinct experiment (`collapse_repeats`), and `SceneAnalysis.repeated_episodes` says how many
episodes that set aside.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Iterable, Sequence

import numpy as np

from robofail_ros.analysis import CONTROL, RateEstimate
from robofail_ros.continuous.result import PairMap, SceneAnalysis
from robofail_ros.continuous.rules import failure_rules
from robofail_ros.continuous.sensitivity import MIN_P_VARIANCE, SobolEstimate, surrogate_sobol
from robofail_ros.continuous.surrogate import FailureModel, cross_validated_calibration
from robofail_ros.continuous.thresholds import count_line_evidence, factor_curves
from robofail_ros.episode import ABORTED, EpisodeRecord
from robofail_ros.record import episode_key

if TYPE_CHECKING:
    from robofail_ros.factors import FactorSpace

#: Cross-validation folds of the calibration check (skipped below CALIBRATION_FOLDS * 2 episodes).
CALIBRATION_FOLDS = 5
#: Base sample size of the Saltelli design (n_base * (2d + 2) model evaluations) and refits for its intervals.
#: The design's Monte-Carlo error is computation, not evidence, and it was most of an S2 interval at 512: on a
#: planted interaction (12 factors, 600 episodes) +-0.13 of the +-0.14, the refits +-0.04. 2048 halves it for
#: about 5 s more per fit (benchmarks §8h).
SOBOL_BASE = 2048
SOBOL_REFITS = 4
#: Interacting pairs named, and the side of the pair map's grid.
TOP_INTERACTIONS = 5
PAIR_GRID = 40
#: Failed episodes listed as the worst (gallery, video).
WORST_EPISODES = 8


def analyse_scenes(records: Iterable[EpisodeRecord], space: "FactorSpace", policy_id: str, searcher: str,
                   budget: int | None = None, label: str = "", seed: int = 0,
                   keep_model: bool = False) -> SceneAnalysis:
    """Fit P(failure | scene) to the searched episodes and read thresholds, indices, rules and calibration off it.

    Episodes of named perturbations (a catalogue audit's) are neither control nor searched and are ignored. Only
    `task`, `names`, `nominal`, `dim`, `index`, `vector`, `to_unit`, `from_unit` and `info()` of the space are used. With
    `keep_model` the fitted `FailureModel` stays on the result as `result.fitted` (not serialised), so a study can
    score the very model the report was read from against a ground truth.
    """
    records = list(records)
    valid = [r for r in records if r.outcome != ABORTED]
    control_records = [r for r in valid if not r.perturbations and r.scene is None]
    control = RateEstimate.measure(CONTROL, CONTROL, [r.failed for r in control_records],
                                   [episode_key(r.seed, r.perturbations, r.scene) for r in control_records])
    all_searched = [r for r in valid if r.scene is not None]
    aborted = len(records) - len(valid)
    searched, mean_failed, repeats = collapse_repeats(all_searched)
    y = mean_failed >= 0.5  # the majority outcome of each experiment's repeats; a tie counts as a failure
    result = SceneAnalysis(task=space.task, policy_id=policy_id, searcher=searcher, factors=space.info(),
                           control=control, episodes=len(all_searched), failures=sum(r.failed for r in all_searched),
                           aborted_episodes=aborted, budget=budget, label=label, experiments=len(searched),
                           repeated_episodes=len(all_searched) - len(searched),
                           searched_states=len({r.seed for r in all_searched}))
    if not searched:
        result.model = "no searched episodes: nothing fitted"
        return result
    values = np.array([space.vector(r.scene) for r in searched], dtype=float)
    X = np.asarray(space.to_unit(values), dtype=float)
    names = list(space.names)

    circular = [j for j, info in enumerate(space.info()) if info.circular]
    model = FailureModel(len(names), circular=circular, seed=seed).fit(X, y)
    if keep_model:
        result.fitted = model
    result.model = model.describe(names)
    result.curves, result.thresholds = factor_curves(model, space, seed=seed, control=control)
    count_line_evidence(result.thresholds, space, X, y)
    if model.length_scales is not None:
        result.length_scales = {n: float(v) for n, v in zip(names, model.length_scales)}
    sobol = surrogate_sobol(model, names, n_base=SOBOL_BASE, refits=SOBOL_REFITS, seed=seed)
    result.p_variance = sobol.variance if sobol is not None else 0.0
    if sobol is not None and sobol.variance < MIN_P_VARIANCE:
        result.sensitivity_note = _nearly_constant_note(model, sobol.variance, names, result.length_scales, seed)
        sobol = None
    if sobol is not None:
        result.sobol = sobol.indices()
        result.interactions = sobol.interactions(TOP_INTERACTIONS)
        result.pair_ranking = sobol.pair_ranking(TOP_INTERACTIONS)
    if model.length_scales is not None:
        result.pair_map = _pair_map(model, space, _map_pair(sobol, result))
    result.rules = failure_rules(values, mean_failed, names, control, seed=seed, repeats=repeats)
    if len(y) >= 2 * CALIBRATION_FOLDS:
        result.calibration = cross_validated_calibration(X, y, CALIBRATION_FOLDS, model=model, seed=seed)
    result.worst_episodes = _worst(model, X, searched, y)
    result.nominal_conflict = nominal_conflict(model, space, control)
    return result


def nominal_conflict(model: FailureModel, space: "FactorSpace", control: RateEstimate) -> str:
    """Say so when the model, fitted on searched scenes only, contradicts the control measured at the nominal scene.

    The controls are not fitted on (30 rows at one point pulled a stationary model's curve down over a whole planted
    region, benchmarks §8e), so nothing stops a model from extrapolating across a working region it never saw: on the
    real vision policy, a Sobol sweep and CMA-ES fitted P(nominal) at 0.96-1.00 while 30 control episodes all
    succeeded, and the curves' bands held the grid truth at only 85-93% of points (benchmarks §8m). Disjoint 95%
    intervals are the test; a flat model (one class) is left to its own note.
    """
    if model.flat or control.rate is None:
        return ""
    nominal = np.asarray(space.to_unit(np.asarray(space.nominal, dtype=float)), dtype=float)[None, :]
    p, low, high = (float(v[0]) for v in model.predict(nominal))
    if low <= control.ci_high and control.ci_low <= high:
        return ""
    return (f"the model puts P(failure) at the nominal scene at {100 * p:.0f}% [{100 * low:.0f}%, {100 * high:.0f}%], "
            f"but the control measured {100 * control.rate:.0f}% [{100 * control.ci_low:.0f}%, "
            f"{100 * control.ci_high:.0f}%] ({control.count_text()}): the searched scenes did not pin down the region "
            f"around nominal, so the curves, bands and thresholds near it are the model's extrapolation, not evidence")


def collapse_repeats(records: Sequence[EpisodeRecord]) -> tuple[list[EpisodeRecord], np.ndarray, np.ndarray]:
    """One row per distinct experiment (initial state, scene): its episode, mean outcome and number of repeats.

    Rows are in order of each experiment's first episode. The episode standing for an experiment is its first
    failed one when most of its repeats failed (so the gallery and the video show a failure), else its first one.
    The failure model is fitted to the majority outcome (mean >= 0.5, a tie counting as a failure: an audit would
    rather flag a scene than miss it); the rules' rates use the means themselves. For a deterministic policy every
    repeat agrees, and this is just the first episode of each experiment.
    """
    groups: dict[tuple, list[EpisodeRecord]] = {}
    for r in records:
        groups.setdefault(episode_key(r.seed, r.perturbations, r.scene), []).append(r)
    chosen, means, counts = [], [], []
    for group in groups.values():
        mean = sum(r.failed for r in group) / len(group)
        chosen.append(next(r for r in group if r.failed) if mean >= 0.5 else group[0])
        means.append(mean)
        counts.append(len(group))
    return chosen, np.array(means, dtype=float), np.array(counts, dtype=int)


def _map_pair(sobol: SobolEstimate | None, result: SceneAnalysis) -> tuple[int, int] | None:
    """The top interacting pair, else the two factors with the largest total index, else (no meaningful Sobol
    indices) the two shortest length scales; None with one factor."""
    names = [f.name for f in result.factors]
    if result.interactions:
        a, b = result.interactions[0].factors
        return names.index(a), names.index(b)
    if len(names) < 2:
        return None
    if sobol is not None:
        first, second = np.argsort(-sobol.st, kind="stable")[:2]
    else:
        first, second = np.argsort([result.length_scales[n] for n in names], kind="stable")[:2]
    return int(first), int(second)


def _nearly_constant_note(model: FailureModel, variance: float, names: Sequence[str],
                          length_scales: dict[str, float], seed: int) -> str:
    """Why the Sobol indices are left out, in words a reader can act on, with the ranking that replaces them."""
    from scipy.stats import qmc

    mean = float(model.p_map(qmc.Sobol(len(names), seed=seed).random(1024)).mean())
    ranked = sorted(length_scales, key=length_scales.get)[:3]
    return (f"P(failure) hardly varies over the box (mean {100 * mean:.1f}%, SD {100 * variance ** 0.5:.2g} pp): "
            f"the policy {'fails' if mean >= 0.5 else 'succeeds'} almost everywhere in it, so Sobol shares of that "
            f"variance would be estimator noise and are not reported. Read the thresholds instead; by the model's "
            f"length scales the factors that matter most are {', '.join(ranked)}.")


def _pair_map(model: FailureModel, space: "FactorSpace", pair: tuple[int, int] | None) -> PairMap | None:
    """Fitted P(failure) on a PAIR_GRID x PAIR_GRID grid of two factors, the others nominal."""
    if pair is None:
        return None
    i, j = pair
    grid = np.linspace(0.0, 1.0, PAIR_GRID)
    gu, gv = np.meshgrid(grid, grid)  # row index: factor j (y), column index: factor i (x)
    U = np.repeat(np.asarray(space.to_unit(np.asarray(space.nominal, dtype=float)))[None, :], gu.size, axis=0)
    U[:, i], U[:, j] = gu.ravel(), gv.ravel()
    p = model.predict(U)[0].reshape(PAIR_GRID, PAIR_GRID)
    values = np.asarray(space.from_unit(U), dtype=float)
    xs = values[:PAIR_GRID, i]  # first row: x varies
    ys = values[::PAIR_GRID, j]  # first column: y varies
    names = space.names
    return PairMap((names[i], names[j]), [float(v) for v in xs], [float(v) for v in ys],
                   [[float(v) for v in row] for row in p])


def _worst(model: FailureModel, X: np.ndarray, searched: Sequence[EpisodeRecord], y: np.ndarray) -> list[str]:
    """Failed episodes in the scenes the model finds most failure-prone, worst first (ties: episode order)."""
    failed = np.flatnonzero(y)
    if not len(failed):
        return []
    p = model.p_map(X[failed])
    order = failed[np.argsort(-p, kind="stable")][:WORST_EPISODES]
    return [searched[k].episode_id for k in order]
