"""A privileged scripted expert: reads the true object pose, so visual perturbations cannot hurt it.

It is the audit's sanity reference. If the expert fails under a colour perturbation,
the perturbation changed physics as well as looks and the catalogue is wrong.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from robofail_ros.policies.base import PolicyUnderTest
from robofail_ros.policies.carry_scripts import CarryScript, NutScript
from robofail_ros.sim import SceneInfo

GRIP_OPEN, GRIP_CLOSED = -1.0, 1.0


@dataclass
class PickPlaceScript:
    """The phase machine shared by the scripted policies: above → descend → close → lift (→ carry → release).

    It only needs object positions; where they come from (simulator truth or a camera)
    is what distinguishes the expert from the vision policy.
    """

    gain: float = 10.0
    hover: float = 0.08
    lift_height: float = 0.15
    close_steps: int = 8
    phase: str = "above"
    phase_steps: int = 0
    grasp_z: float = 0.0

    def reset(self) -> None:
        self.phase, self.phase_steps = "above", 0

    def _goto(self, eef: np.ndarray, target: np.ndarray, grip: float, action_dim: int) -> np.ndarray:
        action = np.zeros(action_dim)
        action[:3] = np.clip(self.gain * (target - eef), -1.0, 1.0)
        action[-1] = grip
        return action

    def _next(self, phase: str) -> None:
        self.phase, self.phase_steps = phase, 0

    def act(self, eef: np.ndarray, pick: np.ndarray, place: np.ndarray | None, action_dim: int) -> np.ndarray:
        """One action towards grasping the object at `pick` and, if given, putting it down above `place`."""
        self.phase_steps += 1
        if self.phase == "above":
            target = pick + [0.0, 0.0, self.hover]
            if np.linalg.norm((target - eef)[:2]) < 0.01 and abs(target[2] - eef[2]) < 0.02 or self.phase_steps > 40:
                self._next("descend")
            return self._goto(eef, target, GRIP_OPEN, action_dim)
        if self.phase == "descend":
            target = pick.copy()
            if abs(target[2] - eef[2]) < 0.008 or self.phase_steps > 30:
                self._next("close")
            return self._goto(eef, target, GRIP_OPEN, action_dim)
        if self.phase == "close":
            if self.phase_steps >= self.close_steps:
                self.grasp_z = float(eef[2])  # the object moves with the hand from here on
                self._next("lift")
            return self._goto(eef, pick, GRIP_CLOSED, action_dim)
        if self.phase == "lift" or place is None:
            target = np.array([eef[0], eef[1], self.grasp_z + self.lift_height])
            if place is not None and eef[2] > self.grasp_z + 0.08:
                self._next("carry")
            return self._goto(eef, target, GRIP_CLOSED, action_dim)
        if self.phase == "carry":
            target = place + [0.0, 0.0, 0.10]
            if np.linalg.norm((target - eef)[:2]) < 0.008 or self.phase_steps > 60:
                self._next("lower")
            return self._goto(eef, target, GRIP_CLOSED, action_dim)
        if self.phase == "lower":
            target = place + [0.0, 0.0, 0.05]
            if abs(target[2] - eef[2]) < 0.008 or self.phase_steps > 30:
                self._next("release")
            return self._goto(eef, target, GRIP_CLOSED, action_dim)
        return self._goto(eef, eef + [0.0, 0.0, 0.02], GRIP_OPEN, action_dim)  # release and back off


#: Tasks whose object goes to a fixed goal (SceneInfo.goal): the script, and the observation prefix of the object.
CARRY_TASKS: dict[str, tuple[type[CarryScript], str]] = {
    "PickPlaceCan": (CarryScript, "Can"), "NutAssemblySquare": (NutScript, "SquareNut"),
}


class ScriptedExpert(PolicyUnderTest):
    """Grasps the object at its true simulated position (privileged state: no camera, no vision)."""

    policy_id = "scripted_expert"
    tasks = ("Lift", "Stack", *CARRY_TASKS)

    def __init__(self) -> None:
        self.script = PickPlaceScript()
        self.carry: CarryScript | None = None
        self.object = ""

    def bind(self, scene: SceneInfo) -> None:
        super().bind(scene)
        script, self.object = CARRY_TASKS.get(scene.task, (None, ""))
        self.carry = script() if script else None

    def start_episode(self) -> None:
        self.script.reset()
        if self.carry is not None:
            self.carry.reset()

    def __call__(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        eef = np.asarray(obs["robot0_eef_pos"])
        if self.carry is not None:
            return self.carry.act(eef, np.asarray(obs["robot0_eef_quat"]), np.asarray(obs[f"{self.object}_pos"]),
                                  np.asarray(obs[f"{self.object}_quat"]), self.scene.goal, self.scene.table_height,
                                  self.scene.action_dim)
        if "cubeA_pos" in obs:  # Stack: pick cube A, put it on cube B
            return self.script.act(eef, np.asarray(obs["cubeA_pos"]), np.asarray(obs["cubeB_pos"]), self.scene.action_dim)
        return self.script.act(eef, np.asarray(obs["cube_pos"]), None, self.scene.action_dim)
