"""How far an episode got: the furthest stage of its task that it reached, read off the live simulation.

Why. An outcome says *that* a policy failed; a stage says *where*. A Stack policy that never grasps cube A fails at
seeing or reaching it, one that lifts it and never lets go over cube B fails at placing it, and the two call for
different fixes (and break under different perturbations). The stages use robosuite's own tests: its grasp contact
check (`_check_grasp`) and the lift of its Lift and Stack success checks. A stage counts once reached,
even if the episode later loses it (a dropped cube was still grasped).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

LIFT_RISE = 0.02
"""Metres above its resting height at which an object counts as lifted. robosuite's Lift and Stack call a cube
lifted when its centre is 4 cm above the table, 2 cm above where a nominal cube (2 cm half-height) rests; measured
from where it rests, the stage means the same for a resized object and for one in a bin."""
OVER_RADIUS = 0.02
"""Horizontal metres within which a held object counts as over its place target (half of Stack's cube A edge)."""

NONE = "none"
"""The stage of an episode that reached none of its task's stages (never grasped its object)."""
NOT_RECORDED = ""
"""The stage of an episode of a task without stages, or logged before stages were recorded."""


@dataclass(frozen=True)
class TaskStages:
    """What a task's stages look at: the object its robot must pick up, and where (if anywhere) it must put it."""

    picked: Callable[[Any], Any]
    """The robosuite object (`MujocoObject`) to grasp and lift, from the environment."""
    target: Callable[[Any], np.ndarray] | None = None
    """World position of the place target (Stack: cube B), or None where the task only lifts."""
    object_name: str = "the object"
    target_name: str = "the target"

    @property
    def names(self) -> tuple[str, ...]:
        """Stage names in order; a later stage is normally reached through the earlier ones."""
        stages = (f"grasped {self.object_name}", f"lifted {self.object_name}")
        return stages + ((f"{self.object_name} over {self.target_name}",) if self.target else ())


def _body_pos(env, obj) -> np.ndarray:
    return np.array(env.sim.data.body_xpos[env.sim.model.body_name2id(obj.root_body)], dtype=float)


TASK_STAGES: dict[str, TaskStages] = {
    "Lift": TaskStages(lambda env: env.cube, object_name="the cube"),
    "Stack": TaskStages(lambda env: env.cubeA, lambda env: _body_pos(env, env.cubeB), "cube A", "cube B"),
    "PickPlaceCan": TaskStages(lambda env: env.objects[env.object_id], object_name="the can"),
    "NutAssemblySquare": TaskStages(lambda env: env.nuts[env.nut_id], object_name="the nut"),
}


def stage_names(task: str) -> tuple[str, ...]:
    """The stages of `task` in order, NONE first (empty for a task without stages: its episodes record NOT_RECORDED)."""
    stages = TASK_STAGES.get(task)
    return (NONE, *stages.names) if stages else ()


class StageTracker:
    """Follows one episode's furthest stage: `start()` after each reset, `update()` after each step."""

    def __init__(self, env, task: str) -> None:
        self.env = env
        self.stages = TASK_STAGES.get(task)
        self._rest_height = 0.0
        self._furthest = 0

    def start(self) -> None:
        self._furthest = 0
        if self.stages:
            self._rest_height = float(_body_pos(self.env, self.stages.picked(self.env))[2])

    def update(self) -> None:
        if self.stages:
            self._furthest = max(self._furthest, self._current())

    def _current(self) -> int:
        """How many stages hold now: the highest stage whose test passes (each implies the ones before)."""
        env, stages = self.env, self.stages
        obj = stages.picked(env)
        pos = _body_pos(env, obj)
        # robosuite drops objects into place from a centimetre up: the lowest height seen is where it rests.
        self._rest_height = min(self._rest_height, float(pos[2]))
        lifted = pos[2] > self._rest_height + LIFT_RISE
        if lifted and stages.target is not None:
            if np.linalg.norm(pos[:2] - stages.target(env)[:2]) < OVER_RADIUS:
                return 3
        if lifted:
            return 2
        return 1 if env._check_grasp(gripper=env.robots[0].gripper, object_geoms=obj) else 0

    @property
    def furthest(self) -> str:
        """The name of the furthest stage reached since `start()`: NONE if none, NOT_RECORDED if the task has none."""
        if not self.stages:
            return NOT_RECORDED
        return self.stages.names[self._furthest - 1] if self._furthest else NONE
