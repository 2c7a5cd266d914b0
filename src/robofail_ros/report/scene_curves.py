"""P(failure) along each factor, others at nominal: where each condition starts to break the policy."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from robofail_ros.continuous.result import FactorCurve, FactorInfo, SceneAnalysis, Threshold
from robofail_ros.report.common import fmt_pct, plt, save_figure
from robofail_ros.report.scene_labels import factor_axis, factor_label, factor_order, scene_title, threshold_labels

CURVE_COLOUR, THRESHOLD_COLOUR, CONTROL_COLOUR = "tab:blue", "tab:red", "0.35"
COLUMNS = 4


def _panel(ax: plt.Axes, f: FactorInfo, curve: FactorCurve | None, thresholds: list[Threshold],
           control_rate: float | None) -> None:
    """One factor: fitted curve with its band, each threshold with its interval, control rate and nominal value."""
    factor_axis(ax, f, "x", label=False)
    ax.set_ylim(0, 1)
    if curve is not None and curve.values:
        x = np.asarray(curve.values, dtype=float)
        ax.fill_between(x, curve.p_low, curve.p_high, color=CURVE_COLOUR, alpha=0.2, lw=0, label="95% band")
        ax.plot(x, curve.p_mean, color=CURVE_COLOUR, lw=1.8, label="P(failure), others nominal")
    else:
        ax.text(0.5, 0.5, "no fitted curve", transform=ax.transAxes, ha="center", va="center", color="0.5")
    for t in thresholds:
        ax.axvspan(t.ci_low, t.ci_high, color=THRESHOLD_COLOUR, alpha=0.15, lw=0, label="threshold 95% interval")
        ax.axvline(t.value, color=THRESHOLD_COLOUR, lw=1.4, label="threshold")
    if control_rate is not None:
        ax.axhline(control_rate, color=CONTROL_COLOUR, ls="--", lw=1, label=f"control rate {fmt_pct(control_rate)}")
    ax.axvline(f.nominal, color="black", ls=":", lw=1.2, label="nominal value")
    title = factor_label(f)
    if thresholds:
        title += "\n" + "; ".join(threshold_labels(thresholds))
    ax.set_title(title, fontsize=9, color=THRESHOLD_COLOUR if thresholds else "black")
    ax.tick_params(labelsize=7)
    ax.grid(color="0.93", zorder=0)


def plot_factor_curves(analysis: SceneAnalysis, out_dir: Path) -> Path:
    """Small multiples, one panel per factor: those with a threshold first, then by total Sobol index."""
    factors = factor_order(analysis)
    curves = {c.factor: c for c in analysis.curves}
    n = max(len(factors), 1)
    cols = min(COLUMNS, n)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.4 * cols + 0.6, 2.6 * rows + 1.6), squeeze=False,
                             layout="constrained")
    control = analysis.control.rate
    for ax, f in zip(axes.flat, factors):
        _panel(ax, f, curves.get(f.name), [t for t in analysis.thresholds if t.factor == f.name], control)
    for ax in axes[:, 0]:
        ax.set_ylabel("P(failure)", fontsize=8)
    for ax in axes.flat[len(factors):]:
        ax.axis("off")
    if not factors:
        axes.flat[0].text(0.5, 0.5, "no factors", ha="center", va="center", color="0.5")
    handles: dict[str, object] = {}
    for ax in axes.flat:
        for h, label in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(label, h)
    if handles:
        fig.legend(handles.values(), handles.keys(), loc="outside lower center", ncol=min(len(handles), 6),
                   fontsize=8, frameon=False)
    found = f"{len(analysis.thresholds)} threshold(s)" if analysis.thresholds else "no threshold found"
    title = f"P(failure) along each factor, the others at nominal; {found}\n{scene_title(analysis)}"
    fig.suptitle(title, fontsize=11)
    return save_figure(fig, Path(out_dir) / "factor_curves.png",
                       metadata={"Title": title, "Description": "robofail_ros factor curves"})
