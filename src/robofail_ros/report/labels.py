"""How a discrete audit's numbers are laid out and named in figures: the perturbation axis, values, titles."""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from robofail_ros.analysis import AuditAnalysis
from robofail_ros.report.common import plt

VALUES = ("rate", "pi")


def perturbation_axis(analyses: Sequence[AuditAnalysis]) -> tuple[list[str], list[str]]:
    """Union of perturbation names in catalogue order (first model first) and their groups."""
    names: list[str] = []
    groups: dict[str, str] = {}
    for a in analyses:
        for p in a.perturbations:
            if p.name not in groups:
                names.append(p.name)
                groups[p.name] = p.group
    return names, [groups[n] for n in names]


def values(analysis: AuditAnalysis, names: Sequence[str], value: str) -> np.ndarray:
    """Per-name values of one model as floats, NaN where unmeasured / absent."""
    if value not in VALUES:
        raise ValueError(f"value must be one of {VALUES}, got {value!r}")
    by_name = {p.name: p for p in analysis.perturbations}
    out = np.full(len(names), np.nan)
    for i, n in enumerate(names):
        p = by_name.get(n)
        v = None if p is None else (p.rate if value == "rate" else p.p_failure_pi)
        if v is not None:
            out[i] = v
    return out


def interval(analysis: AuditAnalysis, names: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Wilson bounds per name, NaN where unmeasured (its (0, 1) interval says nothing)."""
    by_name = {p.name: p for p in analysis.perturbations}
    lo, hi = np.full(len(names), np.nan), np.full(len(names), np.nan)
    for i, n in enumerate(names):
        p = by_name.get(n)
        if p is not None and p.rate is not None:
            lo[i], hi[i] = p.ci_low, p.ci_high
    return lo, hi


def group_separators(ax: plt.Axes, groups: Sequence[str]) -> None:
    """Thin lines between perturbation groups so 28 tick labels read as ~10 families."""
    for i in range(1, len(groups)):
        if groups[i] != groups[i - 1]:
            ax.axvline(i - 0.5, color="0.85", lw=0.8, zorder=0)


def bar_figure_width(n_cols: int, n_models: int = 1) -> float:
    return float(min(max(8.0, 2.0 + n_cols * (0.28 + 0.1 * n_models)), 40.0))


def budget_text(a: AuditAnalysis) -> str:
    """'budget 540 searched + 30 control episodes': how much evidence stands behind every number of a report."""
    text = (f"{a.total_episodes} episodes" if a.budget is None
            else f"budget {a.budget} searched + {a.control.episodes} control episodes")
    return f"{text}, {a.interrupted}" if a.interrupted else text


def budget_suffix(analyses: Sequence[AuditAnalysis]) -> str:
    """', searcher bandit, budget 540 searched + 30 control episodes' for a one-model figure; models differ otherwise."""
    if len(analyses) != 1:
        return ""
    return f", searcher {analyses[0].searcher}, {budget_text(analyses[0])}"


def model_title(a: AuditAnalysis) -> str:
    return f"{a.name} on {a.task} (searcher: {a.searcher}, {budget_text(a)})"


def entropy_label(a: AuditAnalysis) -> str:
    """'H = 2.31 nats (max ln 27 = 3.30)': the paper's spread-of-vulnerabilities number, with its ceiling."""
    if a.entropy_pi is None:
        return ""
    n = len(a.pi) if a.pi else len(a.perturbations)
    ceiling = f" (max ln {n} = {math.log(n):.2f})" if n > 1 else ""
    return f"H = {a.entropy_pi:.2f} nats{ceiling}"
