"""The paper's failure-search MDP as a gymnasium environment.

State: the scene with the perturbations applied so far, observed as an 84x84 RGB
image. Action: one perturbation from the catalogue (Discrete(N), N = catalogue
size). Transition: the perturbation is added to the stack and the policy under
test runs one whole episode. Reward: +1000 if it fails, -100/T if it succeeds in T
steps. A failure ends the adversary episode; after a success the adversary may
stack another perturbation, up to `max_depth`.

Generalised to the continuous factor box (searcher `ppo_box`): the action is a Box(-1, 1, (d,)) mapped onto
the unit cube, i.e. a whole scene (one value per factor); after a success the adversary observes the scene it
chose and may choose another one, up to `max_depth`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import gymnasium as gym
import numpy as np

from robofail_ros.config import AuditConfig, episode_seed, searched_state_seed
from robofail_ros.episode import ABORTED, FAILURE, EpisodeRecord, run_episode
from robofail_ros.factors import FactorSpace, load_factor_space
from robofail_ros.policies import load_policy
from robofail_ros.record import CompletedEpisodes
from robofail_ros.sim import ADVERSARY_CAMERA, Simulation


@dataclass(frozen=True)
class EpisodeJob:
    """An episode to run, decided by a searcher: which perturbations, from which initial state."""

    episode_id: str
    perturbations: tuple[str, ...]
    seed: int
    searcher: str
    scene: Mapping[str, float] | None = None
    """Factor values of a continuous-space episode (None for catalogue and control episodes)."""


class AdversaryEnvBase(gym.Env):
    """The MDP's logic, independent of where episodes run (a local simulation or simulator nodes on a ROS graph).

    Subclasses say how to run one episode (`execute`) and how to look at a scene (`observe`).
    """

    metadata = {"render_modes": ["rgb_array"]}

    def __init__(self, config: AuditConfig, names: list[str], worker: int = 0, n_workers: int = 1,
                 completed: list[EpisodeRecord] | None = None, run_tag: str = "r0",
                 space: FactorSpace | None = None) -> None:
        super().__init__()
        self.config, self.names = config, list(names)
        self.worker, self.n_workers, self.run_tag = worker, n_workers, run_tag
        size = config.sim.image_size
        #: The factor box whose scenes a Box action chooses (ppo_box); None for the catalogue MDP.
        self.space: FactorSpace | None = None
        if config.searcher == "ppo_box":
            self.space = space or load_factor_space(config.sim.catalogue or config.sim.task)
            self.action_space = gym.spaces.Box(-1.0, 1.0, (self.space.dim,), dtype=np.float32)
        else:
            self.action_space = gym.spaces.Discrete(len(self.names))
        self.observation_space = gym.spaces.Box(0, 255, (3, size, size), dtype=np.uint8)
        self.render_mode = "rgb_array"
        self._completed = CompletedEpisodes(completed or [])
        self._stack: list[str] = []
        self._depth = 0  # scenes tried in this adversary episode (ppo_box; the catalogue MDP counts its stack)
        self._steps_taken = 0
        #: Observations are taken from one fixed initial state, so they depend on the perturbations alone
        #: and π(a|o) on the unperturbed image is well defined.
        self.observation_seed = episode_seed(config.seed, 0, config.control_episodes)

    def execute(self, job: EpisodeJob) -> EpisodeRecord:
        """Run one episode for real."""
        raise NotImplementedError

    def observe(self, stack: list[str] | tuple[str, ...]) -> np.ndarray:
        """The (3, S, S) uint8 image of the scene under `stack`, from `observation_seed`."""
        raise NotImplementedError

    def observe_scene(self, scene: Mapping[str, float]) -> np.ndarray:
        """The (3, S, S) uint8 image of a scene of the factor box, from `observation_seed` (ppo_box)."""
        raise NotImplementedError

    # -- gymnasium API ---------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        self._stack, self._depth = [], 0
        return self.observe(self._stack), {}

    def scene_of_action(self, action) -> dict[str, float]:
        """A Box action in [-1, 1]^d as a full scene: mapped linearly onto the unit cube, then through each
        factor's scale (actions outside the box, which a Gaussian policy proposes, are clipped to its faces)."""
        a = np.asarray(action, dtype=float).reshape(-1)
        if a.shape != (self.space.dim,) or not np.isfinite(a).all():
            raise ValueError(f"action {action!r} is not a finite vector of {self.space.dim} values "
                             f"(one per factor of {self.space.task})")
        return self.space.scene(self.space.from_unit(np.clip((a + 1.0) / 2.0, 0.0, 1.0)))

    def step(self, action):
        if self.space is not None:
            return self._step_scene(action)
        a = int(action)
        if not 0 <= a < len(self.names):
            raise ValueError(f"action {action!r} outside Discrete({len(self.names)})")
        stack = self._stack + [self.names[a]]
        index = self._steps_taken * self.n_workers + self.worker
        job = EpisodeJob(
            episode_id=f"ppo-{self.run_tag}-w{self.worker}-{self._steps_taken:06d}",
            perturbations=tuple(stack),
            seed=episode_seed(self.config.seed, index, self.config.control_episodes),
            searcher="ppo",
        )
        self._steps_taken += 1
        record = self.run_job(job)
        terminated = record.outcome == FAILURE
        truncated = not terminated and (record.outcome == ABORTED or len(stack) >= self.config.max_depth)
        self._stack = stack
        obs = self.observe(stack)
        return obs, float(record.reward), terminated, truncated, {"episode_record": record.to_json()}

    def _step_scene(self, action):
        """One step of the continuous MDP: run the scene the action names; observe that scene next."""
        scene = self.scene_of_action(action)
        index = self._steps_taken * self.n_workers + self.worker
        job = EpisodeJob(
            episode_id=f"{self.config.searcher}-{self.run_tag}-w{self.worker}-{self._steps_taken:06d}",
            perturbations=(), seed=searched_state_seed(self.config, index, f"{self.config.searcher}-{self.run_tag}"),
            searcher=self.config.searcher, scene=scene,
        )
        self._steps_taken += 1
        record = self.run_job(job)
        self._depth += 1
        terminated = record.outcome == FAILURE
        truncated = not terminated and (record.outcome == ABORTED or self._depth >= self.config.max_depth)
        obs = self.observe_scene(scene)
        return obs, float(record.reward), terminated, truncated, {"episode_record": record.to_json()}

    # -- direct episode execution (control runs, sweeps, bandits) ----------------------------
    def run_job(self, job: EpisodeJob) -> EpisodeRecord:
        """Run (or take from the resumed log) one episode and label it with this worker."""
        record = self._completed.take(job.seed, job.perturbations, job.scene)
        if record is None:
            record = self.execute(job)
            record.worker = record.worker or f"w{self.worker}"  # remote workers name themselves
            record.searcher = job.searcher
        return record

    def run_jobs(self, jobs_by_worker: dict[int, list[EpisodeJob]]) -> list[dict[str, Any]]:
        """Run this worker's share of a batch; VecEnv.env_method sends the batch to all workers at once."""
        return [self.run_job(j).to_json() for j in jobs_by_worker.get(self.worker, [])]


