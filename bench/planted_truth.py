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
- **Sobol indices**: first and total order of the true P(failure | scene) over the box (SALib on a Saltelli design
  of SOBOL_BASE x (2d + 2) rendered scenes, one initial state), with SALib's half-widths: the truth's own
  Monte-Carlo error, against which the study scores the reported intervals. SALib's second-order estimates of an
  indicator function stay noisy at this size (+-0.1 half-widths were measured), so the pairs it ranks highest are
  measured again directly: S2_ij = (Var E[P | x_i, x_j] - V_i - V_j) / Var P on a PAIR_GRID^2 grid of the pair
  with the same PAIR_DRAWS draws of the other factors in every cell (common random numbers), the within-cell sampling
  variance subtracted. The strongest of those is the interaction the study asks searchers to rank first.

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

#: The planted study's box: factor groups that only change what the camera sees (the privileged expert, and so a
#: planted policy's physics, cannot tell them from nominal) and leave the camera where it is. The planted rules
#: read fixed parts of the image (the floor strip, the arm's window, the patch where the nominal calibration puts
#: the cube); with the camera pose in the box (+-15 degrees, +-10 cm) those parts show other surfaces in most
#: scenes, which mixes every factor into every rule and hides the case each policy is built to be (measured: the
#: interaction policy's largest total index became table_hue's, 0.55, and camera_pitch's, 0.47). Camera pose is
#: what the real vision policy fails on, and its part of the study keeps the whole box.
VISUAL_GROUPS = ("table_colour", "cube_colour", "robot_colour", "light_colour", "light_intensity")
TRUTH_SEEDS = (11, 12)
CURVE_POINTS = 201
TEST_SCENES = 1024
SOBOL_BASE = 1024
PAIR_CANDIDATES = 3
PAIR_GRID = 10
PAIR_DRAWS = 32


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
    sobol_s1_conf: dict[str, float] = field(default_factory=dict)
    """SALib's 95% half-widths of `sobol_s1` and `sobol_st`: the truth's own Monte-Carlo error, which a reported
    index's interval is allowed to meet rather than cover (empty in a truth cached before they were kept)."""
    sobol_st_conf: dict[str, float] = field(default_factory=dict)
    top_pairs: list[tuple[str, str, float, float]] = field(default_factory=list)
    """The candidate pairs measured directly, strongest first: (factor, factor, S2 measured, SALib's S2)."""
    nominal_p: float = 0.0
    curve_units: dict[str, list[float]] = field(default_factory=dict)
    """Unit-cube points of a factor's curve where they differ from `grid` (a measured truth's own lines)."""
    region_above: float = 0.0
    """The true failure region is {P > region_above}: 0 for a planted rule (exact P), 0.5 for measured rates."""
    curve_ci: dict[str, list[list[float]]] = field(default_factory=dict)
    """A measured truth's 95% interval of P at each point of its curves (empty for an exact planted truth)."""
    threshold_ci: list[list[float] | None] = field(default_factory=list)
    """A measured truth's own 95% interval (unit-cube) of each threshold, in the order of `thresholds`."""

    @property
    def clear_pair(self) -> bool:
        """Whether one interaction stands out enough to ask a searcher to rank it first: S2 >= 0.05 and at least
        twice the next pair's (a truth whose pairs are all near 0 has no interaction to find)."""
        if not self.top_pairs or self.top_pairs[0][2] < 0.05:
            return False
        return len(self.top_pairs) < 2 or self.top_pairs[0][2] >= 2 * max(self.top_pairs[1][2], 0.0)

    def units_of(self, factor: str) -> np.ndarray:
        return np.asarray(self.curve_units.get(factor, self.grid), float)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "Truth":
        d = dict(d)
        d["thresholds"] = [TrueThreshold(**t) for t in d["thresholds"]]
        d["top_pairs"] = [tuple(p) for p in d["top_pairs"]]
        return cls(**d)

    @property
    def region_share(self) -> float | None:
        """Share of the test scenes inside the true failure region; None for a truth measured along lines only
        (no test scenes), which np.mean would make NaN, and NaN is not JSON."""
        if not len(self.test_p):
            return None
        return float(np.mean(np.asarray(self.test_p) > self.region_above))


