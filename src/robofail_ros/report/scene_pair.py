"""The top interacting pair of factors as a map: the fitted P(failure) over the pair, with the episodes on it."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from robofail_ros.continuous.result import SceneAnalysis
from robofail_ros.episode import EpisodeRecord
from robofail_ros.report.common import plt, save_figure
from robofail_ros.report.scene_labels import factor_axis, factor_order, scene_points, scene_title


def top_pair(analysis: SceneAnalysis) -> tuple[tuple[str, str] | None, str]:
    """The pair to draw and why: the fitted map's, else the strongest interaction, else the two factors first in
    `factor_order` (thresholds, then total Sobol index)."""
    top = tuple(analysis.interactions[0].factors) if analysis.interactions else None
    if analysis.pair_map is not None:
        pair = tuple(analysis.pair_map.factors)
    elif top is not None:
        pair = top
    else:
        ordered = factor_order(analysis)
        if len(ordered) < 2:
            return None, "No pair"
        pair = (ordered[0].name, ordered[1].name)
    if top is not None and set(pair) == set(top):
        return pair, "Top interacting pair"
    if analysis.sensitivity_note:
        return pair, "No Sobol indices (P hardly varies); the two factors with the shortest length scales"
    return pair, ("No interacting pair found; the two most influential factors" if analysis.sobol else
                  "No interacting pair found; the first two factors")


def plot_pair_map(analysis: SceneAnalysis, records: Sequence[EpisodeRecord], out_dir: Path) -> Path:
    """Heatmap of the fitted P(failure) over the top pair; every episode projected onto it, failed ones marked ×."""
    pair, why = top_pair(analysis)
    fig, ax = plt.subplots(figsize=(8.0, 6.6))
    info = {f.name: f for f in analysis.factors}
    if pair is None or not set(pair) <= set(info):
        ax.axis("off")
        ax.text(0.5, 0.5, "no pair of factors to map", ha="center", va="center", color="0.5")
        subtitle = ""
    else:
        fa, fb = info[pair[0]], info[pair[1]]
        pm = analysis.pair_map
        if pm is not None:
            smooth = len(pm.x) > 1 and len(pm.y) > 1
            mesh = ax.pcolormesh(np.asarray(pm.x, float), np.asarray(pm.y, float), np.asarray(pm.p, float),
                                 cmap="coolwarm", vmin=0.0, vmax=1.0, shading="gouraud" if smooth else "nearest",
                                 zorder=0)
            fig.colorbar(mesh, ax=ax, fraction=0.046, pad=0.02).set_label("fitted P(failure)")
            if np.nanmin(pm.p) < 0.5 < np.nanmax(pm.p):
                ax.contour(pm.x, pm.y, pm.p, levels=[0.5], colors="black", linewidths=1.2, zorder=1)
        points, failed = scene_points(analysis, records, pair)
        ax.scatter(points[~failed, 0], points[~failed, 1], s=22, marker="o", facecolor="white",
                   edgecolor="black", lw=0.7, label=f"succeeded ({int((~failed).sum())})", zorder=3)
        ax.scatter(points[failed, 0], points[failed, 1], s=40, marker="X", lw=0.8,
                   color="black" if pm is not None else "tab:red",  # red would vanish on the map's red
                   edgecolor="white", label=f"failed ({int(failed.sum())})", zorder=4)
        ax.plot([fa.nominal], [fb.nominal], marker="*", ms=16, color="gold", mec="black", ls="none",
                label="nominal scene", zorder=5, clip_on=False)
        factor_axis(ax, fa, "x")
        factor_axis(ax, fb, "y")
        ax.legend(loc="upper left", bbox_to_anchor=(0.0, -0.12), ncol=3, fontsize=8, frameon=False)
        strength = next((f" (S2 = {i.s2:.2f} ± {i.s2_conf:.2f})" for i in analysis.interactions
                         if set(i.factors) == set(pair)), "")
        fitted = "fitted P(failure), the other factors nominal; black line: P = 0.5" if pm is not None else (
            "no fitted map")
        subtitle = f"\n{pair[0]} × {pair[1]}{strength}: {fitted}"
    title = (f"{why}{subtitle}\n{scene_title(analysis)}"
             + ("\nmarkers: episodes projected onto the pair (the other factors vary)" if subtitle else ""))
    ax.set_title(title, fontsize=9.5)
    fig.tight_layout()
    return save_figure(fig, Path(out_dir) / "pair_map.png",
                       metadata={"Title": title, "Description": "robofail_ros pair map"})
