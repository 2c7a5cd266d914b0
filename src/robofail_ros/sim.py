"""The robosuite simulation an audit runs in: fast headless rendering, cheap resets, live perturbations.

Rendering dominates an episode's cost, so the simulation renders only the cameras a
policy declares it reads (`ObservationNeeds`), at the size it asks for, and with the
costly visual effects (reflections, shadows, multisampling, a 640x480 offscreen
buffer) switched off. `hard_reset=False` keeps the live-model perturbations across
`reset()` and makes a reset cost milliseconds instead of seconds.
"""
from __future__ import annotations

import contextlib
import io
import logging
import os
from dataclasses import dataclass, field
from typing import Mapping

import robofail_ros  # noqa: F401  (sets MUJOCO_GL before mujoco is imported, loads Triton before any GL)

import mujoco
import numpy as np

from robofail_ros.catalogue import Catalogue, load_catalogue
from robofail_ros.factors import FactorSpace, optional_factor_space
from robofail_ros.perturb import LiveModelPerturber
from robofail_ros.task_stages import StageTracker

log = logging.getLogger(__name__)

#: The camera the adversary (and the paper's figures) observe.
ADVERSARY_CAMERA = "agentview"

#: Default episode horizons: about twice what the scripted expert needs (Lift ~47 steps, Stack ~93; PickPlaceCan
#: and NutAssemblySquare ~180, at most 225 in 50 episodes each), far below robosuite's 500 so a failing episode
#: does not cost ten successful ones.
DEFAULT_HORIZON = {"Lift": 100, "Stack": 200, "PickPlaceCan": 300, "NutAssemblySquare": 300}


