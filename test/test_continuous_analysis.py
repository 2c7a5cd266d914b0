"""The analysis of a continuous audit recovers what was planted in synthetic outcomes (no simulator).

Each scenario draws scenes from a scrambled Sobol design over a few real Lift factors, decides each episode's
outcome from a known P(failure | scene), and checks that the analysis finds that truth again: a threshold with
an interval that covers it, a band, an interacting pair and its rule, the Ishigami function's Sobol indices.
"""
from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.stats import qmc

from robofail_ros.continuous.analyse import analyse_scenes
from robofail_ros.continuous.result import Interaction, SceneAnalysis, SobolIndex
from robofail_ros.continuous.sensitivity import SobolEstimate, sobol_indices
from robofail_ros.continuous.surrogate import FailureModel, cross_validated_calibration
from robofail_ros.episode import ABORTED, FAILURE, SUCCESS, EpisodeRecord
from robofail_ros.factors import FactorSpace, load_factor_space

LIFT = load_factor_space("Lift")
CONTROL_EPISODES = 30


def space_of(*names: str) -> FactorSpace:
    return FactorSpace(task="Lift", factors=tuple(LIFT.get(n) for n in names))


def record(i: int, outcome: str, scene: dict[str, float] | None) -> EpisodeRecord:
    return EpisodeRecord(episode_id=f"ep{i:04d}", seed=i, perturbations=[], outcome=outcome, steps=50, reward=0.0,
                         wall_time=0.0, policy_id="synthetic", task="Lift", scene=scene)


def synthetic_audit(space: FactorSpace, p_failure, n: int, seed: int = 0, control_failures: int = 0,
                    aborted: int = 0) -> list[EpisodeRecord]:
    """Control episodes, then n searched episodes on a Sobol design whose outcomes follow p_failure(values)."""
    rng = np.random.default_rng(seed)
    values = space.from_unit(qmc.Sobol(space.dim, scramble=True, seed=seed).random(n))
    failed = rng.random(n) < p_failure(values)
    records = [record(10_000 + i, FAILURE if i < control_failures else SUCCESS, None) for i in range(CONTROL_EPISODES)]
    records += [record(i, FAILURE if f else SUCCESS, space.scene(v)) for i, (v, f) in enumerate(zip(values, failed))]
    records += [record(20_000 + i, ABORTED, space.scene(values[i])) for i in range(aborted)]
    return records


# ----------------------------------------------------------------------------- thresholds: an edge and a band
THRESHOLD_SPACE = space_of("light_intensity", "cube_value", "camera_yaw", "cube_mass")
LIGHT_EDGE = 0.3  # x nominal: fails below
BAND = (0.3, 0.5)  # cube_value: fails only inside (nominal 0.72 lies above it)


def dim_light_or_grey_cube(values: np.ndarray) -> np.ndarray:
    light, value = values[:, 0], values[:, 1]
    inside = (light < LIGHT_EDGE) | ((value > BAND[0]) & (value < BAND[1]))
    return np.where(inside, 0.9, 0.05)


def threshold_records() -> list[EpisodeRecord]:
    return synthetic_audit(THRESHOLD_SPACE, dim_light_or_grey_cube, n=512, aborted=3)


@pytest.fixture(scope="module")
def threshold_analysis() -> SceneAnalysis:
    return analyse_scenes(threshold_records(), THRESHOLD_SPACE, policy_id="synthetic", searcher="sobol", budget=512,
                          seed=0)


def unit_error(factor: str, found: float, truth: float) -> float:
    """Distance in unit-cube coordinates: a share of the factor's range (log-linearly for a log factor)."""
    f = LIFT.get(factor)
    return abs(float(f.to_unit(found)) - float(f.to_unit(truth)))


