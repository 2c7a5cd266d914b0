"""Small, well-known statistics used to report failure rates honestly."""
from __future__ import annotations

import math
from typing import Hashable, Sequence

from scipy import stats as _st

#: Confidence level of every interval the tool reports.
CONFIDENCE = 0.95


def widest_half_width(n: int, confidence: float = CONFIDENCE) -> float:
    """Normal-approximation half-width of a rate of one half over n draws: the most a rate over n samples
    (e.g. an audit's pool of initial states) can differ from the population's at this confidence."""
    return float(_st.norm.ppf(0.5 + confidence / 2.0) * math.sqrt(0.25 / n))


def wilson_interval(failures: int, n: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion; (0, 1) when nothing was observed.

    Unlike the normal approximation it stays inside [0, 1] and is not degenerate at 0/n or n/n,
    which is exactly where audits of a deterministic policy land.
    """
    if n <= 0:
        return 0.0, 1.0
    if not 0 <= failures <= n:
        raise ValueError(f"failures must be in [0, n={n}], got {failures}")
    z = _st.norm.ppf(0.5 + confidence / 2.0)
    p = failures / n
    denom = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    lo = 0.0 if failures == 0 else max(0.0, centre - half)
    hi = 1.0 if failures == n else min(1.0, centre + half)
    return lo, hi


def entropy_nats(probs: Sequence[float]) -> float:
    """Shannon entropy H = -sum p log p in nats (the paper's unit); a one-hot distribution gives 0.0, not -0.0."""
    return float(-sum(p * math.log(p) for p in probs if p > 0)) + 0.0


def posterior_mean_rate(failures: int, n: int) -> float:
    """Mean (k + 1) / (n + 2) of the Beta(1 + k, 1 + n - k) posterior of a failure rate under a uniform prior.

    Unlike k / n it exists before the first episode (0.5) and never claims 0 or 1 from a handful of episodes.
    """
    if n < 0 or not 0 <= failures <= n:
        raise ValueError(f"failures must be in [0, n] with n >= 0, got {failures} of {n}")
    return (failures + 1.0) / (n + 2.0)


def failure_distribution(counts: Sequence[tuple[int, int]]) -> list[float]:
    """P(failure | condition) estimated from episodes: each condition's posterior mean rate, normalised to sum 1.

    `counts` holds (failures, episodes) per condition. The result is the probability that a failure came from
    each condition if every condition were tried equally often: a distribution over the same conditions as the
    paper's π, defined from the first episode on (uniform before any), and it moves with every episode.
    """
    means = [posterior_mean_rate(k, n) for k, n in counts]
    total = sum(means)
    return [m / total for m in means] if means else []


def experiment_means(outcomes: Sequence[bool | float], keys: Sequence[Hashable]) -> list[tuple[float, int]]:
    """Outcomes clustered by experiment: (mean outcome, repeats) per distinct key, in order of first appearance.

    Episodes with the same key re-ran the same experiment (initial state, perturbations, scene). A deterministic
    policy repeats its outcome, so the repeats are one observation; a stochastic one may differ between repeats,
    and the mean keeps that information without counting the experiment more than once.
    """
    if len(outcomes) != len(keys):
        raise ValueError(f"one key per outcome needed, got {len(keys)} keys for {len(outcomes)} outcomes")
    sums: dict[Hashable, list[float]] = {}
    for outcome, key in zip(outcomes, keys):
        s = sums.setdefault(key, [0.0, 0])
        s[0] += float(outcome)
        s[1] += 1
    return [(total / n, n) for total, n in sums.values()]
