"""Experiments on a threshold's own line count for more than the rest of the box (continuous.line_model).

A threshold is read along its factor's line through nominal, every other factor nominal; the failure model is
fitted over the whole box. Synthetic outcomes (no simulator) where the box and the line disagree show which wins.
"""
from __future__ import annotations

import colorsys

import numpy as np
import pytest
from scipy.stats import qmc

from robofail_ros.continuous.analyse import analyse_scenes
from robofail_ros.continuous.line_model import MIN_LINE_EXPERIMENTS
from robofail_ros.continuous.surrogate import FailureModel
from robofail_ros.continuous.thresholds import factor_curves
from robofail_ros.episode import FAILURE, SUCCESS, EpisodeRecord
from robofail_ros.factors import FactorSpace, load_factor_space

LIFT = load_factor_space("Lift")


def space_of(*names: str) -> FactorSpace:
    return FactorSpace(task="Lift", factors=tuple(LIFT.get(n) for n in names))


def episodes(space: FactorSpace, values: np.ndarray, failed: np.ndarray, start: int = 0) -> list[EpisodeRecord]:
    return [EpisodeRecord(episode_id=f"ep{start + i:05d}", seed=start + i, perturbations=[],
                          outcome=FAILURE if f else SUCCESS, steps=50, reward=0.0, wall_time=0.0,
                          policy_id="synthetic", task="Lift", scene=space.scene(v))
            for i, (v, f) in enumerate(zip(values, failed))]


def controls(n: int = 20) -> list[EpisodeRecord]:
    return [EpisodeRecord(episode_id=f"control{i:03d}", seed=90_000 + i, perturbations=[], outcome=SUCCESS, steps=50,
                          reward=0.0, wall_time=0.0, policy_id="synthetic", task="Lift", scene=None) for i in range(n)]


def on_the_line(space: FactorSpace, name: str, units: np.ndarray) -> np.ndarray:
    """Scenes (factor values) on `name`'s line through nominal at these unit coordinates of it."""
    u = np.repeat(np.asarray(space.to_unit(np.asarray(space.nominal, dtype=float)))[None, :], len(units), axis=0)
    u[:, space.index(name)] = units
    return np.asarray(space.from_unit(u), dtype=float)


def threshold_unit(analysis, space: FactorSpace, name: str) -> tuple[float, float, float]:
    t = next(t for t in analysis.thresholds if t.factor == name)
    f = space.get(name)
    return tuple(float(f.to_unit(v)) for v in (t.value, t.ci_low, t.ci_high))


# -- a luminance step, DarkFreeze's shape: the line's threshold is not the box's average one ----------------------
DARK = space_of("light_hue", "light_saturation", "light_intensity")
FLOOR_DARK = 0.26


def too_dark(values: np.ndarray) -> np.ndarray:
    """The floor's luminance under a coloured light below a level: a saturated red light (nominal hue) darkens it
    far more than a saturated green one, so along the saturation line through nominal failure sets in late
    (unit 0.927), while over the whole box saturation matters on average from much earlier."""
    hue, saturation, intensity = values.T
    luma = np.array([np.dot((0.299, 0.587, 0.114), colorsys.hsv_to_rgb(h, s, 1.0)) for h, s in zip(hue, saturation)])
    return 0.41 * intensity ** 0.425 * (0.437 + 0.563 * luma) < FLOOR_DARK


def true_saturation_edge() -> float:
    grid = np.linspace(0.0, 1.0, 20001)
    return float(grid[np.argmax(too_dark(on_the_line(DARK, "light_saturation", grid)))])


def dark_audit(line_units: np.ndarray) -> list[EpisodeRecord]:
    box = np.asarray(DARK.from_unit(qmc.Sobol(DARK.dim, scramble=True, seed=3).random(256)), dtype=float)
    line = on_the_line(DARK, "light_saturation", line_units)
    return (controls() + episodes(DARK, box, too_dark(box))
            + episodes(DARK, line, too_dark(line), start=1000))


def test_experiments_on_the_line_place_a_sharp_step_where_they_saw_it_and_the_interval_covers_it():
    truth = true_saturation_edge()
    assert 0.92 < truth < 0.93
    line_units = np.linspace(0.86, 0.99, 14)  # where a boundary searcher's checks put them: around the claim
    analysis = analyse_scenes(dark_audit(line_units), DARK, "synthetic", "boundary", seed=0)
    value, low, high = threshold_unit(analysis, DARK, "light_saturation")
    assert abs(value - truth) < 0.01 and low <= truth <= high


