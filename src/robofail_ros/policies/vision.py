"""A vision scripted policy: finds the cube by colour in one camera frame, then grasps where it saw it.

It needs no training and has real visual failure modes: it segments "red" pixels,
so a red table or a green cube fools it, while physics perturbations mostly do
not. That makes it the default policy under test: an audit of it must rediscover
failure modes we can explain.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from robofail_ros.policies.base import PolicyUnderTest
from robofail_ros.policies.expert import GRIP_OPEN, PickPlaceScript
from robofail_ros.sim import ADVERSARY_CAMERA, ObservationNeeds, SceneInfo

#: HSV ranges (OpenCV: H in 0..179) for the colours the scripted tasks use.
COLOUR_RANGES: dict[str, list[tuple[tuple[int, int, int], tuple[int, int, int]]]] = {
    "red": [((0, 110, 40), (10, 255, 255)), ((170, 110, 40), (179, 255, 255))],
    "green": [((40, 90, 40), (85, 255, 255))],
}


def colour_mask(image: np.ndarray, colour: str) -> np.ndarray:
    """Boolean mask of the pixels of `colour` in an RGB uint8 image."""
    hsv = cv2.cvtColor(image, cv2.COLOR_RGB2HSV)
    mask = np.zeros(image.shape[:2], dtype=bool)
    for lo, hi in COLOUR_RANGES[colour]:
        mask |= cv2.inRange(hsv, np.array(lo), np.array(hi)) > 0
    return mask


def centroid(mask: np.ndarray) -> tuple[float, float] | None:
    """Pixel centre (u, v) of a mask, at pixel centres; None when the mask is empty."""
    vs, us = np.nonzero(mask)
    if len(us) == 0:
        return None
    return float(us.mean()) + 0.5, float(vs.mean()) + 0.5


@dataclass
class Detection:
    pick: np.ndarray | None
    place: np.ndarray | None


class VisionScriptedPolicy(PolicyUnderTest):
    """Locates objects by colour segmentation of the first agentview frame, with the nominal calibration."""

    policy_id = "vision_scripted"
    needs = ObservationNeeds(cameras=(ADVERSARY_CAMERA,), image_size=84, camera_every=0)
    tasks = ("Lift", "Stack")
    """Its colour detector knows the red cube and the green one; the can and the nut are other shapes and colours."""

    def __init__(self, pick_colour: str = "red", place_colour: str = "green") -> None:
        for c in (pick_colour, place_colour):
            if c not in COLOUR_RANGES:
                raise ValueError(f"unknown colour {c!r}; known: {', '.join(COLOUR_RANGES)}")
        self.pick_colour, self.place_colour = pick_colour, place_colour
        self.script = PickPlaceScript()
        self.detection = Detection(None, None)

    def bind(self, scene: SceneInfo) -> None:
        super().bind(scene)
        # The calibration is taken once from the nominal scene, as a deployed system would;
        # a camera that later moves is exactly the kind of condition the audit should expose.
        self.camera = scene.cameras[ADVERSARY_CAMERA].resized(self.needs.image_size)
        self.stacking = scene.task == "Stack"

    def start_episode(self) -> None:
        self.script.reset()
        self.detection = Detection(None, None)

    def _locate(self, image: np.ndarray, colour: str, half_height: float) -> np.ndarray | None:
        c = centroid(colour_mask(image, colour))
        if c is None:
            return None
        return self.camera.backproject_to_plane(c[0], c[1], self.scene.table_height + half_height)

    def __call__(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        key = f"{ADVERSARY_CAMERA}_image"
        if key in obs:
            image = obs[key]
            half = self.scene.object_half_height
            self.detection = Detection(
                self._locate(image, self.pick_colour, half),
                self._locate(image, self.place_colour, 0.025) if self.stacking else None,
            )
        eef = np.asarray(obs["robot0_eef_pos"])
        pick = self.detection.pick
        if pick is None or (self.stacking and self.detection.place is None):
            action = np.zeros(self.scene.action_dim)  # nothing seen: hold still, gripper open
            action[-1] = GRIP_OPEN
            return action
        return self.script.act(eef, pick, self.detection.place, self.scene.action_dim)
