"""The planted policies of the continuous study (bench/planted_policies.py) fail exactly where their truth says.

The study scores searchers against truths measured by rendering first frames, not by running episodes; these
tests hold the two shortcuts it rests on: a visual scene's first frame is the same whether the scene is set
before or after the reset, and a planted policy's episode fails exactly when its rule fires on that frame.
"""
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

import planted_policies as planted  # noqa: E402
import planted_truth  # noqa: E402
from robofail_ros.episode import run_episode  # noqa: E402
from robofail_ros.sim import ADVERSARY_CAMERA  # noqa: E402

VISUAL_SCENE = {"table_hue": 0.6, "table_saturation": 0.5, "cube_hue": 0.4, "robot_value": 0.3,
                "light_intensity": 0.5, "light_saturation": 0.3, "camera_yaw": 4.0, "camera_z": 0.03}


def test_a_visual_scene_renders_the_same_first_frame_set_before_or_after_the_reset(clean_lift_sim):
    sim = clean_lift_sim
    sim.set_perturbations([], VISUAL_SCENE)
    sim.reset(5)
    set_first = sim.render(ADVERSARY_CAMERA, planted.IMAGE_SIZE)
    sim.set_perturbations([])
    sim.reset(5)
    sim.set_perturbations([], VISUAL_SCENE)
    set_after = sim.render(ADVERSARY_CAMERA, planted.IMAGE_SIZE)
    assert np.array_equal(set_first, set_after)


@pytest.mark.parametrize("name, failing, passing", [
    ("DarkFreeze", {"light_intensity": 0.15}, {"light_intensity": 0.8}),
    ("GreenCubeDarkArm", {"cube_hue": 0.45, "robot_value": 0.1}, {"cube_hue": 0.45}),
    ("GreenCubeDarkArm", {"cube_hue": 0.45, "robot_value": 0.1}, {"robot_value": 0.1}),
    ("CyanBand", {"cube_hue": 0.505}, {"cube_hue": 0.44}),
])
def test_a_planted_policy_fails_where_its_rule_fires_and_succeeds_elsewhere(clean_lift_sim, name, failing, passing):
    sim = clean_lift_sim
    policy = planted.PLANTED[name]()
    policy.bind(sim.scene)
    for scene, should_fail in ((failing, True), (passing, False)):
        record = run_episode(sim, policy, [], seed=3, scene=scene)
        sim.set_perturbations([], scene)
        cube_pos = sim.reset(3)["cube_pos"]
        fires = policy.p_fail(sim.render(ADVERSARY_CAMERA, planted.IMAGE_SIZE), cube_pos) == 1.0
        assert (record.failed, fires) == (should_fail, should_fail), (scene, record.outcome, record.reason)


def test_the_coin_fails_a_third_of_initial_states_and_always_the_same_ones(clean_lift_sim):
    sim = clean_lift_sim
    policy = planted.ColourfulTableCoin()
    policy.bind(sim.scene)
    sim.set_perturbations([], {"table_saturation": 0.9})
    cube_pos = sim.reset(0)["cube_pos"]
    frame = sim.render(ADVERSARY_CAMERA, planted.IMAGE_SIZE)
    assert policy.p_fail(frame, cube_pos) == pytest.approx(1 / 3)
    positions = np.random.default_rng(1).uniform(-0.03, 0.03, size=(3000, 3))
    draws = [policy.freezes(frame, p) for p in positions]
    assert np.mean(draws) == pytest.approx(1 / 3, abs=0.03)
    assert draws[:50] == [policy.freezes(frame, p) for p in positions[:50]]
    sim.set_perturbations([])
    sim.reset(0)
    assert policy.p_fail(sim.render(ADVERSARY_CAMERA, planted.IMAGE_SIZE), cube_pos) == 0.0


def test_a_replayed_episode_has_the_outcome_of_the_real_one(clean_lift_sim, tmp_path):
    """bench/planted_replay.py reads each outcome off the first frame instead of running the episode: it must be
    the outcome the episode has, for a step, and for the coin over initial states (some fail, the same ones)."""
    import planted_replay

    oracle = planted_truth.FrameOracle(planted_truth.visual_catalogue(tmp_path))
    try:
        for name, scene, seeds in (("DarkFreeze", {"light_intensity": 0.15}, (3,)),
                                   ("DarkFreeze", {"light_intensity": 0.8}, (3,)),
                                   ("ColourfulTableCoin", {"table_saturation": 0.9}, range(6))):
            replayed, real = [], []
            for seed in seeds:
                policy = planted.PLANTED[name]()
                policy.bind(oracle.sim.scene)
                replayed.append(planted_replay.first_frame_outcome(oracle, policy, "e", seed, "boundary", scene).failed)
                policy.bind(clean_lift_sim.scene)
                real.append(run_episode(clean_lift_sim, policy, [], seed=seed, scene=scene).failed)
            assert replayed == real, (name, scene)
        assert 0 < sum(replayed) < len(replayed)  # the coin: some initial states fail in the colourful scene
    finally:
        oracle.close()


