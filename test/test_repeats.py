"""Repeated experiments are not new evidence (issue 12, item 5).

Searchers draw initial states from the control run's pool, so a perturbation (or a scene) tried more often than
the pool is large re-runs an experiment: the same initial state and the same perturbations or scene. Physics and
the shipped policies are deterministic given the initial state, so a repeat copies an outcome. These tests pin
down that every rate, interval and fitted model counts each distinct experiment once, that a stochastic policy's
repeats count as the mean of their outcomes, and that results written before this change still load.
"""
from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest
from rich.console import Console
from scipy.stats import qmc

from robofail_ros.analysis import AuditAnalysis, RateEstimate, analyse
from robofail_ros.catalogue import load_catalogue
from robofail_ros.continuous.analyse import analyse_scenes, collapse_repeats
from robofail_ros.continuous.result import SceneAnalysis
from robofail_ros.episode import FAILURE, SUCCESS, EpisodeRecord
from robofail_ros.factors import FactorSpace, load_factor_space
from robofail_ros.report.summary import summary_table
from robofail_ros.report.tables import write_tables
from robofail_ros.searchers.adaptive import ArmCounts
from robofail_ros.stats import experiment_means, wilson_interval

LIFT = load_catalogue("Lift")
_ids = iter(range(10**9))


def episode(perturbations: list[str], seed: int, failed: bool, scene: dict[str, float] | None = None) -> EpisodeRecord:
    return EpisodeRecord(episode_id=f"e{next(_ids)}", seed=seed, perturbations=list(perturbations),
                         outcome=FAILURE if failed else SUCCESS, steps=50, reward=0.0, wall_time=0.0,
                         policy_id="p", task="Lift", scene=scene)


def control(n: int = 10) -> list[EpisodeRecord]:
    return [episode([], 1000 + i, False) for i in range(n)]


def estimate(records: list[EpisodeRecord], name: str = "cube_red") -> RateEstimate:
    return next(e for e in analyse(records, LIFT, "p", "bandit").perturbations if e.name == name)


# ----------------------------------------------------------------------------- the discrete analysis


def test_ten_identical_repeats_of_a_deterministic_experiment_give_the_interval_of_one_episode():
    once = estimate(control() + [episode(["cube_red"], 3, True)])
    ten_times = estimate(control() + [episode(["cube_red"], 3, True) for _ in range(10)])
    assert (ten_times.rate, ten_times.ci_low, ten_times.ci_high) == (once.rate, once.ci_low, once.ci_high)
    assert (ten_times.ci_low, ten_times.ci_high) == wilson_interval(1, 1)
    # The raw counts stay visible beside the experiment counts the interval uses.
    e = ten_times
    assert (e.episodes, e.failures, e.experiments, e.failed_experiments) == (10, 10, 1, 1)
    assert ten_times.repeated_episodes == 9


def test_ten_distinct_initial_states_are_ten_observations_and_narrow_the_interval():
    one = estimate(control() + [episode(["cube_red"], 3, True)])
    ten = estimate(control() + [episode(["cube_red"], seed, True) for seed in range(10)])
    assert (ten.episodes, ten.experiments, ten.repeated_episodes) == (10, 10, 0)
    assert (ten.ci_low, ten.ci_high) == wilson_interval(10, 10)
    assert ten.ci_low > one.ci_low


def test_repeats_no_longer_pull_the_rate_towards_the_experiment_that_was_run_most():
    # Initial state 0 fails and was re-run 9 times; initial state 1 succeeds once: two experiments, one failed.
    e = estimate(control() + [episode(["cube_red"], 0, True) for _ in range(9)] + [episode(["cube_red"], 1, False)])
    assert e.rate == 0.5 and (e.ci_low, e.ci_high) == wilson_interval(1, 2)
    assert (e.failures, e.episodes) == (9, 10)


