"""Where zoo datasets and checkpoints live (outside the repository) and what is recorded with each.

Model weights never enter git: they are cached under `$ROBOFAIL_ZOO_DIR` (default
`~/.cache/robofail/zoo`), one folder per model holding `model.pth` and `meta.json`, whose
hashes and budget say exactly which dataset and training run produced which result.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

CHECKPOINT_NAME = "model.pth"
META_NAME = "meta.json"


def zoo_dir() -> Path:
    return Path(os.environ.get("ROBOFAIL_ZOO_DIR") or Path.home() / ".cache" / "robofail" / "zoo").expanduser()


def model_dir(name: str) -> Path:
    return zoo_dir() / "models" / name


def dataset_path(task: str, demos: int, seed: int) -> Path:
    return zoo_dir() / "datasets" / f"{task.lower()}-{demos}demos-s{seed}.hdf5"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@dataclass
class ModelMeta:
    """A zoo model's provenance and nominal quality, written next to its checkpoint."""

    name: str
    algo: str
    modality: str
    task: str
    budget: dict
    dataset: str
    dataset_sha256: str
    config_sha256: str
    """Hash of the robomimic training config (all hyperparameters), see zoo.train.config_sha256."""
    checkpoint_sha256: str
    train_wall_time_s: float
    nominal_successes: int = 0
    nominal_episodes: int = 0
    nominal_ci: tuple[float, float] = (0.0, 1.0)
    """95% Wilson interval of the nominal success rate."""
    nominal_aborted: int = 0
    """Nominal episodes the policy crashed in (counted in nominal_episodes, never as successes)."""
    nominal_failure_stages: dict = field(default_factory=dict)
    """Failed nominal episodes by the furthest task stage they reached (task_stages.py); empty before 2026-12-06."""
    eval_wall_time_s: float = 0.0
    versions: dict = field(default_factory=dict)
    created: str = ""
    curve: list = field(default_factory=list)
    """Learning curve: {"steps", "successes", "episodes"} per evaluated snapshot, the final model last."""

    @property
    def nominal_rate(self) -> float | None:
        return self.nominal_successes / self.nominal_episodes if self.nominal_episodes else None

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict) -> "ModelMeta":
        known = set(cls.__dataclass_fields__)
        d = {k: v for k, v in d.items() if k in known}
        d.setdefault("config_sha256", "")
        if "nominal_ci" in d:
            d["nominal_ci"] = tuple(d["nominal_ci"])
        return cls(**d)


def write_meta(meta: ModelMeta, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / META_NAME
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(meta.to_json(), indent=2))
    tmp.replace(path)
    return path


def read_meta(folder: Path) -> ModelMeta | None:
    path = folder / META_NAME
    if not path.is_file():
        return None
    return ModelMeta.from_json(json.loads(path.read_text()))


def list_models() -> list[tuple[Path, ModelMeta]]:
    """Every cached model with a checkpoint and metadata, sorted by name."""
    root = zoo_dir() / "models"
    found = []
    for folder in sorted(root.iterdir()) if root.is_dir() else []:
        meta = read_meta(folder)
        if meta is not None and (folder / CHECKPOINT_NAME).is_file():
            found.append((folder, meta))
    return found
