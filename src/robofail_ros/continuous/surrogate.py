"""P(failure | scene) as a Gaussian-process classifier on the unit cube, with its uncertainty.

Why a GP classifier (scikit-learn's Laplace approximation): it gives a smooth failure probability *and* a
posterior over it, which thresholds (intervals), Sobol indices (surrogate uncertainty) and a boundary searcher
(where is P most uncertain?) all need. The kernel is

    C1 * RBF(one length scale per factor) + C0

A circular factor (a hue over its whole range: 0 and 1 are the same red) is measured along the circle, not
across it (`CircularRBF`): without that, a policy that works at hue 0.98 says nothing to the model about hue 0.01,
and a failure band that ends just past the wrap is never closed (measured on the vision policy, benchmarks §8d).

The per-factor (ARD) length scales let irrelevant factors drift to long scales, so the model does not spread
its episodes over 24 equally weighted dimensions; the constant C0 lets the latent mean settle away from
P = 0.5 far from the data (a plain zero-mean GP reverts to 0.5). Hyperparameters are chosen by maximising
the Laplace marginal likelihood on at most `hyper_subsample` episodes (L-BFGS, capped iterations), then the
posterior mode is found on all episodes with those hyperparameters fixed: the expensive part (one kernel
gradient per hyperparameter per step) stays bounded while n grows. One subsample can mislead: on 518 synthetic
episodes with a light threshold and a cube-colour band, the optimum of one 300-episode subsample gave the cube
colour a length scale of 100 (the band vanished; log marginal likelihood on all episodes -264.7), two others found
0.12-0.14 (-192.8, -194.8). So HYPER_SUBSAMPLES subsamples are optimised, and the previous fit's hyperparameters
compete too; the winner is the one with the highest marginal likelihood on *all* episodes (a posterior mode per
candidate, cheap next to the optimisation).

Data with a single class (no failure yet, or nothing but failures) has no boundary to learn: the model is
then flat at the observed rate, with a Wilson band (and, for posterior draws, the Jeffreys Beta posterior).

BLAS runs on one thread inside this module: on a machine whose cores are busy with simulation workers,
multi-threaded OpenBLAS spins against them and a 300-point Cholesky took 0.3 s instead of 1 ms (measured).
"""
from __future__ import annotations

import math
import warnings
from typing import Sequence

import numpy as np
from scipy.linalg import solve_triangular
from scipy.optimize import minimize
from scipy.spatial.distance import cdist, pdist, squareform
from scipy.special import digamma, expit, logit, polygamma
from sklearn.calibration import calibration_curve
from sklearn.exceptions import ConvergenceWarning
from sklearn.gaussian_process import GaussianProcessClassifier
from sklearn.gaussian_process.kernels import RBF, ConstantKernel, Kernel, _check_length_scale
from sklearn.metrics import brier_score_loss
from sklearn.model_selection import KFold, StratifiedKFold
from threadpoolctl import threadpool_limits

from robofail_ros.continuous.result import Calibration
from robofail_ros.stats import CONFIDENCE, wilson_interval

#: Two-sided normal quantile of the reported bands (95%).
Z = 1.959963984540054
#: Length-scale range in unit-cube coordinates: below 0.03 a factor's effect would change within 3% of its
#: range (finer than any design here resolves); above 100 the factor is as good as ignored.
LENGTH_SCALE_BOUNDS = (0.03, 100.0)
#: A factor whose fitted length scale is at least this (ten box widths: the latent correlates at 0.995 between the
#: two ends of the factor's range) has been set aside by ARD: "no visible effect" in the model's description, and
#: Sobol indices of 0 +- 0 whatever the policy does, which means "not resolved by these episodes" (benchmarks §8l).
SET_ASIDE_LENGTH_SCALE = 10.0
#: Every length scale starts at the width of the box. From a longer start (3) a factor whose effect is a narrow
#: band looks flat and the optimiser never moves it (measured: 1 of 8 synthetic data sets lost a 0.3-0.5 band);
#: at d = 24 the start of 1 cost no more time and fitted as well (measured on 3 planted data sets).
INITIAL_LENGTH_SCALE = 1.0
#: Prior variance range of the latent function. Capped at 10 (a latent s.d. of 3.2, P from 0.002 to 0.998
#: within two s.d.): left free, the subsample's marginal likelihood drifted to amplitudes near 8 that widened
#: every band without fitting the full data better (measured on a planted 24-factor threshold: log marginal
#: likelihood -129.5 vs -128.9, mean absolute error 0.13 vs 0.11, latent s.d. at nominal 3.3 vs 1.5).
SIGNAL_VARIANCE_BOUNDS = (1e-2, 10.0)
#: Subsamples whose optimised hyperparameters compete on the whole data set (when n exceeds hyper_subsample).
HYPER_SUBSAMPLES = 3
#: Gauss-Hermite rule for E[logistic(f)], f ~ N(mean, var): nodes in standard deviations, weights summing to 1.
_GH_NODES, _GH_WEIGHTS = np.polynomial.hermite_e.hermegauss(32)
_GH_WEIGHTS = _GH_WEIGHTS / _GH_WEIGHTS.sum()
#: Chunk size (query points) for kernel matrices, so 50 000-point Sobol designs stay within memory.
_CHUNK = 4096