@dataclass(frozen=True)
class SimConfig:
    """Everything that defines a simulated scene; two equal configs give identical episodes per seed."""

    task: str = "Lift"
    """robosuite task name; a catalogue `config/perturbations/<task>.yaml` must exist."""
    robot: str = "Panda"
    """robosuite robot model."""
    horizon: int = 0
    """Control steps before an episode counts as failed; 0 takes the task's DEFAULT_HORIZON."""
    control_freq: int = 20
    """Controller rate in Hz."""
    image_size: int = 84
    """Side of the square images the adversary observes (the paper's 84x84)."""
    fast_rendering: bool = True
    """Switch off reflections, shadows, the skybox and MSAA and size the offscreen buffer to the camera."""
    catalogue: str | None = None
    """Path to a catalogue YAML; None takes the task's default catalogue."""

    def __post_init__(self) -> None:
        if self.horizon == 0:
            object.__setattr__(self, "horizon", DEFAULT_HORIZON.get(self.task, 200))
        for name in ("horizon", "control_freq", "image_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"SimConfig.{name} must be a positive integer, got {value!r}")
        if self.image_size > 1024:
            raise ValueError(f"SimConfig.image_size must be at most 1024, got {self.image_size}")


@dataclass(frozen=True)
class ObservationNeeds:
    """What a policy under test reads, so the simulation renders nothing more."""

    cameras: tuple[str, ...] = ()
    """Cameras whose images the policy reads, as `<camera>_image` keys (HxWx3 uint8, top row first)."""
    image_size: int = 84
    """Side of the square images rendered for the policy."""
    camera_every: int = 1
    """Render every k-th control step; 0 renders the first step of an episode only."""

    def renders_at(self, step: int) -> bool:
        if not self.cameras:
            return False
        if self.camera_every == 0:
            return step == 0
        return step % self.camera_every == 0


@dataclass(frozen=True)
class CameraModel:
    """Pinhole model of one camera: what a calibrated vision system would know about it."""

    name: str
    width: int
    height: int
    focal: float
    position: np.ndarray = field(repr=False)
    rotation: np.ndarray = field(repr=False)
    """World-from-camera rotation; MuJoCo cameras look along their -z axis with +y up."""

    def resized(self, size: int) -> "CameraModel":
        """The same camera rendered at a different square image size."""
        return CameraModel(self.name, size, size, self.focal * size / self.width, self.position, self.rotation)

    @property
    def intrinsics(self) -> np.ndarray:
        """K in the ROS optical convention (x right, y down, z forward)."""
        return np.array([[self.focal, 0.0, self.width / 2.0], [0.0, self.focal, self.height / 2.0], [0.0, 0.0, 1.0]])

    def pixel_ray(self, u: float, v: float) -> np.ndarray:
        """World-frame direction of the ray through pixel (u, v), v counted down from the top row."""
        d = np.array([(u - self.width / 2.0) / self.focal, -(v - self.height / 2.0) / self.focal, -1.0])
        return self.rotation @ d

    def backproject_to_plane(self, u: float, v: float, z: float) -> np.ndarray | None:
        """Intersect the ray through (u, v) with the horizontal plane at height z."""
        ray = self.pixel_ray(u, v)
        if abs(ray[2]) < 1e-9:
            return None
        s = (z - self.position[2]) / ray[2]
        return None if s <= 0 else self.position + s * ray

    def project(self, point: np.ndarray) -> tuple[float, float]:
        """Pixel (u, v) of a world point."""
        local = self.rotation.T @ (np.asarray(point) - self.position)
        return (self.width / 2.0 + self.focal * local[0] / -local[2], self.height / 2.0 - self.focal * local[1] / -local[2])


@dataclass(frozen=True)
class SceneInfo:
    """Facts about the nominal (unperturbed) scene handed to a policy once, like a calibration file."""

    task: str
    action_dim: int
    control_freq: int
    table_height: float
    cameras: dict[str, CameraModel]
    object_half_height: float
    goal: np.ndarray | None = None
    """Where the task wants its object (PickPlace: the centre of its quarter of the goal bin; NutAssembly: the
    peg), for privileged policies; None where the goal is an object that moves (Stack) or there is none (Lift)."""


def _import_robosuite():
    """Import robosuite without its import-time warnings about optional extras we do not use."""
    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        import robosuite
    finally:
        logging.disable(previous)
    for noisy in ("robosuite", "robosuite_logs"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    return robosuite


def _make_robosuite_env(config: SimConfig, seed: int):
    suite = _import_robosuite()
    with contextlib.redirect_stdout(io.StringIO()):
        return suite.make(
            config.task,
            robots=config.robot,
            has_renderer=False,
            has_offscreen_renderer=False,  # we render through mujoco.Renderer, only what is needed
            use_camera_obs=False,
            use_object_obs=True,
            hard_reset=False,
            ignore_done=True,  # the episode runner owns the horizon
            horizon=config.horizon,
            control_freq=config.control_freq,
            reward_shaping=False,
            seed=seed,
        )


class Simulation:
    """One robosuite environment with its perturber and renderers, reused across many episodes."""

    def __init__(self, config: SimConfig = SimConfig(), seed: int = 0, catalogue: Catalogue | None = None) -> None:
        self.config = config
        self.catalogue = catalogue or load_catalogue(config.catalogue or config.task)
        #: The task's continuous scene space (None when its catalogue declares no factors).
        self.space: FactorSpace | None = (optional_factor_space(self.catalogue.source)
                                          if self.catalogue.source.endswith((".yaml", ".yml")) else None)
        if self.catalogue.task.lower() != config.task.lower():
            raise ValueError(f"catalogue {self.catalogue.source} is for task {self.catalogue.task}, not {config.task}")
        self.env = _make_robosuite_env(config, seed)
        self.model: mujoco.MjModel = self.env.sim.model._model
        self.data: mujoco.MjData = self.env.sim.data._data
        self._renderers: dict[int, mujoco.Renderer] = {}
        self._scene_option = mujoco.MjvOption()
        self._scene_option.geomgroup[:] = 0
        self._scene_option.geomgroup[1] = 1  # visual geoms only: no collision hulls, no target markers
        if config.fast_rendering:
            self.model.mat_reflectance[:] = 0.0
            self.model.vis.quality.offsamples = 0
        self.perturber = LiveModelPerturber(self.model, self.catalogue, self.space)
        self.stages = StageTracker(self.env, config.task)
        self.reset(seed)
        self.scene = self._nominal_scene()

    # -- perturbations ---------------------------------------------------------------------
    def set_perturbations(self, names: list[str] | tuple[str, ...], scene: Mapping[str, float] | None = None) -> None:
        """Make exactly `scene` (factor values) plus `names` active; takes effect for rendering at once and
        physics at next reset."""
        self.perturber.set(list(names), scene)
        mujoco.mj_forward(self.model, self.data)

    @property
    def active_perturbations(self) -> list[str]:
        return list(self.perturber.applied)

    @property
    def active_scene(self) -> dict[str, float]:
        """The factors away from their nominal value, and their values."""
        return dict(self.perturber.scene)

    # -- episode control -------------------------------------------------------------------
    def reset(self, seed: int) -> dict[str, np.ndarray]:
        """Reset to the initial state drawn from `seed` (object placement and robot joint noise)."""
        # robosuite's placement sampler holds a reference to env.rng: reseed that generator in place.
        self.env.rng.bit_generator.state = np.random.default_rng(seed).bit_generator.state
        obs = self.env.reset()
        offsets = self.perturber.rest_offsets()
        if offsets:
            for adr, dz in offsets:
                self.data.qpos[adr] += dz
            mujoco.mj_forward(self.model, self.data)
            obs = self.env._get_observations(force_update=True)
        self.stages.start()
        return obs

    def step(self, action: np.ndarray) -> dict[str, np.ndarray]:
        obs, _, _, _ = self.env.step(action)
        self.stages.update()
        return obs

    @property
    def furthest_stage(self) -> str:
        """The furthest task stage reached since the last reset (task_stages.py; "" for none)."""
        return self.stages.furthest

    def success(self) -> bool:
        return bool(self.env._check_success())

    @property
    def action_dim(self) -> int:
        return int(self.env.action_dim)

    # -- rendering -------------------------------------------------------------------------
    def _renderer(self, size: int) -> mujoco.Renderer:
        r = self._renderers.get(size)
        if r is None:
            vis = self.model.vis.global_
            if self.config.fast_rendering:
                # The offscreen buffer is shared by all renderers: size it for the largest request.
                vis.offwidth = max(size, *(k for k in self._renderers), 1)
                vis.offheight = vis.offwidth
            else:
                vis.offwidth, vis.offheight = max(vis.offwidth, size), max(vis.offheight, size)
            r = mujoco.Renderer(self.model, height=size, width=size)
            if self.config.fast_rendering:
                r.scene.flags[mujoco.mjtRndFlag.mjRND_REFLECTION] = 0
                r.scene.flags[mujoco.mjtRndFlag.mjRND_SHADOW] = 0
                r.scene.flags[mujoco.mjtRndFlag.mjRND_SKYBOX] = 0
            self._renderers[size] = r
        return r

    def render(self, camera: str = ADVERSARY_CAMERA, size: int | None = None) -> np.ndarray:
        """An RGB image (HxWx3 uint8, top row first) of the current state from `camera`."""
        size = size or self.config.image_size
        r = self._renderer(size)
        r.update_scene(self.data, camera=camera, scene_option=self._scene_option)
        return r.render()

    def observe(self, obs: dict[str, np.ndarray], needs: ObservationNeeds, step: int) -> dict[str, np.ndarray]:
        """Add the camera images the policy asked for at this step to a robosuite observation dict."""
        if needs.renders_at(step):
            obs = dict(obs)
            for cam in needs.cameras:
                obs[f"{cam}_image"] = self.render(cam, needs.image_size)
        return obs

    def camera_model(self, camera: str, size: int) -> CameraModel:
        cam = self.model.camera(camera).id
        focal = (size / 2.0) / np.tan(np.deg2rad(self.model.cam_fovy[cam]) / 2.0)
        return CameraModel(camera, size, size, float(focal), self.data.cam_xpos[cam].copy(),
                           self.data.cam_xmat[cam].reshape(3, 3).copy())

    def _nominal_scene(self) -> SceneInfo:
        names = [mujoco.mj_id2name(self.model, mujoco.mjtObj.mjOBJ_CAMERA, i) for i in range(self.model.ncam)]
        table_height = _table_height(self.env)
        cube_geoms = [i for i in range(self.model.ngeom)
                      if (mujoco.mj_id2name(self.model, mujoco.mjtObj.mjOBJ_GEOM, i) or "").endswith("_g0")]
        half = float(self.model.geom_size[cube_geoms[0], 2]) if cube_geoms else 0.02
        role = self.catalogue.roles.get("object")
        if role is not None and not role.default:  # a task that names its object: that object, not the first *_g0
            from robofail_ros.roles import resolve_role

            colliding = resolve_role(self.model, role, "geom_friction", f"{self.catalogue.source}: object height")
            half = float(self.model.geom_aabb[list(colliding), 5].max())  # half-height in the geom's own frame
        return SceneInfo(
            task=self.config.task, action_dim=self.action_dim, control_freq=self.config.control_freq,
            table_height=table_height, object_half_height=half, goal=_goal_position(self.env),
            cameras={n: self.camera_model(n, self.config.image_size) for n in names if n},
        )

    def close(self) -> None:
        for r in self._renderers.values():
            r.close()
        self._renderers.clear()
        with contextlib.suppress(Exception):
            self.env.close()


def _table_height(env) -> float:
    """Height of the surface the task's objects start on: robosuite's table tasks keep it as `table_offset`; the
    bin tasks (PickPlace) place their objects on the floor of `bin1`, its lowest colliding box, whose top we read."""
    if hasattr(env, "table_offset"):
        return float(env.table_offset[2])
    model, data = env.sim.model._model, env.sim.data._data
    body = model.body("bin1").id
    floor = min((i for i in range(model.ngeom) if model.geom_bodyid[i] == body and model.geom_contype[i]),
                key=lambda i: data.geom_xpos[i, 2])
    return float(data.geom_xpos[floor, 2] + model.geom_size[floor, 2])


def _goal_position(env) -> np.ndarray | None:
    """The fixed place a task puts its object, read from robosuite's own task state (None: no fixed goal)."""
    if hasattr(env, "target_bin_placements") and hasattr(env, "object_id"):  # PickPlace, single-object modes
        return np.array(env.target_bin_placements[env.object_id], dtype=float)
    if hasattr(env, "peg1_body_id") and hasattr(env, "nut_id"):  # NutAssembly: nut i goes on peg i + 1
        peg = env.peg1_body_id if env.nut_id == 0 else env.peg2_body_id
        return np.array(env.sim.data.body_xpos[peg], dtype=float)
    return None


def default_worker_count() -> int:
    return max(1, min(2, os.cpu_count() or 1))
