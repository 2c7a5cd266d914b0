"""Models × perturbations as one picture: which model fails where, at a glance."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from robofail_ros.analysis import AuditAnalysis
from robofail_ros.report.common import plt, save_figure
from robofail_ros.report.labels import budget_suffix, perturbation_axis, values


def plot_heatmap(analyses: list[AuditAnalysis], out_dir: Path, value: str = "rate") -> Path:
    """Models × perturbations; 'pi' rows are renormalised to sum to 1 as in the paper, unmeasured cells grey."""
    if not analyses:
        raise ValueError("plot_heatmap needs at least one analysis")
    names, groups = perturbation_axis(analyses)
    data = np.vstack([values(a, names, value) for a in analyses])
    if value == "pi":
        sums = np.nansum(data, axis=1, keepdims=True)
        data = np.divide(data, sums, out=np.full_like(data, np.nan), where=sums > 0)
    rows, cols = data.shape
    vmax = 1.0 if value == "rate" else max(float(np.nanmax(data)) if np.isfinite(data).any() else 1.0, 1e-9)

    fig_w = min(max(8.0, 2.5 + 0.5 * cols), 40.0)
    fig_h = 2.2 + 0.45 * rows + 0.07 * max((len(n) for n in names), default=0)
    fig, ax = plt.subplots(figsize=(fig_w, fig_h))
    cmap = plt.get_cmap("viridis" if value == "pi" else "Reds").with_extremes(bad="0.85")
    im = ax.imshow(np.ma.masked_invalid(data), cmap=cmap, vmin=0.0, vmax=vmax, aspect="auto",
                   interpolation="nearest")
    fmt = "{:.2f}" if value == "rate" else "{:.3f}"
    for r in range(rows):
        for c in range(cols):
            v = data[r, c]
            if np.isfinite(v):
                frac = v / vmax
                dark = frac > 0.55 if value == "rate" else frac < 0.6
                ax.text(c, r, fmt.format(v), ha="center", va="center", fontsize=7,
                        color="white" if dark else "black")
            else:
                ax.text(c, r, "–", ha="center", va="center", fontsize=7, color="0.5")
    ax.set_xticks(range(cols))
    ax.set_xticklabels(names, rotation=60, ha="right", rotation_mode="anchor", fontsize=8)
    ax.set_yticks(range(rows))
    ax.set_yticklabels([a.name for a in analyses], fontsize=9)
    for i in range(1, cols):
        if groups[i] != groups[i - 1]:
            ax.axvline(i - 0.5, color="white", lw=2)
    label = "measured failure rate" if value == "rate" else "P_failure = π(a|o), row-normalised"
    missing = "unmeasured" if value == "rate" else "no π for this model"
    ax.set_title(f"{label} ({analyses[0].task}{budget_suffix(analyses)}); grey = {missing}", fontsize=11)
    cbar = fig.colorbar(im, ax=ax, fraction=0.025, pad=0.01)
    cbar.ax.tick_params(labelsize=8)
    fig.tight_layout()
    return save_figure(fig, Path(out_dir) / f"heatmap_{value}.png")
