"""The paper's bar charts (Fig. 3): failure rate per perturbation grouped by model, and stacked over models."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from robofail_ros.analysis import AuditAnalysis
from robofail_ros.report.common import fmt_pct, model_colours, plt, save_figure
from robofail_ros.report.labels import (
    bar_figure_width,
    budget_suffix,
    group_separators,
    interval,
    perturbation_axis,
    values,
)


def plot_grouped_bars(analyses: list[AuditAnalysis], out_dir: Path) -> Path:
    """Measured rate per perturbation, one bar per model, Wilson error bars, dashed control line per model."""
    if not analyses:
        raise ValueError("plot_grouped_bars needs at least one analysis")
    names, groups = perturbation_axis(analyses)
    m = len(analyses)
    x = np.arange(len(names))
    width = 0.8 / m
    colours = model_colours(m)
    fig, ax = plt.subplots(figsize=(bar_figure_width(len(names), m), 6.0))
    group_separators(ax, groups)
    handles = []
    for j, (a, col) in enumerate(zip(analyses, colours)):
        rate = values(a, names, "rate")
        lo, hi = interval(a, names)
        pos = x - 0.4 + width * (j + 0.5)
        ok = np.isfinite(rate)
        handles.append(ax.bar(pos[ok], rate[ok], width=width * 0.95, color=col, label=a.name, zorder=2))
        yerr = np.vstack([rate[ok] - lo[ok], hi[ok] - rate[ok]]).clip(min=0)
        ax.errorbar(pos[ok], rate[ok], yerr=yerr, fmt="none", ecolor="0.2", elinewidth=0.8,
                    capsize=min(3.0, 12.0 / m), zorder=3)
        if (~ok).any():
            ax.plot(pos[~ok], np.full((~ok).sum(), 0.01), ls="none", marker="x", ms=4, color=col, zorder=3)
        if a.control.rate is not None:
            handles.append(ax.axhline(
                a.control.rate, color=col, ls="--", lw=1.2, zorder=1,
                label=f"control {fmt_pct(a.control.rate)} (n={a.control.experiments})"))
    ax.set_xticks(x)
    ax.set_xticklabels(names, rotation=60, ha="right", rotation_mode="anchor", fontsize=8)
    ax.set_xlim(-0.6, len(names) - 0.4)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("failure rate (95% Wilson interval)")
    fig.suptitle(f"Measured failure rate per perturbation ({analyses[0].task}{budget_suffix(analyses)}); "
                 f"× = not measured", fontsize=11)
    ax.grid(axis="y", color="0.92", zorder=0)
    # Above the axes: inside, it would hide the bars of the first perturbations.
    ax.legend(handles=handles, fontsize=8, ncol=min(len(handles), 8), loc="lower left",
              bbox_to_anchor=(0.0, 1.0), frameon=False)
    fig.tight_layout()
    return save_figure(fig, Path(out_dir) / "grouped_bars.png")


def plot_stacked_bars(analyses: list[AuditAnalysis], out_dir: Path, value: str = "rate") -> Path:
    """Each failure mode's value stacked over models (paper Fig. 3): tall bars are modes many models share.

    Writes `stacked_bars.png` for measured rates and `stacked_bars_pi.png` for π.
    """
    if not analyses:
        raise ValueError("plot_stacked_bars needs at least one analysis")
    names, groups = perturbation_axis(analyses)
    x = np.arange(len(names))
    colours = model_colours(len(analyses))
    fig, ax = plt.subplots(figsize=(bar_figure_width(len(names)), 5.5))
    group_separators(ax, groups)
    bottom = np.zeros(len(names))
    for a, col in zip(analyses, colours):
        if value == "pi" and a.pi is None:
            continue  # no π for this model: nothing to stack, and no misleading legend entry
        v = np.nan_to_num(values(a, names, value), nan=0.0)
        ax.bar(x, v, bottom=bottom, width=0.75, color=col, label=a.name, zorder=2,
               edgecolor="white", linewidth=0.5)
        bottom += v
    ax.set_xticks(x)
    ax.set_xticklabels(names, rotation=60, ha="right", rotation_mode="anchor", fontsize=8)
    ax.set_xlim(-0.6, len(names) - 0.4)
    what = "measured failure rate" if value == "rate" else "P_failure = π(a|o)"
    ax.set_ylabel(f"{what}, stacked over models")
    ax.set_title(f"Failure modes across models ({analyses[0].task}{budget_suffix(analyses)}): {what}", fontsize=11)
    ax.grid(axis="y", color="0.92", zorder=0)
    ax.legend(fontsize=8, loc="upper left", ncol=min(len(analyses), 4), framealpha=0.9)
    fig.tight_layout()
    return save_figure(fig, Path(out_dir) / ("stacked_bars.png" if value == "rate" else "stacked_bars_pi.png"))
