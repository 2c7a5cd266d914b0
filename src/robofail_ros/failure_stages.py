"""Where failures stopped, counted: each experiment's failed episodes by the furthest task stage they reached.

A failure rate says how often a perturbation breaks a policy; the stages say at what point of the task. A table
colour that leaves the cube never grasped and one that drops it on the way to cube B are different failures.
The counts come straight from the episode records (`EpisodeRecord.stage`, task_stages.py); episodes logged before
stages were recorded, those of tasks without stages, and aborted ones are left out. The report draws them
(report/stages.py) and the analysis node publishes them live.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Iterable, Sequence

from robofail_ros.episode import FAILURE, SUCCESS, EpisodeRecord
from robofail_ros.task_stages import NOT_RECORDED, stage_names

CONTROL = "control"
SEARCHED_SCENES = "searched scenes"


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
        if r.stage == NOT_RECORDED or r.outcome not in (SUCCESS, FAILURE):
            continue
        row = rows.setdefault(experiment_label(r), StageCounts(experiment_label(r), Counter(), 0))
        row.episodes += 1
        if r.failed:
            row.failures[r.stage] += 1
    return sorted(rows.values(), key=lambda c: (c.label != CONTROL, -c.failed, c.label))


def stage_order(task: str, counts: Sequence[StageCounts]) -> list[str]:
    """The task's stages in order, then any other name a log holds (from a task whose stages have changed)."""
    return ordered_stages(task, {s for c in counts for s in c.failures})


def ordered_stages(task: str, seen: Iterable[str]) -> list[str]:
    """The task's stages in order, then the other names in `seen`, sorted."""
    known = list(stage_names(task))
    return known + sorted(set(seen) - set(known))


def stage_note(records: Sequence[EpisodeRecord]) -> str | None:
    """One line for the terminal: all failures of the audit by the furthest stage they reached."""
    counts = count_stages(records)
    total = total_failures(counts)
    if not total:
        return None
    order = stage_order(records[0].task, counts)
    return "failures by the furthest stage reached: " + describe(total, order)


def total_failures(counts: Sequence[StageCounts]) -> Counter:
    """All experiments' failures by stage."""
    total: Counter = Counter()
    for c in counts:
        total.update(c.failures)
    return total


def describe(failures: Counter, order: Sequence[str]) -> str:
    """`none 2, grasped the cube 1`: the stages with failures, in task order."""
    return ", ".join(f"{s} {failures[s]}" for s in order if failures[s])