def test_it_is_the_line_model_that_moves_the_threshold_not_the_extra_episodes(monkeypatch):
    """The same episodes with every line read off the box model alone: the step stays 2-5% of the range early."""
    from robofail_ros.continuous import line_model

    monkeypatch.setattr(line_model, "MIN_LINE_EXPERIMENTS", 10 ** 6)
    analysis = analyse_scenes(dark_audit(np.linspace(0.86, 0.99, 14)), DARK, "synthetic", "boundary", seed=0)
    value, _, _ = threshold_unit(analysis, DARK, "light_saturation")
    assert true_saturation_edge() - value > 0.02


# -- where a line has (almost) no experiments, nothing changes ----------------------------------------------------
BOX = space_of("light_intensity", "cube_value", "camera_yaw")


def test_without_enough_experiments_on_a_line_its_curve_is_the_box_models():
    box = np.asarray(BOX.from_unit(qmc.Sobol(BOX.dim, scramble=True, seed=0).random(256)), dtype=float)
    line = on_the_line(BOX, "light_intensity", np.linspace(0.1, 0.3, MIN_LINE_EXPERIMENTS - 1))
    values = np.vstack([box, line])
    scenes = episodes(BOX, values, values[:, 0] < 0.5)
    X = np.asarray(BOX.to_unit(values), dtype=float)
    y = np.array([r.outcome == FAILURE for r in scenes], dtype=int)
    model = FailureModel(BOX.dim, seed=0).fit(X, y)
    curves, _ = factor_curves(model, BOX, seed=0)
    light = curves[BOX.index("light_intensity")]
    U = np.repeat(np.asarray(BOX.to_unit(np.asarray(BOX.nominal, dtype=float)))[None, :], len(light.values), axis=0)
    U[:, 0] = BOX.get("light_intensity").to_unit(np.asarray(light.values))
    assert light.p_mean == pytest.approx(list(model.predict(U)[0]))


# -- the Laplace approximation finds the posterior's mode, even where the prior is near-singular -------------------
def test_the_laplace_mode_is_the_posteriors_maximum_on_a_near_singular_prior():
    """The real vision policy's cube_hue line: two experiments 0.0004 apart, a smooth prior confident of failure
    (+5), successes up to 0.058 and failures from 0.062. The undamped Newton iteration cycled for ever here and its
    posterior said P = 0 where the line had failed. The mode must be what an independent optimiser finds."""
    from scipy.optimize import minimize
    from scipy.special import expit

    from robofail_ros.continuous.line_model import _laplace

    x = np.array([0.0426, 0.0504, 0.0574, 0.0578, 0.062, 0.0659, 0.17, 0.22, 0.27, 0.32, 0.37, 0.48, 0.55, 0.62,
                  0.69, 0.7653, 0.7961, 0.8094, 0.8205, 0.8583, 0.8738, 0.9272])
    y = (x > 0.06).astype(float)
    K = 10.0 * np.exp(-0.5 * ((x[:, None] - x[None, :]) / 0.2) ** 2)
    mean = np.full(len(x), 5.0)
    assert np.linalg.cond(K) > 1e12  # the case is the ill-conditioned one

    def negative_psi(a):  # -(log p(y|f) - g'K^-1 g / 2) with g = K a, the objective the mode maximises
        f = mean + K @ a
        return -(np.sum(y * f - np.logaddexp(0.0, f)) - 0.5 * a @ K @ a)

    best = minimize(negative_psi, np.zeros(len(x)), method="L-BFGS-B", options={"maxiter": 20000, "ftol": 1e-14})
    lml, grad, L, _ = _laplace(K, mean, y)
    # the approximation's evidence is the objective at the mode less the log-determinant term
    assert lml + float(np.log(np.diag(L)).sum()) == pytest.approx(-best.fun, abs=1e-3)
    p = expit(mean + K @ grad)  # at the mode the latent is mean + K grad log p(y|f)
    # a prior this smooth blurs the step over a few hundredths, but the successes read as successes
    assert np.all(p[x < 0.058] < 0.5) and np.all(p[x > 0.1] > 0.5)
