"""Global sensitivity of P(failure | scene): Sobol first-order, total and second-order indices (SALib).

`sobol_indices` runs SALib's Saltelli design and estimator on any vectorised f(X); it is what the Ishigami test
checks. `surrogate_sobol` applies it to a fitted `FailureModel`. A Sobol index computed on a fitted surface is
uncertain for two reasons, and its interval covers both:

* Monte-Carlo error of the design: SALib's bootstrap half-width `conf_mc`, from the model fitted on all episodes;
* the surface itself depends on which episodes were run: the same design is pushed through `refits` models
  fitted on bootstrap resamples of the episodes (same hyperparameters), giving a standard deviation `sd_fit`
  of each index across refits.

The design is the same for every refit, so `sd_fit` contains no Monte-Carlo error and the two add as
variances: half-width = sqrt(conf_mc^2 + (t * sd_fit)^2), t Student's quantile for refits - 1 degrees of
freedom. The point estimate is the all-episode model's.

The surface analysed is logistic(latent posterior mean), the posterior median of P (see `FailureModel.p_map`).
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
from scipy import stats
from SALib.analyze import sobol as sobol_analyze
from SALib.sample import sobol as sobol_sample

from robofail_ros.continuous.result import Interaction, SobolIndex
from robofail_ros.continuous.surrogate import FailureModel
from robofail_ros.stats import CONFIDENCE

#: SALib's bootstrap resamples for the Monte-Carlo half-widths.
RESAMPLES = 100


@dataclass
class SobolEstimate:
    """Sobol indices of one function over a box, with 95% half-widths; s2[i, j] (i < j) is the pair's index."""

    names: list[str]
    s1: np.ndarray
    s1_conf: np.ndarray
    st: np.ndarray
    st_conf: np.ndarray
    s2: np.ndarray
    s2_conf: np.ndarray
    variance: float
    """Variance of f over the box: the quantity the indices divide up (near 0: nothing matters)."""

    def indices(self) -> list[SobolIndex]:
        return [SobolIndex(n, float(self.s1[i]), float(self.s1_conf[i]), float(self.st[i]), float(self.st_conf[i]))
                for i, n in enumerate(self.names)]

    def pair_ranking(self, top: int = 5) -> list[Interaction]:
        """The `top` pairs with the largest S2 estimates, strongest first, whatever their intervals.

        This is the ranking a person reads to see which pair to look at; only the pairs whose interval excludes 0
        (`interactions`) are claimed as interacting. A real interaction of S2 ~ 0.08 among a dozen factors can
        rank first every time while its interval, ~ +-0.12 with a few hundred episodes, still includes 0.
        """
        d = len(self.names)
        pairs = [(float(self.s2[i, j]), float(self.s2_conf[i, j]), i, j)
                 for i in range(d) for j in range(i + 1, d) if np.isfinite(self.s2[i, j])]
        pairs.sort(key=lambda p: -p[0])
        return [Interaction((self.names[i], self.names[j]), s2, conf) for s2, conf, i, j in pairs[:top]]

    def interactions(self, top: int = 5) -> list[Interaction]:
        """The `top` claimed pairs (interval excludes 0, S2 not negligible: `Interaction.claimed`), strongest first."""
        every_pair = len(self.names) * (len(self.names) - 1) // 2
        return [i for i in self.pair_ranking(every_pair) if i.claimed][:top]


def _problem(names: Sequence[str], bounds: Sequence[tuple[float, float]] | None) -> dict:
    if bounds is None:
        bounds = [(0.0, 1.0)] * len(names)
    if len(bounds) != len(names):
        raise ValueError(f"{len(names)} names but {len(bounds)} bounds")
    return {"num_vars": len(names), "names": list(names), "bounds": [list(map(float, b)) for b in bounds]}


def _check_base(n_base: int) -> None:
    if n_base < 2 or n_base & (n_base - 1):
        raise ValueError(f"n_base must be a power of two >= 2 (Sobol sequence balance), got {n_base}")


def saltelli_design(names: Sequence[str], n_base: int, seed: int,
                    bounds: Sequence[tuple[float, float]] | None = None) -> np.ndarray:
    """SALib's Saltelli design (scrambled Sobol points, second order on): n_base * (2d + 2) rows."""
    _check_base(n_base)
    return sobol_sample.sample(_problem(names, bounds), n_base, calc_second_order=True, seed=seed)