class _Space:
    """A one-factor linear space on [0, 10] for the threshold definition."""

    names = ["f"]
    nominal = np.array([5.0])

    class _F:
        @staticmethod
        def to_unit(v):
            return np.asarray(v) / 10

        @staticmethod
        def from_unit(u):
            return np.asarray(u) * 10

    factors = [_F()]

    @staticmethod
    def to_unit(v):
        return np.asarray(v, float) / 10

    @staticmethod
    def from_unit(u):
        return np.asarray(u, float) * 10


def test_a_true_threshold_is_where_the_exact_curve_crosses_half_way_on_its_side_of_nominal():
    grid = np.linspace(0, 1, 201)
    below = (grid < 0.3).astype(float)
    (t,) = planted_truth.curve_thresholds("f", grid, below, 0.5, _Space)
    assert (t.direction, round(t.unit, 2)) == ("below", 0.30)
    band = ((grid > 0.7) & (grid < 0.8)).astype(float)
    edges = planted_truth.curve_thresholds("f", grid, band, 0.5, _Space)
    assert sorted((e.direction, round(e.unit, 2)) for e in edges) == [("above", 0.7), ("below", 0.8)]
    assert planted_truth.curve_thresholds("f", grid, np.zeros_like(grid), 0.5, _Space) == []


def test_the_study_scores_a_threshold_by_its_distance_in_range_shares_and_counts_the_spurious_ones():
    import continuous_study as study
    from robofail_ros.analysis import RateEstimate
    from robofail_ros.continuous.result import SceneAnalysis, Threshold

    truth = planted_truth.Truth("p", "rule", ["f"], {}, [], [planted_truth.TrueThreshold("f", 3.0, 0.3, "below")],
                                [], [])
    control = RateEstimate.measure("control", "control", [False] * 10)

    def analysis(*thresholds):
        return SceneAnalysis(task="Lift", policy_id="p", searcher="s", factors=[], control=control, episodes=1,
                             failures=0, thresholds=list(thresholds))

    near = Threshold("f", 3.4, 2.9, 3.8, "below")
    scored = study.score_thresholds(analysis(near, Threshold("f", 8.0, 7.0, 9.0, "above")), truth, _Space)
    assert scored["located"] and scored["max_error"] == pytest.approx(0.04)
    assert (scored["threshold_coverage"], scored["spurious"]) == (1.0, 1)
    far = study.score_thresholds(analysis(Threshold("f", 3.6, 3.5, 3.7, "below")), truth, _Space)
    assert not far["located"] and far["threshold_coverage"] == 0.0
    missed = study.score_thresholds(analysis(), truth, _Space)
    assert (missed["max_error"], missed["located"]) == (1.0, False)
    # nominal is 5: a band's far edge above it ("fails below 7", where the band ends) is not the true threshold
    # below nominal, though both say 'below'
    band_edge = study.score_thresholds(analysis(Threshold("f", 7.0, 6.5, 7.5, "below")), truth, _Space)
    assert (band_edge["max_error"], band_edge["spurious"], band_edge["threshold_coverage"]) == (1.0, 1, None)
    # a grid truth that measured only "g" cannot judge a threshold on "f": counted apart, not as spurious
    truth.curves = {"g": [0.0, 1.0]}
    unjudged = study.score_thresholds(analysis(near, Threshold("f", 8.0, 7.0, 9.0, "above")), truth, _Space)
    assert (unjudged["spurious"], unjudged["unmeasured"]) == (0, 2)



