"""Specifications for the report of a continuous audit: figures, tables and the closing terminal summary.

The analysis is built by hand (no simulator, no fitting), so every number the report shows is known here.
"""
from __future__ import annotations

import csv
import json
from io import StringIO
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from robofail_ros.analysis import RateEstimate
from robofail_ros.continuous.result import (
    Calibration,
    Condition,
    FactorCurve,
    FactorInfo,
    FailureRule,
    Interaction,
    PairMap,
    SceneAnalysis,
    SobolIndex,
    Threshold,
)
from robofail_ros.episode import ABORTED, FAILURE, SUCCESS, EpisodeRecord
from robofail_ros.report import print_scene_summary, write_scene_report
from robofail_ros.report.scene_labels import factor_order, scene_points, threshold_labels
from robofail_ros.report.scene_pair import top_pair

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
FIGURES = {"factor_curves.png", "pair_map.png", "sobol.png", "reliability.png"}
TABLES = {"results.json", "thresholds.csv", "rules.csv", "sobol.csv", "pairs.csv"}
BUDGET = 60

FACTORS = [
    FactorInfo("cube_value", "cube_colour", "geom_colour", 0.05, 1.0, 0.72, "linear"),
    FactorInfo("light_intensity", "light_intensity", "light_intensity", 0.1, 3.0, 1.0, "log", "x nominal"),
    FactorInfo("camera_yaw", "camera_pose", "camera_orientation", -15.0, 15.0, 0.0, "linear", "deg"),
    FactorInfo("cube_mass", "cube_dynamics", "body_mass", 0.1, 30.0, 1.0, "log", "x nominal"),
]
THRESHOLD = Threshold("light_intensity", 0.31, 0.27, 0.35, "below", 0.5,
                      "fails when light_intensity < 0.31 (x nominal) [0.27, 0.35]")
RULE = FailureRule([Condition("light_intensity", "<", 0.33), Condition("cube_value", ">=", 0.2)],
                   RateEstimate.measure("rule", "rule", [True] * 18 + [False] * 2), 0.85,
                   "light_intensity < 0.33 and cube_value >= 0.2")
CONTROL = RateEstimate.measure("control", "control", [True] + [False] * 19)


def _curve(f: FactorInfo) -> FactorCurve:
    values = np.geomspace(f.low, f.high, 25) if f.scale == "log" else np.linspace(f.low, f.high, 25)
    p = 1 / (1 + np.exp(8 * (np.log(values) - np.log(0.31)))) if f.name == "light_intensity" else np.full(25, 0.05)
    return FactorCurve(f.name, values.tolist(), p.tolist(), np.clip(p - 0.1, 0, 1).tolist(),
                       np.clip(p + 0.1, 0, 1).tolist())


def _pair_map() -> PairMap:
    x, y = np.geomspace(0.1, 3.0, 12), np.linspace(0.05, 1.0, 10)
    light, _ = np.meshgrid(x, y)  # p[j][i]: row j is y (cube_value), column i is x (light_intensity)
    p = 1 / (1 + np.exp(8 * (np.log(light) - np.log(0.31))))
    return PairMap(factors=("light_intensity", "cube_value"), x=x.tolist(), y=y.tolist(), p=p.tolist())


def _analysis(findings: bool) -> SceneAnalysis:
    """A continuous audit's result with every kind of finding, or with none (nothing crossed, nothing fitted)."""
    a = SceneAnalysis(task="Lift", policy_id="vision", searcher="sobol", factors=FACTORS, control=CONTROL,
                      episodes=BUDGET, failures=21, aborted_episodes=1, budget=BUDGET,
                      model="Gaussian-process classifier (Matern 2.5)")
    if findings:
        a.curves = [_curve(f) for f in FACTORS]
        a.thresholds = [THRESHOLD]
        a.sobol = [SobolIndex("cube_value", 0.02, 0.03, 0.21, 0.04), SobolIndex("light_intensity", 0.45, 0.05, 0.62, 0.06),
                   SobolIndex("camera_yaw", 0.0, 0.01, 0.01, 0.01), SobolIndex("cube_mass", 0.01, 0.02, 0.03, 0.02)]
        a.interactions = [Interaction(("light_intensity", "cube_value"), 0.14, 0.05)]
        a.pair_ranking = [*a.interactions, Interaction(("camera_yaw", "cube_mass"), 0.01, 0.03)]
        a.rules = [RULE]
        a.calibration = Calibration(0.081, 0.18, 5, [0.05, 0.5, 0.9], [0.04, 0.6, 0.85], [40, 5, 15])
        a.pair_map = _pair_map()
        a.p_variance = 0.031
        a.length_scales = {"cube_value": 0.4, "light_intensity": 0.2, "camera_yaw": 100.0}
        a.worst_episodes = ["scene-0000"]
    return a