def test_a_known_threshold_is_recovered_within_a_few_percent_and_its_interval_covers_it(threshold_analysis):
    [light] = [t for t in threshold_analysis.thresholds if t.factor == "light_intensity"]
    assert light.direction == "below" and light.band is None
    assert unit_error("light_intensity", light.value, LIGHT_EDGE) < 0.05
    assert light.ci_low <= LIGHT_EDGE <= light.ci_high
    assert light.text.startswith("fails when light_intensity < ")


def test_failure_confined_to_a_band_gives_both_edges(threshold_analysis):
    edges = sorted((t for t in threshold_analysis.thresholds if t.factor == "cube_value"), key=lambda t: t.value)
    assert [t.direction for t in edges] == ["above", "below"]
    for t, truth in zip(edges, BAND):
        assert unit_error("cube_value", t.value, truth) < 0.05
        assert t.ci_low <= truth <= t.ci_high
        assert t.band == [edges[0].value, edges[1].value]
    assert "< cube_value <" in edges[0].text


def test_posterior_draws_that_dip_inside_a_long_band_do_not_move_its_far_edge():
    """A fifth of the draws dip under half-way in the middle of a band that ends at 0.9: the far edge's interval
    stays at the band's end instead of stretching to the dip (the 'first crossing' of each draw did that)."""
    from robofail_ros.continuous.result import FactorInfo
    from robofail_ros.continuous.thresholds import _side_thresholds

    info = FactorInfo("cube_hue", "cube", "hue", 0.0, 1.0, 0.0, "linear")
    positions = np.linspace(0.0, 1.0, 61)  # positions[0] is nominal, the rest the side outward
    inside = (positions[1:] > 0.1) & (positions[1:] < 0.9)
    mean = np.where(inside, np.linspace(0.95, 0.85, 60), 0.05)  # the worst point is near the band's start
    rng = np.random.default_rng(0)
    draws = np.clip(mean + rng.normal(0.0, 0.02, (400, 60)), 0.0, 1.0)
    draws[:80, 28:32] = 0.2  # the dip, in 80 of 400 draws
    edges = {t.direction: t for t in _side_thresholds(info, "above", positions, 0.05, mean, np.full(400, 0.05),
                                                       draws)}
    far = edges["below"]
    assert far.band is not None and far.value == pytest.approx(0.9, abs=0.02)
    assert far.ci_low > 0.85 and far.ci_high < 0.95
    assert edges["above"].ci_low > 0.05 and edges["above"].ci_high < 0.15


def _ramp_side(p_nominal: float, plateau: float):
    """A side whose fitted curve sits at p_nominal up to 0.4, then rises linearly to `plateau` at 0.6."""
    from robofail_ros.continuous.result import FactorInfo

    info = FactorInfo("cube_size_x", "cube", "size", 0.01, 0.05, 0.02, "linear")
    positions = np.linspace(0.0, 1.0, 61)
    curve = p_nominal + (plateau - p_nominal) * np.clip((positions[1:] - 0.4) / 0.2, 0.0, 1.0)
    draws = np.clip(curve + np.random.default_rng(0).normal(0.0, 0.01, (400, 60)), 0.0, 1.0)
    return info, positions, curve, draws


def test_the_half_way_level_starts_from_the_controls_measured_rate_not_the_models_smoothed_one():
    """The model smooths a rise into nominal and puts P there at 0.10; the control measured 0 of 30. Half-way to
    the plateau of 0.30 is then 0.15, not 0.20, and the threshold is where the curve crosses 0.15 (benchmarks
    §8p: the model's P0 moved 79-95% of probabilistic thresholds outward of the truth)."""
    from robofail_ros.analysis import CONTROL, RateEstimate
    from robofail_ros.continuous.thresholds import _side_thresholds, nominal_anchor

    info, positions, curve, draws = _ramp_side(0.10, 0.30)
    control = RateEstimate.measure(CONTROL, CONTROL, [False] * 30)
    anchor = nominal_anchor(control, 400, np.random.default_rng(1))
    [model_only] = _side_thresholds(info, "above", positions, 0.10, curve, draws[:, 0], draws)
    [anchored] = _side_thresholds(info, "above", positions, 0.10, curve, draws[:, 0], draws, anchor)
    assert model_only.level == pytest.approx(0.20) and model_only.value == pytest.approx(0.50, abs=0.01)
    assert anchored.level == pytest.approx(0.15) and anchored.value == pytest.approx(0.45, abs=0.01)
    assert anchored.ci_low <= 0.45 <= anchored.ci_high < model_only.ci_high