def test_the_study_scores_the_true_pair_by_its_rank_and_separately_by_whether_it_is_reported():
    import continuous_study as study
    from robofail_ros.analysis import RateEstimate
    from robofail_ros.continuous.result import Interaction, SceneAnalysis

    truth = planted_truth.Truth("p", "rule", ["a", "b", "c"], {}, [], [], [], [])
    truth.top_pairs = [("b", "a", 0.08, 0.08), ("a", "c", 0.01, 0.0)]
    control = RateEstimate.measure("control", "control", [False] * 10)
    weak, strong = Interaction(("a", "b"), 0.08, 0.12), Interaction(("a", "c"), 0.3, 0.1)

    def scored(ranking, claimed):
        return study.score_pair(SceneAnalysis(task="Lift", policy_id="p", searcher="s", factors=[], control=control,
                                              episodes=1, failures=0, interactions=claimed, pair_ranking=ranking),
                                truth)

    assert scored([weak, strong], []) == {"top_pair": ["a", "b"], "top_pair_ok": True, "top_pair_reported": False}
    assert scored([strong, weak], [strong])["top_pair_ok"] is False
    assert scored([], [])["top_pair_ok"] is False
    truth.top_pairs = []
    assert scored([weak], [])["top_pair_ok"] is None


def test_a_sobol_interval_covers_the_true_index_or_at_least_meets_the_truths_own_interval():
    import continuous_study as study
    from robofail_ros.analysis import RateEstimate
    from robofail_ros.continuous.result import SceneAnalysis, SobolIndex

    truth = planted_truth.Truth("p", "rule", ["a", "b"], {}, [], [], [], [])
    truth.sobol_st, truth.sobol_st_conf = {"a": 0.9, "b": 0.1}, {"a": 0.02, "b": 0.05}
    truth.sobol_s1, truth.sobol_s1_conf = {"a": 0.8, "b": 0.0}, {"a": 0.02, "b": 0.01}
    control = RateEstimate.measure("control", "control", [False] * 10)

    def scored(*indices):
        return study.score_sobol(SceneAnalysis(task="Lift", policy_id="p", searcher="s", factors=[], control=control,
                                               episodes=1, failures=0, sobol=list(indices)), truth)

    # a: ST 0.85 +- 0.1 holds 0.9; b: ST 0.2 +- 0.06 misses 0.1 but meets the truth's [0.05, 0.15]
    got = scored(SobolIndex("a", 0.8, 0.05, 0.85, 0.1), SobolIndex("b", 0.05, 0.01, 0.2, 0.06))
    assert (got["st_coverage"], got["st_meets_truth"]) == (0.5, 1.0)
    # S1 of b: 0.05 +- 0.01 misses 0.0, and even the truth's [-0.01, 0.01]
    assert (got["s1_coverage"], got["s1_meets_truth"]) == (0.5, 0.5)
    # an ignored factor's 1e-6 +- 0 against a true 0 +- 0 is rounding (the report prints two decimals), not a miss
    truth.sobol_st["b"], truth.sobol_st_conf["b"] = 0.0, 0.0
    assert scored(SobolIndex("b", 0.0, 0.0, 1e-6, 0.0))["st_coverage"] == 1.0
    assert scored(SobolIndex("b", 0.0, 0.0, 0.02, 0.001))["st_coverage"] == 0.0
    assert scored()["st_coverage"] is None  # no indices reported (P nearly constant): nothing to score
    truth.sobol_st_conf = {}  # a truth cached before it kept its half-widths
    assert scored(SobolIndex("a", 0.8, 0.05, 0.85, 0.1))["st_meets_truth"] is None


def test_the_total_index_lower_bound_is_scored_apart_from_the_bounds_that_say_nothing():
    """The report claims ST >= st_lower only; a bound of 0 holds whatever the truth, so it is counted apart."""
    import continuous_study as study
    from robofail_ros.analysis import RateEstimate
    from robofail_ros.continuous.result import SceneAnalysis, SobolIndex

    truth = planted_truth.Truth("p", "rule", ["a", "b", "c"], {}, [], [], [], [])
    truth.sobol_st, truth.sobol_st_conf = {"a": 0.5, "b": 0.1, "c": 0.3}, {"a": 0.02, "b": 0.01, "c": 0.0}
    truth.sobol_s1, truth.sobol_s1_conf = {"a": 0.4, "b": 0.1, "c": 0.1}, {"a": 0.0, "b": 0.0, "c": 0.0}
    control = RateEstimate.measure("control", "control", [False] * 10)
    # a: bound 0.6 - 0.08 = 0.52 is above 0.5 but within its interval (+0.02) and the tolerance: holds.
    # b: bound 0.4 - 0.1 = 0.3 is far above 0.1: fails. c: a set-aside factor, bound 0: says nothing.
    indices = [SobolIndex("a", 0.4, 0.0, 0.6, 0.08), SobolIndex("b", 0.1, 0.0, 0.4, 0.1),
               SobolIndex("c", 0.0, 0.0, 0.0, 0.0)]
    got = study.score_sobol(SceneAnalysis(task="Lift", policy_id="p", searcher="s", factors=[], control=control,
                                          episodes=1, failures=0, sobol=indices), truth)

    assert got["st_lower_holds"] == pytest.approx(2 / 3)
    assert got["st_lower_informative"] == pytest.approx(2 / 3)
    assert got["st_lower_informative_holds"] == 0.5
    assert got["st_points"][0][5] == pytest.approx(0.52)
    assert study.lower_bound_holds(0.52, 0.5, 0.02) and not study.lower_bound_holds(0.52, 0.5)

