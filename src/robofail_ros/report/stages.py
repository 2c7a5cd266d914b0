"""Where failures stopped: each experiment's failed episodes counted by the furthest task stage they reached.

A failure rate says how often a perturbation breaks a policy; the stages say at what point of the task. A table
colour that leaves the cube never grasped and one that drops it on the way to cube B are different failures.
The counts come straight from the episode records (`EpisodeRecord.stage`, task_stages.py); episodes logged before
stages were recorded, and aborted ones, are left out and said so.
"""
from __future__ import annotations

import csv
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from robofail_ros.episode import EpisodeRecord
from robofail_ros.report.common import plt, save_figure
from robofail_ros.task_stages import NOT_RECORDED, stage_names

CONTROL = "control"
SEARCHED_SCENES = "searched scenes"
MAX_ROWS = 30
"""Experiments shown in the figure (those with the most failures); the CSV keeps every one."""


@dataclass
class StageCounts:
    """The failed episodes of one experiment (a perturbation set, the control, or a continuous audit's scenes)."""

    label: str
    failures: Counter
    episodes: int

    @property
    def failed(self) -> int:
        return sum(self.failures.values())


def experiment_label(record: EpisodeRecord) -> str:
    if record.scene is not None:
        return SEARCHED_SCENES
    return "+".join(record.perturbations) or CONTROL


def count_stages(records: Sequence[EpisodeRecord]) -> list[StageCounts]:
    """Failures by furthest stage per experiment, the control first, then by failures (most first). Only records
    with a stage count (none of a task without stages); every failed one of those is in exactly one cell."""
    rows: dict[str, StageCounts] = {}
    for r in records:
        if r.stage == NOT_RECORDED or r.outcome not in ("success", "failure"):
            continue
        row = rows.setdefault(experiment_label(r), StageCounts(experiment_label(r), Counter(), 0))
        row.episodes += 1
        if r.failed:
            row.failures[r.stage] += 1
    return sorted(rows.values(), key=lambda c: (c.label != CONTROL, -c.failed, c.label))


def stage_order(task: str, counts: Sequence[StageCounts]) -> list[str]:
    """The task's stages in order, then any other name a log holds (from a task whose stages have changed)."""
    known = list(stage_names(task))
    seen = {s for c in counts for s in c.failures}
    return known + sorted(seen - set(known))


def stage_note(records: Sequence[EpisodeRecord]) -> str | None:
    """One line for the terminal: all failures of the audit by the furthest stage they reached."""
    counts = count_stages(records)
    total = Counter()
    for c in counts:
        total.update(c.failures)
    if not total:
        return None
    order = stage_order(records[0].task, counts)
    return "failures by the furthest stage reached: " + ", ".join(f"{s} {total[s]}" for s in order if total[s])


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
