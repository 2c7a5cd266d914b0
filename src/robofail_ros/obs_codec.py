"""Flatten robosuite observation dicts into labelled vectors and back, for transport over ROS.

Each entry `key` of length n becomes labels `key/0 … key/n-1`; shapes are 1-D in
robosuite's state observations, so the round trip is exact.
"""
from __future__ import annotations

import json

import numpy as np


def flatten_observation(obs: dict[str, np.ndarray]) -> tuple[list[str], list[float]]:
    """Labels and values of every non-image entry (images travel as sensor_msgs/Image)."""
    names: list[str] = []
    values: list[float] = []
    for key in sorted(obs):
        if key.endswith("_image"):
            continue
        arr = np.asarray(obs[key], dtype=float).ravel()
        names.extend(f"{key}/{i}" for i in range(arr.size))
        values.extend(arr.tolist())
    return names, values


def unflatten_observation(names: list[str], values: list[float]) -> dict[str, np.ndarray]:
    if len(names) != len(values):
        raise ValueError(f"{len(names)} labels but {len(values)} values")
    groups: dict[str, list[tuple[int, float]]] = {}
    for label, value in zip(names, values):
        key, sep, index = label.rpartition("/")
        if not sep or not index.isdigit():
            raise ValueError(f"observation label {label!r} is not of the form key/index")
        groups.setdefault(key, []).append((int(index), value))
    return {k: np.array([v for _, v in sorted(items)]) for k, items in groups.items()}


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
