"""The true failure regions of the planted policies, measured by rendering first frames (no episode runs).

A planted policy decides from its first frame alone (bench/planted_policies.py), and the study's factor box holds
only visual factors, which change what the camera sees but never the physics. So the first frame of a scene
can be rendered without replaying a reset: reset once per initial state, then set each scene on the live
model and render (checked bit for bit against set-then-reset in test/test_planted.py). That makes the truth
cheap enough to measure densely:

- **curves**: P(failure) along each factor on a 201-point grid (uniform in unit-cube coordinates), every other
  factor nominal, averaged over TRUTH_SEEDS initial states; the true thresholds are where each curve crosses
  half-way from its nominal value to its peak on either side of nominal, the same definition the analysis
  applies to its fitted curves (continuous/thresholds.py), located to the grid's resolution (0.5% of range);
- **test set**: TEST_SCENES scrambled-Sobol scenes of the whole box with their true P(failure), for recall,
  precision and calibration of the fitted P(failure | scene);
- **Sobol indices**: first, total and second order of the true P(failure | scene) over the box (SALib on a
  Saltelli design of SOBOL_BASE x (2d + 2) rendered scenes), whose top pair is the interaction to find.

The coin of ColourfulTableCoin is a hash of the cube's initial position; its truth uses the planted rate 1/3,
and `coin_uniformity` checks that the hash's draws over many initial states are uniform.

Everything is cached as JSON in the study folder (`truth_<policy>.json`).
"""
from __future__ import annotations

import json
import os
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("MUJOCO_GL", "egl")

from robofail_ros.factors import FactorSpace, load_factor_space  # noqa: E402

import planted_policies  # noqa: E402

#: Factor groups that only change what cameras see: the privileged expert, and so a planted policy's physics,
#: cannot tell them apart from nominal.
VISUAL_GROUPS = ("table_colour", "cube_colour", "robot_colour", "light_colour", "light_intensity", "camera_pose")
TRUTH_SEEDS = (11, 12, 13)
CURVE_POINTS = 201
TEST_SCENES = 1024
SOBOL_BASE = 128


def visual_catalogue(out_dir: Path, task: str = "lift") -> Path:
    """The task's catalogue with only its visual factors, written to `out_dir` (the planted study's box)."""
    data = yaml.safe_load((ROOT / "config" / "perturbations" / f"{task.lower()}.yaml").read_text())
    data["factors"] = [f for f in data["factors"] if f["group"] in VISUAL_GROUPS]
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{task.lower()}_visual.yaml"
    text = yaml.safe_dump(data, sort_keys=False)
    if not path.exists() or path.read_text() != text:
        path.write_text(text)
    return path


@dataclass
class TrueThreshold:
    factor: str
    value: float
    """In factor units."""
    unit: float
    """The same point in unit-cube coordinates (0..1 along the factor's range; log factors in log terms)."""
    direction: str
    """'below' or 'above', as continuous.result.Threshold."""


@dataclass
class Truth:
    policy: str
    rule: str
    factors: list[str]
    curves: dict[str, list[float]]
    """P(failure) on the curve grid of each factor (unit-cube grid `grid`)."""
    grid: list[float]
    thresholds: list[TrueThreshold]
    test_unit: list[list[float]]
    test_p: list[float]
    sobol_s1: dict[str, float] = field(default_factory=dict)
    sobol_st: dict[str, float] = field(default_factory=dict)
    top_pairs: list[tuple[str, str, float]] = field(default_factory=list)
    """Pairs by true second-order index, strongest first."""
    nominal_p: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "Truth":
        d = dict(d)
        d["thresholds"] = [TrueThreshold(**t) for t in d["thresholds"]]
        d["top_pairs"] = [tuple(p) for p in d["top_pairs"]]
        return cls(**d)

    @property
    def region_share(self) -> float:
        """Share of the box where P(failure) > 0."""
        return float(np.mean(np.asarray(self.test_p) > 0))


class FrameOracle:
    """Renders first frames of scenes of the visual box for a few initial states and applies a planted rule."""

    def __init__(self, catalogue: Path, seeds: tuple[int, ...] = TRUTH_SEEDS) -> None:
        from robofail_ros.sim import SimConfig, Simulation

        self.space: FactorSpace = load_factor_space(catalogue)
        self.sim = Simulation(SimConfig(task=self.space.task, catalogue=str(catalogue)), seed=seeds[0])
        self.seeds = seeds
        self.size = planted_policies.IMAGE_SIZE

    def frames(self, units: np.ndarray, seed: int) -> list[np.ndarray]:
        """First frames of the scenes at unit-cube points `units`, from the initial state of `seed`."""
        self.sim.set_perturbations([])
        self.sim.reset(seed)
        out = []
        for u in np.atleast_2d(units):
            self.sim.set_perturbations([], self.space.scene(self.space.from_unit(u)))
            out.append(self.sim.render(planted_policies.ADVERSARY_CAMERA, self.size))
        self.sim.set_perturbations([])
        return out

    def p_true(self, policy: planted_policies.PlantedPolicy, units: np.ndarray,
               progress: Callable[[int], None] | None = None, seeds: tuple[int, ...] | None = None) -> np.ndarray:
        """True P(failure) at each unit-cube point: the rule's p_fail averaged over the initial states."""
        units = np.atleast_2d(units)
        seeds = seeds or self.seeds
        total = np.zeros(len(units))
        for seed in seeds:
            for k, frame in enumerate(self.frames(units, seed)):
                total[k] += policy.p_fail(frame)
                if progress and k % 64 == 0:
                    progress(64)
        return total / len(seeds)

    def close(self) -> None:
        self.sim.close()


