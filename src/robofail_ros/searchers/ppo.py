"""The paper's adversary: PPO (stable-baselines3, NatureCNN on 84x84 RGB) over the perturbation catalogue, or,
generalised, over the factor box with a continuous (Box) action (`ppo_box`)."""
from __future__ import annotations

import logging
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from stable_baselines3 import PPO
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.logger import Logger

from robofail_ros.episode import EpisodeRecord
from robofail_ros.record import AuditLog, Recorder
from robofail_ros.searchers.base import CheckpointError, SearchContext, Searcher
from robofail_ros.stats import entropy_nats

log = logging.getLogger(__name__)

CHECKPOINT_NAME = "ppo_adversary.zip"
BOX_CHECKPOINT_NAME = "ppo_box_adversary.zip"


def failure_distribution(model: PPO, observation: np.ndarray) -> list[float]:
    """The paper's P_failure(a) = π_θ(a | o): the policy's softmax over perturbations for observation o."""
    obs_tensor, _ = model.policy.obs_to_tensor(observation)
    with torch.no_grad():
        probs = model.policy.get_distribution(obs_tensor).distribution.probs[0]
    return [float(p) for p in probs.cpu().numpy()]


def box_action_distribution(model: PPO, observation: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The continuous adversary's Gaussian over the unit cube for observation o: its mean (clipped into the
    cube, as the environment clips actions) and standard deviation, in unit-cube coordinates."""
    obs_tensor, _ = model.policy.obs_to_tensor(observation)
    with torch.no_grad():
        normal = model.policy.get_distribution(obs_tensor).distribution
    mean = normal.mean[0].cpu().numpy().astype(float)
    std = normal.stddev[0].cpu().numpy().astype(float)
    return np.clip((mean + 1.0) / 2.0, 0.0, 1.0), std / 2.0


class AuditCallback(BaseCallback):
    """Records every episode the moment PPO's rollout sees it, snapshots the adversary after each update,
    checkpoints."""

    def __init__(self, recorder: Recorder, audit_log: AuditLog, budget: int, observation: np.ndarray,
                 checkpoint: Path, searcher: "PPOAdversary | None" = None) -> None:
        super().__init__()
        self.recorder, self.audit_log, self.budget = recorder, audit_log, budget
        self.observation, self.checkpoint = observation, checkpoint
        self.searcher = searcher or PPOAdversary()

    def _on_step(self) -> bool:
        for info in self.locals["infos"]:
            if "episode_record" in info:
                self.recorder.add(EpisodeRecord.from_json(info["episode_record"]))
        if self.recorder.count(self.searcher.name) < self.budget:
            return True
        # Budget spent. Stopping here would also skip PPO's update on the rollout just collected (SB3 trains
        # only after a completed rollout), so a budget of k rollouts would give k-1 updates, and one rollout
        # none at all. On a rollout's last step, let SB3 complete it and train; learn() then ends by itself.
        buffer = self.model.rollout_buffer
        return buffer.pos == buffer.buffer_size - 1

    def _on_rollout_end(self) -> None:
        self.audit_log.snapshot({"searcher": self.searcher.name, "episodes": self.recorder.count(self.searcher.name),
                                 **self.searcher.describe(self.model, self.observation)})
        self.model.save(self.checkpoint)


class PPOAdversary(Searcher):
    name = "ppo"
    checkpoint_name = CHECKPOINT_NAME

    def describe(self, model: PPO, observation: np.ndarray) -> dict:
        """What a snapshot records of the adversary: π over the perturbations and its entropy."""
        pi = failure_distribution(model, observation)
        return {"pi": pi, "entropy": entropy_nats(pi)}

    def result(self, model: PPO, observation: np.ndarray) -> list[float] | None:
        """What `run` returns: the paper's π(a|o) on the unperturbed scene."""
        return failure_distribution(model, observation)

    def run(self, ctx: SearchContext, budget: int) -> list[float] | None:
        cfg = ctx.config
        checkpoint = ctx.out_dir / self.checkpoint_name
        observation = ctx.vec_env.env_method("observe", [], indices=[0])[0]
        kwargs = asdict(cfg.ppo)
        kwargs["n_steps"] = int(kwargs["n_steps"])
        kwargs["batch_size"] = min(int(kwargs["batch_size"]), kwargs["n_steps"] * ctx.vec_env.num_envs)
        kwargs["n_epochs"] = int(kwargs["n_epochs"])
        resumed = checkpoint.exists()
        if resumed:
            log.info("resuming PPO from %s", checkpoint)
            try:
                model = PPO.load(checkpoint, env=ctx.vec_env, device="cpu")
            except Exception as exc:  # truncated zip, another SB3 version, another catalogue size …
                raise CheckpointError(
                    f"cannot resume {self.name} from {checkpoint}: {type(exc).__name__}: {exc}. The logged episodes "
                    f"are intact; delete {checkpoint.name} to continue with a fresh PPO, or pass --overwrite") from None
        else:
            model = PPO("CnnPolicy", ctx.vec_env, seed=cfg.seed, device="cpu", verbose=0, **kwargs)
        # SB3's default logger makes an empty /tmp/SB3-<timestamp> folder on every learn(); everything worth
        # keeping already goes to the audit log, so PPO gets a logger that writes nowhere.
        model.set_logger(Logger(folder=None, output_formats=[]))
        remaining = budget - ctx.recorder.count(self.name)
        if remaining > 0:
            callback = AuditCallback(ctx.recorder, ctx.log, budget, observation, checkpoint, self)
            model.learn(total_timesteps=remaining, callback=callback, reset_num_timesteps=not resumed)
        model.save(checkpoint)
        ctx.log.snapshot({"searcher": self.name, "episodes": ctx.recorder.count(self.name),
                          **self.describe(model, observation), "final": True})
        return self.result(model, observation)


class PPOBoxAdversary(PPOAdversary):
    """The paper's adversary generalised to the factor box: the same CnnPolicy, image observation, reward and
    hyperparameters, with a Box(-1, 1, (d,)) action mapped onto the unit cube (AdversaryEnvBase.step).

    It has no π over named perturbations; what it has learnt is a Gaussian over scenes, whose mean is the
    scene it believes most failure-prone. Snapshots record that mean (unit cube and factor units) and spread.
    """

    name = "ppo_box"
    checkpoint_name = BOX_CHECKPOINT_NAME

    def __init__(self, space=None) -> None:
        self.space = space

    def describe(self, model: PPO, observation: np.ndarray) -> dict:
        mean, std = box_action_distribution(model, observation)
        out = {"mean_unit": mean.tolist(), "std_unit": std.tolist()}
        if self.space is not None:
            out["mean_scene"] = self.space.scene(self.space.from_unit(mean))
        return out

    def result(self, model: PPO, observation: np.ndarray) -> None:
        return None

    def run(self, ctx: SearchContext, budget: int) -> None:
        self.space = ctx.space
        return super().run(ctx, budget)