def test_a_curve_that_is_flat_above_the_control_everywhere_is_not_a_threshold():
    """Whether failure sets in is judged on the model's own curve: an offset from the control is not a rise."""
    from robofail_ros.analysis import CONTROL, RateEstimate
    from robofail_ros.continuous.thresholds import _side_thresholds, nominal_anchor

    info, positions, curve, draws = _ramp_side(0.15, 0.15)
    anchor = nominal_anchor(RateEstimate.measure(CONTROL, CONTROL, [False] * 30), 400, np.random.default_rng(1))
    assert _side_thresholds(info, "above", positions, 0.15, curve, draws[:, 0], draws, anchor) == []


def test_the_anchor_is_the_controls_rate_with_jeffreys_draws_and_absent_without_a_control():
    from robofail_ros.analysis import CONTROL, RateEstimate
    from robofail_ros.continuous.thresholds import nominal_anchor

    rate, draws = nominal_anchor(RateEstimate.measure(CONTROL, CONTROL, [True] * 3 + [False] * 27), 20_000,
                                 np.random.default_rng(0))
    assert rate == pytest.approx(0.1) and draws.mean() == pytest.approx(3.5 / 31, abs=0.003)
    assert nominal_anchor(None, 10, np.random.default_rng(0)) is None
    assert nominal_anchor(RateEstimate.measure(CONTROL, CONTROL, []), 10, np.random.default_rng(0)) is None


def test_an_analysed_threshold_is_half_way_from_the_control_rate_to_its_curves_worst_point(threshold_analysis):
    [light] = [t for t in threshold_analysis.thresholds if t.factor == "light_intensity"]
    [curve] = [c for c in threshold_analysis.curves if c.factor == "light_intensity"]
    below = [p for v, p in zip(curve.values, curve.p_mean) if v < LIFT.get("light_intensity").nominal]
    assert threshold_analysis.control.rate == 0.0
    assert light.level == pytest.approx(0.5 * (threshold_analysis.control.rate + max(below)))


def test_factors_without_effect_get_no_threshold_and_small_sobol_indices(threshold_analysis):
    assert {t.factor for t in threshold_analysis.thresholds} == {"light_intensity", "cube_value"}
    sobol = {s.factor: s for s in threshold_analysis.sobol}
    for name in ("camera_yaw", "cube_mass"):
        assert sobol[name].st < 0.05
    assert sobol["light_intensity"].st > 0.3 and sobol["cube_value"].st > 0.1


def test_each_planted_region_becomes_one_rule_on_its_own_factor(threshold_analysis):
    by_factors = {frozenset(c.factor for c in r.conditions): r for r in threshold_analysis.rules}
    assert set(by_factors) == {frozenset({"light_intensity"}), frozenset({"cube_value"})}
    [light] = by_factors[frozenset({"light_intensity"})].conditions
    assert light.op == "<" and unit_error("light_intensity", light.value, LIGHT_EDGE) < 0.05
    band = by_factors[frozenset({"cube_value"})]
    assert sorted(c.op for c in band.conditions) == ["<", ">="]
    assert band.text.startswith("0.") and " <= cube_value < " in band.text


