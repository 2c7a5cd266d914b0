"""Flatten robosuite observation dicts into labelled vectors and back, for transport over ROS.

Each entry `key` of length n becomes labels `key/0 … key/n-1`; shapes are 1-D in
robosuite's state observations, so the round trip is exact.
"""
from __future__ import annotations

import functools
import json
from typing import Sequence

import numpy as np


def flatten_observation(obs: dict[str, np.ndarray]) -> tuple[list[str], list[float]]:
    """Labels and values of every non-image entry (images travel as sensor_msgs/Image).

    Runs once per control step on the graph: the labels, the same every step, are built once per layout.
    """
    keys = sorted(k for k in obs if not k.endswith("_image"))
    arrays = [np.asarray(obs[k], dtype=float).ravel() for k in keys]
    labels = _labels(tuple((k, a.size) for k, a in zip(keys, arrays)))
    return list(labels), (np.concatenate(arrays).tolist() if arrays else [])


class ObservationFlattener:
    """flatten_observation for a stream of observations of one layout, as the simulator node publishes one per
    control step: the labels are built when the layout changes, and each step's values are copied into one reused
    float64 buffer (no Python float per value).

    Calling it again overwrites the values it returned last; copy them to keep them.
    """

    def __init__(self, extra: Sequence[str] = ()) -> None:
        """`extra`: labels after the observation's, whose values the caller writes (`values[-len(extra):]`)."""
        self.extra = tuple(extra)
        self.labels: tuple[str, ...] = ()
        self._keys: tuple[str, ...] | None = None  # the observation's keys in its own order, as last seen
        self._slots: list[tuple[str, int, int]] = []  # (key, start, size) in label order
        self._values = np.zeros(len(self.extra))

    def __call__(self, obs: dict[str, np.ndarray]) -> tuple[tuple[str, ...], np.ndarray]:
        """The labels (the same tuple object while the layout stays) and a view of this step's values."""
        if tuple(obs) != self._keys or not self._fill(obs):
            self._relabel(obs)
            self._fill(obs)
        return self.labels, self._values

    def _fill(self, obs: dict[str, np.ndarray]) -> bool:
        """Copy the values in; False (and nothing trustworthy written) if an entry changed size."""
        values = self._values
        for key, start, size in self._slots:
            value = np.asarray(obs[key])
            if value.size != size:
                return False
            values[start:start + size] = value.ravel()
        return True

    def _relabel(self, obs: dict[str, np.ndarray]) -> None:
        self._keys = tuple(obs)
        layout = tuple((k, int(np.size(obs[k]))) for k in sorted(k for k in obs if not k.endswith("_image")))
        self.labels = _labels(layout) + self.extra
        self._slots, start = [], 0
        for key, size in layout:
            self._slots.append((key, start, size))
            start += size
        self._values = np.zeros(len(self.labels))


@functools.lru_cache(maxsize=16)
def _labels(layout: tuple[tuple[str, int], ...]) -> tuple[str, ...]:
    return tuple(f"{key}/{i}" for key, size in layout for i in range(size))


def unflatten_observation(names: Sequence[str], values: Sequence[float]) -> dict[str, np.ndarray]:
    """Inverse of flatten_observation (labels in any order); a label not of the form key/index is refused."""
    if len(names) != len(values):
        raise ValueError(f"{len(names)} labels but {len(values)} values")
    flat = np.asarray(values, dtype=float)
    return {key: flat[positions] for key, positions in _layout(tuple(names))}


@functools.lru_cache(maxsize=16)
def _layout(names: tuple[str, ...]) -> tuple[tuple[str, np.ndarray], ...]:
    """Per key, the positions of its values in index order: parsed once per label set, not once per step."""
    groups: dict[str, list[tuple[int, int]]] = {}
    for position, label in enumerate(names):
        key, sep, index = label.rpartition("/")
        if not sep or not index.isdigit():
            raise ValueError(f"observation label {label!r} is not of the form key/index")
        groups.setdefault(key, []).append((int(index), position))
    return tuple((key, np.array([p for _, p in sorted(items)], dtype=np.intp)) for key, items in groups.items())


def record_to_strings(record_json: dict) -> dict[str, str]:
    """An episode record as text key/values (diagnostic_msgs/KeyValue), readable in rqt."""
    out = {}
    for k, v in record_json.items():
        # A scene travels as JSON (null for none): floats keep every bit, and a dict stays a dict.
        out[k] = ",".join(v) if k == "perturbations" else json.dumps(v) if k == "scene" else str(v)
    return out


def record_from_strings(values: dict[str, str]) -> dict:
    """Inverse of record_to_strings for EpisodeRecord.from_json."""
    d: dict = dict(values)
    d["perturbations"] = [p for p in values.get("perturbations", "").split(",") if p]
    for k in ("seed", "steps"):
        if k in d:
            d[k] = int(d[k])
    for k in ("reward", "wall_time"):
        if k in d:
            d[k] = float(d[k])
    if "scene" in d:
        d["scene"] = json.loads(d["scene"])
        if d["scene"] is not None and not isinstance(d["scene"], dict):
            raise ValueError(f"episode scene {values['scene']!r} is not a JSON object of factor values")
    return d