class CircularRBF(RBF):
    """scikit-learn's RBF (one length scale per dimension) in which the listed dimensions are angles on [0, 1].

    Along a circular dimension the distance is the chord of the circle of circumference 1, sin(pi * d) / pi:
    the plain difference d for nearby points (so its length scale means what a linear one means), and 0 between
    0 and 1. It is computed by embedding each angle as (cos, sin) / (2 pi) scaled by *its one* length scale,
    so the two coordinates of a circle share a length scale; the gradient with respect to log length scales is
    the RBF's with the chord in place of the difference. With no circular dimension it is exactly RBF.
    """

    def __init__(self, length_scale=1.0, length_scale_bounds=(1e-5, 1e5), circular: tuple[int, ...] = ()):
        super().__init__(length_scale, length_scale_bounds)
        self.circular = tuple(circular)

    def _embed(self, X: np.ndarray, length_scale: np.ndarray) -> np.ndarray:
        ls = np.broadcast_to(np.asarray(length_scale, dtype=float), (X.shape[1],))
        linear = [j for j in range(X.shape[1]) if j not in self.circular]
        turns = 2.0 * np.pi * X[:, self.circular]
        radius = 1.0 / (2.0 * np.pi * ls[list(self.circular)])
        return np.hstack([X[:, linear] / ls[linear], np.cos(turns) * radius, np.sin(turns) * radius])

    def _squared_steps(self, X: np.ndarray) -> np.ndarray:
        """Per-dimension squared distances (n, n, d): differences, chords along the circular dimensions."""
        d = np.abs(X[:, None, :] - X[None, :, :])
        if self.circular:
            c = list(self.circular)
            d[:, :, c] = np.sin(np.pi * d[:, :, c]) / np.pi
        return d ** 2

    def __call__(self, X, Y=None, eval_gradient=False):
        if not self.circular:
            return super().__call__(X, Y, eval_gradient)
        X = np.atleast_2d(X)
        length_scale = _check_length_scale(X, self.length_scale)
        E = self._embed(X, length_scale)
        if Y is None:
            dists = pdist(E, metric="sqeuclidean")
            K = squareform(np.exp(-0.5 * dists))
            np.fill_diagonal(K, 1)
        else:
            if eval_gradient:
                raise ValueError("Gradient can only be evaluated when Y is None.")
            K = np.exp(-0.5 * cdist(E, self._embed(np.atleast_2d(Y), length_scale), metric="sqeuclidean"))
        if not eval_gradient:
            return K
        if self.hyperparameter_length_scale.fixed:
            return K, np.empty((X.shape[0], X.shape[0], 0))
        steps = self._squared_steps(X)
        if not self.anisotropic or length_scale.shape[0] == 1:
            return K, (K * steps.sum(axis=2) / float(np.ravel(length_scale)[0]) ** 2)[:, :, None]
        return K, steps / length_scale ** 2 * K[..., None]


def _kernel(dim: int, circular: Sequence[int] = ()) -> Kernel:
    rbf = CircularRBF(np.full(dim, INITIAL_LENGTH_SCALE), LENGTH_SCALE_BOUNDS, circular=tuple(circular))
    return ConstantKernel(4.0, SIGNAL_VARIANCE_BOUNDS) * rbf + ConstantKernel(1.0, (1e-3, 1e2))


def _as_2d(X: np.ndarray, dim: int) -> np.ndarray:
    X = np.asarray(X, dtype=float)
    if X.ndim == 1:
        X = X[None, :]
    if X.ndim != 2 or X.shape[1] != dim:
        raise ValueError(f"scenes must have shape (n, {dim}) in unit-cube coordinates, got {X.shape}")
    return X


