"""Per factor: P(failure) along the factor with every other factor at nominal, and where failure sets in.

Definition of a threshold (applied separately on each side of the factor's nominal value):

* P0 is the fitted P(failure) at the nominal scene; along the side, the curve reaches its largest value E at
  x* (the grid point farthest from nominal on a tie).
* Failure *sets in* on that side only if the rise is large and credible: E - P0 >= MIN_RISE, and in at least
  CREDIBLE of the joint posterior draws P(x*) > P(nominal).
* The level is half-way, L = (N + E) / 2, so a failure that saturates at 0.6 is located as well as one that
  reaches 1.0, and a threshold is where the effect is half developed (the "x50" of a dose-response curve).
  N, the rate at nominal, is the *control's* measured rate when the audit ran a control (P0 otherwise). Why not
  the model's P0: the control measures the nominal scene directly, while the model reaches it only through its
  kernel, which smooths a rise next to nominal into it. On probabilistic, state-dependent failures (plateaus of
  20-60%) the fitted P0 came out above the truth (0.10 [0.06, 0.15] against 0 with 0 of 30 control failures), the
  level rose with it, and 79-95% of the reported thresholds lay outward of the truth with intervals that missed it
  (benchmarks §8p). Anchored on the control, boundary's intervals held the truth for 40 of 42 reported
  thresholds instead of 34, and for 38 of 42 instead of 31 on 12 cases drawn afresh afterwards (§8q). Whether
  failure sets in at all is still judged on the model's own curve (E - P0 and the credible rise above): a curve
  that is flat but sits above the control everywhere is the model's offset, not a threshold, and judged against
  the control it became a spurious one (§8q).
* The threshold is the first crossing of L walking outward from nominal (linear interpolation between grid
  points). If the curve falls back below L before the end of the range, beyond x*, failure is confined to a
  band [a, b] and both edges are reported (each `Threshold` carries `band`).
* The 95% interval of each edge repeats the construction on joint posterior draws of the whole curve, each with
  its own E at x* and level, and its own N (a Jeffreys Beta draw of the control's rate, or the draw's P0). A draw
  that never crosses counts as crossing at the end of the range, which widens the interval rather than hiding the
  doubt. A draw's far band edge is its downward crossing nearest the reported one, so a draw that dips inside a
  long band does not count the dip as the band's end.

A side with no credible rise yields no threshold, so a factor that does not matter yields none at all.

Each threshold also counts the episodes run on its own line (`count_line_evidence`): a model fitted over the
whole box can claim a crossing on a line it never touched, from scenes where other factors broke the policy, and
the reader should see whether it did.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from scipy.special import expit

from robofail_ros.continuous.line_model import line_posterior
from robofail_ros.continuous.result import FactorCurve, FactorInfo, Threshold
from robofail_ros.continuous.surrogate import FailureModel, p_band, sample_gaussian

if TYPE_CHECKING:
    from robofail_ros.analysis import RateEstimate
    from robofail_ros.factors import FactorSpace

#: Points of each factor curve (uniform in unit-cube coordinates, so log factors get log-spaced points).
GRID_POINTS = 60
#: Smallest rise of P(failure) over its nominal value worth calling a threshold.
MIN_RISE = 0.1
#: Posterior probability that P at the worst point exceeds P at nominal, for the rise to count.
CREDIBLE = 0.975
#: Joint posterior draws per factor curve.
DRAWS = 400


def _first_at_or_above(c: np.ndarray, level: float, start: int) -> float | None:
    """Fractional index of the first crossing of c up through `level` at or after `start` (c[start-1] < level)."""
    hits = np.flatnonzero(c[start:] >= level)
    if not len(hits):
        return None
    i = start + int(hits[0])
    if i == 0:
        return 0.0
    lo, hi = c[i - 1], c[i]
    return i - 1 + (level - lo) / (hi - lo) if hi > lo else float(i)


def _crossings_below(c: np.ndarray, level: float, start: int) -> np.ndarray:
    """Fractional indices of every crossing of c down through `level` after `start` (c[start] >= level)."""
    i = start + 1 + np.flatnonzero((c[start:-1] >= level) & (c[start + 1:] < level))
    lo, hi = c[i], c[i - 1]
    return i - 1 + (hi - level) / np.where(hi > lo, hi - lo, 1.0)


def _edges(c: np.ndarray, peak: int, near: float | None = None) -> tuple[float | None, float | None, float]:
    """Onset and far edge (fractional indices) of the curve c = [P0, P along the side outward], peak index.

    The far edge is the first downward crossing after the peak, or, for a posterior draw, the crossing nearest the
    reported edge `near`. Why not a draw's first crossing: a draw of a long band that dips under half-way anywhere
    inside it would put its far edge at the dip, and a few such draws stretched the edge's interval across the
    whole band (cube_hue's far edge 0.0607 [0.0376, 0.859], benchmarks §8g/§8j). A dip is doubt about the band's
    inside, not about where it ends.
    """
    level = 0.5 * (c[0] + c[peak])
    onset = _first_at_or_above(c, level, 1)
    far = None
    if onset is not None:
        crossings = _crossings_below(c, level, peak)
        if len(crossings):
            far = float(crossings[0] if near is None else crossings[np.argmin(np.abs(crossings - near))])
    return onset, far, level


def _fmt(v: float) -> str:
    return f"{v:.3g}"


def _interp(positions: np.ndarray, index: float) -> float:
    return float(np.interp(index, np.arange(len(positions)), positions))


def factor_curves(model: FailureModel, space: "FactorSpace", *, points: int = GRID_POINTS, draws: int = DRAWS,
                  seed: int = 0, control: "RateEstimate | None" = None) -> tuple[list[FactorCurve], list[Threshold]]:
    """Curves and thresholds of every factor of `space` (see the module docstring for the definition).

    `control`, the audit's control rate at the nominal scene, anchors each threshold's level (None, or a control
    without a rated experiment: the model's own P at nominal does). Only `names`, `nominal`, `to_unit`,
    `from_unit` and `info()` of the space are used.
    """
    infos = space.info()
    u_nominal = np.asarray(space.to_unit(np.asarray(space.nominal, dtype=float)), dtype=float)
    grid = np.linspace(0.0, 1.0, points)
    rng = np.random.default_rng(seed)
    # The anchor's draws have a stream of their own, so the curves' draws (and the credible rises) do not move.
    anchor = nominal_anchor(control, draws, np.random.default_rng([seed, 1]))
    curves: list[FactorCurve] = []
    thresholds: list[Threshold] = []
    X, y = (model.X_, model.y_) if model.X_ is not None and not model.flat else (None, None)
    for j, info in enumerate(infos):
        U = np.repeat(u_nominal[None, :], points + 1, axis=0)
        U[:points, j] = grid
        values = np.asarray(space.from_unit(U), dtype=float)[:points, j]
        line = None
        if X is not None:
            on = on_line(X, u_nominal, j) & (np.abs(X[:, j] - u_nominal[j]) > ON_LINE)
            line = line_posterior(model, U, j, X, y, on)
        if line is None:
            mean, low, high = model.predict(U)
            samples = model.sample_p(U, draws, rng)
        else:
            mean, low, high = p_band(line.mean, np.diag(line.cov))
            samples = expit(sample_gaussian(line.mean, line.cov, draws, rng))
        curves.append(FactorCurve(info.name, [float(v) for v in values], [float(v) for v in mean[:points]],
                                  [float(v) for v in low[:points]], [float(v) for v in high[:points]]))
        for side in ("below", "above"):
            outward = (np.flatnonzero(grid < u_nominal[j])[::-1] if side == "below"
                       else np.flatnonzero(grid > u_nominal[j]))
            if len(outward) < 2:
                continue
            positions = np.concatenate([[float(space.nominal[j])], values[outward]])
            thresholds += _side_thresholds(info, side, positions, mean[points], mean[outward],
                                           samples[:, points], samples[:, outward], anchor)
    return curves, thresholds


def nominal_anchor(control: "RateEstimate | None", draws: int,
                   rng: np.random.Generator) -> tuple[float, np.ndarray] | None:
    """N of the half-way level from the control: its measured rate, and `draws` Jeffreys Beta draws for the
    intervals (k failed of n experiments; k is fractional when a stochastic policy's repeats disagreed).
    None without a rated control experiment."""
    if control is None or control.rate is None:  # no rated control experiment
        return None
    k, n = float(control.failed_experiments), float(control.experiments)
    return float(control.rate), rng.beta(k + 0.5, n - k + 0.5, size=draws)


def _side_thresholds(info: FactorInfo, side: str, positions: np.ndarray, p0: float, p_side: np.ndarray,
                     s0: np.ndarray, s_side: np.ndarray,
                     anchor: tuple[float, np.ndarray] | None = None) -> list[Threshold]:
    """Threshold(s) on one side; positions[0] is nominal, then the grid values outward.

    p0 and s0 (the model's P at nominal and its draws) judge whether failure sets in; `anchor` (N and its draws,
    `nominal_anchor`), when given, replaces them in the level.
    """
    c = np.concatenate([[p0], p_side])
    peak = int(np.flatnonzero(c == c.max())[-1])
    if peak == 0 or c[peak] - p0 < MIN_RISE or np.mean(s_side[:, peak - 1] > s0) < CREDIBLE:
        return []
    if anchor is not None:
        c[0], s0 = anchor
    onset, far, level = _edges(c, peak)
    if onset is None:
        return []
    end = len(c) - 1
    onset_draws, far_draws = [], []
    for s in range(len(s0)):
        cs = np.concatenate([[s0[s]], s_side[s]])
        o, f, _ = _edges(cs, peak, near=far) if cs[peak] > cs[0] else (None, None, 0.0)
        onset_draws.append(end if o is None else o)
        far_draws.append(end if f is None else f)
    name, unit = info.name, f" {info.unit}" if info.unit else ""
    fail_op = "<" if side == "below" else ">"
    edges = [("onset", onset, onset_draws)] + ([("far", far, far_draws)] if far is not None else [])
    found = []
    for role, idx, idx_draws in edges:
        value = _interp(positions, idx)
        lo, hi = sorted(_interp(positions, float(q)) for q in np.percentile(idx_draws, [2.5, 97.5]))
        found.append((role, value, lo, hi))
    band = sorted([found[0][1], found[1][1]]) if far is not None else None
    out = []
    for role, value, lo, hi in found:
        if band is None:
            text = f"fails when {name} {fail_op} {_fmt(value)} [{_fmt(lo)}, {_fmt(hi)}]{unit}"
        else:
            (_, v1, l1, h1), (_, v2, l2, h2) = sorted(found, key=lambda e: e[1])
            text = (f"fails when {_fmt(v1)} [{_fmt(l1)}, {_fmt(h1)}] < {name} < "
                    f"{_fmt(v2)} [{_fmt(l2)}, {_fmt(h2)}]{unit} (a band)")
        direction = side if role == "onset" else ("above" if side == "below" else "below")
        out.append(Threshold(name, value, lo, hi, direction, float(level), text, band=band))
    return out



#: A searched scene lies on factor j's line through nominal when every other coordinate is within this of nominal.
ON_LINE = 1e-9


def on_line(X: np.ndarray, u_nominal: np.ndarray, j: int) -> np.ndarray:
    """Mask of the rows of X (unit coordinates) on factor j's line through nominal: every other factor nominal."""
    return np.delete(np.abs(X - u_nominal), j, axis=1).max(axis=1, initial=0.0) < ON_LINE


def count_line_evidence(thresholds: list[Threshold], space: "FactorSpace", X: np.ndarray, failed: np.ndarray) -> None:
    """Fill each threshold's line_* counts from experiments X (unit coordinates, one row each) and their outcomes.

    Failing side: beyond the threshold (below it for 'below'), or inside [a, b] for a band's edges. Before: the
    rest of the same side of nominal (for a band, the rest of the whole line: outside the band).
    """
    X = np.asarray(X, dtype=float).reshape(-1, space.dim)
    failed = np.asarray(failed, dtype=bool)
    u_nominal = np.asarray(space.to_unit(np.asarray(space.nominal, dtype=float)), dtype=float)
    for t in thresholds:
        j = space.index(t.factor)
        on = on_line(X, u_nominal, j)
        v = np.asarray(space.from_unit(X[on]), dtype=float)[:, j] if on.any() else np.empty(0)
        nominal = float(space.nominal[j])
        if t.band is not None:
            a, b = t.band
            beyond, same_side = (v > a) & (v < b), np.ones(len(v), bool)
        elif t.direction == "below":
            beyond, same_side = v < t.value, v < nominal
        else:
            beyond, same_side = v > t.value, v > nominal
        before = same_side & ~beyond
        f = failed[on]
        t.line_beyond, t.line_beyond_failed = int(beyond.sum()), int(f[beyond].sum())
        t.line_before, t.line_before_failed = int(before.sum()), int(f[before].sum())