def test_counts_exclude_aborted_episodes_and_curves_cover_each_range(threshold_analysis):
    a = threshold_analysis
    assert (a.episodes, a.aborted_episodes, a.control.episodes) == (512, 3, CONTROL_EPISODES)
    assert a.failures == sum(r.failed for r in threshold_records() if r.scene is not None)
    for curve, f in zip(a.curves, THRESHOLD_SPACE.factors):
        assert curve.values[0] == pytest.approx(f.low) and curve.values[-1] == pytest.approx(f.high)
        assert all(lo <= p <= hi for lo, p, hi in zip(curve.p_low, curve.p_mean, curve.p_high))


# --------------------------------------------------------------------------------- a planted interaction
INTERACTION_SPACE = space_of("table_hue", "table_saturation", "cube_hue", "cube_saturation")


def only_together(values: np.ndarray) -> np.ndarray:
    """Fails only when table_hue < 0.3 and table_saturation > 0.7: neither alone does anything."""
    return np.where((values[:, 0] < 0.3) & (values[:, 1] > 0.7), 0.95, 0.02)


@pytest.fixture(scope="module")
def interaction_analysis() -> SceneAnalysis:
    records = synthetic_audit(INTERACTION_SPACE, only_together, n=512, seed=1)
    return analyse_scenes(records, INTERACTION_SPACE, policy_id="synthetic", searcher="sobol", seed=0)


def test_a_planted_interaction_is_the_top_pair_and_a_rule_on_exactly_those_factors(interaction_analysis):
    a = interaction_analysis
    assert a.interactions and set(a.interactions[0].factors) == {"table_hue", "table_saturation"}
    assert a.interactions[0].s2 - a.interactions[0].s2_conf > 0
    top = a.rules[0]
    assert {c.factor for c in top.conditions} == {"table_hue", "table_saturation"}
    bounds = {c.factor: (c.op, c.value) for c in top.conditions}
    assert bounds["table_hue"][0] == "<" and abs(bounds["table_hue"][1] - 0.3) < 0.05
    assert bounds["table_saturation"][0] == ">=" and abs(bounds["table_saturation"][1] - 0.7) < 0.05
    assert top.rate.ci_low > a.control.ci_high and top.excess_over_control == pytest.approx(top.rate.rate)
    assert top.text.startswith("table_hue < ") and top.text.endswith(f"vs control 0/{CONTROL_EPISODES}")
    assert a.pair_map is not None and a.pair_map.factors == a.interactions[0].factors
    assert len(a.pair_map.p) == len(a.pair_map.y) == 40 and all(len(row) == 40 for row in a.pair_map.p)


def test_the_worst_episodes_are_failures_inside_the_failure_region(interaction_analysis):
    a = interaction_analysis
    assert 0 < len(a.worst_episodes) <= 8
    records = {r.episode_id: r for r in synthetic_audit(INTERACTION_SPACE, only_together, n=512, seed=1)}
    for eid in a.worst_episodes:
        r = records[eid]
        assert r.failed and r.scene["table_hue"] < 0.3 and r.scene["table_saturation"] > 0.7


def test_the_analysis_round_trips_through_json(interaction_analysis):
    back = SceneAnalysis.from_json(json.loads(json.dumps(interaction_analysis.to_json())))
    assert back == interaction_analysis


# --------------------------------------------------------------------------------------------- Sobol wiring
def test_the_sobol_wiring_reproduces_the_ishigami_indices():
    def ishigami(X: np.ndarray, a: float = 7.0, b: float = 0.1) -> np.ndarray:
        return np.sin(X[:, 0]) + a * np.sin(X[:, 1]) ** 2 + b * X[:, 2] ** 4 * np.sin(X[:, 0])

    s = sobol_indices(ishigami, ["x1", "x2", "x3"], bounds=[(-np.pi, np.pi)] * 3, n_base=1024, seed=0)
    assert s.s1 == pytest.approx([0.314, 0.442, 0.0], abs=0.04)
    assert s.st == pytest.approx([0.558, 0.442, 0.244], abs=0.04)
    [top] = s.interactions(top=1)
    assert top.factors == ("x1", "x3") and top.s2 == pytest.approx(0.244, abs=0.06)



