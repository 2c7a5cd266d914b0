"""Where failures stopped, as files: failure_stages.csv (every experiment) and failure_stages.png (stacked bars).

The counting is failure_stages.py's; this module only draws and writes it.
"""
from __future__ import annotations

import csv
from pathlib import Path
from typing import Sequence

import numpy as np

from robofail_ros.episode import EpisodeRecord
from robofail_ros.failure_stages import StageCounts, count_stages, stage_order
from robofail_ros.report.common import plt, save_figure

MAX_ROWS = 30
"""Experiments shown in the figure (those with the most failures); the CSV keeps every one."""


def write_failure_stages(records: Sequence[EpisodeRecord], out_dir: Path) -> list[Path]:
    """failure_stages.csv (every experiment) and failure_stages.png (stacked bars); nothing for a log without
    stages."""
    counts = count_stages(records)
    if not counts:
        return []
    task = records[0].task
    order = stage_order(task, counts)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    csv_path = out_dir / "failure_stages.csv"
    with csv_path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["experiment", "episodes", "failures", *(f"failed at: {s}" for s in order)])
        for c in counts:
            w.writerow([c.label, c.episodes, c.failed, *(c.failures[s] for s in order)])
    shown = [c for c in counts if c.failed][:MAX_ROWS]
    if not shown:
        return [csv_path]
    return [csv_path, _plot(shown, order, task, out_dir / "failure_stages.png")]


def _plot(counts: list[StageCounts], order: list[str], task: str, path: Path) -> Path:
    """Horizontal bars, one per experiment, its failures stacked by stage from 'none' (left) to the furthest."""
    height = 1.9 + 0.32 * len(counts)
    fig, ax = plt.subplots(figsize=(9.0, height))
    y = np.arange(len(counts))[::-1]
    left = np.zeros(len(counts))
    colours = plt.get_cmap("viridis")(np.linspace(0.05, 0.9, max(len(order), 2)))
    for stage, colour in zip(order, colours):
        n = np.array([c.failures[stage] for c in counts], dtype=float)
        if n.any():
            ax.barh(y, n, left=left, color=colour, label=stage, edgecolor="white", linewidth=0.5)
        left += n
    for i, c in enumerate(counts):
        ax.text(left[i] + 0.1, y[i], f"{c.failed}/{c.episodes}", va="center", fontsize=8)
    ax.set_yticks(y, [c.label for c in counts], fontsize=8)
    ax.set_xlabel("failed episodes")
    ax.set_xlim(0, left.max() * 1.15 + 0.5)
    ax.set_title(f"{task}: where failures stopped (furthest stage each failed episode reached)", fontsize=10)
    handles, labels = ax.get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), fontsize=8, frameon=False,
               title="furthest stage reached", title_fontsize=8)
    fig.tight_layout(rect=(0, 0.55 / height, 1, 1))  # the legend's strip along the bottom
    return save_figure(fig, path)
