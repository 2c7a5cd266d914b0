"""A hue over its whole range is a circle: 0 and 1 are the same red, and the failure model must know it.

Found on the vision policy (docs/benchmarks.md §8c): its cube is red at hue 0.985 and it fails for hues between
0.0625 and 0.938. The working red below 0.0625 is the nominal colour across the wrap, but a model that measured
hue as a line learned nothing about it from the episodes at 0.985, so the band's far edge was never reported.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from scipy.optimize import approx_fprime
from sklearn.gaussian_process.kernels import RBF

from robofail_ros.continuous.analyse import analyse_scenes
from robofail_ros.continuous.surrogate import CircularRBF, FailureModel
from robofail_ros.episode import FAILURE, SUCCESS, EpisodeRecord
from robofail_ros.factors import FactorSpace, load_factor_space

LIFT = load_factor_space("Lift")
BAND = (0.10, 0.85)  # the cube fails for hues strictly inside; red (either side of the wrap) works


def test_full_range_hues_are_circular_and_nothing_else_is():
    circular = {LIFT.names[i] for i in LIFT.circular}
    assert circular == {"table_hue", "cube_hue", "robot_hue", "light_hue"}
    assert all(f.circular == (f.name in circular) for f in LIFT.info())
    part_of_the_circle = dataclasses.replace(LIFT.get("cube_hue"), low=0.2, high=0.6, nominal=0.4)
    assert not part_of_the_circle.circular


def test_the_circular_kernel_joins_the_ends_and_is_the_rbf_elsewhere():
    rng = np.random.default_rng(0)
    X = rng.random((12, 3))
    ls = np.array([0.3, 0.2, 0.5])
    assert np.allclose(CircularRBF(ls)(X), RBF(ls)(X))  # no circular dimension: exactly the RBF
    k = CircularRBF(ls, circular=(0,))
    ends = np.array([[0.01, 0.5, 0.5], [0.99, 0.5, 0.5]])
    assert k(ends)[0, 1] == pytest.approx(np.exp(-0.5 * (np.sin(np.pi * 0.02) / np.pi / 0.3) ** 2))
    assert RBF(ls)(ends)[0, 1] < 0.05  # the line sees opposite ends of the range


def test_the_circular_kernel_gradient_is_the_derivative_in_log_length_scales():
    rng = np.random.default_rng(1)
    X = rng.random((7, 3))
    for ls in (np.array([0.3, 0.2, 0.5]), 0.4):
        k = CircularRBF(ls, circular=(0, 2))
        K, grad = k(X, eval_gradient=True)
        for d in range(grad.shape[2]):
            numeric = approx_fprime(k.theta, lambda t: k.clone_with_theta(t)(X).ravel()[5], 1e-7)
            assert numeric[d] == pytest.approx(grad.ravel().reshape(-1, grad.shape[2])[5, d], rel=1e-4, abs=1e-8)


def _audit_without_data_near_the_wrap(space: FactorSpace, n: int = 160) -> list[EpisodeRecord]:
    """30 controls at the nominal red (0.985), then cube hues drawn on [0.12, 1]: none in [0, 0.12)."""
    rng = np.random.default_rng(0)
    records = [EpisodeRecord(episode_id=f"c{i}", seed=i, perturbations=[], outcome=SUCCESS, steps=50, reward=0.0,
                             wall_time=0.0, policy_id="synthetic", task="Lift") for i in range(30)]
    for i, (hue, light) in enumerate(zip(rng.uniform(0.12, 1.0, n), rng.uniform(0.5, 2.0, n))):
        failed = BAND[0] < hue < BAND[1]
        records.append(EpisodeRecord(episode_id=f"s{i}", seed=100 + i, perturbations=[],
                                     outcome=FAILURE if failed else SUCCESS, steps=50, reward=0.0, wall_time=0.0,
                                     policy_id="synthetic", task="Lift",
                                     scene={"cube_hue": float(hue), "light_intensity": float(light)}))
    return records


def _hue_thresholds(space: FactorSpace) -> list:
    analysis = analyse_scenes(_audit_without_data_near_the_wrap(space), space, "synthetic", "test", seed=0)
    return [t for t in analysis.thresholds if t.factor == "cube_hue"]


def test_a_failure_band_that_ends_just_past_the_wrap_is_closed_by_the_nominal_red_across_it():
    space = FactorSpace("Lift", (LIFT.get("cube_hue"), LIFT.get("light_intensity")))
    found = _hue_thresholds(space)
    assert len(found) == 2 and all(t.band is not None for t in found), [t.text for t in found]
    low, high = sorted(found, key=lambda t: t.value)
    assert 0.0 < low.value < 0.12 and low.direction == "above"  # between the last red (0.985 -> 1 = 0) and 0.12
    assert abs(high.value - BAND[1]) < 0.03 and high.ci_low <= BAND[1] <= high.ci_high


def test_measured_as_a_line_the_same_episodes_leave_the_band_open():
    """Why the circle matters: the same data, with the hue range cut just short of the circle (so a line)."""
    line = dataclasses.replace(LIFT.get("cube_hue"), high=0.9999)
    space = FactorSpace("Lift", (line, LIFT.get("light_intensity")))
    assert not space.circular
    found = _hue_thresholds(space)
    assert [t.band for t in found] == [None] * len(found)
    assert [t.direction for t in found] == ["below"]
