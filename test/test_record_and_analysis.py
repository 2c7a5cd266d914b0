"""The audit record survives crashes, and analysis turns records into honest estimates."""
import json
import math

import pytest

from robofail_ros.analysis import analyse
from robofail_ros.catalogue import load_catalogue
from robofail_ros.episode import EpisodeRecord
from robofail_ros.record import AuditLog, CompletedEpisodes, Recorder, load_log


def rec(i, perts, outcome, searcher="uniform", seed=None):
    return EpisodeRecord(episode_id=f"e{i}", seed=seed if seed is not None else i, perturbations=list(perts),
                         outcome=outcome, steps=50, reward=0.0, wall_time=0.1, policy_id="p", task="Lift",
                         searcher=searcher)


def test_log_cut_off_mid_line_still_loads_and_reports_the_damage(tmp_path):
    path = tmp_path / "episodes.jsonl"
    with AuditLog(path) as log:
        log.write_header({"config": {}})
        for i in range(3):
            log.append(rec(i, ["table_red"], "failure"))
    text = path.read_text()
    path.write_text(text[:-25])  # power loss in the middle of the last record
    loaded = load_log(path)
    assert [r.episode_id for r in loaded.episodes] == ["e0", "e1"]
    assert loaded.damaged_lines == [4]
    with AuditLog(path) as log:  # appending after the damage starts a fresh line
        log.append(rec(9, [], "success"))
    assert [r.episode_id for r in load_log(path).episodes] == ["e0", "e1", "e9"]


def test_garbage_lines_are_skipped_not_fatal(tmp_path):
    path = tmp_path / "episodes.jsonl"
    good = json.dumps({"type": "episode", **rec(1, [], "success").to_json()})
    path.write_text("\n".join([good, "{not json", json.dumps({"type": "episode", "outcome": "exploded"}), good]) + "\n")
    loaded = load_log(path)
    assert len(loaded.episodes) == 2 and loaded.damaged_lines == [2, 3]


def test_recorder_writes_each_episode_once(tmp_path):
    path = tmp_path / "episodes.jsonl"
    seen = []
    with AuditLog(path) as log:
        recorder = Recorder(log, [rec(0, [], "success")], on_record=seen.append)
        assert recorder.add(rec(1, ["table_red"], "failure"))
        assert not recorder.add(rec(1, ["table_red"], "failure"))
        assert not recorder.add(rec(0, [], "success"))
    assert [r.episode_id for r in load_log(path).episodes] == ["e1"]
    assert [r.episode_id for r in seen] == ["e1"]


def test_completed_episodes_are_handed_out_once_per_experiment():
    done = CompletedEpisodes([rec(0, ["a"], "failure", seed=5), rec(1, ["a"], "success", seed=5)])
    assert done.take(5, ["a"]).episode_id == "e0"
    assert done.take(5, ["a"]).episode_id == "e1"
    assert done.take(5, ["a"]) is None and done.take(6, ["a"]) is None


def test_analysis_measures_singles_against_control_and_keeps_combinations_apart():
    cat = load_catalogue("Lift")
    records = (
        [rec(i, [], "success", "control") for i in range(9)] + [rec(9, [], "failure", "control")]
        + [rec(10 + i, ["table_red"], "failure") for i in range(8)] + [rec(20 + i, ["table_red"], "success") for i in range(2)]
        + [rec(30 + i, ["light_dim"], "success") for i in range(5)]
        + [rec(40, ["table_red", "light_dim"], "failure", "ppo"), rec(41, ["table_green"], "aborted")]
    )
    pi = [1.0 / len(cat)] * len(cat)
    a = analyse(records, cat, "p", "uniform", pi=pi)
    assert (a.control.episodes, a.control.failures) == (10, 1)
    red = next(p for p in a.perturbations if p.name == "table_red")
    assert (red.episodes, red.failures, red.rate) == (10, 8, 0.8)
    assert red.ci_low == pytest.approx(0.4902, abs=1e-3) and red.ci_high == pytest.approx(0.9433, abs=1e-3)
    assert red.excess_over_control == pytest.approx(0.7)
    assert a.ranking[0].name == "table_red" and a.ranking[0].rank == 1
    green = next(p for p in a.perturbations if p.name == "table_green")
    assert green.episodes == 0 and green.rate is None and green.rank is None  # aborted: not a failure
    assert a.aborted_episodes == 1 and a.total_episodes == len(records)
    assert [c.name for c in a.combinations] == ["table_red + light_dim"]
    assert a.entropy_pi == pytest.approx(math.log(len(cat)))
    assert type(a).from_json(json.loads(json.dumps(a.to_json()))).ranking[0].name == "table_red"
