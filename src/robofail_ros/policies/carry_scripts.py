"""Scripted carry-and-place for tasks whose object goes to a fixed goal: the can into its bin, the nut onto its peg.

Both are phase machines over privileged state (object pose, goal position), like `expert.PickPlaceScript` for Lift
and Stack, but they lift to a safe height before carrying, because bin walls and the peg stand between the object
and the goal, and the nut needs the gripper turned: the fingers close across its handle, and the nut is squared to
the peg before it goes down (at 25 degrees off, the square peg leaves 1.4 mm of clearance in the nut's hole).
"""
from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np

GRIP_OPEN, GRIP_CLOSED = -1.0, 1.0


def quat_yaw(quat_xyzw: np.ndarray) -> float:
    """Rotation about world z of an object that only turns about z (robosuite's observation quaternions are xyzw)."""
    return float(2.0 * np.arctan2(quat_xyzw[2], quat_xyzw[3]))


def finger_yaw(eef_quat_xyzw: np.ndarray) -> float:
    """Direction, in the table plane, along which the Panda's fingers close: the end effector's y axis."""
    rot = np.zeros(9)
    mujoco.mju_quat2Mat(rot, np.array([eef_quat_xyzw[3], *eef_quat_xyzw[:3]]))
    return float(np.arctan2(rot[4], rot[1]))


def wrap(angle: float, period: float) -> float:
    """`angle` moved by whole periods into [-period/2, period/2)."""
    return (angle + period / 2) % period - period / 2


@dataclass
class CarryScript:
    """above → descend → close → lift → carry (at `safe_height`) → lower → release → retreat, to a fixed goal.

    The default grasps the object at its centre with the fingers as they are and releases it `release_height`
    above the goal: the can. `NutScript` changes where to grasp, how to turn, and when to let go.
    """

    gain: float = 10.0
    hover: float = 0.08
    safe_height: float = 1.05
    """World height to carry at: clears the bins' walls (top ~0.9 m) and the pegs (top 0.95 m)."""
    release_height: float = 0.12
    close_steps: int = 10
    release_steps: int = 8
    phase: str = "above"
    phase_steps: int = 0
    yaw: float | None = None
    """The finger direction the script turns to (None: keep the hand as it is)."""

    def reset(self) -> None:
        self.phase, self.phase_steps, self.yaw = "above", 0, None

    def _next(self, phase: str) -> None:
        self.phase, self.phase_steps = phase, 0

    # -- what a task changes -------------------------------------------------------------------------------------
    def grasp_point(self, obj: np.ndarray, obj_quat: np.ndarray) -> np.ndarray:
        return obj

    def grasp_yaw(self, obj_quat: np.ndarray, fingers: float) -> float | None:
        return None

    def carry_yaw(self, obj_quat: np.ndarray, fingers: float) -> float | None:
        return self.yaw

    def lowered(self, obj: np.ndarray, eef: np.ndarray, goal: np.ndarray, table_height: float) -> bool:
        return abs(goal[2] + self.release_height - eef[2]) < 0.01

    def lower_target(self, eef: np.ndarray, xy: np.ndarray, goal: np.ndarray) -> np.ndarray:
        return np.array([xy[0], xy[1], goal[2] + self.release_height])

    # -- the phase machine ---------------------------------------------------------------------------------------
    def act(self, eef: np.ndarray, eef_quat: np.ndarray, obj: np.ndarray, obj_quat: np.ndarray, goal: np.ndarray,
            table_height: float, action_dim: int) -> np.ndarray:
        """One action towards putting the object at `obj` (pose `obj_quat`, xyzw) on or into `goal`."""
        self.phase_steps += 1
        fingers = finger_yaw(eef_quat)
        grip, n = GRIP_OPEN, self.phase_steps
        grasp = self.grasp_point(obj, obj_quat)
        if self.phase == "above":
            self.yaw = self.grasp_yaw(obj_quat, fingers)
            target = grasp + [0.0, 0.0, self.hover]
            turned = self.yaw is None or abs(wrap(self.yaw - fingers, np.pi)) < 0.04
            if (np.linalg.norm(target - eef) < 0.012 and turned) or n > 80:
                self._next("descend")
        elif self.phase == "descend":
            self.yaw = self.grasp_yaw(obj_quat, fingers)
            target = grasp
            if (abs(target[2] - eef[2]) < 0.008 and np.linalg.norm((target - eef)[:2]) < 0.004) or n > 50:
                self._next("close")
        elif self.phase == "close":
            target, grip = grasp, GRIP_CLOSED
            if n >= self.close_steps:
                self._next("lift")
        elif self.phase == "lift":
            target, grip = np.array([eef[0], eef[1], self.safe_height]), GRIP_CLOSED
            if eef[2] - obj[2] > 0.05:  # the object stayed behind: open and try again
                self._next("above")
            elif eef[2] > self.safe_height - 0.02 or n > 40:
                self._next("carry")
        elif self.phase in ("carry", "lower"):
            grip = GRIP_CLOSED
            self.yaw = self.carry_yaw(obj_quat, fingers)
            xy = goal[:2] + (eef - obj)[:2]  # the hand's place when the object is over the goal
            if self.phase == "carry":
                target = np.array([xy[0], xy[1], self.safe_height])
                squared = self.yaw is None or abs(wrap(self.yaw - fingers, np.pi)) < 0.05
                if (np.linalg.norm((goal - obj)[:2]) < 0.005 and squared) or n > 100:
                    self._next("lower")
            else:
                target = self.lower_target(eef, xy, goal)
                if self.lowered(obj, eef, goal, table_height) or n > 60:
                    self._next("release")
        elif self.phase == "release":
            target = eef.copy()
            if n >= self.release_steps:
                self._next("retreat")
        else:  # retreat: robosuite counts a placement only once the hand is away from the object
            target = np.array([eef[0], eef[1], self.safe_height])
        action = np.zeros(action_dim)
        action[:3] = np.clip(self.gain * (target - eef), -1.0, 1.0)
        if self.yaw is not None:
            action[5] = np.clip(3.0 * wrap(self.yaw - fingers, np.pi), -1.0, 1.0)
        action[-1] = grip
        return action


