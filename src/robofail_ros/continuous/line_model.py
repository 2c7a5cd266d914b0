"""P(failure) along one factor's line through nominal, corrected by the experiments that ran on that line.

Why. A threshold is read along a factor's line through the nominal scene (continuous.thresholds), but the failure
model is fitted over the whole box with one length scale per factor. When a factor's effect depends on others, the
box model puts the crossing on the nominal line where the rest of the box suggests, and experiments *on* the line
that say otherwise barely move it. Measured on a deterministic fake of DarkFreeze (the floor darker than a level;
a saturated light darkens it much more when red, as at nominal, than when green): after 600 boundary episodes the
box model put light_saturation's threshold at 0.81 [0.70, 0.88], truth 0.927, while 9 of the 21 experiments on
that line beyond 0.81 had succeeded. The boundary searcher spends a third of its candidates and a quarter of each
batch on these lines precisely so that thresholds rest on them; the analysis must then let them count.

Model (a model-discrepancy term, as in Kennedy & O'Hagan's calibration of computer models): on factor j's line
the latent is

    f(x) = m(x) + g(x) + d(x),

m and the covariance of g are the box model's posterior *fitted without this line's experiments* (same
hyperparameters, so the line's outcomes are not counted twice), and d ~ GP(0, s^2 RBF(l)) is the discrepancy along
the line (chord distance for a hue). The line's experiments are the likelihood (logistic link, Laplace
approximation, GPML Algorithm 3.1 with a prior mean). s and l maximise the Laplace marginal likelihood of the
line's outcomes over a small grid; s = 0 (the box model alone) is kept unless a discrepancy gains
LINE_EVIDENCE_NATS, so where the line agrees with the rest of the box, or says too little to tell, nothing changes, and where it does not, the data on the line win near themselves and the box model holds elsewhere.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from scipy.linalg import cho_solve, cholesky, solve_triangular
from scipy.special import expit

if TYPE_CHECKING:
    from robofail_ros.continuous.surrogate import FailureModel

#: Fewest experiments on a line (off nominal) before its own evidence is modelled; below, the box model alone.
MIN_LINE_EXPERIMENTS = 3
#: Discrepancy amplitudes (latent s.d.) tried; 0 keeps the box model. Up to 4: a latent swing of +-8 at 2 s.d.
DISCREPANCY_SD = (0.0, 0.5, 1.0, 2.0, 4.0, 8.0)
#: Discrepancy length scales tried (unit coordinates along the line): from a sharp step (3% of the range, the
#: box model's own shortest length scale) to a trend over the whole range.
DISCREPANCY_LENGTH = (0.03, 0.06, 0.12, 0.25, 0.5)
#: Log marginal likelihood a discrepancy must gain over the box model alone before it is used (a Bayes factor of
#: e^3 = 20, "strong" on Kass and Raftery's scale). The best of 25 (amplitude, length) pairs always gains a little,
#: by chance: on a one-in-three failure region, 6 successes in a row on a line (p = 0.09) chose amplitude 4 over the
#: whole line and erased a real threshold. A line that contradicts the box (DarkFreeze: 9 of 21 succeeded where the
#: box said fail) gains far more.
LINE_EVIDENCE_NATS = 3.0
_NEWTON_STEPS = 50
_SMALLEST_STEP = 1e-6  # of a Newton step, before the search gives up on improving


@dataclass
class LinePosterior:
    """Latent posterior at the query points of one line: mean, full covariance, and the discrepancy chosen."""

    mean: np.ndarray
    cov: np.ndarray
    discrepancy_sd: float
    discrepancy_length: float
    experiments: int


def line_posterior(model: "FailureModel", query: np.ndarray, j: int, X: np.ndarray, y: np.ndarray,
                   on: np.ndarray) -> LinePosterior | None:
    """The corrected latent at `query` (unit points on factor j's line) from the experiments X[on], y[on] on it.

    None when the line has fewer than MIN_LINE_EXPERIMENTS experiments: the caller keeps the box model.
    """
    on = np.asarray(on, dtype=bool)
    if on.sum() < MIN_LINE_EXPERIMENTS:
        return None
    off_line = model.refit_on(X[~on], y[~on]) if (~on).any() and len(set(y[~on].tolist())) > 1 else model
    points = np.vstack([X[on], query])
    prior_mean, prior_cov = off_line.latent_joint(points)
    position = points[:, j]
    step = np.abs(position[:, None] - position[None, :])
    if j in model.circular:
        step = np.sin(np.pi * step) / np.pi
    n, best = int(on.sum()), None
    for sd in DISCREPANCY_SD:
        for length in (DISCREPANCY_LENGTH if sd > 0 else DISCREPANCY_LENGTH[:1]):
            # The discrepancy is known only where the line was run: its prior s.d. fades with the distance to the
            # nearest experiment on the line (in its own length scales), so far from them the box model holds.
            reach = np.exp(-0.5 * (step[:, :n].min(axis=1) / length) ** 2)
            K = prior_cov + sd ** 2 * reach[:, None] * reach[None, :] * np.exp(-0.5 * (step / length) ** 2)
            fit = _laplace(K[:n, :n], prior_mean[:n], y[on].astype(float))
            if best is None or fit[0] > best[0] + 1e-9:
                best = (fit[0], sd, length, K, fit)
        if sd == 0.0:
            kept = best  # the box model alone: what a discrepancy must beat by LINE_EVIDENCE_NATS
    assert best is not None
    if best[0] < kept[0] + LINE_EVIDENCE_NATS:
        best = kept
    _, sd, length, K, (_, grad, L, w_sqrt) = best
    mean = prior_mean[n:] + K[n:, :n] @ grad
    v = solve_triangular(L, w_sqrt[:, None] * K[:n, n:], lower=True, check_finite=False)
    return LinePosterior(mean, K[n:, n:] - v.T @ v, sd, length, n)


def _laplace(K: np.ndarray, mean: np.ndarray, y: np.ndarray):
    """Mode of the logistic-likelihood posterior with prior N(mean, K) (GPML Algorithm 3.1, shifted by the mean).

    Each Newton step is damped (halved until the objective Psi = log p(y|f) - g'K^-1 g / 2 does not fall), as
    GPML's own implementation does with a line search. The undamped iteration of Algorithm 3.1 is not guaranteed
    to converge, and on a line whose prior covariance was near-singular (two experiments 0.0004 apart, condition
    number 1e12, prior mean +5) it cycled between two points for ever: the line's posterior then said P = 0 where
    its experiments had failed, and the real vision policy's cube_hue threshold was reported at 0.13 against 0.06.
    Steps are taken in a = K^-1 g, so K is never inverted.

    Returns (log marginal likelihood, gradient of log p(y|f) at the mode, Cholesky factor L of
    I + W^1/2 K W^1/2, W^1/2).
    """
    def objective(a: np.ndarray) -> tuple[float, np.ndarray]:
        g = K @ a
        f = mean + g
        return float(np.sum(y * f - np.logaddexp(0.0, f)) - 0.5 * a @ g), g

    n = len(y)
    a = np.zeros(n)  # g = f - mean = K a
    psi, g = objective(a)
    for _ in range(_NEWTON_STEPS):
        pi = expit(mean + g)
        w_sqrt = np.sqrt(pi * (1.0 - pi))
        L = cholesky(np.eye(n) + w_sqrt[:, None] * K * w_sqrt[None, :], lower=True)
        b = w_sqrt ** 2 * g + (y - pi)
        direction = b - w_sqrt * cho_solve((L, True), w_sqrt * (K @ b)) - a
        step = 1.0
        while True:
            psi_new, g_new = objective(a + step * direction)
            if psi_new >= psi or step < _SMALLEST_STEP:
                break
            step *= 0.5
        if psi_new < psi:
            break  # no step along the Newton direction helps: a is the mode to numerical precision
        a, converged = a + step * direction, np.max(np.abs(g_new - g)) < 1e-8 and psi_new - psi < 1e-10
        psi, g = psi_new, g_new
        if converged:
            break
    pi = expit(mean + g)
    w_sqrt = np.sqrt(pi * (1.0 - pi))
    L = cholesky(np.eye(n) + w_sqrt[:, None] * K * w_sqrt[None, :], lower=True)
    lml = psi - float(np.log(np.diag(L)).sum())
    return lml, y - pi, L, w_sqrt