def _states(failures: np.ndarray, states: int = 8, seed: int = 0) -> np.ndarray:
    """outcomes[point, state] with each point's failures on states drawn afresh: failures independent of state."""
    rng = np.random.default_rng(seed)
    m = np.zeros((len(failures), states))
    for p, k in enumerate(failures):
        m[p, rng.choice(states, size=int(k), replace=False)] = 1.0
    return m


def _nominal(failures: int, cells: int = 3, states: int = 8) -> np.ndarray:
    """Nominal cells (both lines and the grid) from the same states, `failures` of them failed."""
    m = np.zeros((cells, states))
    m.flat[:failures] = 1.0
    return m


def test_a_measured_threshold_is_found_within_one_point_with_its_own_interval():
    import grid_truth

    units = np.linspace(0, 1, 41)
    failures = np.random.default_rng(1).binomial(8, np.where(units < 0.3, 0.7, 0.05))
    (t,) = grid_truth.threshold_intervals("f", units, _states(failures), 0.5, _nominal(1), _Space)
    assert t["direction"] == "below" and abs(t["unit"] - 0.3) <= 0.025
    assert t["found_share"] > 0.9 and t["ci_unit"][0] <= t["unit"] <= t["ci_unit"][1]
    in_band = (units > 0.7) & (units < 0.85)
    failures = np.random.default_rng(1).binomial(8, np.where(in_band, 0.8, 0.05))
    edges = grid_truth.threshold_intervals("f", units, _states(failures), 0.5, _nominal(1), _Space)
    assert sorted((e["direction"], round(e["unit"] * 40) / 40) for e in edges) == [("above", 0.7), ("below", 0.85)]


def test_a_clean_step_between_two_grid_points_gets_an_interval_as_wide_as_the_grid_cell():
    """0/8 then 8/8: no redraw moves the step, but the grid only says it lies between the two points."""
    import grid_truth

    units = np.linspace(0, 1, 41)
    failures = np.where(units > 0.61, 8, 0)  # the step lies somewhere between 0.6 and 0.625
    (t,) = grid_truth.threshold_intervals("f", units, _states(failures), 0.5, _nominal(0), _Space)
    low, high = t["ci_unit"]
    assert t["direction"] == "above" and low < t["unit"] < high
    assert low == pytest.approx(0.6, abs=0.002) and high == pytest.approx(0.625, abs=0.002)


def test_a_threshold_carried_by_the_same_few_initial_states_is_as_uncertain_as_those_states_are_few():
    """Every point runs the same 8 states. Beyond 0.6, 3 of 8 fail at every point: the same three states (as the
    trained BC policy's failures are, benchmarks §8o) or three different ones at each point. The counts are equal;
    the evidence is not: in the first, the whole region rests on three initial states, and a redraw of the 8
    that holds them fewer than three times (about four in ten) has too small a rise to be a threshold."""
    import grid_truth

    units = np.linspace(0, 1, 41)
    failures = np.where(units > 0.6, 3, 0)
    same_three = np.zeros((41, 8))
    same_three[units > 0.6, :3] = 1.0
    (clustered,) = grid_truth.threshold_intervals("f", units, same_three, 0.5, _nominal(0), _Space)
    (spread,) = grid_truth.threshold_intervals("f", units, _states(failures), 0.5, _nominal(0), _Space)

    assert clustered["unit"] == spread["unit"]
    assert spread["found_share"] > 0.95
    assert clustered["found_share"] < 0.8


class _PlaneSpace(_Space):
    """Two linear factors on [0, 10], nominal 5: the plane a grid truth measures."""

    names = ["f", "g"]
    nominal = np.array([5.0, 5.0])
    factors = [_Space._F(), _Space._F()]