def curve_thresholds(name: str, grid: np.ndarray, p: np.ndarray, nominal_unit: float, space: FactorSpace,
                     min_rise: float = 0.05) -> list[TrueThreshold]:
    """True thresholds along one factor: crossings of half-way from P(nominal) to the side's peak.

    The same construction as continuous/thresholds.py on an exact curve: per side of nominal, a rise of at least
    `min_rise`, the first crossing walking outward, and the far edge when the curve falls back (a band).
    """
    i0 = int(np.argmin(np.abs(grid - nominal_unit)))
    p0 = float(p[i0])
    out = []
    factor = space.factors[space.names.index(name)]
    for side, step in (("above", 1), ("below", -1)):
        idx = np.arange(i0, len(grid)) if step > 0 else np.arange(i0, -1, -1)
        c = p[idx]
        if len(c) < 2 or c.max() - p0 < min_rise:
            continue
        peak = int(np.flatnonzero(c == c.max())[-1])
        level = 0.5 * (p0 + c[peak])
        onset = int(np.flatnonzero(c[1:] >= level)[0]) + 1
        edges = [(onset, side)]
        beyond = np.flatnonzero(c[peak:] < level)
        if len(beyond):
            edges.append((peak + int(beyond[0]), "below" if side == "above" else "above"))
        for k, direction in edges:
            # the crossing lies between grid points k-1 and k: take the midpoint (resolution: one grid step)
            u = 0.5 * (grid[idx[k - 1]] + grid[idx[k]])
            value = float(np.asarray(space.from_unit(_at(space, name, u)), float)[space.names.index(name)])
            out.append(TrueThreshold(name, value, float(u), direction))
    return out


def _at(space: FactorSpace, name: str, u: float) -> np.ndarray:
    units = np.asarray(space.to_unit(np.asarray(space.nominal, float)), float).copy()
    units[space.names.index(name)] = u
    return units


def measure_truth(policy_name: str, oracle: FrameOracle, progress: Callable[[int], None] | None = None,
                  test_scenes: int = TEST_SCENES, sobol_base: int = SOBOL_BASE, seed: int = 2026) -> Truth:
    """Dense truth of one planted policy over the oracle's box (see the module docstring)."""
    from scipy.stats import qmc

    from robofail_ros.continuous.sensitivity import analyse_outputs, saltelli_design

    policy = planted_policies.PLANTED[policy_name]()
    space = oracle.space
    names = list(space.names)
    nominal_u = np.asarray(space.to_unit(np.asarray(space.nominal, float)), float)
    grid = np.linspace(0.0, 1.0, CURVE_POINTS)
    curves, thresholds = {}, []
    for i, name in enumerate(names):
        units = np.repeat(nominal_u[None, :], len(grid), axis=0)
        units[:, i] = grid
        p = oracle.p_true(policy, units, progress)
        curves[name] = [float(v) for v in p]
        thresholds += curve_thresholds(name, grid, p, float(nominal_u[i]), space)
    test_u = qmc.Sobol(len(names), scramble=True, seed=seed).random(test_scenes)
    test_p = oracle.p_true(policy, test_u, progress)
    truth = Truth(policy_name, policy.rule, names, curves, [float(g) for g in grid], thresholds,
                  test_u.tolist(), [float(v) for v in test_p],
                  nominal_p=float(oracle.p_true(policy, nominal_u[None, :])[0]))
    design = saltelli_design(names, sobol_base, seed)
    y = oracle.p_true(policy, design, progress, seeds=oracle.seeds[:1])  # one initial state: 4608 frames
    if np.ptp(y) > 0:
        s = analyse_outputs(names, y, seed)
        truth.sobol_s1 = {n: float(v) for n, v in zip(names, s["S1"])}
        truth.sobol_st = {n: float(v) for n, v in zip(names, s["ST"])}
        s2 = np.nan_to_num(np.asarray(s["S2"], float))
        pairs = [(names[a], names[b], float(s2[a, b])) for a in range(len(names)) for b in range(a + 1, len(names))]
        truth.top_pairs = sorted(pairs, key=lambda t: -t[2])[:5]
    return truth


def coin_uniformity(n: int = 20000, seed: int = 0) -> dict[str, float]:
    """The planted coin over n cube positions drawn like Lift's placement (+-3 cm): share below 1/3, and a
    Kolmogorov-Smirnov test of uniformity."""
    from scipy import stats

    rng = np.random.default_rng(seed)
    pos = np.c_[rng.uniform(-0.03, 0.03, n), rng.uniform(-0.03, 0.03, n), np.full(n, 0.82)]
    draws = np.array([planted_policies.initial_state_draw(p) for p in pos])
    return {"positions": n, "share_below_third": float(np.mean(draws < 1 / 3)),
            "ks_pvalue": float(stats.kstest(draws, "uniform").pvalue)}


def load_or_measure(policy_name: str, oracle: Callable[[], FrameOracle], out_dir: Path,
                    progress: Callable[[int], None] | None = None) -> Truth:
    """The cached truth of a planted policy, measured once (`oracle` builds or returns the shared renderer)."""
    path = out_dir / f"truth_{policy_name}.json"
    if path.exists():
        return Truth.from_json(json.loads(path.read_text()))
    truth = measure_truth(policy_name, oracle(), progress)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(truth.to_json()))
    tmp.replace(path)
    return truth
