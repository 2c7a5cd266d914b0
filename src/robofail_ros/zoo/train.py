"""Train one zoo model with robomimic's own algorithms, data loader and checkpoint format, on this CPU.

A short loop over robomimic's `algo_factory`, `TrainUtils.load_data_for_training`,
`TrainUtils.run_epoch` and `TrainUtils.save_model`, instead of `robomimic.scripts.train.train`:
that script forces two torch threads (4-6x slower on this shared 2-core machine) and builds
evaluation environments through robomimic's robosuite wrapper, which imports `mujoco_py`.
Nominal success is measured afterwards by the audit's own episode runner (`zoo.build`).
"""
from __future__ import annotations

import contextlib
import io
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from robofail_ros.zoo.spec import IMAGE_SIZE, PROPRIO_KEYS, RNN_HORIZON, Budget, check_choice, ALGOS, MODALITIES, modality_keys

log = logging.getLogger(__name__)

EPOCH_STEPS = 50
"""Gradient steps per robomimic 'epoch': only how often progress is reported."""
LEARNING_RATE = 1e-3
"""Every optimiser's initial rate. robomimic's defaults (1e-4 to 3e-4) assume ~10^5-10^6 steps; with this CPU's
budget BC low-dim reached 0/20 nominal success after 2000 steps at 1e-4 and 10/10 at 1e-3."""
IMAGE_CORE = "SmallConvCore"
"""Our registered robomimic encoder core (zoo/encoder.py); ResNet18 would cost ~4 min per 100 steps here."""
IMAGE_CORE_KWARGS = {"feature_dimension": 64, "num_kp": 32}


def _set_observations(obs_cfg, low_dim: list[str], rgb: list[str]) -> None:
    obs_cfg.modalities.obs.low_dim = list(low_dim)
    obs_cfg.modalities.obs.rgb = list(rgb)
    obs_cfg.encoder.rgb.core_class = IMAGE_CORE
    obs_cfg.encoder.rgb.core_kwargs = dict(IMAGE_CORE_KWARGS)


def _set_learning_rates(node, rate: float) -> None:
    for key in list(node.keys()):
        value = node[key]
        if key == "learning_rate" and "initial" in value:
            value["initial"] = rate
        elif hasattr(value, "keys"):
            _set_learning_rates(value, rate)


def config_sha256(config) -> str:
    """Hash of a training config, minus where the data lies: a cached model is reused only if this matches."""
    import hashlib
    import json

    d = json.loads(config.dump())
    d["train"].pop("data", None)
    return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()


def make_config(algo: str, modality: str, dataset: Path, budget: Budget, seed: int = 0):
    """robomimic's default config for `algo`, pointed at our dataset, observations and budget."""
    from robomimic.config import config_factory

    check_choice("algorithm", algo, ALGOS)
    low_dim, rgb = modality_keys(modality)
    config = config_factory("bc" if algo == "bc_rnn" else algo)
    sequence = algo in ("bc_rnn", "hbc")
    with config.unlocked():
        config.experiment.name = f"{algo}-{modality}"
        config.experiment.validate = False  # the valid split stays untouched for later checks; every step trains
        config.experiment.rollout.enabled = False
        config.experiment.save.enabled = False
        config.experiment.logging.terminal_output_to_txt = False
        config.experiment.logging.log_tb = False
        config.train.data = str(dataset)
        config.train.hdf5_filter_key = "train"
        config.train.hdf5_cache_mode = "all"
        config.train.hdf5_load_next_obs = algo in ("bcq", "cql", "hbc")  # TD targets and HBC's subgoals
        config.train.dataset_keys = ["actions", "rewards", "dones"]
        config.train.num_data_workers = 0
        config.train.batch_size = budget.batch_size
        config.train.seq_length = RNN_HORIZON if sequence else 1
        config.train.cuda = False
        config.train.seed = seed
        _set_learning_rates(config.algo, LEARNING_RATE)
        if algo == "bcq" and rgb:
            # At every control step BCQ scores 100 sampled actions with both critics, each encoding both
            # images per sample (~1 s a step here); 10 keeps an audit episode in seconds.
            config.algo.critic.num_action_samples_rollout = 10
        if algo == "bc_rnn":
            config.algo.rnn.enabled = True
            config.algo.rnn.horizon = RNN_HORIZON
        if algo == "hbc":
            config.algo.planner.subgoal_horizon = RNN_HORIZON
            config.algo.actor.rnn.horizon = RNN_HORIZON
            # The planner predicts future low-dim states; an image-only model has none as input, so its
            # subgoals are the future end-effector positions (a training target, never an input).
            subgoal = low_dim or [PROPRIO_KEYS[0]]
            for part in (config.observation.planner, config.observation.actor):
                _set_observations(part, low_dim, rgb)
            config.observation.planner.modalities.subgoal.low_dim = list(subgoal)
        else:
            _set_observations(config.observation, low_dim, rgb)
    return config


