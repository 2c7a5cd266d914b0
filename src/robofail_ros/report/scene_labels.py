"""How a continuous audit is named and laid out: titles, factor labels and axes, factor order, episode points."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from robofail_ros.continuous.result import FactorInfo, FailureRule, SceneAnalysis, Threshold
from robofail_ros.episode import FAILURE, SUCCESS, EpisodeRecord
from robofail_ros.report.common import plt


def scene_budget_text(a: SceneAnalysis) -> str:
    """'budget 300 searched + 30 control episodes': how much evidence stands behind every number."""
    searched = a.budget if a.budget is not None else a.episodes
    text = f"budget {searched} searched + {a.control.episodes} control episodes"
    return f"{text}, {a.interrupted}" if a.interrupted else text


def scene_title(a: SceneAnalysis) -> str:
    """'vision on Lift (searcher: sobol, budget 300 searched + 30 control episodes)': every figure says this."""
    return f"{a.name} on {a.task} (searcher: {a.searcher}, {scene_budget_text(a)})"


def factor_label(f: FactorInfo) -> str:
    """'light_intensity (× nominal)': the factor's name with its unit, for axis labels."""
    return f"{f.name} ({f.unit})" if f.unit else f.name


def factor_axis(ax: plt.Axes, f: FactorInfo, which: str = "x", label: bool = True) -> None:
    """Scale, limits and a few plain tick labels for one factor's axis (log factors on a log axis)."""
    from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter

    axis = ax.xaxis if which == "x" else ax.yaxis
    log = f.scale == "log" and f.low > 0
    (ax.set_xscale if which == "x" else ax.set_yscale)("log" if log else "linear")
    (ax.set_xlim if which == "x" else ax.set_ylim)(f.low, f.high)
    if log:
        axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        axis.set_minor_formatter(NullFormatter())
    else:
        axis.set_major_locator(MaxNLocator(5))
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    if label:
        axis.set_label_text(factor_label(f))


def fmt_value(v: float) -> str:
    return f"{v:.3g}"


def _with_interval(t: Threshold) -> str:
    return f"{fmt_value(t.value)} [{fmt_value(t.ci_low)}, {fmt_value(t.ci_high)}]"


def threshold_labels(thresholds: Sequence[Threshold]) -> list[str]:
    """'fails below 0.31 [0.27, 0.35]', short enough for a panel title; the two edges of a band make one label
    ('fails between 0.2 [..] and 0.5 [..]'), since 'fails above 0.2; fails below 0.5' reads as failing everywhere."""
    labels, bands = [], {}
    for t in thresholds:
        if t.band is None:
            labels.append(f"fails {t.direction} {_with_interval(t)}")
        else:
            bands.setdefault(tuple(t.band), []).append(t)
    for edges in bands.values():
        edges = sorted(edges, key=lambda t: t.value)
        labels.append("fails between " + " and ".join(_with_interval(t) for t in edges))
    return labels


def conditions_text(rule: FailureRule) -> str:
    """'light_intensity < 0.31 and cube_value >= 0.2': a rule's box, for when the analysis gave it no text."""
    return " and ".join(f"{c.factor} {c.op} {c.value:.4g}" for c in rule.conditions)


def factor_order(a: SceneAnalysis) -> list[FactorInfo]:
    """Factors a person should look at first: those with a threshold, then by total Sobol index, then by the model's
    length scale (shortest first; the ranking when no Sobol index is reported), then as defined."""
    with_threshold = {t.factor for t in a.thresholds}
    total = {s.factor: s.st for s in a.sobol if np.isfinite(s.st)}
    position = {f.name: i for i, f in enumerate(a.factors)}
    return sorted(a.factors, key=lambda f: (f.name not in with_threshold, -total.get(f.name, -np.inf),
                                            a.length_scales.get(f.name, np.inf), position[f.name]))


def scene_points(a: SceneAnalysis, records: Sequence[EpisodeRecord],
                 names: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Continuous episodes that ran to an outcome as (n, len(names)) factor values and a failed flag.

    A factor a scene leaves out stood at its nominal value (the scene applied nothing to it).
    """
    nominal = {f.name: f.nominal for f in a.factors}
    rows, failed = [], []
    for r in records:
        if r.scene is None or r.outcome not in (FAILURE, SUCCESS):
            continue
        rows.append([float(r.scene.get(n, nominal[n])) for n in names])
        failed.append(r.outcome == FAILURE)
    return np.array(rows, dtype=float).reshape(len(rows), len(names)), np.array(failed, dtype=bool)