def test_the_total_index_claims_its_lower_bound_only_and_never_below_zero():
    """A fitted ST understates a factor that moves a sharp edge (benchmarks §8l), so only its lower side is read."""
    assert SobolIndex("a", 0.3, 0.05, 0.5, 0.06).st_lower == pytest.approx(0.44)
    assert SobolIndex("b", 0.0, 0.0, 0.02, 0.05).st_lower == 0.0
    assert SobolIndex("c", 0.0, 0.0, 0.0, 0.0).st_lower == 0.0


def test_a_pair_whose_s2_interval_includes_zero_is_ranked_but_not_claimed_as_an_interaction():
    s2 = np.array([[0.0, 0.08, 0.01], [0.0, 0.0, 0.30], [0.0, 0.0, 0.0]])
    conf = np.array([[0.0, 0.12, 0.02], [0.0, 0.0, 0.10], [0.0, 0.0, 0.0]])
    estimate = SobolEstimate(["a", "b", "c"], np.zeros(3), np.zeros(3), np.zeros(3), np.zeros(3), s2, conf, 1.0)

    assert [i.factors for i in estimate.pair_ranking()] == [("b", "c"), ("a", "b"), ("a", "c")]
    assert [i.factors for i in estimate.interactions()] == [("b", "c")]
    assert not estimate.pair_ranking()[1].claimed


def test_a_pair_of_negligible_s2_is_not_claimed_however_narrow_its_interval():
    """Two factors a fitted surface is flat along give S2 ~ 1e-5 +- 1e-6: an interval above 0 that means nothing."""
    assert not Interaction(("table_value", "light_hue"), 1e-5, 1e-6).claimed
    assert Interaction(("cube_hue", "robot_value"), 0.05, 0.04).claimed
    assert "below 0.01" in Interaction(("table_value", "light_hue"), 1e-5, 1e-6).text()

# ------------------------------------------------------------------------------------ model against control
def test_a_model_that_contradicts_the_control_at_nominal_says_so_and_one_that_agrees_says_nothing():
    """Searched scenes that all fail at the nominal cube value teach the model that nominal fails; 30 control
    successes there say otherwise (the real vision policy's working sliver, benchmarks §8m)."""
    from robofail_ros.analysis import RateEstimate
    from robofail_ros.continuous.analyse import nominal_conflict

    space = space_of("light_intensity", "cube_value")
    X = qmc.Sobol(2, seed=1).random(128)
    model = FailureModel(2, seed=0).fit(X, X[:, 1] > 0.2)  # nominal cube_value is far above 0.2: "fails"
    succeeded = RateEstimate.measure("control", "control", [False] * CONTROL_EPISODES)
    failed = RateEstimate.measure("control", "control", [True] * CONTROL_EPISODES)

    note = nominal_conflict(model, space, succeeded)
    assert "0/30" in note and "did not pin down the region around nominal" in note
    assert nominal_conflict(model, space, failed) == ""
    flat = FailureModel(2, seed=0).fit(X, np.ones(len(X), bool))
    assert nominal_conflict(flat, space, succeeded) == ""  # one class: the flat model's own note says enough


def test_an_analysis_whose_model_agrees_with_its_control_has_no_conflict(threshold_analysis):
    assert threshold_analysis.nominal_conflict == ""


# ------------------------------------------------------------------------------------ degenerate and checks
@pytest.mark.parametrize("outcome", [SUCCESS, FAILURE])
def test_one_class_data_gives_a_flat_model_not_a_crash(outcome):
    space = space_of("light_intensity", "cube_value")
    records = synthetic_audit(space, lambda v: np.full(len(v), 1.0 if outcome == FAILURE else 0.0), n=32)
    a = analyse_scenes(records, space, policy_id="synthetic", searcher="sobol")
    assert a.failures == (32 if outcome == FAILURE else 0)
    assert a.thresholds == [] and a.sobol == [] and a.interactions == [] and a.rules == [] and a.pair_map is None
    assert "flat" in a.model and a.p_variance == 0.0
    rate = 1.0 if outcome == FAILURE else 0.0
    assert all(p == rate for c in a.curves for p in c.p_mean)
    assert all(c.p_high[0] - c.p_low[0] > 0.05 for c in a.curves)  # a Wilson band, not a certainty