class AdversaryEnv(AdversaryEnvBase):
    """The MDP over a local simulation + policy under test (one per worker process)."""

    def __init__(
        self,
        config: AuditConfig | None = None,
        worker: int = 0,
        n_workers: int = 1,
        completed: list[EpisodeRecord] | None = None,
        run_tag: str = "r0",
    ) -> None:
        config = config or AuditConfig()
        self.sim = Simulation(config.sim, seed=config.seed)
        self.policy = load_policy(config.policy)
        self.policy.bind(self.sim.scene)
        self.policy_id = self.policy.policy_id
        super().__init__(config, self.sim.catalogue.names, worker, n_workers, completed, run_tag, self.sim.space)

    def observe(self, stack: list[str] | tuple[str, ...]) -> np.ndarray:
        self.sim.set_perturbations(list(stack))
        self.sim.reset(self.observation_seed)
        return np.ascontiguousarray(self.sim.render(ADVERSARY_CAMERA).transpose(2, 0, 1))

    def observe_scene(self, scene: Mapping[str, float]) -> np.ndarray:
        self.sim.set_perturbations([], scene)
        self.sim.reset(self.observation_seed)
        return np.ascontiguousarray(self.sim.render(ADVERSARY_CAMERA).transpose(2, 0, 1))

    def first_frame(self, perturbations: list[str], seed: int, scene: Mapping[str, float] | None = None,
                    size: int = 256) -> np.ndarray:
        """The adversary camera's view (HxWx3 uint8) at the start of an episode: what the policy first saw,
        larger, for the report's gallery."""
        self.sim.set_perturbations(list(perturbations), scene)
        self.sim.reset(seed)
        return self.sim.render(ADVERSARY_CAMERA, size)

    def render(self) -> np.ndarray:
        return self.sim.render(ADVERSARY_CAMERA)

    def execute(self, job: EpisodeJob) -> EpisodeRecord:
        return run_episode(self.sim, self.policy, job.perturbations, job.seed, episode_id=job.episode_id,
                           scene=job.scene)

    def film(self, perturbations: list[str], seed: int, size: int = 256,
             scene: Mapping[str, float] | None = None) -> EpisodeRecord:
        """Re-run an episode rendering every step, for a video."""
        return run_episode(self.sim, self.policy, perturbations, seed, episode_id="replay", film_size=size,
                           scene=scene)

    def close(self) -> None:
        self.sim.close()