def analyse_outputs(names: Sequence[str], Y: np.ndarray, seed: int, resamples: int = RESAMPLES,
                    bounds: Sequence[tuple[float, float]] | None = None) -> SobolEstimate:
    """SALib's Sobol estimator on outputs of `saltelli_design` (same names, any n_base)."""
    Y = np.asarray(Y, dtype=float)
    variance = float(np.var(Y))
    if not np.all(np.isfinite(Y)):
        raise ValueError("the function returned non-finite values on the Sobol design")
    if variance == 0.0:
        raise ValueError("the function is constant over the box: Sobol indices are undefined (0/0)")
    with warnings.catch_warnings():
        # SALib 1.5.1 calls pd.unique on a list, which pandas 2.3 deprecates; the call still works.
        warnings.filterwarnings("ignore", category=FutureWarning, module=r"SALib\.")
        S = sobol_analyze.analyze(_problem(names, bounds), Y, calc_second_order=True, num_resamples=resamples,
                                  conf_level=CONFIDENCE, seed=seed)
    d = len(names)
    s2 = np.nan_to_num(np.asarray(S["S2"], dtype=float), nan=0.0)
    s2c = np.nan_to_num(np.asarray(S["S2_conf"], dtype=float), nan=0.0)
    upper = np.triu(np.ones((d, d), dtype=bool), 1)
    return SobolEstimate(list(names), np.asarray(S["S1"], float), np.asarray(S["S1_conf"], float),
                         np.asarray(S["ST"], float), np.asarray(S["ST_conf"], float),
                         np.where(upper, s2, 0.0), np.where(upper, s2c, 0.0), variance)


def sobol_indices(f: Callable[[np.ndarray], np.ndarray], names: Sequence[str], *, n_base: int = 1024, seed: int = 0,
                  bounds: Sequence[tuple[float, float]] | None = None) -> SobolEstimate:
    """Sobol indices of a vectorised f(X) -> (n,) over a box (default: the unit cube), through SALib."""
    X = saltelli_design(names, n_base, seed, bounds)
    return analyse_outputs(names, np.asarray(f(X), dtype=float).ravel(), seed, bounds=bounds)


#: Below this variance of P(failure) over the box (an SD under one percentage point) Sobol shares are not reported.
#: The Saltelli estimators divide by Var P, so when a policy fails (or succeeds) almost everywhere the shares are
#: estimator noise: a vision policy failing in all but a sliver of the Lift box gave Var P = 9e-7 and
#: ST(cube_hue) = 39.7 +- 89, an index that must lie in [0, 1]. The thresholds still say what matters there.
MIN_P_VARIANCE = 1e-4


def surrogate_sobol(model: FailureModel, names: Sequence[str], *, n_base: int, refits: int,
                    seed: int = 0) -> SobolEstimate | None:
    """Sobol indices of the fitted P(failure) over the unit cube, intervals widened by refits (module docstring).

    `n_base` and `refits` have no defaults here: the analysis's `SOBOL_BASE` and `SOBOL_REFITS` are the only ones.

    None when the model is flat (one-class data): a constant has no variance to divide up.
    """
    if len(names) != model.dim:
        raise ValueError(f"{len(names)} factor names for a {model.dim}-factor model")
    if model.flat:
        return None
    X = saltelli_design(names, n_base, seed)
    Y = model.p_map(X)
    if np.var(Y) == 0.0:
        return None
    main = analyse_outputs(names, Y, seed)
    if refits < 2:
        return main
    rng = np.random.default_rng(seed)
    reps = []
    for _ in range(refits):
        Yb = model.refit_resampled(rng).p_map(X)
        if np.var(Yb) > 0.0:
            # Point estimates only: SALib's resampling is not needed for the spread across refits.
            reps.append(analyse_outputs(names, Yb, seed, resamples=2))
    if len(reps) < 2:
        return main

    # A spread from a handful of refits: Student's t with refits - 1 degrees of freedom, not the normal Z
    # (3.18 for 4 refits, against 1.96), or the interval would claim more than the refits can say.
    t = float(stats.t.ppf(0.5 + CONFIDENCE / 2, len(reps) - 1))

    def widen(conf: np.ndarray, values: list[np.ndarray]) -> np.ndarray:
        sd = np.std(np.stack(values), axis=0, ddof=1)
        return np.sqrt(conf ** 2 + (t * sd) ** 2)

    return SobolEstimate(
        main.names, main.s1, widen(main.s1_conf, [r.s1 for r in reps]),
        main.st, widen(main.st_conf, [r.st for r in reps]),
        main.s2, widen(main.s2_conf, [r.s2 for r in reps]), main.variance)