def test_no_searched_episodes_gives_an_empty_analysis():
    space = space_of("light_intensity")
    a = analyse_scenes([record(0, SUCCESS, None)], space, policy_id="synthetic", searcher="sobol")
    assert (a.episodes, a.control.episodes, a.curves) == (0, 1, [])


def test_held_out_calibration_beats_the_base_rate_on_a_learnable_problem():
    rng = np.random.default_rng(3)
    X = rng.random((200, 3))
    y = rng.random(200) < 1 / (1 + np.exp(12 * (X[:, 0] - 0.5)))
    cal = cross_validated_calibration(X, y, folds=5, seed=0)
    assert cal.brier < 0.7 * cal.brier_baseline
    assert sum(cal.bin_counts) == 200 and len(cal.bin_predicted) == len(cal.bin_observed) == len(cal.bin_counts)
    assert all(0.0 <= p <= 1.0 for p in cal.bin_predicted + cal.bin_observed)


def test_the_failure_model_band_and_draws_agree():
    rng = np.random.default_rng(4)
    X = rng.random((150, 2))
    y = rng.random(150) < np.where(X[:, 0] < 0.5, 0.9, 0.1)
    model = FailureModel(2, seed=0).fit(X, y)
    grid = np.column_stack([np.linspace(0, 1, 21), np.full(21, 0.5)])
    mean, low, high = model.predict(grid)
    assert np.all((low <= mean) & (mean <= high))
    assert mean[0] > 0.7 and mean[-1] < 0.3
    draws = model.sample_p(grid, 2000, np.random.default_rng(0))
    inside = (draws >= low) & (draws <= high)
    assert inside.mean() == pytest.approx(0.95, abs=0.03)
    ls = model.length_scales
    assert ls is not None and ls[0] < ls[1]  # the factor that matters gets the shorter length scale
    refit = FailureModel(2, seed=0)
    refit.kernel_ = model.kernel_
    assert np.allclose(refit.fit(X, y, optimize=False).predict(grid)[0], mean)


def test_bad_input_is_refused_with_the_expected_shape():
    with pytest.raises(ValueError, match=r"shape \(n, 3\)"):
        FailureModel(3).fit(np.zeros((4, 2)), [0, 1, 0, 1])
    with pytest.raises(ValueError, match="zero episodes"):
        FailureModel(3).fit(np.zeros((0, 3)), [])
    with pytest.raises(ValueError, match="power of two"):
        sobol_indices(lambda X: X[:, 0], ["a", "b"], n_base=100)


def test_the_analysis_is_deterministic_given_its_seed():
    space = space_of("light_intensity", "cube_value")
    records = synthetic_audit(space, lambda v: np.where(v[:, 0] < 0.3, 0.9, 0.05), n=64, seed=5)
    first = analyse_scenes(records, space, policy_id="synthetic", searcher="sobol", seed=7)
    again = analyse_scenes(records, space, policy_id="synthetic", searcher="sobol", seed=7)
    assert first == again


# ------------------------------------------------------------- a policy that fails almost everywhere in the box
NEARLY_EVERYWHERE_SPACE = space_of("cube_hue", "camera_yaw", "light_intensity", "cube_mass")


