"""What a zoo model is: algorithm × observation modality × task, its training budget, its inputs.

One place for the zoo's vocabulary and defaults, shared by recording, training, the
checkpoint adapter and the CLI, so the observation keys a model was trained on are the
keys the adapter builds at audit time.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from robofail_ros.sim import DEFAULT_HORIZON

ALGOS = ("bc", "bc_rnn", "bcq", "cql", "hbc")
"""robomimic algorithms in the zoo; bc_rnn is robomimic's `bc` with its RNN enabled."""
MODALITIES = ("low_dim", "image", "image_proprio")
"""low_dim: object + proprioception; image: two cameras only; image_proprio: both cameras + proprioception."""
TASKS = tuple(DEFAULT_HORIZON)
"""Every task the audit ships (its horizon table is the one list of them); each has a scripted expert to record demos."""

PROPRIO_KEYS = ("robot0_eef_pos", "robot0_eef_quat", "robot0_gripper_qpos")
OBJECT_KEY = "object"
"""robomimic's name for robosuite's `object-state` vector."""
CAMERAS = ("agentview", "robot0_eye_in_hand")
IMAGE_SIZE = 84
RNN_HORIZON = 10
"""Sequence length of bc_rnn and of HBC's subgoal horizon (robomimic's templates use 10)."""
BC_RNN_UNITS = 400
"""LSTM units of bc_rnn. robomimic's paper configuration uses 400 on low-dim states and 1000 on images; 1000 halves
the image model's training rate here (2.5 against ~5 steps/s at batch 8), so images get 400 as well."""


def image_key(camera: str) -> str:
    """robomimic's key for a camera, which is also the key `Simulation.observe` adds."""
    return f"{camera}_image"


def modality_keys(modality: str) -> tuple[list[str], list[str]]:
    """(low-dim keys, image keys) a model of `modality` observes."""
    check_choice("modality", modality, MODALITIES)
    low_dim = [] if modality == "image" else list(PROPRIO_KEYS)
    if modality == "low_dim":
        low_dim.append(OBJECT_KEY)
    images = [] if modality == "low_dim" else [image_key(c) for c in CAMERAS]
    return low_dim, images


def check_choice(what: str, value: str, accepted: tuple[str, ...]) -> str:
    if value not in accepted:
        raise ValueError(f"unknown {what} {value!r}; accepted: {', '.join(accepted)}")
    return value


@dataclass(frozen=True)
class Budget:
    """How much a model was trained: part of its identity, so a cached model is reused only on an equal budget."""

    steps: int
    """Gradient steps."""
    batch_size: int
    """Samples (sequences, for RNN models) per gradient step."""
    demos: int
    """Demonstrations recorded for the dataset (about 10% of them held out as the valid split)."""

    def __post_init__(self) -> None:
        for name, v in asdict(self).items():
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"Budget.{name} must be a positive integer, got {v!r}")

    def to_json(self) -> dict:
        return asdict(self)


DEFAULT_DEMOS = 100
NOMINAL_EPISODES = 50
"""Unperturbed episodes behind every model's nominal success rate: 40/50 bounds it above ~67% (Wilson, 95%)."""
CURVE_EPISODES = 20
"""Unperturbed episodes per learning-curve snapshot: enough to see learning, cheaper than a final evaluation."""
#: (gradient steps, batch) per modality and algorithm on Lift; what a step costs here is in zoo/estimate.py and the
#: learning curves behind each choice are in docs/results.md. Image batches are small because a conv-encoder step
#: costs ~30-100x a low-dim one here; the sequence models (10 frames per sample) and CQL (its critics encode 10
#: sampled actions per observation) take half of that again.
DEFAULT_BUDGET = {
    "low_dim": {"bc": (10000, 100), "bc_rnn": (3000, 100), "bcq": (10000, 100), "cql": (5000, 100), "hbc": (3000, 100)},
    "image": {"bc": (20000, 16), "bc_rnn": (15000, 8), "bcq": (100, 16), "cql": (50, 8), "hbc": (4000, 8)},
}
DEFAULT_BUDGET["image_proprio"] = DEFAULT_BUDGET["image"]
DEFAULT_BUILD = tuple((a, m) for m in MODALITIES for a in ALGOS
                      if m == "low_dim" or a == "bc" or (a, m) == ("bc_rnn", "image"))
