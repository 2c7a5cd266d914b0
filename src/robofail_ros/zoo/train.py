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
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from robofail_ros.zoo.spec import BC_RNN_UNITS, IMAGE_SIZE, PROPRIO_KEYS, RNN_HORIZON, Budget, check_choice, ALGOS, MODALITIES, modality_keys

log = logging.getLogger(__name__)

EPOCH_STEPS = 50
"""Gradient steps per robomimic 'epoch': only how often progress is reported."""
LEARNING_RATE = 1e-3
"""Every optimiser's initial rate. robomimic's defaults (1e-4 to 3e-4) assume ~10^5-10^6 steps; with this CPU's
budget BC low-dim reached 0/20 nominal success after 2000 steps at 1e-4 and 10/10 at 1e-3."""
IMAGE_CORE = "SmallConvCore"
"""Our registered robomimic encoder core (zoo/encoder.py); ResNet18 would cost ~4 min per 100 steps here."""
IMAGE_CORE_KWARGS = {"feature_dimension": 64, "num_kp": 32}
IMAGE_CROP = 76
"""Training sees random 76x76 crops of the 84x84 frames, evaluation the centre crop (robomimic's `CropRandomizer`,
the augmentation of its image templates): without it image BC memorised 100 demos and succeeded 8/20."""
LR_FINAL_FACTOR = 0.1
"""Every learning rate decays linearly to this fraction of `LEARNING_RATE` over the budget: large steps early,
small ones to settle at the end, whatever the budget."""
CQL_BC_START_SHARE = 0.5
"""Share of a CQL budget in which its actor clones the demos' actions (robomimic's `actor.bc_start_steps`) before it
follows the critic. Without it the actor learns only from a critic trained on sparse success rewards, and low-dim
CQL stayed at 0/50 nominal after 5000 steps (docs/results.md)."""
RESUME_EVERY_S = 120.0
"""Seconds of training between two resume states: a stopped build loses at most this much."""


def _set_observations(obs_cfg, low_dim: list[str], rgb: list[str]) -> None:
    obs_cfg.modalities.obs.low_dim = list(low_dim)
    obs_cfg.modalities.obs.rgb = list(rgb)
    obs_cfg.encoder.rgb.core_class = IMAGE_CORE
    obs_cfg.encoder.rgb.core_kwargs = dict(IMAGE_CORE_KWARGS)
    obs_cfg.encoder.rgb.obs_randomizer_class = "CropRandomizer"
    crop = obs_cfg.encoder.rgb.obs_randomizer_kwargs
    crop.crop_height, crop.crop_width, crop.num_crops, crop.pos_enc = IMAGE_CROP, IMAGE_CROP, 1, False