def test_a_stochastic_policy_is_counted_by_the_mean_outcome_of_each_experiment():
    # Initial state 0 run four times (3 failures: mean 0.75), initial state 1 once (success): n = 2, k = 0.75.
    outcomes = [True, False, True, True]
    e = estimate(control() + [episode(["cube_red"], 0, f) for f in outcomes] + [episode(["cube_red"], 1, False)])
    assert e.experiments == 2 and e.failed_experiments == pytest.approx(0.75)
    assert e.rate == pytest.approx(0.375)
    assert (e.ci_low, e.ci_high) == pytest.approx(wilson_interval(0.75, 2))
    assert (e.failures, e.episodes) == (3, 5)
    assert experiment_means([True, False, True, True, False], [0, 0, 0, 0, 1]) == [(0.75, 4), (0.0, 1)]


def test_the_control_and_combinations_collapse_repeats_too():
    records = [episode([], 7, True) for _ in range(5)] + [episode([], 8, False)]
    records += [episode(["cube_red", "table_red"], 2, True) for _ in range(3)]
    a = analyse(records, LIFT, "p", "ppo")
    assert (a.control.experiments, a.control.episodes, a.control.rate) == (2, 6, 0.5)
    [combo] = a.combinations
    assert (combo.experiments, combo.episodes) == (1, 3)
    # The same perturbations from another initial state are another experiment.
    assert estimate([episode(["cube_red"], 1, True), episode(["cube_red"], 2, True)]).experiments == 2


def test_results_and_the_summary_say_both_counts_where_repeats_happened(tmp_path):
    a = analyse(control() + [episode(["cube_red"], 3, True) for _ in range(4)] + [episode(["cube_red"], 4, False)],
                LIFT, "p", "bandit")
    write_tables(a, tmp_path)
    rows = {r["name"]: r for r in csv.DictReader((tmp_path / "failure_rates.csv").open())}
    assert (rows["cube_red"]["episodes"], rows["cube_red"]["failures"]) == ("5", "4")
    assert (int(rows["cube_red"]["experiments"]), float(rows["cube_red"]["failed_experiments"])) == (2, 1.0)
    again = AuditAnalysis.from_json(json.loads((tmp_path / "results.json").read_text()))
    assert again.perturbations == a.perturbations
    console = Console(file=io.StringIO(), width=200)
    console.print(summary_table(a))
    text = console.file.getvalue()
    assert "1/2 (4/5 episodes)" in text
    assert "3 episode(s) re-ran an experiment" in text


def test_results_written_before_repeats_were_collapsed_still_load():
    old = {"name": "cube_red", "group": "cube_colour", "episodes": 8, "failures": 3, "rate": 0.375, "ci_low": 0.1,
           "ci_high": 0.7, "p_failure_pi": None, "excess_over_control": None, "rank": 1, "ci_width": 0.6}
    e = RateEstimate.from_json(old)
    assert (e.experiments, e.failed_experiments, e.repeated_episodes) == (8, 3.0, 0)
    assert e.count_text() == "3/8"
    d = {"task": "Lift", "policy_id": "p", "searcher": "uniform", "control": dict(old, name="control"),
         "perturbations": [old]}
    assert AuditAnalysis.from_json(d).perturbations[0].experiments == 8


# ----------------------------------------------------------------------------- the adaptive searcher


def test_the_adaptive_searchers_intervals_count_each_initial_state_once():
    counts = ArmCounts.empty(["cube_red", "table_red"])
    for _ in range(6):
        counts.pulls[0] += 1
        counts.observe(episode(["cube_red"], 5, True))
    counts.pulls[1] += 1
    counts.observe(episode(["table_red"], 5, True))
    k, n = counts.interval_counts()
    assert list(n) == [1, 1] and list(k) == [1.0, 1.0]
    assert list(counts.valid) == [6, 1]  # episodes stay counted for the abort rule


# ----------------------------------------------------------------------------- the continuous analysis

SPACE = FactorSpace(task="Lift", factors=tuple(load_factor_space("Lift").get(n)
                                               for n in ("light_intensity", "cube_value")))