"""What `zoo build` trains unless told otherwise: every low-dim model, and the image models measured to learn within
this CPU's budget (docs/results.md, learning curves): image and image+proprio BC, which answer whether
proprioception changes what breaks a visual policy, and image BC-RNN, which answers the same for recurrence. Image BC-RNN
with robomimic's GMM head: 20/20 at every snapshot of its 15k steps and 50/50 at the end (34/50 at 6k and 27/50 at
15k with the MLP head before it); image+proprio BC-RNN would add ~1 h and stays on request, so that the default
build fits in 3 h here. Image BCQ and CQL cost 0.7 s and 3.6 s per
step here and succeeded 0/20 at 100 and 50 steps; image HBC (~0.2 s a step, 12 s an evaluation episode) has not
been trained at this budget yet. Build any of them with --model, e.g. --model hbc-image."""


#: DEFAULT_BUDGET is sized on Lift (~47-step demos, one phase to learn). The carry tasks' demos are ~180 steps with
#: grasp, carry and release phases: low-dim BC (100 demos) reached 2/50 nominal on PickPlaceCan and 5/50 on
#: NutAssemblySquare at 10000 steps, 41/50 and 30/50 at 40000 (~5 and ~8 min here).
TASK_STEP_FACTOR = {"PickPlaceCan": 4, "NutAssemblySquare": 4}


def default_budget(algo: str, modality: str, demos: int = DEFAULT_DEMOS, task: str = "Lift") -> Budget:
    check_choice("algorithm", algo, ALGOS)
    check_choice("modality", modality, MODALITIES)
    check_choice("task", task, TASKS)
    steps, batch = DEFAULT_BUDGET[modality][algo]
    return Budget(steps * TASK_STEP_FACTOR.get(task, 1), batch, demos)


def model_name(algo: str, modality: str, task: str) -> str:
    """A zoo model's id, e.g. `bc_rnn-image-lift`: also its cache folder and its policy_id in audits."""
    return f"{check_choice('algorithm', algo, ALGOS)}-{check_choice('modality', modality, MODALITIES)}-{task.lower()}"


def parse_model_name(name: str) -> tuple[str, str, str | None]:
    """(algorithm, modality, task or None) from `bc_rnn-image` or `bc_rnn-image-lift` (the inverse of model_name)."""
    parts = name.strip().split("-")
    by_lower = {t.lower(): t for t in TASKS}
    if len(parts) not in (2, 3) or (len(parts) == 3 and parts[2] not in by_lower):
        examples = ", ".join(f"{a}-{m}" for a, m in (("bc", "image"), ("bc_rnn", "image_proprio"), ("hbc", "low_dim")))
        raise ValueError(f"bad model name {name!r}: expected ALGORITHM-MODALITY[-TASK], e.g. {examples}, bc-image-lift; "
                         f"algorithms: {', '.join(ALGOS)}; modalities: {', '.join(MODALITIES)}; "
                         f"tasks: {', '.join(t.lower() for t in TASKS)}")
    algo, modality = check_choice("algorithm", parts[0], ALGOS), check_choice("modality", parts[1], MODALITIES)
    return algo, modality, by_lower[parts[2]] if len(parts) == 3 else None


def robomimic_obs(obs: dict[str, np.ndarray], keys: list[str] | tuple[str, ...]) -> dict[str, np.ndarray]:
    """robomimic's observation dict from a robosuite one (plus `<camera>_image` frames): only `keys`.

    Images stay HxWx3 uint8 here, as robomimic datasets store them; `object` is robosuite's
    `object-state`. A missing key raises KeyError naming it (the episode is then aborted, not failed).
    """
    out = {}
    for k in keys:
        source = "object-state" if k == OBJECT_KEY else k
        if source not in obs:
            raise KeyError(f"observation lacks {source!r} (robomimic key {k!r}); it has {sorted(obs)}")
        out[k] = np.asarray(obs[source])
    return out
