"""The paper's adversary: PPO (stable-baselines3, NatureCNN on 84x84 RGB) over the perturbation catalogue."""
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


def failure_distribution(model: PPO, observation: np.ndarray) -> list[float]:
    """The paper's P_failure(a) = π_θ(a | o): the policy's softmax over perturbations for observation o."""
    obs_tensor, _ = model.policy.obs_to_tensor(observation)
    with torch.no_grad():
        probs = model.policy.get_distribution(obs_tensor).distribution.probs[0]
    return [float(p) for p in probs.cpu().numpy()]


class AuditCallback(BaseCallback):
    """Records every episode the moment PPO's rollout sees it, snapshots π after each update, checkpoints."""

    def __init__(self, recorder: Recorder, audit_log: AuditLog, budget: int, observation: np.ndarray,
                 checkpoint: Path) -> None:
        super().__init__()
        self.recorder, self.audit_log, self.budget = recorder, audit_log, budget
        self.observation, self.checkpoint = observation, checkpoint

    def _on_step(self) -> bool:
        for info in self.locals["infos"]:
            if "episode_record" in info:
                self.recorder.add(EpisodeRecord.from_json(info["episode_record"]))
        if self.recorder.count("ppo") < self.budget:
            return True
        # Budget spent. Stopping here would also skip PPO's update on the rollout just collected (SB3 trains
        # only after a completed rollout), so a budget of k rollouts would give k-1 updates, and one rollout
        # none at all. On a rollout's last step, let SB3 complete it and train; learn() then ends by itself.
        buffer = self.model.rollout_buffer
        return buffer.pos == buffer.buffer_size - 1

    def _on_rollout_end(self) -> None:
        pi = failure_distribution(self.model, self.observation)
        self.audit_log.snapshot({"searcher": "ppo", "episodes": self.recorder.count("ppo"),
                                 "pi": pi, "entropy": entropy_nats(pi)})
        self.model.save(self.checkpoint)


class PPOAdversary(Searcher):
    name = "ppo"

    def run(self, ctx: SearchContext, budget: int) -> list[float]:
        cfg = ctx.config
        checkpoint = ctx.out_dir / CHECKPOINT_NAME
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
                    f"cannot resume PPO from {checkpoint}: {type(exc).__name__}: {exc}. The logged episodes are "
                    f"intact; delete {checkpoint.name} to continue with a fresh PPO, or pass --overwrite") from None
        else:
            model = PPO("CnnPolicy", ctx.vec_env, seed=cfg.seed, device="cpu", verbose=0, **kwargs)
        # SB3's default logger makes an empty /tmp/SB3-<timestamp> folder on every learn(); everything worth
        # keeping already goes to the audit log, so PPO gets a logger that writes nowhere.
        model.set_logger(Logger(folder=None, output_formats=[]))
        remaining = budget - ctx.recorder.count(self.name)
        if remaining > 0:
            callback = AuditCallback(ctx.recorder, ctx.log, budget, observation, checkpoint)
            model.learn(total_timesteps=remaining, callback=callback, reset_num_timesteps=not resumed)
        model.save(checkpoint)
        pi = failure_distribution(model, observation)
        ctx.log.snapshot({"searcher": "ppo", "episodes": ctx.recorder.count(self.name), "pi": pi,
                          "entropy": entropy_nats(pi), "final": True})
        return pi