@pytest.fixture(scope="module")
def fails_almost_everywhere() -> SceneAnalysis:
    """Succeeds only within 4% of the range of nominal on every factor at once (~1e-5 of the box), as a policy
    that tolerates no change at all; half the scenes lie near nominal, as the boundary searcher places them."""
    space = NEARLY_EVERYWHERE_SPACE
    rng = np.random.default_rng(3)
    nominal = np.asarray(space.to_unit(np.asarray(space.nominal, float)))
    units = np.vstack([rng.random((256, space.dim)),
                       np.clip(nominal + rng.uniform(-0.05, 0.05, (256, space.dim)), 0.0, 1.0)])
    failed = np.any(np.abs(units - nominal) > 0.04, axis=1)
    values = space.from_unit(units)
    records = [record(10_000 + i, SUCCESS, None) for i in range(CONTROL_EPISODES)]
    records += [record(i, FAILURE if f else SUCCESS, space.scene(v)) for i, (v, f) in enumerate(zip(values, failed))]
    return analyse_scenes(records, space, policy_id="synthetic", searcher="boundary", seed=0)


def test_sobol_shares_of_a_nearly_constant_p_are_not_reported_and_the_note_says_why(fails_almost_everywhere):
    a = fails_almost_everywhere
    assert a.p_variance is not None and a.p_variance < 1e-4
    assert a.sobol == [] and a.interactions == []
    assert "hardly varies" in a.sensitivity_note and "fails almost everywhere" in a.sensitivity_note


def test_without_sobol_shares_the_factors_are_ranked_by_length_scale_and_the_map_shows_the_two_shortest(
        fails_almost_everywhere):
    a = fails_almost_everywhere
    assert set(a.length_scales) == set(NEARLY_EVERYWHERE_SPACE.names)
    shortest = sorted(a.length_scales, key=a.length_scales.get)[:2]
    assert a.pair_map is not None and list(a.pair_map.factors) == shortest
    assert a.thresholds, "the thresholds still say where failure sets in"
    back = SceneAnalysis.from_json(json.loads(json.dumps(a.to_json())))
    assert back == a


def test_each_threshold_counts_the_episodes_on_its_own_line_on_either_side_of_it():
    """A threshold is read along its factor's line through nominal; the episodes that lie on that line (every other
    factor nominal) are its direct evidence, and the report says how many there were and how they ended."""
    space = THRESHOLD_SPACE
    records = synthetic_audit(space, dim_light_or_grey_cube, n=512)
    nominal = dict(zip(space.names, space.nominal))
    on_line = {0.15: FAILURE, 0.2: FAILURE, 0.25: SUCCESS, 0.6: SUCCESS, 0.8: SUCCESS, 2.0: SUCCESS}  # light
    records += [record(30_000 + i, outcome, {**nominal, "light_intensity": light})
                for i, (light, outcome) in enumerate(on_line.items())]
    records += [record(31_000, FAILURE, {**nominal, "cube_value": 0.4})]  # inside the cube_value band, on its line
    analysis = analyse_scenes(records, space, policy_id="synthetic", searcher="sobol", seed=0)
    light = next(t for t in analysis.thresholds if t.factor == "light_intensity")
    assert light.direction == "below" and 0.25 < light.value < 0.6
    # failing side: 0.15, 0.2, 0.25 (one worked); before it on the same side of nominal 1.0: 0.6, 0.8; 2.0 is the
    # other side of nominal
    assert (light.line_beyond_failed, light.line_beyond, light.line_before_failed, light.line_before) == (2, 3, 0, 2)
    assert light.line_text() == "2/3 failed beyond, 0/2 before"
    band_edges = [t for t in analysis.thresholds if t.factor == "cube_value" and t.band is not None]
    assert len(band_edges) == 2 and all((t.line_beyond_failed, t.line_beyond) == (1, 1) for t in band_edges)
    assert all(t.line_text().startswith("1/1 failed inside the band") for t in band_edges)
    reloaded = SceneAnalysis.from_json(json.loads(json.dumps(analysis.to_json())))
    assert reloaded.thresholds == analysis.thresholds