@dataclass
class TrainResult:
    checkpoint: Path
    wall_time: float
    steps: int
    last_log: dict


def train(algo: str, modality: str, dataset: Path, budget: Budget, checkpoint: Path, seed: int = 0,
          on_progress: Callable[[int, int, dict], None] | None = None) -> TrainResult:
    """Train `budget.steps` gradient steps and save a robomimic checkpoint that `policy_from_checkpoint` restores."""
    import numpy as np
    import torch
    from torch.utils.data import DataLoader
    import robomimic.utils.file_utils as FileUtils
    import robomimic.utils.obs_utils as ObsUtils
    import robomimic.utils.train_utils as TrainUtils
    from robomimic.algo import algo_factory

    import robofail_ros.zoo.encoder  # noqa: F401  (registers SmallConvCore with robomimic)

    started = time.perf_counter()
    torch.set_num_threads(1)
    np.random.seed(seed)
    torch.manual_seed(seed)
    config = make_config(algo, modality, dataset, budget, seed)
    config.lock()
    with contextlib.redirect_stdout(io.StringIO()):  # robomimic prints its whole config and dataset summary
        ObsUtils.initialize_obs_utils_with_config(config)
        env_meta = FileUtils.get_env_metadata_from_dataset(dataset_path=str(dataset))
        shape_meta = FileUtils.get_shape_metadata_from_dataset(dataset_path=str(dataset), all_obs_keys=config.all_obs_keys)
        model = algo_factory(config.algo_name, config, obs_key_shapes=shape_meta["all_shapes"],
                             ac_dim=shape_meta["ac_dim"], device=torch.device("cpu"))
        trainset, _ = TrainUtils.load_data_for_training(config, obs_keys=shape_meta["all_obs_keys"])
    sampler = trainset.get_dataset_sampler()
    loader = DataLoader(trainset, sampler=sampler, batch_size=budget.batch_size, shuffle=sampler is None,
                        num_workers=0, drop_last=len(trainset) >= budget.batch_size)
    done, epoch, step_log = 0, 0, {}
    while done < budget.steps:
        epoch += 1
        n = min(EPOCH_STEPS, budget.steps - done)
        with contextlib.redirect_stdout(io.StringIO()):
            step_log = TrainUtils.run_epoch(model=model, data_loader=loader, epoch=epoch, num_steps=n)
        model.on_epoch_end(epoch)
        done += n
        if on_progress:
            on_progress(done, budget.steps, step_log)
    checkpoint.parent.mkdir(parents=True, exist_ok=True)
    tmp = checkpoint.with_suffix(".tmp")
    with contextlib.redirect_stdout(io.StringIO()):
        TrainUtils.save_model(model, config, env_meta, shape_meta, str(tmp))
    tmp.replace(checkpoint)
    return TrainResult(checkpoint, time.perf_counter() - started, done, step_log)
