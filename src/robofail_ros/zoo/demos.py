"""Demonstrations without downloads: the privileged scripted expert, with action noise, in robomimic's hdf5 format.

Demos are recorded through our own `Simulation` and `run_episode`, so the images a
model trains on come from the very rendering path (camera, size, fast-rendering
settings) its audit will show it. Only successful demos are kept, as in robomimic's
datasets; the layout is robomimic's (`data/demo_i/{obs,next_obs,actions,rewards,dones,states}`,
`data.attrs["env_args"]`, `mask/train` and `mask/valid`), so its own loader reads it.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from robofail_ros.episode import run_episode
from robofail_ros.policies.base import PolicyUnderTest
from robofail_ros.policies.expert import ScriptedExpert
from robofail_ros.sim import ObservationNeeds, SceneInfo, SimConfig, Simulation
from robofail_ros.zoo.spec import CAMERAS, IMAGE_SIZE, OBJECT_KEY

log = logging.getLogger(__name__)

#: Entropy salt of demo seeds, so no demo starts from an audit's or the nominal evaluation's initial state.
DEMO_SEED_SALT = 0xDE40
DEFAULT_NOISE = 0.05
"""Std of the Gaussian noise added to the expert's arm actions (not the gripper): varied but still successful demos."""
VALID_FRACTION = 0.1


def demo_seed(seed: int, index: int) -> int:
    return int(np.random.SeedSequence([DEMO_SEED_SALT, int(seed), int(index)]).generate_state(1)[0])


class NoisyRecordingExpert(PolicyUnderTest):
    """The scripted expert with Gaussian arm noise, remembering every observation, state and executed action."""

    policy_id = "scripted_expert_noisy"
    needs = ObservationNeeds(cameras=CAMERAS, image_size=IMAGE_SIZE, camera_every=1)

    def __init__(self, sim: Simulation, noise: float, rng: np.random.Generator) -> None:
        self.sim, self.noise, self.rng = sim, noise, rng
        self.expert = ScriptedExpert()
        self.obs: list[dict[str, np.ndarray]] = []
        self.states: list[np.ndarray] = []
        self.actions: list[np.ndarray] = []

    def bind(self, scene: SceneInfo) -> None:
        super().bind(scene)
        self.expert.bind(scene)

    def start_episode(self) -> None:
        self.expert.start_episode()
        self.obs, self.states, self.actions = [], [], []

    def __call__(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        action = np.asarray(self.expert(obs), dtype=float)
        action[:-1] += self.rng.normal(0.0, self.noise, size=action.shape[0] - 1)
        action = np.clip(action, -1.0, 1.0)
        self.obs.append(obs)
        self.states.append(np.asarray(self.sim.env.sim.get_state().flatten()))
        self.actions.append(action)
        return action


def _stored(obs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Every robosuite key plus the images, with robomimic's name for the object vector."""
    return {(OBJECT_KEY if k == "object-state" else k): np.asarray(v) for k, v in obs.items()}


def _env_args(sim: Simulation) -> dict:
    """The environment metadata robomimic keeps with a dataset (type 1 = robosuite)."""
    import robosuite

    c = sim.config
    return {"env_name": c.task, "type": 1, "env_version": robosuite.__version__, "env_kwargs": {
        "robots": [c.robot], "control_freq": c.control_freq, "horizon": c.horizon, "has_renderer": False,
        "has_offscreen_renderer": True, "use_object_obs": True, "use_camera_obs": True,
        "camera_names": list(CAMERAS), "camera_heights": IMAGE_SIZE, "camera_widths": IMAGE_SIZE,
        "reward_shaping": False, "hard_reset": False, "ignore_done": True}}


@dataclass
class DemoStats:
    path: Path
    demos: int
    attempts: int
    samples: int
    wall_time: float


def record_demos(path: Path, task: str = "Lift", demos: int = 100, seed: int = 0, noise: float = DEFAULT_NOISE,
                 on_demo: Callable[[int, int], None] | None = None) -> DemoStats:
    """Record `demos` successful noisy expert demos into a robomimic hdf5 file at `path` (written atomically)."""
    import time

    import h5py
    from robomimic.utils.file_utils import create_hdf5_filter_key

    if demos < 2:
        raise ValueError(f"demos must be at least 2 (one train, one valid), got {demos}")
    started = time.perf_counter()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.hdf5")
    sim = Simulation(SimConfig(task=task), seed=seed)
    policy = NoisyRecordingExpert(sim, noise, np.random.default_rng([DEMO_SEED_SALT, seed]))
    policy.bind(sim.scene)
    kept, attempts, samples = 0, 0, 0
    try:
        with h5py.File(tmp, "w") as f:
            data = f.create_group("data")
            data.attrs["env_args"] = json.dumps(_env_args(sim))
            model_xml = sim.env.sim.model.get_xml()
            while kept < demos:
                if attempts >= 3 * demos + 10:
                    raise RuntimeError(f"only {kept} of {attempts} noisy expert demos succeeded; lower the noise ({noise})")
                record = run_episode(sim, policy, (), demo_seed(seed, attempts), episode_id=f"demo-{attempts}")
                attempts += 1
                if not record.success:
                    continue
                final = sim.observe(sim.env._get_observations(force_update=True), policy.needs, 0)
                steps = [_stored(o) for o in policy.obs] + [_stored(final)]
                _write_demo(data.create_group(f"demo_{kept}"), steps, policy.actions, policy.states, model_xml)
                kept += 1
                samples += len(policy.actions)
                if on_demo:
                    on_demo(kept, demos)
            data.attrs["total"] = samples
        n_valid = max(1, round(VALID_FRACTION * demos))
        names = [f"demo_{i}" for i in range(demos)]
        create_hdf5_filter_key(str(tmp), names[:-n_valid], "train")
        create_hdf5_filter_key(str(tmp), names[-n_valid:], "valid")
        tmp.replace(path)
    finally:
        sim.close()
        tmp.unlink(missing_ok=True)
    return DemoStats(path, demos, attempts, samples, time.perf_counter() - started)


def _write_demo(group, steps: list[dict[str, np.ndarray]], actions: list[np.ndarray], states: list[np.ndarray],
                model_xml: str) -> None:
    """One demo: T actions, obs = steps[:-1], next_obs = steps[1:], sparse success reward on the last step."""
    n = len(actions)
    for name, seq in (("obs", steps[:-1]), ("next_obs", steps[1:])):
        g = group.create_group(name)
        for key in seq[0]:
            stack = np.stack([s[key] for s in seq])
            g.create_dataset(key, data=stack, compression="lzf" if stack.dtype == np.uint8 else None)
    rewards = np.zeros(n)
    rewards[-1] = 1.0  # episodes end at the first success
    group.create_dataset("actions", data=np.stack(actions))
    group.create_dataset("rewards", data=rewards)
    group.create_dataset("dones", data=rewards.astype(np.int64))
    group.create_dataset("states", data=np.stack(states))
    group.attrs["num_samples"] = n
    group.attrs["model_file"] = model_xml