@dataclass
class NutScript(CarryScript):
    """The square nut: grasped by its handle with the fingers across it, squared to the peg, let down over it."""

    handle: float = 0.06
    """Where the fingers close, from the nut's centre (its body origin) along its x axis: the handle spans 0.029 to
    0.079 m; at its middle (0.054) an open finger can land on the corner of the ring (seed 31 did, three times)."""

    def grasp_point(self, obj: np.ndarray, obj_quat: np.ndarray) -> np.ndarray:
        yaw = quat_yaw(obj_quat)
        return obj + self.handle * np.array([np.cos(yaw), np.sin(yaw), 0.0])

    def grasp_yaw(self, obj_quat: np.ndarray, fingers: float) -> float:
        # Fingers along the nut's y axis, across the handle; the gripper is symmetric, so the nearer of two ways.
        return fingers + wrap(quat_yaw(obj_quat) + np.pi / 2 - fingers, np.pi)

    def carry_yaw(self, obj_quat: np.ndarray, fingers: float) -> float:
        # The square hole fits the axis-aligned square peg every quarter turn: turn the nut to the nearest.
        yaw = quat_yaw(obj_quat)
        return fingers + wrap(np.round(yaw / (np.pi / 2)) * (np.pi / 2) - yaw, np.pi / 2)

    def lower_target(self, eef: np.ndarray, xy: np.ndarray, goal: np.ndarray) -> np.ndarray:
        return np.array([xy[0], xy[1], eef[2] - 0.05])  # down until the nut is low on the peg (or stuck)

    def lowered(self, obj: np.ndarray, eef: np.ndarray, goal: np.ndarray, table_height: float) -> bool:
        return obj[2] < table_height + 0.045  # robosuite counts the nut on the peg below table + 0.05
