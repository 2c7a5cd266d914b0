"""Policies under test whose failure regions are planted by construction (issue 12's ground truths).

Each is the privileged scripted expert (which visual factors cannot hurt) plus one rule on what it *observes*:
it looks at the first agentview frame (and at where, by the nominal camera calibration, the cube's known
position appears in it), computes a few image statistics, and freezes (holds still, gripper
open, so the episode fails at the horizon) when the rule fires. Because the rule reads only the first frame,
the true P(failure | scene) of any scene is known without running an episode: render that frame and apply
the rule (`truth.py` does this densely). The expert succeeds wherever the rule does not fire, which
`continuous_study.py --check-truth` measures.

The four cases the study needs:
- `DarkFreeze`: a threshold. Freezes when the floor beyond the table looks darker than a level; the scene
  light's intensity controls it (a strongly coloured light darkens it too, and the camera's pose moves it).
- `GreenCubeDarkArm`: an interaction. Freezes only when the cube looks green-to-blue AND the arm looks dark:
  neither a recoloured cube under a light-grey arm nor a dark arm beside the red cube makes it fail.
- `CyanBand`: a narrow region. Freezes when the cube's hue lies in a band 5% of the hue circle wide, which
  a coarse sweep easily steps over.
- `ColourfulTableCoin`: a probabilistic region. Inside the region (the table looks colourful) it freezes in
  one episode of three, chosen by a hash of the cube's initial position, so that the same initial state
  and scene always give the same outcome while the rate over initial states is 1/3.

Use in an audit (the module must be importable, and the study's visual-only catalogue keeps the expert's
physics untouched):  PYTHONPATH=bench ./robofail audit --policy planted_policies:DarkFreeze --continuous
"""
from __future__ import annotations

import zlib
from abc import abstractmethod

import cv2
import numpy as np

from robofail_ros.policies.base import PolicyUnderTest
from robofail_ros.policies.expert import GRIP_OPEN, ScriptedExpert
from robofail_ros.sim import ADVERSARY_CAMERA, ObservationNeeds

IMAGE_SIZE = 84
#: The cube's pixels must be this saturated to have a hue (the table and robot are near grey at nominal).
CUBE_MIN_SATURATION = 0.12
#: Half-side in pixels of the patch read around the cube's projected centre (the cube spans ~5 px at 84x84).
CUBE_PATCH = 1
#: The bottom rows of the frame: only table top at nominal camera pose.
TABLE_ROWS = slice(66, 84)
#: A strip of the frame that shows the floor beyond the table at nominal camera pose.
FLOOR_ROWS = slice(12, 16)
#: The top centre of the frame: the arm's base and shoulder at nominal camera pose.
ARM_WINDOW = (slice(0, 12), slice(28, 56))


# --------------------------------------------------------------------------- image statistics


def luminance(frame: np.ndarray) -> float:
    """Mean Rec. 601 luma of an RGB uint8 frame, in [0, 1]."""
    return float((frame[..., :3].astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)).mean() / 255.0)


def _hsv(frame: np.ndarray) -> np.ndarray:
    """HSV in [0, 1]^3 (OpenCV's 0..179 hue rescaled)."""
    hsv = cv2.cvtColor(np.ascontiguousarray(frame[..., :3]), cv2.COLOR_RGB2HSV).astype(np.float32)
    return hsv / np.array([180.0, 255.0, 255.0], np.float32)


def cube_colour(frame: np.ndarray, pixel: tuple[float, float]) -> tuple[float, float] | None:
    """(hue, value) of the patch around `pixel` (the cube's projected centre): circular mean hue, median value.

    None when the patch is not saturated (a grey or black cube, or a camera turned so the patch shows table).
    """
    u, v = int(pixel[0]), int(pixel[1])
    h, w = frame.shape[:2]
    patch = _hsv(frame)[max(0, v - CUBE_PATCH):min(h, v + CUBE_PATCH + 1),
                        max(0, u - CUBE_PATCH):min(w, u + CUBE_PATCH + 1)].reshape(-1, 3)
    if not len(patch) or np.median(patch[:, 1]) < CUBE_MIN_SATURATION:
        return None
    angle = 2 * np.pi * patch[:, 0]
    hue = (np.arctan2(np.sin(angle).mean(), np.cos(angle).mean()) / (2 * np.pi)) % 1.0
    return float(hue), float(np.median(patch[:, 2]))


def table_saturation(frame: np.ndarray) -> float:
    """Mean HSV saturation of the bottom rows (the table top at nominal camera pose), in [0, 1]."""
    return float(_hsv(frame)[TABLE_ROWS][..., 1].mean())


def hue_in(hue: float, low: float, high: float) -> bool:
    """Whether a hue lies in [low, high] on the hue circle (low > high wraps through red)."""
    return low <= hue <= high if low <= high else hue >= low or hue <= high


