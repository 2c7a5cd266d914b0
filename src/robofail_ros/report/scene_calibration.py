"""Can the fitted P(failure | scene) be trusted: predicted against observed on held-out episodes."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from robofail_ros.continuous.result import SceneAnalysis
from robofail_ros.report.common import plt, save_figure
from robofail_ros.report.scene_labels import scene_title
from robofail_ros.stats import wilson_interval


def calibration_text(analysis: SceneAnalysis) -> str:
    """'Brier 0.081 (base rate 0.180), 5-fold': the model must beat predicting the overall rate everywhere."""
    c = analysis.calibration
    if c is None:
        return "no held-out check of the fitted model"
    return f"Brier {c.brier:.3f} (base rate {c.brier_baseline:.3f}), {c.folds}-fold cross-validation"


def plot_reliability(analysis: SceneAnalysis, out_dir: Path) -> Path:
    """Reliability diagram: each bin's mean prediction against its observed failure frequency and Wilson interval."""
    fig, ax = plt.subplots(figsize=(6.2, 6.0))
    ax.plot([0, 1], [0, 1], color="0.6", ls="--", lw=1, label="perfectly calibrated")
    c = analysis.calibration
    if c is not None and any(n > 0 for n in c.bin_counts):
        counts = np.asarray(c.bin_counts, int)
        keep = (counts > 0) & np.isfinite(c.bin_observed) & np.isfinite(c.bin_predicted)  # empty bins say nothing
        pred, obs, counts = np.asarray(c.bin_predicted, float)[keep], np.asarray(c.bin_observed, float)[keep], counts[keep]
        bounds = np.array([wilson_interval(int(round(o * n)), int(n)) for o, n in zip(obs, counts)])
        ax.errorbar(pred, obs, yerr=np.vstack([obs - bounds[:, 0], bounds[:, 1] - obs]).clip(min=0), fmt="o-",
                    color="tab:blue", ms=5, capsize=3, lw=1.4, label="held-out episodes per bin (95% Wilson)")
        for x, y, n in zip(pred, obs, counts):
            ax.annotate(f"n={n}", (x, y), textcoords="offset points", xytext=(6, -10), fontsize=7, color="0.3")
        ax.legend(loc="upper left", fontsize=8)
    else:
        ax.text(0.5, 0.5, "no calibration", ha="center", va="center", color="0.5")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_aspect("equal")
    ax.set_xlabel("predicted P(failure)")
    ax.set_ylabel("observed failure frequency")
    ax.grid(color="0.93", zorder=0)
    title = f"Reliability: {calibration_text(analysis)}\n{scene_title(analysis)}"
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return save_figure(fig, Path(out_dir) / "reliability.png",
                       metadata={"Title": title, "Description": "robofail_ros reliability"})
