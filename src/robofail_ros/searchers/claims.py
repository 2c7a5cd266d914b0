"""Episodes that test the thresholds an audit is about to report, on the very lines they are read from.

A threshold is read off the failure model along one factor's line through the nominal scene (continuous.
thresholds). The model's confidence there can come from anywhere in the box: when most scenes fail, an episode
that failed because three other factors were off nominal also says, through the kernel, "fails" far out on a
line it never touched. So a threshold can be reported, with a narrow interval, on a factor that does not matter
(measured: 4 such thresholds on a fake policy whose working region is a 6-factor pocket, seed 0), or put early on a
sharp step near the end of a range (DarkFreeze's light_saturation, 7-11% low, docs/benchmarks.md §8c).

The check of a claim "fails when x > v [lo, hi]" is one episode at the failing end of its interval (x = hi, every
other factor nominal), where the model says the policy already fails. If it does, the claim stands and its
interval is now pinned by data on its line; if not, the model learns it and the claim moves or disappears. A
check is not repeated once an episode lies within CHECK_TOLERANCE of it on that line; a claim that moves gets a
new check. A claim whose interval is still wider than PINNED_WIDTH also gets episodes inside its interval, each at
the value farthest from the line's episodes, until the interval narrows or every value has one: a failure that
comes in one episode of three is not pinned by one episode at the end. The boundary searcher spends a share of each
batch on the checks, the claims with the widest intervals first.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from robofail_ros.continuous.surrogate import FailureModel
    from robofail_ros.factors import FactorSpace

#: An episode on a claim's line within this distance (unit coordinates, i.e. 1% of the factor's range) of its
#: check point already tests it.
CHECK_TOLERANCE = 0.01
#: Posterior draws per factor curve when reading the claims (the report uses more; the checks only need the ends).
CHECK_DRAWS = 200
#: A claim whose 95% interval spans more than this share of its factor's range is not pinned yet: the checks also
#: place episodes inside it (the precision the study asks of a threshold, docs/benchmarks.md §8).
PINNED_WIDTH = 0.05


def claim_checks(model: "FailureModel", space: "FactorSpace", seen: np.ndarray, seed: int,
                 limit: int | None = None) -> np.ndarray:
    """Up to `limit` check points (unit coordinates) of the thresholds the model now implies.

    First the failing end of every claim whose end no episode in `seen` tests yet, widest interval first (the least
    pinned claim first). Then, while slots remain, points inside the intervals of the claims not yet pinned
    (interval wider than PINNED_WIDTH of the factor's range), one per claim in turn, widest first: each the value in
    the interval farthest from the line's episodes and from the points already taken (`interval_point`). Why: one
    episode at the failing end pins a sharp, deterministic step, but not a failure that comes in a third of the
    episodes. Measured on the planted ColourfulTableCoin (fails in 1/3 of the initial states when the table is
    colourful): its claim read 0.82 [0.48, 0.95], truth 0.708, and stayed so, because its failing end had been run
    and the rest of its interval held no episode of its line, so nothing could move it. `seen` holds the unit points
    of every episode run so far, the control episodes' nominal scene included.
    """
    from robofail_ros.continuous.thresholds import factor_curves  # scikit-learn only when a model exists

    nominal = np.asarray(space.to_unit(np.asarray(space.nominal, dtype=float)), dtype=float)
    _, claims = factor_curves(model, space, draws=CHECK_DRAWS, seed=seed)
    seen = np.asarray(seen, dtype=float).reshape(-1, space.dim)
    limit = len(claims) * 2 if limit is None else max(int(limit), 0)
    ends, widths, unpinned = [], [], []
    for claim in claims:
        j = space.index(claim.factor)
        factor = space.factors[j]
        end = claim.ci_high if claim.direction == "above" else claim.ci_low
        point = nominal.copy()
        point[j] = float(np.clip(factor.to_unit(end), 0.0, 1.0))
        interval = sorted(float(np.clip(factor.to_unit(v), 0.0, 1.0)) for v in (claim.ci_low, claim.ci_high))
        width = interval[1] - interval[0]
        if width > PINNED_WIDTH:
            unpinned.append((width, j, interval))
        if _tested(point, j, seen) or any(np.array_equal(point, c) for c in ends):
            continue
        ends.append(point)
        widths.append(width)
    order = np.argsort(-np.asarray(widths), kind="stable")
    checks = [ends[i] for i in order][:limit]
    unpinned.sort(key=lambda c: -c[0])
    while len(checks) < limit and unpinned:
        for claim in list(unpinned):
            if len(checks) >= limit:
                break
            _, j, interval = claim
            taken = np.vstack([seen, *checks]) if checks else seen
            point = interval_point(space, nominal, j, interval, taken)
            if point is None:  # every value of the interval already has an episode within CHECK_TOLERANCE
                unpinned.remove(claim)
                continue
            checks.append(point)
    return np.asarray(checks, dtype=float).reshape(-1, space.dim)


def interval_point(space: "FactorSpace", nominal: np.ndarray, j: int, interval: list[float],
                   seen: np.ndarray) -> np.ndarray | None:
    """The point on factor j's line whose value in `interval` (unit coordinates) is farthest from the line's
    episodes in `seen` (around the circle for a hue); None when none is farther than CHECK_TOLERANCE."""
    from robofail_ros.continuous.thresholds import on_line

    values = PROBE_GRID[(PROBE_GRID > interval[0]) & (PROBE_GRID < interval[1])]
    values = np.concatenate([[interval[0]], values, [interval[1]]])
    taken = np.append(seen[on_line(seen, nominal, j), j], nominal[j]) if len(seen) else nominal[j:j + 1]
    nearest = _distance_to_nearest(values, taken, j in space.circular)
    best = int(np.argmax(nearest))
    if nearest[best] <= CHECK_TOLERANCE:
        return None
    point = nominal.copy()
    point[j] = values[best]
    return point


def _tested(point: np.ndarray, j: int, seen: np.ndarray) -> bool:
    """Whether an episode lies on factor j's line through nominal within CHECK_TOLERANCE of `point`."""
    from robofail_ros.continuous.thresholds import on_line

    if not len(seen):
        return False
    return bool(np.any(on_line(seen, point, j) & (np.abs(seen[:, j] - point[j]) <= CHECK_TOLERANCE)))


#: Values along a line scored when placing a line probe (unit coordinates; 1% apart, like CHECK_TOLERANCE).
PROBE_GRID = np.linspace(0.0, 1.0, 101)


def line_probes(space: "FactorSpace", seen: np.ndarray, n: int) -> np.ndarray:
    """Up to n points, one per factor, on the lines through nominal that hold the fewest experiments.

    Why: a threshold is read on its factor's line, and the line model (continuous.line_model) needs
    MIN_LINE_EXPERIMENTS there before that line's own outcomes count. Straddle picks go where the box model is
    unsure; when it has wrongly learnt that a factor does not matter, its line looks certain and is never run, and
    that factor's threshold goes unreported (measured: a 6-factor pocket, 512 episodes, no episode on camera_yaw's
    line and both its edges missing). Probing every line a few times is 3 x dim episodes at most, then nothing.
    Only factors with fewer than MIN_LINE_EXPERIMENTS are probed, fewest first; each probe goes to the value on
    the line farthest from nominal and from that line's experiments (around the circle for a hue), so the first
    probes of a line are its two ends, where an effect is largest.
    """
    from robofail_ros.continuous.line_model import MIN_LINE_EXPERIMENTS
    from robofail_ros.continuous.thresholds import ON_LINE, on_line

    nominal = np.asarray(space.to_unit(np.asarray(space.nominal, dtype=float)), dtype=float)
    seen = np.asarray(seen, dtype=float).reshape(-1, space.dim)
    counts, taken = [], []
    for j in range(space.dim):
        on = on_line(seen, nominal, j) & (np.abs(seen[:, j] - nominal[j]) > ON_LINE) if len(seen) else np.zeros(0, bool)
        counts.append(int(on.sum()))
        taken.append(np.append(seen[on, j], nominal[j]))
    order = [j for j in np.argsort(counts, kind="stable") if counts[j] < MIN_LINE_EXPERIMENTS][:max(n, 0)]
    probes = []
    for j in order:
        point = nominal.copy()
        point[j] = PROBE_GRID[int(np.argmax(_distance_to_nearest(PROBE_GRID, taken[j], j in space.circular)))]
        probes.append(point)
    return np.asarray(probes, dtype=float).reshape(-1, space.dim)


def _distance_to_nearest(values: np.ndarray, taken: np.ndarray, circular: bool) -> np.ndarray:
    """Distance (unit coordinates, around the circle for a hue) from each of `values` to the nearest of `taken`."""
    gap = np.abs(np.asarray(values)[:, None] - np.asarray(taken)[None, :])
    return (np.minimum(gap, 1.0 - gap) if circular else gap).min(axis=1)