def initial_state_draw(cube_pos: np.ndarray) -> float:
    """A number in [0, 1) fixed by the cube's initial position (0.1 mm grid): the planted coin.

    The same initial state always gives the same draw, so an episode re-run gives the same outcome, while over
    the initial states of many seeds the draws are spread uniformly (checked by the study's truth step).
    """
    key = np.round(np.asarray(cube_pos, float)[:2] * 1e4).astype(np.int64).tobytes()
    return zlib.crc32(key) / 2.0**32


# --------------------------------------------------------------------------- the policies


class PlantedPolicy(PolicyUnderTest):
    """The scripted expert, frozen from the first step when its planted rule fires on the first frame."""

    needs = ObservationNeeds(cameras=(ADVERSARY_CAMERA,), image_size=IMAGE_SIZE, camera_every=0)
    #: What the rule is, in a line (reports and the study's tables).
    rule: str = ""

    def __init__(self) -> None:
        self.expert = ScriptedExpert()
        self.frozen = False
        self.policy_id = f"planted_{type(self).__name__}"

    def bind(self, scene) -> None:
        super().bind(scene)
        self.expert.bind(scene)
        # Like a deployed system, the calibration is the nominal camera's: a moved camera misplaces the patch.
        self.camera = scene.cameras[ADVERSARY_CAMERA].resized(IMAGE_SIZE)

    def cube_pixel(self, cube_pos: np.ndarray) -> tuple[float, float]:
        """Where the cube's centre appears in the first frame, by the nominal calibration."""
        return self.camera.project(np.asarray(cube_pos, float))

    def start_episode(self) -> None:
        self.expert.start_episode()
        self.frozen = False

    @abstractmethod
    def p_fail(self, frame: np.ndarray, cube_pos: np.ndarray) -> float:
        """The planted P(failure) of an episode whose first frame is `frame` and whose cube starts at `cube_pos`
        (0 or 1, or 1/3 for the coin)."""

    def freezes(self, frame: np.ndarray, cube_pos: np.ndarray) -> bool:
        """Whether this episode freezes: the coin `initial_state_draw` against `p_fail`."""
        p = self.p_fail(frame, cube_pos)
        return p >= 1.0 or (p > 0.0 and initial_state_draw(cube_pos) < p)

    def __call__(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        key = f"{ADVERSARY_CAMERA}_image"
        if key in obs:
            self.frozen = self.freezes(obs[key], obs["cube_pos"])
        if self.frozen:
            action = np.zeros(self.scene.action_dim)
            action[-1] = GRIP_OPEN
            return action
        return self.expert(obs)


class DarkFreeze(PlantedPolicy):
    """A threshold: the floor strip darker than LEVEL (nominal scene 0.41; scene light x0.1: 0.20)."""

    LEVEL = 0.26
    rule = f"mean luminance of the floor strip (rows {FLOOR_ROWS.start}-{FLOOR_ROWS.stop - 1}) < {LEVEL}"

    def p_fail(self, frame: np.ndarray, cube_pos: np.ndarray) -> float:
        return float(luminance(frame[FLOOR_ROWS]) < self.LEVEL)


class GreenCubeDarkArm(PlantedPolicy):
    """An interaction: the cube's hue in HUES (green to blue) AND the arm's window darker than LEVEL.

    "Darker" is the mean HSV value (max of R, G, B) of the window, which the arm's colour value sets and its hue
    or saturation do not (the scene light shifts it a little): so each condition has one main factor, cube_hue
    and robot_value. At nominal the window's value is 0.51 and the cube hue 0.98 (red): each condition alone
    leaves the other false, so along any single factor (others nominal) nothing fails.
    """

    HUES = (0.25, 0.70)
    LEVEL = 0.30
    rule = f"cube hue in [{HUES[0]}, {HUES[1]}] and arm window HSV value < {LEVEL}"

    def p_fail(self, frame: np.ndarray, cube_pos: np.ndarray) -> float:
        colour = cube_colour(frame, self.cube_pixel(cube_pos))
        return float(colour is not None and hue_in(colour[0], *self.HUES)
                     and float(_hsv(frame)[ARM_WINDOW][..., 2].mean()) < self.LEVEL)


class CyanBand(PlantedPolicy):
    """A narrow region: the cube's hue within BAND, 5% of the hue circle."""

    BAND = (0.48, 0.53)
    rule = f"cube hue in [{BAND[0]}, {BAND[1]}]"

    def p_fail(self, frame: np.ndarray, cube_pos: np.ndarray) -> float:
        colour = cube_colour(frame, self.cube_pixel(cube_pos))
        return float(colour is not None and hue_in(colour[0], *self.BAND))


class ColourfulTableCoin(PlantedPolicy):
    """A probabilistic region: the table's saturation above LEVEL, then failure in a third of initial states."""

    LEVEL = 0.70
    RATE = 1.0 / 3.0
    rule = f"table saturation > {LEVEL}, then fails with probability 1/3 (a coin fixed by the initial state)"

    def p_fail(self, frame: np.ndarray, cube_pos: np.ndarray) -> float:
        return self.RATE if table_saturation(frame) > self.LEVEL else 0.0


PLANTED = {cls.__name__: cls for cls in (DarkFreeze, GreenCubeDarkArm, CyanBand, ColourfulTableCoin)}
