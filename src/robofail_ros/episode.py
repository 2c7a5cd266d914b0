"""Run one episode of the policy under test in a (possibly perturbed) scene and record what happened.

An episode is the unit of evidence: everything an audit concludes is computed
from `EpisodeRecord`s, and every record carries what is needed to replay it
(seed + perturbations), so any failure can be re-run and filmed.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any, Mapping

import numpy as np

from robofail_ros.policies.base import PolicyUnderTest
from robofail_ros.reward import adversary_reward
from robofail_ros.sim import ADVERSARY_CAMERA, Simulation

SUCCESS, FAILURE, ABORTED = "success", "failure", "aborted"
OUTCOMES = (SUCCESS, FAILURE, ABORTED)


@dataclass
class EpisodeRecord:
    """What one episode did; `aborted` episodes (policy crash, bad action) never count as failures."""

    episode_id: str
    seed: int
    perturbations: list[str]
    outcome: str
    steps: int
    reward: float
    wall_time: float
    policy_id: str
    task: str
    reason: str = ""
    worker: str = ""
    searcher: str = ""
    scene: dict[str, float] | None = None
    """Factor values of a continuous-space episode, as the searcher chose them; None for catalogue episodes."""
    stage: str = ""
    """The furthest stage of the task the episode reached (task_stages.py): where a failure went wrong. Empty in
    logs written before stages were recorded and for tasks without stages."""
    frames: list[np.ndarray] | None = field(default=None, repr=False, compare=False)

    @property
    def success(self) -> bool:
        return self.outcome == SUCCESS

    @property
    def failed(self) -> bool:
        return self.outcome == FAILURE

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("frames")
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "EpisodeRecord":
        known = {f for f in cls.__dataclass_fields__ if f != "frames"}
        missing = {"episode_id", "seed", "perturbations", "outcome", "steps"} - set(d)
        if missing:
            raise ValueError(f"episode record lacks {sorted(missing)}")
        if d["outcome"] not in OUTCOMES:
            raise ValueError(f"episode outcome {d['outcome']!r} is not one of {OUTCOMES}")
        return cls(**{k: v for k, v in d.items() if k in known})


class PolicyActionError(RuntimeError):
    """The policy under test returned something that is not a valid action."""


def _check_action(action: Any, action_dim: int) -> np.ndarray:
    a = np.asarray(action, dtype=float)
    if a.shape != (action_dim,):
        raise PolicyActionError(f"action has shape {a.shape}, expected ({action_dim},)")
    if not np.all(np.isfinite(a)):
        raise PolicyActionError(f"action contains NaN or inf: {a.tolist()}")
    return a


def run_episode(
    sim: Simulation,
    policy: PolicyUnderTest,
    perturbations: list[str] | tuple[str, ...],
    seed: int,
    episode_id: str = "",
    film_size: int | None = None,
    scene: Mapping[str, float] | None = None,
) -> EpisodeRecord:
    """Apply `scene` (factor values) and `perturbations`, reset from `seed`, roll the policy out until success
    or the horizon. With `film_size`, every step is also rendered from the adversary camera for a video.
    """
    started = time.perf_counter()
    sim.set_perturbations(perturbations, scene)
    obs = sim.reset(seed)
    policy.start_episode()
    needs = policy.needs
    frames: list[np.ndarray] | None = [] if film_size else None
    outcome, reason, steps = FAILURE, "horizon reached without success", 0
    for step in range(sim.config.horizon):
        if frames is not None:
            frames.append(sim.render(ADVERSARY_CAMERA, film_size))
        try:
            action = _check_action(policy(sim.observe(obs, needs, step)), sim.action_dim)
        except PolicyActionError as exc:
            outcome, reason = ABORTED, f"invalid action at step {step}: {exc}"
            break
        except Exception as exc:  # a crashing policy is a broken test harness, not a failure mode
            outcome, reason = ABORTED, f"policy raised at step {step}: {type(exc).__name__}: {exc}"
            break
        obs = sim.step(action)
        steps = step + 1
        if sim.success():
            outcome, reason = SUCCESS, ""
            break
    if frames is not None:
        frames.append(sim.render(ADVERSARY_CAMERA, film_size))
    reward = adversary_reward(outcome == SUCCESS, steps) if outcome != ABORTED else 0.0
    return EpisodeRecord(
        episode_id=episode_id, seed=int(seed), perturbations=list(perturbations), outcome=outcome,
        steps=steps, reward=reward, wall_time=time.perf_counter() - started,
        policy_id=policy.policy_id, task=sim.config.task, reason=reason, frames=frames,
        scene=None if scene is None else {k: float(v) for k, v in scene.items()},
        stage=sim.furthest_stage,
    )
