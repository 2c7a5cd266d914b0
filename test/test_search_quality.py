"""How bench/search_quality.py scores a searcher against ground truth, on hand-made episodes (no simulator)."""
import importlib.util
from pathlib import Path

import numpy as np
import pytest

from robofail_ros.catalogue import load_catalogue
from robofail_ros.episode import FAILURE, SUCCESS, EpisodeRecord

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("search_quality", ROOT / "bench" / "search_quality.py")
sq = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(sq)

#: ground truth: failures out of 50 for a few perturbations, 0/50 for the rest of the catalogue
TRUE = {"table_red": 50, "cube_green": 49, "light_blue": 6, "cube_size_bar": 32}


@pytest.fixture(scope="module")
def catalogue():
    return load_catalogue("Lift")


@pytest.fixture(scope="module")
def truth(catalogue):
    from robofail_ros.stats import wilson_interval

    def entry(k):
        return {"failures": k, "episodes": 50, "rate": k / 50, "ci": list(wilson_interval(k, 50))}

    data = {"task": "Lift", "policy": "fake", "control": entry(0),
            "perturbations": {n: entry(TRUE.get(n, 0)) for n in catalogue.names}}
    return sq.Truth(data, catalogue)


def ep(i, name, failed, searcher="uniform"):
    return EpisodeRecord(episode_id=f"{searcher}-{i}-{name}-{failed}", seed=i, perturbations=[name] if name else [],
                         outcome=FAILURE if failed else SUCCESS, steps=5, reward=0.0, wall_time=0.0,
                         policy_id="fake", task="Lift", searcher=searcher if name else "control")


def test_top_set_is_the_perturbations_whose_truth_overlaps_the_worst_and_modes_beat_the_control(truth):
    assert truth.top == {"table_red", "cube_green"}
    assert truth.modes == {"table_red", "cube_green", "light_blue", "cube_size_bar"}  # 6/50 vs 0/50: p < 0.05


def test_an_unvisited_perturbation_is_estimated_at_one_half_and_left_out_of_coverage(catalogue, truth):
    control = [ep(i, "", False) for i in range(3)]
    searched = [ep(0, "table_red", True), ep(1, "light_dim", False)]
    s = sq.score_prefix(control, searched, catalogue, truth, "uniform")
    assert s["visited"] == 2 and s["coverage"] == 1.0
    errors = np.full(len(catalogue), 0.5)
    errors[catalogue.names.index("table_red")] = 0.0
    errors[catalogue.names.index("light_dim")] = 0.0
    for n, k in TRUE.items():
        if n != "table_red":
            errors[catalogue.names.index(n)] = abs(0.5 - k / 50)
    assert s["mae"] == pytest.approx(errors.mean())
    assert s["top"] == "table_red" and s["top_in_truth_top"]


def test_top_mode_counts_from_the_prefix_after_which_the_top_stays_right(catalogue, truth):
    # light_blue (12% in truth) leads after 1 and 2 episodes (a 1/1 tie goes to the earlier name),
    # table_red from the 3rd on: 2/2 beats 1/1, then 1/2
    searched = [ep(0, "light_blue", True), ep(1, "table_red", True), ep(2, "table_red", True),
                ep(3, "light_blue", False)]
    assert sq.episodes_to_top([], searched, catalogue, truth) == 3
    # right after 1 episode, wrong again from the 2nd: never identified
    searched = [ep(0, "table_red", True), ep(1, "light_blue", True), ep(2, "light_blue", True)]
    assert sq.episodes_to_top([], searched, catalogue, truth) is None


def test_all_modes_seen_once_each_has_failed_on_its_own(truth):
    searched = [ep(0, "table_red", True), ep(1, "cube_green", True), ep(2, "light_blue", False),
                ep(3, "cube_size_bar", True), ep(4, "light_blue", True)]
    assert sq.episodes_to_all_modes(searched, truth) == 5
    assert sq.episodes_to_all_modes(searched[:4], truth) is None


def test_pi_is_compared_with_the_rates_normalised_to_sum_to_one(catalogue, truth):
    rates = truth.rate / truth.rate.sum()
    s = sq.score_pi({"episodes": 128, "pi": rates.tolist(), "entropy": 1.0}, truth)
    assert s["tv_distance"] == pytest.approx(0.0, abs=1e-12) and s["spearman"] == pytest.approx(1.0)
    one_hot = np.zeros(len(catalogue))
    one_hot[catalogue.names.index("light_blue")] = 1.0
    s = sq.score_pi({"episodes": 256, "pi": one_hot.tolist()}, truth)
    assert s["pi_top"] == "light_blue" and not s["pi_top_in_truth_top"]
    assert s["tv_distance"] == pytest.approx(1 - rates[catalogue.names.index("light_blue")])


def test_an_episode_repeating_an_initial_state_and_perturbation_is_counted_as_a_repeat(catalogue, truth):
    searched = [ep(0, "table_red", True), ep(0, "table_red", True), ep(0, "cube_green", True)]
    assert sq.score_prefix([], searched, catalogue, truth, "bandit")["repeated"] == 1