def epochs(steps: int) -> int:
    """robomimic 'epochs' of `EPOCH_STEPS` gradient steps in a budget (the last one may be shorter)."""
    return -(-steps // EPOCH_STEPS)


def _set_learning_rates(node, rate: float, total_epochs: int) -> None:
    for key in list(node.keys()):
        value = node[key]
        if key == "learning_rate" and "initial" in value:
            value["initial"] = rate
            value["scheduler_type"] = "linear"
            value["decay_factor"] = LR_FINAL_FACTOR
            value["epoch_schedule"] = [total_epochs]
        elif hasattr(value, "keys"):
            _set_learning_rates(value, rate, total_epochs)


def config_sha256(config) -> str:
    """Hash of a training config, minus where the data lies: a cached model is reused only if this matches."""
    import hashlib

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
        _set_learning_rates(config.algo, LEARNING_RATE, epochs(budget.steps))
        if algo == "bcq" and rgb:
            # At every control step BCQ scores 100 sampled actions with both critics, each encoding both
            # images per sample (~1 s a step here); 10 keeps an audit episode in seconds.
            config.algo.critic.num_action_samples_rollout = 10
        if algo == "cql":
            config.algo.actor.bc_start_steps = int(budget.steps * CQL_BC_START_SHARE)
        if algo == "bc_rnn":
            # robomimic's paper configuration of BC-RNN (generate_paper_configs.modify_bc_rnn_config_for_dataset):
            # a 5-mode GMM head straight on the LSTM, no MLP between (LSTM units: see BC_RNN_UNITS). With the
            # default BC config's (1024, 1024) MLP and unimodal L2 head, image BC-RNN stalled at 27-34/50.
            config.algo.rnn.enabled = True
            config.algo.rnn.horizon = RNN_HORIZON
            config.algo.actor_layer_dims = ()
            config.algo.gmm.enabled = True
            config.algo.rnn.hidden_dim = BC_RNN_UNITS
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


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C (or a stop) during training: says where the next run will resume from."""

    def __init__(self, checkpoint: Path, saved_steps: int, total_steps: int) -> None:
        super().__init__(f"training towards {checkpoint} interrupted")
        self.checkpoint, self.saved_steps, self.total_steps = checkpoint, saved_steps, total_steps


@dataclass
class TrainResult:
    checkpoint: Path
    wall_time: float
    """Seconds of training behind the checkpoint, summed over every resumed run."""
    steps: int
    last_log: dict
    resumed_from: int = 0
    """Gradient steps a previous, stopped run had already done (0: trained from scratch)."""


def resume_path(checkpoint: Path) -> Path:
    """Where a run training towards `checkpoint` keeps its resume state until the checkpoint is written."""
    return checkpoint.with_name(checkpoint.stem + ".resume.pt")


def finished_path(checkpoint: Path) -> Path:
    """Written beside a checkpoint once its run is complete: a build stopped after training (while evaluating) does
    not train again."""
    return checkpoint.with_name(checkpoint.stem + ".trained.json")


def _finished_run(checkpoint: Path, identity: str) -> TrainResult | None:
    marker = finished_path(checkpoint)
    if not (checkpoint.is_file() and marker.is_file()):
        return None
    done = json.loads(marker.read_text())
    if done.get("identity") != identity:
        return None
    return TrainResult(checkpoint, float(done["wall_time"]), int(done["steps"]), dict(done.get("last_log", {})),
                       resumed_from=int(done["steps"]))


def snapshot_path(checkpoint: Path, steps: int) -> Path:
    """A learning-curve checkpoint taken after `steps` gradient steps, beside the final one."""
    return checkpoint.with_name(f"{checkpoint.stem}.step{steps}{checkpoint.suffix}")


def _algorithms(model) -> dict:
    """robomimic's HBC trains two algorithms (planner and actor); every other model is one."""
    if not hasattr(model, "optimizers") and hasattr(model, "planner") and hasattr(model, "actor"):
        return {"planner": model.planner, "actor": model.actor}
    return {"algo": model}


def _state_of(thing):
    """State dicts of an optimizer, scheduler or net, also inside robomimic's dicts and lists of them."""
    if thing is None:
        return None
    if isinstance(thing, dict):
        return {k: _state_of(v) for k, v in thing.items()}
    if isinstance(thing, (list, tuple)):
        return [_state_of(v) for v in thing]
    return thing.state_dict()


def _load_state(thing, state) -> None:
    if thing is None:
        return
    if isinstance(thing, dict):
        for k, v in thing.items():
            _load_state(v, state[k])
    elif isinstance(thing, (list, tuple)):
        for v, st in zip(thing, state):
            _load_state(v, st)
    else:
        thing.load_state_dict(state)


def _resume_state(model, identity: str, steps: int, wall_time: float) -> dict:
    """A copy (not views of the live tensors) of everything a run needs to continue exactly from `steps`."""
    import copy
    import random

    import numpy as np
    import torch

    return copy.deepcopy({
        "identity": identity, "steps": steps, "wall_time": wall_time,
        "parts": {name: {"nets": a.nets.state_dict(), "optimizers": _state_of(a.optimizers),
                         "lr_schedulers": _state_of(a.lr_schedulers)} for name, a in _algorithms(model).items()},
        "rng": {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}})


def _write_resume_state(path: Path, state: dict) -> None:
    import torch

    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    tmp.replace(path)  # atomic: a run killed while saving leaves the previous state intact


def _read_resume_state(path: Path, identity: str) -> dict | None:
    """The resume state at `path` if it belongs to this run (same `identity`), else None (logged why)."""
    import torch

    if not path.is_file():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # a truncated file from a crash mid-write cannot happen (atomic replace), but be safe
        log.warning("ignoring unreadable resume state %s (%s); training from scratch", path, exc)
        return None
    if state.get("identity") != identity:
        log.info("resume state %s belongs to another dataset or config; training from scratch", path)
        return None
    return state


def _load_resume_state(path: Path, model, identity: str) -> tuple[int, float]:
    """(steps done, seconds trained) restored from `path`, or (0, 0) when there is no usable state for this run."""
    import random

    import numpy as np
    import torch

    state = _read_resume_state(path, identity)
    if state is None:
        return 0, 0.0
    for name, algo in _algorithms(model).items():
        part = state["parts"][name]
        algo.nets.load_state_dict(part["nets"])
        _load_state(algo.optimizers, part["optimizers"])
        _load_state(algo.lr_schedulers, part["lr_schedulers"])
    torch.set_rng_state(state["rng"]["torch"])
    np.random.set_state(state["rng"]["numpy"])
    random.setstate(state["rng"]["python"])
    return int(state["steps"]), float(state["wall_time"])


def resume_steps(checkpoint: Path, identity: str) -> int:
    """Gradient steps a stopped run towards `checkpoint` already did (0 if none, or another run's state)."""
    state = _read_resume_state(resume_path(checkpoint), identity)
    return 0 if state is None else int(state["steps"])


def train(algo: str, modality: str, dataset: Path, budget: Budget, checkpoint: Path, seed: int = 0,
          on_progress: Callable[[int, int, dict], None] | None = None, snapshots: tuple[int, ...] = (),
          on_snapshot: Callable[[int, Path], None] | None = None, identity: str | None = None) -> TrainResult:
    """Train `budget.steps` gradient steps and save a robomimic checkpoint that `policy_from_checkpoint` restores.

    Resumable: every `RESUME_EVERY_S`, and when the run is interrupted (Ctrl-C, SIGINT), the nets, optimizers,
    schedulers and random states after the last whole chunk of steps go to `resume_path(checkpoint)`; a later call with the same `identity` (default: the config hash and
    dataset path) continues from there and, on one torch thread, ends with the same weights as an
    uninterrupted run. At each step count in `snapshots` a checkpoint is saved to `snapshot_path`
    and handed to `on_snapshot` (the learning curve); a resumed run does not repeat earlier ones.
    """
    import numpy as np
    import torch
    from torch.utils.data import DataLoader
    import robomimic.utils.file_utils as FileUtils
    import robomimic.utils.obs_utils as ObsUtils
    import robomimic.utils.train_utils as TrainUtils
    from robomimic.algo import algo_factory

    import robofail_ros.zoo.encoder  # noqa: F401  (registers SmallConvCore with robomimic)

    torch.set_num_threads(1)
    np.random.seed(seed)
    torch.manual_seed(seed)
    config = make_config(algo, modality, dataset, budget, seed)
    identity = identity or f"{config_sha256(config)}:{Path(dataset).resolve()}"
    finished = _finished_run(checkpoint, identity)
    if finished is not None:
        return finished
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
    checkpoint.parent.mkdir(parents=True, exist_ok=True)
    state_file = resume_path(checkpoint)
    done, trained_before = _load_resume_state(state_file, model, identity)
    resumed_from = done
    if done:
        log.info("%s-%s: resuming at step %d of %d", algo, modality, done, budget.steps)
    run_started, last_save = time.perf_counter(), time.perf_counter()
    evaluating = 0.0  # seconds spent in on_snapshot: evaluation, not training
    pending = sorted(s for s in set(snapshots) if done < s < budget.steps)
    step_log: dict = {}

    def save(path: Path) -> None:
        tmp = path.with_suffix(".tmp")
        with contextlib.redirect_stdout(io.StringIO()):
            TrainUtils.save_model(model, config, env_meta, shape_meta, str(tmp))
        tmp.replace(path)

    saved = done  # the step count the resume state on disk holds
    last_whole: dict | None = None  # the state after the last completed chunk, written if the run is stopped
    try:
        while done < budget.steps:
            epoch = done // EPOCH_STEPS + 1
            n = min(EPOCH_STEPS - done % EPOCH_STEPS, budget.steps - done)
            if pending:
                n = min(n, pending[0] - done)
            with contextlib.redirect_stdout(io.StringIO()):
                step_log = TrainUtils.run_epoch(model=model, data_loader=loader, epoch=epoch, num_steps=n)
            done += n
            if done % EPOCH_STEPS == 0 or done == budget.steps:
                model.on_epoch_end(epoch)
            elapsed = trained_before + time.perf_counter() - run_started - evaluating
            last_whole = _resume_state(model, identity, done, elapsed) if done < budget.steps else None
            if pending and done == pending[0]:
                pending.pop(0)
                save(snapshot_path(checkpoint, done))
                _write_resume_state(state_file, last_whole)
                saved, last_save = done, time.perf_counter()
                if on_snapshot:
                    evaluation_started = time.perf_counter()
                    on_snapshot(done, snapshot_path(checkpoint, done))
                    evaluating += time.perf_counter() - evaluation_started
            elif last_whole is not None and time.perf_counter() - last_save >= RESUME_EVERY_S:
                _write_resume_state(state_file, last_whole)
                saved, last_save = done, time.perf_counter()
            if on_progress:
                on_progress(done, budget.steps, step_log)
    except KeyboardInterrupt:
        # Stopped mid-chunk: the live weights are part-way through it, so keep the copy taken after the last whole one.
        if last_whole is not None and last_whole["steps"] > saved:
            _write_resume_state(state_file, last_whole)
            saved = last_whole["steps"]
        raise TrainingInterrupted(checkpoint, saved, budget.steps) from None
    finished_path(checkpoint).unlink(missing_ok=True)
    save(checkpoint)
    wall = trained_before + time.perf_counter() - run_started - evaluating
    marker = finished_path(checkpoint)
    marker.with_suffix(".tmp").write_text(json.dumps({"identity": identity, "steps": done, "wall_time": wall,
                                                      "last_log": {k: float(v) for k, v in step_log.items()
                                                                   if isinstance(v, (int, float))}}))
    marker.with_suffix(".tmp").replace(marker)
    state_file.unlink(missing_ok=True)
    return TrainResult(checkpoint, wall, done, step_log, resumed_from)