class FrameOracle:
    """Renders first frames of scenes of the visual box for a few initial states and applies a planted rule."""

    def __init__(self, catalogue: Path, seeds: tuple[int, ...] = TRUTH_SEEDS) -> None:
        from robofail_ros.sim import SimConfig, Simulation

        self.catalogue = Path(catalogue)
        self.space: FactorSpace = load_factor_space(catalogue)
        self.sim = Simulation(SimConfig(task=self.space.task, catalogue=str(catalogue)), seed=seeds[0])
        self.seeds = seeds
        self.size = planted_policies.IMAGE_SIZE

    def frames(self, units: np.ndarray, seed: int) -> tuple[list[np.ndarray], np.ndarray]:
        """First frames of the scenes at unit-cube points `units` from the initial state of `seed`, and the
        cube's initial position there."""
        self.sim.set_perturbations([])
        cube_pos = np.asarray(self.sim.reset(seed)["cube_pos"], float)
        out = []
        for u in np.atleast_2d(units):
            self.sim.set_perturbations([], self.space.scene(self.space.from_unit(u)))
            out.append(self.sim.render(planted_policies.ADVERSARY_CAMERA, self.size))
        self.sim.set_perturbations([])
        return out, cube_pos

    def p_true(self, policies: dict[str, planted_policies.PlantedPolicy], units: np.ndarray,
               seeds: tuple[int, ...] | None = None) -> dict[str, np.ndarray]:
        """True P(failure) of each policy at each unit-cube point: its rule's p_fail averaged over initial states.

        Each frame is rendered once and judged by every policy's rule (the frames do not depend on the policy).
        """
        units = np.atleast_2d(units)
        seeds = seeds or self.seeds
        total = {name: np.zeros(len(units)) for name in policies}
        for policy in policies.values():
            policy.bind(self.sim.scene)
        for seed in seeds:
            frames, cube_pos = self.frames(units, seed)
            for k, frame in enumerate(frames):
                for name, policy in policies.items():
                    total[name][k] += policy.p_fail(frame, cube_pos)
        return {name: t / len(seeds) for name, t in total.items()}

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


def measure_truths(policy_names: list[str], oracle: FrameOracle, test_scenes: int = TEST_SCENES,
                   sobol_base: int = SOBOL_BASE, seed: int = 2026) -> dict[str, Truth]:
    """Dense truths of planted policies over the oracle's box (see the module docstring), from shared frames."""
    from scipy.stats import qmc
    from tqdm import tqdm

    policies = {n: planted_policies.PLANTED[n]() for n in policy_names}
    space = oracle.space
    names = list(space.names)
    nominal_u = np.asarray(space.to_unit(np.asarray(space.nominal, float)), float)
    grid = np.linspace(0.0, 1.0, CURVE_POINTS)
    curves: dict[str, dict[str, list[float]]] = {n: {} for n in policies}
    thresholds: dict[str, list[TrueThreshold]] = {n: [] for n in policies}
    for i, name in enumerate(tqdm(names, desc="truth: factor curves", unit="factor")):
        units = np.repeat(nominal_u[None, :], len(grid), axis=0)
        units[:, i] = grid
        for policy, p in oracle.p_true(policies, units).items():
            curves[policy][name] = [float(v) for v in p]
            thresholds[policy] += curve_thresholds(name, grid, p, float(nominal_u[i]), space)
    test_u = qmc.Sobol(len(names), scramble=True, seed=seed).random(test_scenes)
    print("truth: test scenes (a few minutes)", file=sys.stderr, flush=True)
    test_p = oracle.p_true(policies, test_u)
    nominal_p = oracle.p_true(policies, nominal_u[None, :])
    indices = true_sobol(oracle, policies, sobol_base, seed)
    truths, candidates = {}, {}
    for n, policy in policies.items():
        truth = Truth(n, policy.rule, names, curves[n], [float(g) for g in grid], thresholds[n],
                      test_u.tolist(), [float(v) for v in test_p[n]], nominal_p=float(nominal_p[n][0]))
        s = indices[n]
        if s is not None:
            keep_sobol(truth, s)
            ranked = sorted(((float(s.s2[a, b]), a, b) for a in range(len(names)) for b in range(a + 1, len(names))),
                            reverse=True)[:PAIR_CANDIDATES]
            candidates[n] = {(a, b): v for v, a, b in ranked}
        truths[n] = truth
    measured = {}
    for pair in sorted({p for c in candidates.values() for p in c}):
        print(f"truth: interaction {names[pair[0]]} x {names[pair[1]]}", file=sys.stderr, flush=True)
        measured[pair] = pair_indices(oracle, policies, nominal_u, pair, seed)
    for n, cands in candidates.items():
        rows = [(names[a], names[b], measured[(a, b)][n], salib) for (a, b), salib in cands.items()]
        truths[n].top_pairs = sorted(rows, key=lambda r: -r[2])
    return truths


def true_sobol(oracle: FrameOracle, policies: dict[str, planted_policies.PlantedPolicy], sobol_base: int,
               seed: int) -> dict[str, Any]:
    """SALib's indices (a `SobolEstimate`, None for a constant P) of each policy's true P over the box, from one
    Saltelli design of rendered scenes (one initial state: the design is large)."""
    from robofail_ros.continuous.sensitivity import analyse_outputs, saltelli_design

    names = list(oracle.space.names)
    print("truth: Sobol design (a few minutes)", file=sys.stderr, flush=True)
    design_p = oracle.p_true(policies, saltelli_design(names, sobol_base, seed), seeds=oracle.seeds[:1])
    return {n: analyse_outputs(names, y, seed) if np.ptp(y) > 0 else None for n, y in design_p.items()}


