"""`zoo build`: record the demos once, train every requested (algorithm, modality), measure nominal success.

Resumable: a model whose cached metadata names the same dataset hash and budget is kept,
so re-running after a crash trains only what is missing. Nominal success is measured
with the audit's own `run_episode` on initial states no demo started from.
"""
from __future__ import annotations

import json
import logging
import platform
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from robofail_ros.episode import SUCCESS, ABORTED, run_episode
from robofail_ros.policies import load_policy
from robofail_ros.policies import ROBOMIMIC_PREFIX
from robofail_ros.sim import SimConfig, Simulation
from robofail_ros.stats import wilson_interval
from robofail_ros.zoo import cache
from robofail_ros.zoo.demos import record_demos
from robofail_ros.zoo.spec import CURVE_EPISODES, NOMINAL_EPISODES, Budget, model_name

log = logging.getLogger(__name__)

NOMINAL_SEED_SALT = 0x40E1


def nominal_seed(index: int) -> int:
    return int(np.random.SeedSequence([NOMINAL_SEED_SALT, int(index)]).generate_state(1)[0])


@dataclass
class Nominal:
    successes: int
    episodes: int
    aborted: int
    wall_time: float
    failure_stages: dict[str, int] = field(default_factory=dict)
    """Failed episodes by the furthest task stage they reached (task_stages.py): where the model gets stuck."""


def evaluate_nominal(sim: Simulation, checkpoint: Path, episodes: int = NOMINAL_EPISODES,
                     on_episode: Callable[[int, int], None] | None = None) -> Nominal:
    """Success rate of a checkpoint (file or zoo folder) in the unperturbed scene, through the audit's own adapter."""
    started = time.perf_counter()
    policy = load_policy(f"{ROBOMIMIC_PREFIX}{checkpoint}")
    policy.bind(sim.scene)
    records = []
    for i in range(episodes):
        records.append(run_episode(sim, policy, (), nominal_seed(i), episode_id=f"nominal-{i}"))
        if on_episode:
            on_episode(i + 1, episodes)
    aborted = [r for r in records if r.outcome == ABORTED]
    if aborted:
        log.warning("%s: %d nominal episode(s) aborted, first: %s", checkpoint.name, len(aborted), aborted[0].reason)
    stages = Counter(r.stage for r in records if r.failed)
    return Nominal(sum(r.outcome == SUCCESS for r in records), episodes, len(aborted), time.perf_counter() - started,
                   dict(stages))


CURVE_NAME = "curve.json"
"""Learning-curve points evaluated so far, kept beside the model so a resumed build does not evaluate them again."""


def curve_steps(total: int, points: int) -> tuple[int, ...]:
    """`points` evenly spaced snapshot step counts before `total` (the final model is the last point of a curve)."""
    from robofail_ros.zoo.train import EPOCH_STEPS

    raw = {round(total * k / (points + 1) / EPOCH_STEPS) * EPOCH_STEPS for k in range(1, points + 1)}
    return tuple(sorted(s for s in raw if 0 < s < total))


def _read_curve(folder: Path, identity: str) -> dict[int, dict]:
    path = folder / CURVE_NAME
    if not path.is_file():
        return {}
    data = json.loads(path.read_text())
    return {int(p["steps"]): p for p in data.get("points", [])} if data.get("identity") == identity else {}


def _write_curve(folder: Path, identity: str, points: dict[int, dict]) -> None:
    path = folder / CURVE_NAME
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"identity": identity, "points": [points[s] for s in sorted(points)]}, indent=2))
    tmp.replace(path)


def ensure_dataset(task: str, demos: int, seed: int, on_demo: Callable[[int, int], None] | None = None) -> Path:
    path = cache.dataset_path(task, demos, seed)
    if not path.is_file():
        stats = record_demos(path, task=task, demos=demos, seed=seed, on_demo=on_demo)
        log.info("recorded %d demos (%d attempts, %d samples) in %.0f s", stats.demos, stats.attempts, stats.samples,
                 stats.wall_time)
    return path


def _versions() -> dict:
    import robomimic
    import torch

    return {"robomimic": robomimic.__version__, "torch": torch.__version__, "python": platform.python_version()}


@dataclass
class ModelPlan:
    """What building one model involves before it starts: reuse a cached one, resume a stopped run, or train."""

    folder: Path
    config_sha256: str
    identity: str
    """Dataset and config hashes: a resume state or learning curve is reused only by a run with the same identity."""
    cached: cache.ModelMeta | None
    resume_steps: int