def _records() -> list[EpisodeRecord]:
    """Scenes that fail below light_intensity 0.31, one control episode and one aborted episode."""
    rng = np.random.default_rng(0)
    records = [EpisodeRecord("control-0000", 0, [], SUCCESS, 50, 0.0, 0.1, "vision", "Lift")]
    for i in range(BUDGET):
        scene = {"cube_value": float(rng.uniform(0.05, 1.0)), "light_intensity": float(np.exp(rng.uniform(np.log(0.1), 0))),
                 "camera_yaw": float(rng.uniform(-15, 15))}  # cube_mass left out: it stood at its nominal value
        outcome = FAILURE if scene["light_intensity"] < 0.31 else SUCCESS
        records.append(EpisodeRecord(f"scene-{i:04d}", i, [], outcome, 50, 0.0, 0.1, "vision", "Lift", scene=scene))
    records.append(EpisodeRecord("scene-aborted", 99, [], ABORTED, 3, 0.0, 0.1, "vision", "Lift",
                                 scene={"cube_value": 0.5}))
    return records


def _assert_png(path: Path) -> str:
    """Check a valid PNG and return its Title metadata."""
    assert path.read_bytes()[:8] == PNG_SIGNATURE, f"{path.name} is not a PNG"
    with Image.open(path) as im:
        title = im.info.get("Title", "")
        im.verify()
    return title


def _read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def _summary(analysis: SceneAnalysis) -> str:
    from rich.console import Console

    buf = StringIO()
    print_scene_summary(analysis, Console(file=buf, width=200))
    return buf.getvalue()


def test_a_full_report_writes_every_figure_and_table_and_each_title_says_what_was_audited(tmp_path):
    analysis = _analysis(findings=True)
    paths = write_scene_report(analysis, _records(), tmp_path)

    assert {p.name for p in paths} == FIGURES | TABLES
    assert all(p.parent == tmp_path and p.exists() for p in paths)
    for p in paths:
        if p.suffix == ".png":
            title = _assert_png(p)
            assert all(s in title for s in ("vision", "Lift", "searcher: sobol", f"budget {BUDGET} searched")), title
    assert SceneAnalysis.from_json(json.loads((tmp_path / "results.json").read_text())) == analysis


def test_the_csv_tables_hold_the_thresholds_rules_sobol_indices_and_ranked_pairs(tmp_path):
    write_scene_report(_analysis(findings=True), _records(), tmp_path)

    [threshold] = _read_csv(tmp_path / "thresholds.csv")
    assert (threshold["factor"], threshold["direction"], threshold["text"]) == ("light_intensity", "below", THRESHOLD.text)
    assert (threshold["value"], threshold["ci_low"], threshold["ci_high"]) == ("0.3100", "0.2700", "0.3500")
    [rule] = _read_csv(tmp_path / "rules.csv")
    assert (rule["rule"], rule["episodes"], rule["failures"], rule["rate"]) == (RULE.text, "20", "18", "0.9000")
    assert rule["conditions"] == "light_intensity < 0.33 and cube_value >= 0.2"
    assert float(rule["ci_low"]) == pytest.approx(RULE.rate.ci_low, abs=1e-4)
    assert rule["excess_over_control"] == "0.8500"
    sobol = {r["factor"]: r for r in _read_csv(tmp_path / "sobol.csv")}
    assert set(sobol) == {f.name for f in FACTORS}
    assert float(sobol["cube_value"]["interaction"]) == pytest.approx(0.21 - 0.02)
    # the length scale says which zeros are "set aside by the model" rather than "no effect"
    length_scales = [sobol[f]["length_scale"] for f in ("light_intensity", "camera_yaw", "cube_mass")]
    assert length_scales == ["0.2000", "100.0000", ""]
    # the total index's claim is its lower bound, never below 0
    assert [sobol[f]["st_lower"] for f in ("light_intensity", "camera_yaw")] == ["0.5600", "0.0000"]
    pairs = _read_csv(tmp_path / "pairs.csv")
    assert [(r["factor_a"], r["factor_b"], r["claimed"]) for r in pairs] == [
        ("light_intensity", "cube_value", "True"), ("camera_yaw", "cube_mass", "False")]