def keep_sobol(truth: Truth, s: Any) -> None:
    """Store a `SobolEstimate`'s first and total indices and their half-widths on the truth."""
    truth.sobol_s1 = {f: float(v) for f, v in zip(truth.factors, s.s1)}
    truth.sobol_st = {f: float(v) for f, v in zip(truth.factors, s.st)}
    truth.sobol_s1_conf = {f: float(v) for f, v in zip(truth.factors, s.s1_conf)}
    truth.sobol_st_conf = {f: float(v) for f, v in zip(truth.factors, s.st_conf)}


def add_sobol_conf(truths: dict[str, Truth], oracle: Callable[[], FrameOracle], sobol_base: int = SOBOL_BASE,
                   seed: int = 2026) -> list[str]:
    """Give cached truths that predate `sobol_st_conf` their half-widths; the names of those changed.

    The design is rendered again with measure_truths' base and seed, so the indices must come out as cached: if
    they do not (the renderer or a rule changed), the truth is stale and this stops rather than mix two truths.
    """
    stale = {n: t for n, t in truths.items() if t.sobol_st and not t.sobol_st_conf}
    if not stale:
        return []
    policies = {n: planted_policies.PLANTED[n]() for n in stale}
    for n, s in true_sobol(oracle(), policies, sobol_base, seed).items():
        cached = np.array([stale[n].sobol_st[f] for f in stale[n].factors])
        if s is None or not np.allclose(s.st, cached, atol=1e-9):
            raise RuntimeError(f"truth_{n}.json: its Sobol design no longer gives its cached indices; delete it "
                               f"to measure the truth again")
        keep_sobol(stale[n], s)
    return list(stale)


def pair_indices(oracle: FrameOracle, policies: dict[str, planted_policies.PlantedPolicy], nominal_u: np.ndarray,
                 pair: tuple[int, int], seed: int) -> dict[str, float]:
    """Second-order Sobol index of one pair for each policy, from conditional means on a grid (module docstring)."""
    from scipy.stats import qmc

    i, j = pair
    others = qmc.Sobol(len(nominal_u), scramble=True, seed=seed + 1).random(PAIR_DRAWS)
    g = (np.arange(PAIR_GRID) + 0.5) / PAIR_GRID
    units = np.repeat(others[None, None, :, :], PAIR_GRID, 0).repeat(PAIR_GRID, 1).copy()
    units[..., i] = g[:, None, None]
    units[..., j] = g[None, :, None]
    p = oracle.p_true(policies, units.reshape(-1, len(nominal_u)), seeds=oracle.seeds[:1])
    out = {}
    for n, values in p.items():
        f = values.reshape(PAIR_GRID, PAIR_GRID, PAIR_DRAWS)
        total = f.var()
        if total == 0:
            out[n] = 0.0
            continue
        noise = f.var(axis=2, ddof=1).mean() / PAIR_DRAWS
        v_ij = f.mean(axis=2).var() - noise
        v_i = f.mean(axis=(1, 2)).var() - noise / PAIR_GRID
        v_j = f.mean(axis=(0, 2)).var() - noise / PAIR_GRID
        out[n] = float((v_ij - v_i - v_j) / total)
    return out


def coin_uniformity(n: int = 20000, seed: int = 0) -> dict[str, float]:
    """The planted coin over n cube positions drawn like Lift's placement (+-3 cm): share below 1/3, and a
    Kolmogorov-Smirnov test of uniformity."""
    from scipy import stats

    rng = np.random.default_rng(seed)
    pos = np.c_[rng.uniform(-0.03, 0.03, n), rng.uniform(-0.03, 0.03, n), np.full(n, 0.82)]
    draws = np.array([planted_policies.initial_state_draw(p) for p in pos])
    return {"positions": n, "share_below_third": float(np.mean(draws < 1 / 3)),
            "ks_pvalue": float(stats.kstest(draws, "uniform").pvalue)}


def load_or_measure(policy_names: list[str], oracle: Callable[[], FrameOracle], out_dir: Path) -> dict[str, Truth]:
    """The cached truths of planted policies; those not cached are measured together (`oracle` builds or returns
    the shared renderer), and cached ones from before `sobol_st_conf` get their half-widths."""
    paths = {n: out_dir / f"truth_{n}.json" for n in policy_names}
    missing = [n for n, p in paths.items() if not p.exists()]
    if missing:
        for n, truth in measure_truths(missing, oracle()).items():
            _save(truth, paths[n])
    truths = {n: Truth.from_json(json.loads(paths[n].read_text())) for n in policy_names}
    for n in add_sobol_conf(truths, oracle):
        _save(truths[n], paths[n])
    return truths


def _save(truth: Truth, path: Path) -> None:
    """Write a truth atomically: a study stopped mid-write keeps the previous file."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(truth.to_json()))
    tmp.replace(path)
