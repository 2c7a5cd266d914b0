"""Nominal success against gradient steps, one line per zoo model: did it learn, and when did it stop improving.

Each point is k/n unperturbed successes with its 95% Wilson interval as an error bar, so a curve that wobbles
within its intervals (20 episodes per snapshot give ±20 points) is not read as forgetting.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

from robofail_ros.report.common import model_colours, plt, save_figure
from robofail_ros.stats import wilson_interval


def plot_learning_curves(curves: Sequence[tuple[str, list[dict]]], path: Path, title: str = "",
                         target: float | None = None) -> Path:
    """`curves`: (model name, [{"steps", "successes", "episodes"}, ...]); models without a curve are skipped.

    `target` draws the nominal-success bar a model must clear (e.g. 0.8) as a dashed line.
    """
    drawn = [(name, points) for name, points in curves if points]
    if not drawn:
        raise ValueError("no model has a learning curve; build with `robofail zoo build --curve K`")
    fig, ax = plt.subplots(figsize=(8.0, 4.8))
    for (name, points), colour in zip(drawn, model_colours(len(drawn))):
        points = sorted(points, key=lambda p: p["steps"])
        steps = [p["steps"] for p in points]
        rates = [p["successes"] / p["episodes"] for p in points]
        intervals = [wilson_interval(p["successes"], p["episodes"]) for p in points]
        low = [r - lo for r, (lo, _) in zip(rates, intervals)]
        high = [hi - r for r, (_, hi) in zip(rates, intervals)]
        ax.errorbar(steps, rates, yerr=[low, high], marker="o", capsize=3, color=colour, label=name)
    if target is not None:
        ax.axhline(target, color="grey", linestyle="--", linewidth=1)
        ax.text(ax.get_xlim()[0], target, f" target {100 * target:.0f}%", va="bottom", color="grey", fontsize=8)
    ax.set_xlabel("gradient steps")
    ax.set_ylabel("nominal success (unperturbed), 95% Wilson")
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    ax.set_title(title or "Learning curves: nominal success during training")
    fig.tight_layout()
    return save_figure(fig, path)