def test_a_truth_measured_on_its_lines_only_is_summarised_drawn_and_scored_on_its_thresholds(tmp_path):
    """--lines-only measures where thresholds are read and no plane: its truth has no test scenes, so the study
    scores thresholds and curves and leaves the region and calibration scores out rather than failing."""
    import continuous_study as study
    import grid_truth

    jobs = grid_truth.plan(_PlaneSpace, ["f", "g"], 4, [11, 12, 13, 14], lines_only=True)
    assert {cell[:4] for cell, _, _ in jobs} == {"line"}
    records = [{"cell": cell, "seed": seed, "scene": scene, "outcome": "x",
                "failed": bool(scene["f"] > 7.5 and seed != 14)} for cell, scene, seed in jobs]
    result = grid_truth.summarise(_PlaneSpace, ["f", "g"], records)
    assert [(t["factor"], t["direction"]) for t in result["thresholds"]] == [("f", "above")]
    assert abs(result["thresholds"][0]["value"] - 7.5) < 0.5 and result["grid"] == []
    result.update(policy="p", episodes_per_cell=4)
    assert grid_truth.figure(result, tmp_path).exists()

    truth = grid_truth.as_truth(result, _PlaneSpace)
    assert study.score_model(object(), truth, _PlaneSpace) == {}


@pytest.mark.parametrize("seed", range(10))
def test_a_flat_noisy_measured_line_has_no_threshold_though_the_raw_half_way_rule_finds_some(seed):
    """Eight episodes per point at a constant 10%: the largest of twenty rates on a side is no rise."""
    import grid_truth

    units, episodes = np.linspace(0, 1, 41), np.full(41, 8)
    failures = np.random.default_rng(seed).binomial(8, 0.1, size=41)
    assert grid_truth.measured_thresholds("f", units, failures, episodes, 0.5, 2, 24, _Space) == []


def test_a_replay_whose_log_holds_the_whole_budget_is_not_replayed_again(tmp_path):
    """A stopped replay study resumes at its first unfinished run: only a log with exactly the budget's searched
    episodes counts as done (controls and snapshots do not count; a partial log is replayed from scratch)."""
    import planted_replay

    from robofail_ros.episode import FAILURE, SUCCESS, EpisodeRecord
    from robofail_ros.record import LOG_NAME, AuditLog

    assert planted_replay.replayed_episodes(tmp_path) == 0
    with AuditLog(tmp_path / LOG_NAME) as log:
        log.append(EpisodeRecord("control-0000", 1, [], SUCCESS, 50, -2.0, 0.0, "p", "Lift", searcher="control"))
        for i in range(3):
            log.append(EpisodeRecord(f"e{i}", i, [], FAILURE, 100, 1000.0, 0.0, "p", "Lift", searcher="boundary",
                                     scene={"light_intensity": 0.1 * i}))
    assert planted_replay.replayed_episodes(tmp_path) == 3


def test_a_replay_is_an_audit_folder_that_report_reads(tmp_path, capsys):
    """A replay's log starts with an audit's header (its visual catalogue, searcher and initial states), so
    `./robofail report` draws it like any continuous audit."""
    import planted_replay

    from robofail_ros.cli import main
    from robofail_ros.record import LOG_NAME, load_log

    catalogue = planted_truth.visual_catalogue(tmp_path)
    oracle = planted_truth.FrameOracle(catalogue)
    try:
        planted_replay.replay(oracle, "DarkFreeze", "sobol", 1, 8, tmp_path / "run", initial_states="fresh")
    finally:
        oracle.close()
    header = load_log(tmp_path / "run" / LOG_NAME).header
    assert header["config"]["sim"]["catalogue"] == str(catalogue)
    assert header["config"]["search"]["initial_states"] == "fresh"
    assert [f["name"] for f in header["factors"]] == list(oracle.space.names)
    capsys.readouterr()
    assert main(["report", str(tmp_path / "run"), "--out", str(tmp_path / "report")]) == 0
    assert "searcher sobol, budget 8 searched + 30 control episodes" in capsys.readouterr().out


def test_a_truth_measured_along_lines_only_has_no_region_share_rather_than_a_nan():
    """NaN is not JSON: the study's results file must say 'not measured', not hold NaN."""
    import json

    lines_only = planted_truth.Truth("p", "rule", ["a"], {}, [], [], [], [])
    assert lines_only.region_share is None
    json.dumps({"region_share": lines_only.region_share}, allow_nan=False)
    boxed = planted_truth.Truth("p", "rule", ["a"], {}, [], [], [[0.1], [0.9]], [0.0, 0.8], region_above=0.05)
    assert boxed.region_share == 0.5
