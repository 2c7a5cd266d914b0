"""Where the scene's frames are, for TF: the world, the table and every camera, read from the simulation's model.

RViz places a camera image, its `camera_info` and the analysis markers only if their frames exist in a transform
tree. The poses come from MuJoCo's own data (`cam_xpos`/`cam_xmat`, the table body), so they include a camera
perturbation that is active, and a camera mounted on the robot is where the current state puts it. Each camera
gets two frames: MuJoCo's (x right, y up, looking along -z) and, as its child, the ROS optical frame (x right,
y down, z forward) that images and `camera_info` name, a rotation of pi about x.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import numpy as np
from scipy.spatial.transform import Rotation

from robofail_ros import names

#: The MuJoCo body the table frame is put on (robosuite's table arena).
TABLE_BODY = "table"
#: The optical frame in its MuJoCo camera frame: a rotation of pi about x, as a quaternion (x, y, z, w).
OPTICAL_IN_CAMERA = (1.0, 0.0, 0.0, 0.0)


@dataclass(frozen=True)
class Transform:
    """One edge of the transform tree: the child frame's pose in its parent's (translation in m, quaternion x y z w)."""

    parent: str
    child: str
    translation: tuple[float, float, float]
    rotation: tuple[float, float, float, float]

    def matrix(self) -> np.ndarray:
        """The 4x4 homogeneous transform parent <- child."""
        m = np.eye(4)
        m[:3, :3] = Rotation.from_quat(self.rotation).as_matrix()
        m[:3, 3] = self.translation
        return m


def _pose(parent: str, child: str, position: np.ndarray, rotation: np.ndarray) -> Transform:
    q = Rotation.from_matrix(np.asarray(rotation, dtype=float).reshape(3, 3)).as_quat()
    return Transform(parent, child, tuple(float(x) for x in position), tuple(float(x) for x in q))


def optical_frame(camera: str) -> str:
    """The frame a camera's images and `camera_info` are stamped with."""
    return names.CAMERA_OPTICAL_FRAME.format(camera=camera)


def scene_transforms(model, data, cameras: Iterable[str]) -> list[Transform]:
    """world -> table, and world -> camera -> camera optical frame for each camera, in the current MuJoCo state.

    `model`/`data` are MuJoCo's (`Simulation.model`, `Simulation.data`, after a reset or step, so that the
    derived poses are current); an unknown camera is refused with the known ones.
    """
    known = [model.camera(i).name for i in range(model.ncam)]
    out = []
    table = model.body(TABLE_BODY).id
    out.append(_pose(names.WORLD_FRAME, names.TABLE_FRAME, data.xpos[table], data.xmat[table]))
    for camera in cameras:
        if camera not in known:
            raise ValueError(f"unknown camera {camera!r}; known: {', '.join(known)}")
        cam = model.camera(camera).id
        frame = names.CAMERA_FRAME.format(camera=camera)
        out.append(_pose(names.WORLD_FRAME, frame, data.cam_xpos[cam], data.cam_xmat[cam]))
        out.append(Transform(frame, optical_frame(camera), (0.0, 0.0, 0.0), OPTICAL_IN_CAMERA))
    return out