def scene_audit(repeat_every: int | None) -> list[EpisodeRecord]:
    """64 searched scenes failing below a light threshold; with `repeat_every`, every k-th one re-run twice more."""
    values = SPACE.from_unit(qmc.Sobol(SPACE.dim, scramble=True, seed=0).random(64))
    rng = np.random.default_rng(0)
    records = control(20)
    for i, v in enumerate(values):
        failed = bool(v[0] < 0.4) != bool(rng.random() < 0.05)  # a threshold with a little noise across scenes
        copies = 3 if repeat_every and i % repeat_every == 0 else 1
        records += [episode([], i, failed, SPACE.scene(v)) for _ in range(copies)]
    return records


@pytest.fixture(scope="module")
def fits() -> tuple[SceneAnalysis, SceneAnalysis]:
    kw = dict(policy_id="p", searcher="sobol", seed=0)
    return analyse_scenes(scene_audit(None), SPACE, **kw), analyse_scenes(scene_audit(4), SPACE, **kw)


def test_repeated_scenes_do_not_change_the_continuous_fit(fits):
    plain, repeated = fits
    assert (repeated.episodes, repeated.experiments, repeated.repeated_episodes) == (96, 64, 32)
    assert (plain.episodes, plain.experiments, plain.repeated_episodes) == (64, 64, 0)
    assert repeated.model == plain.model
    assert [(t.factor, t.value, t.ci_low, t.ci_high) for t in repeated.thresholds] == \
        [(t.factor, t.value, t.ci_low, t.ci_high) for t in plain.thresholds]
    assert [c.p_mean for c in repeated.curves] == [c.p_mean for c in plain.curves]
    assert repeated.calibration == plain.calibration
    assert [(r.conditions, r.rate.rate, r.rate.ci_low, r.rate.ci_high, r.rate.experiments) for r in repeated.rules] == \
        [(r.conditions, r.rate.rate, r.rate.ci_low, r.rate.ci_high, r.rate.experiments) for r in plain.rules]
    assert plain.thresholds and plain.rules  # the comparison is not between two empty results


def test_old_scene_results_without_repeat_counts_still_load(fits):
    plain, _ = fits
    d = plain.to_json()
    del d["experiments"], d["repeated_episodes"]
    loaded = SceneAnalysis.from_json(d)
    assert (loaded.experiments, loaded.repeated_episodes) == (plain.episodes, 0)


def test_a_scene_whose_repeats_disagree_is_one_row_with_the_majority_outcome():
    scene = {"light_intensity": 0.5, "cube_value": 0.7}
    group = [episode([], 1, f, scene) for f in (False, True, True)] + [episode([], 2, False, scene)]
    chosen, means, repeats = collapse_repeats(group)
    assert [r.seed for r in chosen] == [1, 2] and chosen[0].failed  # a failed episode stands for a failing row
    assert means.tolist() == pytest.approx([2 / 3, 0.0]) and repeats.tolist() == [3, 1]
    tie, tie_mean, _ = collapse_repeats([episode([], 3, False, scene), episode([], 3, True, scene)])
    assert tie_mean.tolist() == [0.5] and tie[0].failed  # a tie counts as a failure in the fit


def test_the_analysis_counts_the_searched_initial_states_and_tells_a_pool_from_states_of_their_own(fits):
    """64 scenes from 64 distinct states are not a pool; the same scenes cycling through the control's 20 states
    are, and every rate is then over those 20 (the summary says which, benchmarks §8o/§8p)."""
    plain, _ = fits
    assert (plain.searched_states, plain.pooled_states) == (64, False)
    records = scene_audit(None)
    pooled = [r if r.scene is None else EpisodeRecord.from_json({**r.to_json(), "seed": 1000 + r.seed % 20})
              for r in records]
    result = analyse_scenes(pooled, SPACE, policy_id="p", searcher="sobol", seed=0)
    assert (result.searched_states, result.experiments, result.pooled_states) == (20, 64, True)
    d = plain.to_json()
    del d["searched_states"]  # results written before the states were counted
    assert SceneAnalysis.from_json(d).pooled_states is False