class FailureModel:
    """P(failure | scene) on unit-cube coordinates, refittable cheaply (see the module docstring)."""

    def __init__(self, dim: int, *, circular: Sequence[int] = (), hyper_subsample: int = 300,
                 max_optimizer_iter: int = 40, seed: int = 0):
        if dim < 1:
            raise ValueError(f"a failure model needs at least one factor, got dim={dim}")
        bad = [j for j in circular if not 0 <= j < dim]
        if bad:
            raise ValueError(f"circular factor indices must lie in [0, {dim}), got {bad}")
        self.dim = dim
        self.circular = tuple(sorted(set(int(j) for j in circular)))
        """Indices of the factors that are angles on [0, 1] (hues over their whole circle)."""
        self.hyper_subsample = hyper_subsample
        self.max_optimizer_iter = max_optimizer_iter
        self.seed = seed
        self.kernel_: Kernel | None = None
        """Fitted kernel (hyperparameters), kept across fits so `fit(optimize=False)` can reuse it."""
        self._gpc: GaussianProcessClassifier | None = None
        self._flat_rate: tuple[int, int] | None = None
        self.hyper_episodes_ = 0
        """How many episodes the current hyperparameters were fitted on."""
        self.X_: np.ndarray | None = None
        self.y_: np.ndarray | None = None

    # ---------------------------------------------------------------- fitting
    def fit(self, X: np.ndarray, y: Sequence[bool] | np.ndarray, optimize: bool = True) -> "FailureModel":
        """Fit on scenes X (n, dim) in [0, 1] and outcomes y (1 = failed).

        `optimize=False` keeps the last fitted hyperparameters and only recomputes the posterior (what a searcher
        that refits every few episodes wants); without a previous kernel it optimises anyway.
        """
        X = _as_2d(X, self.dim)
        y = np.asarray(y, dtype=int).ravel()
        if len(y) != len(X):
            raise ValueError(f"{len(X)} scenes but {len(y)} outcomes")
        if len(y) == 0:
            raise ValueError("cannot fit P(failure | scene) on zero episodes")
        if not np.isin(y, (0, 1)).all():
            raise ValueError(f"outcomes must be 0 (success) or 1 (failure), got {sorted(set(y.tolist()))}")
        self.X_, self.y_ = X, y
        failures = int(y.sum())
        if failures in (0, len(y)):
            self._gpc, self._flat_rate = None, (failures, len(y))
            return self
        self._flat_rate = None
        with threadpool_limits(1, user_api="blas"), warnings.catch_warnings():
            # Long length scales hitting their upper bound are the point of ARD (irrelevant factors), not a fault.
            warnings.filterwarnings("ignore", category=ConvergenceWarning)
            if optimize or self.kernel_ is None:
                self._gpc = self._best_fit(X, y)
                self.kernel_ = self._gpc.kernel_
                return self
            self._gpc = GaussianProcessClassifier(self.kernel_, optimizer=None).fit(X, y)
        return self

    def _best_fit(self, X: np.ndarray, y: np.ndarray) -> GaussianProcessClassifier:
        """Optimise hyperparameters on up to HYPER_SUBSAMPLES subsamples; keep the best on all episodes, fitted.

        The previous fit's hyperparameters (if any) compete as well, so a refit never trades a model that explains
        the data for a worse local optimum.
        """
        draws = HYPER_SUBSAMPLES if len(y) > self.hyper_subsample else 1
        candidates: list[tuple[Kernel, int]] = []
        for k in range(draws):
            Xh, yh = self._hyper_subsample(X, y, self.seed + k)
            gpc = GaussianProcessClassifier(_kernel(self.dim, self.circular), optimizer=self._optimizer,
                                            random_state=self.seed).fit(Xh, yh)
            candidates.append((gpc.kernel_, len(yh)))
        if self.kernel_ is not None:
            candidates.append((self.kernel_, self.hyper_episodes_))
        best, best_lml = None, -np.inf
        for kernel, episodes in candidates:
            fitted = GaussianProcessClassifier(kernel, optimizer=None).fit(X, y)
            lml = fitted.log_marginal_likelihood_value_
            if best is None or lml > best_lml:
                best, best_lml, self.hyper_episodes_ = fitted, lml, episodes
        assert best is not None
        return best

    def _optimizer(self, obj_func, initial_theta, bounds):
        """L-BFGS-B with a capped number of iterations: the optimum moves little after ~40 (measured)."""
        r = minimize(obj_func, initial_theta, method="L-BFGS-B", jac=True, bounds=bounds,
                     options={"maxiter": self.max_optimizer_iter})
        return r.x, r.fun

    def _hyper_subsample(self, X: np.ndarray, y: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """At most `hyper_subsample` episodes, the rarer outcome kept whole up to half of them.

        Hyperparameters describe where P changes, which the rare class carries; a uniform subsample of 300 out of
        1500 episodes with 1% failures would keep three failures.
        """
        m = self.hyper_subsample
        if len(y) <= m:
            return X, y
        rng = np.random.default_rng(seed)
        minority = int(np.argmin(np.bincount(y, minlength=2)))
        rare, common = np.flatnonzero(y == minority), np.flatnonzero(y != minority)
        rare = rng.choice(rare, size=min(len(rare), m // 2), replace=False)
        common = rng.choice(common, size=m - len(rare), replace=False)
        keep = np.sort(np.concatenate([rare, common]))
        return X[keep], y[keep]

    def refit_resampled(self, rng: np.random.Generator) -> "FailureModel":
        """A copy fitted on a bootstrap resample of the episodes, same hyperparameters.

        The spread of quantities across such refits measures how much they depend on which episodes happened to
        be run (used for the Sobol intervals).
        """
        X, y = self._training_data()
        idx = rng.integers(0, len(y), size=len(y))
        return self.refit_on(X[idx], y[idx])

    # ------------------------------------------------------------- prediction
    @property
    def flat(self) -> bool:
        """True when the data had one class only and P is the observed rate everywhere."""
        self._check_fitted()
        return self._flat_rate is not None

    def latent(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mean and variance of the latent f (P = logistic(f)) under the Laplace approximation.

        GPML Algorithm 3.2 on the fitted classifier's mode (its `pi_`, `W_sr_`, `L_`), with a triangular solve
        where scikit-learn's `latent_mean_and_variance` uses a general one (an LU factorisation per call).
        """
        X = _as_2d(X, self.dim)
        if self._flat_rate is not None:
            k, n = self._flat_rate
            a, b = k + 0.5, n - k + 0.5  # Jeffreys Beta posterior of the flat rate, in logit space
            return np.full(len(X), digamma(a) - digamma(b)), np.full(len(X), polygamma(1, a) + polygamma(1, b))
        be = self._fitted_gpc().base_estimator_
        means, variances = [], []
        with threadpool_limits(1, user_api="blas"):
            for i in range(0, len(X), _CHUNK):
                K_star = be.kernel_(be.X_train_, X[i:i + _CHUNK])
                means.append(K_star.T @ (be.y_train_ - be.pi_))
                v = solve_triangular(be.L_, be.W_sr_[:, None] * K_star, lower=True, check_finite=False)
                variances.append(be.kernel_.diag(X[i:i + _CHUNK]) - np.einsum("ij,ij->j", v, v))
        return np.concatenate(means), np.maximum(np.concatenate(variances), 0.0)

    def predict(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(p_mean, p_low, p_high): the predictive P(failure) and its 95% credible band at each scene.

        p_mean averages the logistic over the latent posterior (the probability that the next episode there
        fails; Gauss-Hermite quadrature); the band is the latent's 2.5% and 97.5% quantiles pushed through the
        logistic link.
        """
        X = _as_2d(X, self.dim)
        if self._flat_rate is not None:
            k, n = self._flat_rate
            lo, hi = wilson_interval(k, n, CONFIDENCE)
            return np.full(len(X), k / n), np.full(len(X), lo), np.full(len(X), hi)
        return p_band(*self.latent(X))

    def p_map(self, X: np.ndarray) -> np.ndarray:
        """logistic(latent mean): the posterior median of P, at the cost of one kernel row per scene.

        The predictive mean needs the latent variance, an O(n^2) triangular solve per scene; for the tens of
        thousands of scenes of a Sobol design this cheaper surface is used instead.
        """
        X = _as_2d(X, self.dim)
        if self._flat_rate is not None:
            k, n = self._flat_rate
            return np.full(len(X), k / n)
        be = self._fitted_gpc().base_estimator_
        alpha = be.y_train_ - be.pi_
        with threadpool_limits(1, user_api="blas"):
            f = np.concatenate([be.kernel_(be.X_train_, X[i:i + _CHUNK]).T @ alpha
                                for i in range(0, len(X), _CHUNK)])
        return expit(f)

    def sample_latent(self, X: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
        """n joint posterior draws of the latent f at the scenes X (a few hundred points at most): shape (n, m).

        Joint, not pointwise: a threshold is where one draw of the whole curve crosses a level, which needs the
        correlation between neighbouring points (GPML Algorithm 3.2, full covariance instead of its diagonal).
        A flat (one-class) model draws one constant per sample from the Jeffreys posterior of the rate.
        """
        X = _as_2d(X, self.dim)
        if self._flat_rate is not None:
            k, m = self._flat_rate
            rates = np.clip(rng.beta(k + 0.5, m - k + 0.5, size=n), 1e-12, 1 - 1e-12)
            return np.repeat(logit(rates)[:, None], len(X), axis=1)
        mean, cov = self.latent_joint(X)
        return sample_gaussian(mean, cov, n, rng)

    def latent_joint(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mean and full covariance of the latent f at the scenes X (a few hundred points at most).

        A flat (one-class) model has a constant latent: its Jeffreys mean and variance, fully correlated.
        """
        X = _as_2d(X, self.dim)
        if self._flat_rate is not None:
            mean, var = self.latent(X)
            return mean, np.full((len(X), len(X)), var[0])
        be = self._fitted_gpc().base_estimator_
        with threadpool_limits(1, user_api="blas"):
            K_star = be.kernel_(be.X_train_, X)
            mean = K_star.T @ (be.y_train_ - be.pi_)
            v = solve_triangular(be.L_, be.W_sr_[:, None] * K_star, lower=True, check_finite=False)
            cov = be.kernel_(X) - v.T @ v
        return mean, 0.5 * (cov + cov.T)

    def refit_on(self, X: np.ndarray, y: Sequence[bool] | np.ndarray) -> "FailureModel":
        """A copy with these hyperparameters, its posterior fitted on other episodes (e.g. all but one line's)."""
        self._check_fitted()
        twin = FailureModel(self.dim, circular=self.circular, hyper_subsample=self.hyper_subsample,
                            max_optimizer_iter=self.max_optimizer_iter, seed=self.seed)
        twin.kernel_, twin.hyper_episodes_ = self.kernel_, self.hyper_episodes_
        return twin.fit(X, y, optimize=self.kernel_ is None)

    def sample_p(self, X: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
        """Joint posterior draws of P(failure) at the scenes X: logistic of `sample_latent`."""
        return expit(self.sample_latent(X, n, rng))

    # ------------------------------------------------------------ description
    @property
    def length_scales(self) -> np.ndarray | None:
        """Fitted per-factor length scales in unit-cube coordinates (None for a flat model)."""
        if self._flat_rate is not None or self.kernel_ is None:
            return None
        return np.atleast_1d(self.kernel_.k1.k2.length_scale).astype(float)

    def describe(self, names: Sequence[str]) -> str:
        """The fitted model in words: kernel, the factors with short length scales, what it was fitted on."""
        self._check_fitted()
        X, y = self._training_data()
        if self._flat_rate is not None:
            k, n = self._flat_rate
            return (f"flat P(failure) = {k}/{n}: every episode had the same outcome, so there is no boundary "
                    f"to fit (Wilson band)")
        ls = self.length_scales
        assert ls is not None and self.kernel_ is not None
        order = np.argsort(ls)
        relevant = [f"{names[i]} {ls[i]:.2g}" for i in order if ls[i] < SET_ASIDE_LENGTH_SCALE]
        ignored = int((ls >= SET_ASIDE_LENGTH_SCALE).sum())
        amp = math.sqrt(self.kernel_.k1.k1.constant_value)
        offset = math.sqrt(self.kernel_.k2.constant_value)
        circles = f", circular in {', '.join(names[j] for j in self.circular)}" if self.circular else ""
        return (f"Gaussian-process classifier (Laplace, logistic link), kernel {amp:.3g}^2 * RBF(ARD{circles}) + "
                f"{offset:.3g}^2 on the unit cube; length scales (shortest = most influential): "
                f"{', '.join(relevant) or f'none below {SET_ASIDE_LENGTH_SCALE:g}'}; {ignored} factor(s) >= "
                f"{SET_ASIDE_LENGTH_SCALE:g} (no visible effect); "
                f"fitted on {len(y)} episodes ({int(y.sum())} failed), hyperparameters on {self.hyper_episodes_}")

    def _training_data(self) -> tuple[np.ndarray, np.ndarray]:
        self._check_fitted()
        assert self.X_ is not None and self.y_ is not None
        return self.X_, self.y_

    def _check_fitted(self) -> None:
        if self.X_ is None:
            raise RuntimeError("FailureModel is not fitted yet: call fit(X, y) first")

    def _fitted_gpc(self) -> GaussianProcessClassifier:
        self._check_fitted()
        assert self._gpc is not None
        return self._gpc


def sample_gaussian(mean: np.ndarray, cov: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """n draws of N(mean, cov), shape (n, len(mean)).

    Eigen-decomposition rather than Cholesky: the covariance of 60 neighbouring points on a curve is numerically
    singular; negative round-off eigenvalues are clipped.
    """
    w, U = np.linalg.eigh(0.5 * (cov + cov.T))
    root = U * np.sqrt(np.clip(w, 0.0, None))
    return mean[None, :] + rng.standard_normal((n, len(mean))) @ root.T


def p_band(mean: np.ndarray, var: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(p_mean, p_low, p_high) of P = logistic(f), f ~ N(mean, var): FailureModel.predict's formula."""
    sd = np.sqrt(np.maximum(var, 0.0))
    p = expit(mean[:, None] + sd[:, None] * _GH_NODES[None, :]) @ _GH_WEIGHTS
    return p, expit(mean - Z * sd), expit(mean + Z * sd)


#: Reliability-curve bins over [0, 1].
CALIBRATION_BINS = 10


def cross_validated_calibration(X: np.ndarray, y: Sequence[bool] | np.ndarray, folds: int = 5, *,
                                model: FailureModel | None = None, seed: int = 0) -> Calibration:
    """Held-out Brier score of the failure model against the base-rate model, and its reliability curve.

    Each fold is predicted by a model fitted on the other folds. With `model` given, its hyperparameters are
    reused in every fold (only the posterior is refitted): much cheaper, at the price of hyperparameters that
    saw the held-out episodes (25 numbers against hundreds of episodes). The baseline predicts each fold's
    training failure rate everywhere. Folds are stratified when both outcomes occur at least `folds` times.
    Only non-empty bins appear in the reliability curve.
    """
    X = np.asarray(X, dtype=float)
    y = np.asarray(y, dtype=int).ravel()
    if folds < 2:
        raise ValueError(f"cross-validation needs folds >= 2, got {folds}")
    if len(y) < folds:
        raise ValueError(f"cross-validation with {folds} folds needs at least {folds} episodes, got {len(y)}")
    dim = X.shape[1]
    stratify = min(np.bincount(y, minlength=2)) >= folds
    splitter = (StratifiedKFold(folds, shuffle=True, random_state=seed) if stratify
                else KFold(folds, shuffle=True, random_state=seed))
    predicted = np.empty(len(y))
    baseline = np.empty(len(y))
    for train, test in splitter.split(X, y):
        m = FailureModel(dim, seed=seed) if model is None else FailureModel(
            dim, circular=model.circular, hyper_subsample=model.hyper_subsample,
            max_optimizer_iter=model.max_optimizer_iter, seed=seed)
        if model is not None:
            m.kernel_, m.hyper_episodes_ = model.kernel_, model.hyper_episodes_
        m.fit(X[train], y[train], optimize=model is None or model.kernel_ is None)
        predicted[test] = m.predict(X[test])[0]
        baseline[test] = y[train].mean()
    edges = np.linspace(0.0, 1.0, CALIBRATION_BINS + 1)
    # The same bin assignment as sklearn's calibration_curve, so counts line up with its (non-empty) bins.
    counts = np.bincount(np.searchsorted(edges[1:-1], predicted), minlength=CALIBRATION_BINS)
    observed, mean_predicted = calibration_curve(y, predicted, n_bins=CALIBRATION_BINS, strategy="uniform",
                                                 pos_label=1)
    return Calibration(
        brier=float(brier_score_loss(y, predicted, pos_label=1)),
        brier_baseline=float(brier_score_loss(y, baseline, pos_label=1)),
        folds=folds,
        bin_predicted=[float(v) for v in mean_predicted],
        bin_observed=[float(v) for v in observed],
        bin_counts=[int(c) for c in counts if c > 0],
    )