def test_a_report_with_no_findings_still_writes_every_figure_and_empty_tables(tmp_path):
    """No thresholds, rules, Sobol indices, pair map, calibration, episodes or gallery: nothing may crash."""
    analysis = _analysis(findings=False)
    paths = write_scene_report(analysis, [], tmp_path, gallery=[])

    assert {p.name for p in paths} == FIGURES | TABLES
    for p in paths:
        if p.suffix == ".png":
            _assert_png(p)
    for name in ("thresholds.csv", "rules.csv", "sobol.csv", "pairs.csv"):
        assert _read_csv(tmp_path / name) == []
    assert SceneAnalysis.from_json(json.loads((tmp_path / "results.json").read_text())) == analysis


def test_the_gallery_lays_out_the_frames_it_is_given(tmp_path):
    rng = np.random.default_rng(1)
    gallery = [(f"scene-{i:04d}", f"light_intensity = 0.{i + 1}", rng.integers(0, 255, (84, 84, 3), dtype=np.uint8))
               for i in range(5)]

    paths = write_scene_report(_analysis(findings=True), _records(), tmp_path, gallery=gallery)

    assert tmp_path / "gallery.png" in paths
    assert "Lift" in _assert_png(tmp_path / "gallery.png")


def test_episodes_on_the_map_are_the_continuous_ones_with_an_outcome_and_omitted_factors_are_nominal():
    analysis = _analysis(findings=True)

    points, failed = scene_points(analysis, _records(), ["light_intensity", "cube_mass"])

    assert points.shape == (BUDGET, 2) and failed.shape == (BUDGET,)
    assert np.all(points[:, 1] == 1.0)  # cube_mass's nominal value
    assert np.array_equal(failed, points[:, 0] < 0.31)
    empty, none_failed = scene_points(analysis, [], ["light_intensity", "cube_value"])
    assert empty.shape == (0, 2) and none_failed.shape == (0,)


def test_factors_with_a_threshold_come_first_then_by_total_sobol_index():
    analysis = _analysis(findings=True)
    assert [f.name for f in factor_order(analysis)] == ["light_intensity", "cube_value", "cube_mass", "camera_yaw"]
    analysis.thresholds = [Threshold("camera_yaw", 10.0, 8.0, 12.0, "above")]
    assert [f.name for f in factor_order(analysis)][:2] == ["camera_yaw", "light_intensity"]
    assert [f.name for f in factor_order(_analysis(findings=False))] == [f.name for f in FACTORS]


def test_a_band_of_failure_is_labelled_as_one_band_not_as_two_opposite_thresholds():
    band = [0.2, 0.5]
    edges = [Threshold("cube_value", 0.5, 0.45, 0.55, "below", 0.4, band=band),
             Threshold("cube_value", 0.2, 0.15, 0.25, "above", 0.4, band=band)]

    assert threshold_labels(edges) == ["fails between 0.2 [0.15, 0.25] and 0.5 [0.45, 0.55]"]
    assert threshold_labels([THRESHOLD]) == ["fails below 0.31 [0.27, 0.35]"]


def test_the_map_shows_the_fitted_pair_else_the_strongest_interaction_else_the_most_influential_factors():
    analysis = _analysis(findings=True)
    assert top_pair(analysis) == (("light_intensity", "cube_value"), "Top interacting pair")
    analysis.interactions = [Interaction(("camera_yaw", "cube_mass"), 0.2, 0.05)]
    assert top_pair(analysis)[0] == ("light_intensity", "cube_value")
    assert not top_pair(analysis)[1].startswith("Top interacting")  # the map's pair is not the top interaction
    analysis.pair_map = None
    assert top_pair(analysis) == (("camera_yaw", "cube_mass"), "Top interacting pair")
    analysis.interactions = []
    assert top_pair(analysis)[0] == ("light_intensity", "cube_value")
    one_factor = _analysis(findings=False)
    one_factor.factors = FACTORS[:1]
    assert top_pair(one_factor)[0] is None



