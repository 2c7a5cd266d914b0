"""How long a zoo build will take on this machine, said before it starts and tracked while it runs.

The figures are measurements on this 2-core machine (one torch thread per training run, the
default batch of each modality), not a model of the hardware: a faster machine finishes early,
a loaded one late. They are the one place `zoo build` reads its ETA from; re-measure them
when an encoder, a batch size or the renderer changes (docs/results.md keeps the runs).
"""
from __future__ import annotations

from dataclasses import dataclass

from robofail_ros.sim import DEFAULT_HORIZON
from robofail_ros.zoo.spec import Budget, DEFAULT_BUDGET

#: Seconds per 100 gradient steps at each model's default batch (spec.DEFAULT_BUDGET), two runs sharing the 2 cores.
#: Measured 2026-12-02 (median over 500-step stretches of a build's log): image and image+proprio BC (random crops,
#: batch 16) 3.6 s, low-dim BC 2.4 s. BC-RNN with its GMM head, 2026-12-06 (whole runs, another build or an audit on
#: the other core): image (batch 8) 3344 s / 15 000 steps = 22.3 s, low-dim 642 s / 3 000 = 21.4 s; image+proprio on
#: Stack (batch 8, a continuous audit on the other core) 3074 s / 15 000 = 20.5 s. The other rows are from the first
#: zoo build (docs/results.md, "Training budget") scaled to today's batches: image HBC 38 s at
#: batch 16, so 19 s at 8.
STEP_SECONDS_PER_100 = {
    "low_dim": {"bc": 2.4, "bc_rnn": 21.4, "bcq": 3.1, "cql": 14.0, "hbc": 26.0},
    "image": {"bc": 3.6, "bc_rnn": 22.3, "bcq": 70.0, "cql": 360.0, "hbc": 19.0},
    "image_proprio": {"bc": 3.6, "bc_rnn": 20.5, "bcq": 70.0, "cql": 360.0, "hbc": 19.0},
}
#: Seconds per unperturbed Lift episode (horizon 100): a model that succeeds ends its episodes early, so these are
#: of models that learned where one exists (image BC 101 s / 50, image+proprio BC 82 s / 50, image BC-RNN 125 s / 50,
#: low-dim BC-RNN 45 s / 50; image+proprio BC-RNN 299 s / 50 on Stack, halved for Lift's horizon) and otherwise of
#: the first zoo build's nominal evaluations (docs/results.md).
EPISODE_SECONDS = {
    "low_dim": {"bc": 0.4, "bc_rnn": 0.9, "bcq": 1.0, "cql": 1.1, "hbc": 4.3},
    "image": {"bc": 2.0, "bc_rnn": 2.5, "bcq": 7.3, "cql": 5.0, "hbc": 12.6},
    "image_proprio": {"bc": 1.6, "bc_rnn": 3.0, "bcq": 11.4, "cql": 5.0, "hbc": 12.6},
}
DEMO_SECONDS = 2.0
"""Seconds per recorded Lift demo (100 demos in 192 s, two 84x84 cameras per step)."""


@dataclass(frozen=True)
class Estimate:
    """Expected seconds of one model's remaining build: training, then learning-curve and nominal episodes."""

    train_s: float
    eval_s: float

    @property
    def total_s(self) -> float:
        return self.train_s + self.eval_s


def _task_scale(task: str) -> float:
    """Episodes and demos of longer tasks take longer in proportion to their horizon."""
    return DEFAULT_HORIZON[task] / DEFAULT_HORIZON["Lift"]


def step_seconds(algo: str, modality: str, batch_size: int) -> float:
    """Seconds per gradient step; a step's cost grows with its batch (measured at the default batch)."""
    return STEP_SECONDS_PER_100[modality][algo] / 100 * batch_size / DEFAULT_BUDGET[modality][algo][1]


def episode_seconds(algo: str, modality: str, task: str) -> float:
    return EPISODE_SECONDS[modality][algo] * _task_scale(task)


def model_estimate(algo: str, modality: str, task: str, budget: Budget, nominal_episodes: int,
                   curve_snapshots: int = 0, curve_episodes: int = 0, done_steps: int = 0) -> Estimate:
    """What is left of building one model after `done_steps` (from a resume state) gradient steps."""
    left = max(budget.steps - done_steps, 0)
    episodes = nominal_episodes + curve_snapshots * curve_episodes
    return Estimate(left * step_seconds(algo, modality, budget.batch_size),
                    episodes * episode_seconds(algo, modality, task))


def demos_seconds(task: str, demos: int) -> float:
    return demos * DEMO_SECONDS * _task_scale(task)


def format_duration(seconds: float) -> str:
    """`1 h 05 min`, `12 min`, `40 s`: how a person reads an ETA."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60:02d} min"
