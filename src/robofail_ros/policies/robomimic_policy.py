"""A robomimic checkpoint as a policy under test (`robomimic:PATH`), through the same interface as the scripted ones.

robomimic's own robosuite wrapper is not used (robomimic 0.3.0 imports `mujoco_py` there):
the audit's `Simulation` renders what the checkpoint's shape metadata says the model reads,
and this adapter turns it into robomimic's observation format, exactly as the zoo's demos
stored it. robomimic is imported only when such a policy is loaded.
"""
from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import numpy as np

from robofail_ros.policies.base import PolicySpecError, PolicyUnderTest
from robofail_ros.sim import ObservationNeeds
from robofail_ros.zoo.cache import CHECKPOINT_NAME, META_NAME, sha256_file
from robofail_ros.zoo.spec import robomimic_obs

INSTALL_HINT = ("robomimic is not installed: it is the optional zoo extra; run `./robofail zoo list` "
                "(installs it) or `.venv/bin/pip install -r requirements-zoo.txt`")


def resolve_checkpoint(path: str | Path) -> Path:
    """A checkpoint file, or a zoo model folder holding `model.pth`."""
    p = Path(path).expanduser()
    if p.is_dir():
        p = p / CHECKPOINT_NAME
    if not p.is_file():
        raise PolicySpecError(f"no robomimic checkpoint at {str(path)!r}; accepted: robomimic:FILE.pth or "
                              f"robomimic:FOLDER (a zoo model folder holding {CHECKPOINT_NAME}; `robofail zoo list` shows them)")
    return p


#: Seed of a robomimic policy's own random draws, restarted every episode. GMM heads (BC-RNN's) sample a mixture
#: component at every step from torch's global generator, whose state depends on how many episodes a worker ran
#: before and on anything else that draws from it (the PPO adversary, in-process). Each episode starting from the
#: same generator state makes the policy a function of its initial state and scene, as a deterministic one is: an
#: audit repeats exactly from its seeds on any number of workers, and its repeats are not counted as new evidence.
ACTION_SAMPLING_SEED = 0


class RobomimicPolicy(PolicyUnderTest):
    """Wraps robomimic's `RolloutPolicy`: `start_episode()` resets it (RNN state, HBC subgoals) before every rollout."""

    def __init__(self, path: str | Path) -> None:
        self.checkpoint = resolve_checkpoint(path)
        try:
            import torch
            import robomimic.utils.file_utils as FileUtils
            import robomimic.utils.obs_utils as ObsUtils

            import robofail_ros.zoo.encoder  # noqa: F401  (the zoo's image encoder must be registered to load)
        except ImportError as exc:
            raise PolicySpecError(f"{INSTALL_HINT} ({exc})") from None
        # Audit workers are processes already; one inference thread each avoids oversubscribing the cores.
        torch.set_num_threads(1)
        try:
            with contextlib.redirect_stdout(io.StringIO()):  # robomimic prints its observation spec on every load
                self.rollout, ckpt = FileUtils.policy_from_checkpoint(ckpt_path=str(self.checkpoint),
                                                                      device=torch.device("cpu"), verbose=False)
        except Exception as exc:
            raise PolicySpecError(f"cannot load robomimic checkpoint {self.checkpoint}: {type(exc).__name__}: {exc}") from None
        self._obs_utils, self._torch = ObsUtils, torch
        self._restart_draws()
        shapes = ckpt["shape_metadata"]["all_shapes"]
        self.obs_keys = list(ckpt["shape_metadata"]["all_obs_keys"])
        self.image_keys = [k for k in self.obs_keys if len(shapes[k]) == 3]
        cameras = tuple(k[: -len("_image")] for k in self.image_keys)
        size = int(shapes[self.image_keys[0]][-1]) if self.image_keys else 84
        self.needs = ObservationNeeds(cameras=cameras, image_size=size, camera_every=1)
        self.algo_name = ckpt["algo_name"]
        env_name = (ckpt.get("env_metadata") or {}).get("env_name")
        self.tasks = (env_name,) if env_name else ()  # trained on one task's demos: refuse the others
        self.checkpoint_sha256 = sha256_file(self.checkpoint)
        self.policy_id = self._policy_id()

    def _policy_id(self) -> str:
        meta = self.checkpoint.parent / META_NAME
        if meta.is_file():
            return json.loads(meta.read_text()).get("name") or self.checkpoint.parent.name
        return f"robomimic-{self.algo_name}-{self.checkpoint.stem}"

    def start_episode(self) -> None:
        self.rollout.start_episode()
        self._restart_draws()

    def _restart_draws(self) -> None:
        self._torch_rng = self._torch.Generator().manual_seed(ACTION_SAMPLING_SEED).get_state()

    def __call__(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        ob = robomimic_obs(obs, self.obs_keys)
        for k in self.image_keys:  # HxWx3 uint8 -> 3xHxW float in [0, 1], as robomimic's env wrapper does
            ob[k] = self._obs_utils.process_obs(obs=ob[k], obs_key=k)
        with self._torch.random.fork_rng(devices=[]):  # the policy's own draws; torch's global stream is left as it was
            self._torch.set_rng_state(self._torch_rng)
            action = self.rollout(ob=ob)
            self._torch_rng = self._torch.get_rng_state()
        return np.asarray(action, dtype=float)