def test_the_summary_names_the_strongest_pair_without_claiming_it_when_no_interval_excludes_zero():
    analysis = _analysis(findings=True)
    analysis.interactions = []
    analysis.pair_ranking = [Interaction(("cube_hue", "robot_value"), 0.08, 0.12)]
    text = _summary(analysis)

    assert "none claimed" in text and "cube_hue × robot_value" in text and "0.08 ± 0.12" in text
    assert "interval includes 0: ranked first, not claimed" in text

def test_the_terminal_summary_names_thresholds_rules_sensitivity_and_calibration():
    text = _summary(_analysis(findings=True))

    assert THRESHOLD.text in text and "[0.27, 0.35]" in text
    assert "half-way from the control's rate to the worst P on that side" in text
    assert RULE.text in text and "18/20" in text and "+85.0pp" in text
    assert "light_intensity × cube_value" in text and "0.14 ± 0.05" in text
    assert "0.45 ± 0.05" in text and "ST, 95% at least" in text and "≥ 0.56" in text  # S1 two-sided, ST one-sided
    assert f"({len(FACTORS) * (len(FACTORS) - 1) // 2} pairs tested)" in text
    assert "Brier 0.081 (base rate 0.180)" in text and "Var P = 0.031" in text
    assert "searcher sobol" in text and f"budget {BUDGET} searched + 20 control episodes" in text


def test_the_terminal_summary_warns_when_the_model_contradicts_the_control():
    analysis = _analysis(findings=True)
    assert "disagree" not in _summary(analysis)
    analysis.nominal_conflict = "the model puts P(failure) at the nominal scene at 98% [96%, 100%], but …"
    text = _summary(analysis)
    assert "Model and control disagree" in text and "at 98% [96%, 100%]" in text


def test_the_terminal_summary_says_whether_its_rates_are_over_the_audits_pool_of_initial_states_or_not():
    """Searched scenes that start from the control's initial states give rates over that pool, and a policy that
    fails from some states and not others can read differently on another pool (benchmarks §8o); scenes that each
    start from a state of their own give rates over the policy's initial states (§8p)."""
    pooled = _analysis(findings=True)
    pooled.searched_states = 20  # the control's 20 states, shared by all the searched experiments
    text = _summary(pooled)
    assert "over this audit's pool of 20" in text and "±22 points" in text and "--initial-states fresh" in text
    fresh = _analysis(findings=True)
    fresh.searched_states = fresh.experiments
    text = _summary(fresh)
    assert f"the {BUDGET} searched experiments started from {BUDGET} distinct initial states" in text
    assert "pool of 20" not in text


def test_the_terminal_summary_says_when_nothing_was_found():
    text = _summary(_analysis(findings=False))

    assert "Thresholds: none" in text and "Failure rules: none found" in text
    assert "no Sobol indices" in text and "no held-out check" in text


def test_report_and_replay_work_for_a_continuous_audit_from_its_log(tmp_path, capsys):
    """A tiny real audit over the factor box; `report` refits and redraws it, `replay` re-runs one scene."""
    from robofail_ros.audit import run_audit
    from robofail_ros.cli import main
    from robofail_ros.config import AuditConfig

    result = run_audit(AuditConfig(searcher="sobol", episodes=4, control_episodes=1, workers=1), tmp_path,
                       film=False, write_files=False)
    capsys.readouterr()

    assert main(["report", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "searcher sobol, budget 4 searched + 1 control episodes" in out
    for name in FIGURES | TABLES:
        assert str(tmp_path / name) in out and (tmp_path / name).exists()
    assert SceneAnalysis.from_json(json.loads((tmp_path / "results.json").read_text())).episodes == 4

    scene = next(r for r in result.records if r.scene is not None)
    assert main(["replay", str(tmp_path), "--episode", scene.episode_id, "--size", "48"]) == 0
    replay = json.loads(capsys.readouterr().out)
    assert replay["scene"] == scene.scene and replay["reproduced"]
    assert (tmp_path / f"replay_{scene.episode_id}.mp4").stat().st_size > 0
