"""Which factors drive failure over the whole box: Sobol first-order and total indices with their intervals."""
from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np

from robofail_ros.continuous.result import SceneAnalysis
from robofail_ros.report.common import plt, save_figure
from robofail_ros.report.scene_labels import scene_title

S1_COLOUR, ST_COLOUR = "tab:blue", "tab:orange"


def plot_sobol(analysis: SceneAnalysis, out_dir: Path) -> Path:
    """Horizontal bars, S1 and ST per factor, sorted by ST (largest on top); ST well above S1 flags interactions."""
    indices = sorted(analysis.sobol, key=lambda s: -s.st if np.isfinite(s.st) else np.inf)
    n = len(indices)
    fig, ax = plt.subplots(figsize=(8.0, 1.8 + 0.32 * max(n, 3)))
    if indices:
        y = np.arange(n)[::-1]  # largest ST at the top
        h = 0.38

        def bars(v, below, above, offset, colour, label):
            err = np.nan_to_num(np.abs(np.asarray([below, above], float)), nan=0.0)
            ax.barh(y + offset, v, height=h, xerr=err, color=colour, label=label, zorder=2,
                    error_kw={"ecolor": "0.2", "elinewidth": 0.8, "capsize": 2})

        # ST's whisker goes down only: its interval is a claim on the lower side (SobolIndex.st_lower says why).
        bars([s.st for s in indices], [s.st - s.st_lower for s in indices], [0.0] * n, h / 2, ST_COLOUR,
             "total (ST), whisker to its 95% lower bound")
        s1_conf = [s.s1_conf for s in indices]
        bars([s.s1 for s in indices], s1_conf, s1_conf, -h / 2, S1_COLOUR, "first order (S1), 95% interval")
        ax.set_yticks(y)
        ax.set_yticklabels([s.factor for s in indices], fontsize=8)
        ax.set_ylim(-0.7, n - 0.3)
        ax.axvline(0, color="0.3", lw=0.8)
        ax.set_xlabel("Sobol index of P(failure | scene)")
        ax.legend(loc="lower right", fontsize=8)
        ax.grid(axis="x", color="0.92", zorder=0)
    else:
        ax.axis("off")
        ax.text(0.5, 0.5, textwrap.fill(analysis.sensitivity_note, 90) or "no Sobol indices", ha="center",
                va="center", color="0.3" if analysis.sensitivity_note else "0.5", fontsize=9)
    variance = "" if analysis.p_variance is None else (
        f"; they share Var P(failure) = {analysis.p_variance:.2g} over the box")
    title = textwrap.fill(f"Global sensitivity (SALib Sobol indices), factors by total index{variance}", 90)
    title += f"\n{scene_title(analysis)}"
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return save_figure(fig, Path(out_dir) / "sobol.png", metadata={"Title": title, "Description": "robofail_ros Sobol"})