def plan_model(task: str, algo: str, modality: str, dataset: Path, dataset_sha: str, budget: Budget,
               nominal_episodes: int = NOMINAL_EPISODES, seed: int = 0) -> ModelPlan:
    from robofail_ros.zoo.train import config_sha256, make_config, resume_steps

    folder = cache.model_dir(model_name(algo, modality, task))
    config_sha = config_sha256(make_config(algo, modality, dataset, budget, seed))
    identity = f"{dataset_sha}:{config_sha}"
    meta = cache.read_meta(folder)
    cached = meta if (meta is not None and (folder / cache.CHECKPOINT_NAME).is_file()
                      and meta.dataset_sha256 == dataset_sha and meta.config_sha256 == config_sha
                      and meta.budget == budget.to_json() and meta.nominal_episodes >= nominal_episodes) else None
    resume = 0 if cached else resume_steps(folder / cache.CHECKPOINT_NAME, identity)
    return ModelPlan(folder, config_sha, identity, cached, resume)


def build_model(sim: Simulation, algo: str, modality: str, dataset: Path, dataset_sha: str, budget: Budget,
                nominal_episodes: int = NOMINAL_EPISODES, seed: int = 0,
                on_progress: Callable[[int, int, dict], None] | None = None, curve_points: int = 0,
                curve_episodes: int = CURVE_EPISODES,
                on_curve: Callable[[dict], None] | None = None,
                on_episode: Callable[[int, int], None] | None = None) -> tuple[cache.ModelMeta, bool]:
    """Train and evaluate one model unless an identical one is cached; returns (meta, trained now).

    A build stopped mid-training resumes from the model's last resume state (see `zoo.train.train`);
    with `curve_points` > 0 it also measures nominal success at that many snapshots on the way
    (`curve_episodes` each), kept in `curve.json` and in the model's meta.
    """
    from robofail_ros.zoo.train import snapshot_path, train

    plan = plan_model(sim.config.task, algo, modality, dataset, dataset_sha, budget, nominal_episodes, seed)
    if plan.cached is not None:
        return plan.cached, False
    folder, identity, config_sha = plan.folder, plan.identity, plan.config_sha256
    name = folder.name
    checkpoint = folder / cache.CHECKPOINT_NAME
    wanted = curve_steps(budget.steps, curve_points)
    points = {s: p for s, p in _read_curve(folder, identity).items() if s in wanted}

    def evaluate_snapshot(steps: int, path: Path) -> None:
        if steps in points or not path.is_file():
            return
        n = evaluate_nominal(sim, path, curve_episodes, on_episode=on_episode)
        points[steps] = {"steps": steps, "successes": n.successes, "episodes": n.episodes}
        _write_curve(folder, identity, points)
        if on_curve:
            on_curve(points[steps])

    folder.mkdir(parents=True, exist_ok=True)
    result = train(algo, modality, dataset, budget, checkpoint, seed=seed, on_progress=on_progress,
                   snapshots=wanted, on_snapshot=evaluate_snapshot, identity=identity)
    for steps in wanted:  # snapshots a stopped build saved but did not get to evaluate
        evaluate_snapshot(steps, snapshot_path(checkpoint, steps))
    nominal = evaluate_nominal(sim, folder, nominal_episodes, on_episode=on_episode)
    curve = [points[s] for s in sorted(points)] + [
        {"steps": budget.steps, "successes": nominal.successes, "episodes": nominal.episodes}]
    meta = cache.ModelMeta(
        name=name, algo=algo, modality=modality, task=sim.config.task, budget=budget.to_json(), dataset=str(dataset),
        dataset_sha256=dataset_sha, config_sha256=config_sha, checkpoint_sha256=cache.sha256_file(result.checkpoint),
        train_wall_time_s=round(result.wall_time, 1), nominal_successes=nominal.successes,
        nominal_episodes=nominal.episodes, nominal_ci=wilson_interval(nominal.successes, nominal.episodes),
        nominal_aborted=nominal.aborted, nominal_failure_stages=nominal.failure_stages,
        eval_wall_time_s=round(nominal.wall_time, 1), versions=_versions(),
        created=time.strftime("%Y-%m-%dT%H:%M:%S"), curve=curve)
    cache.write_meta(meta, folder)
    return meta, True
