"""Specifications for comparing continuous audits of several models (the continuous models × perturbations heatmap).

The analyses are built by hand, so the worst point of every line and every count in the table is known here.
"""
from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from robofail_ros import cli
from robofail_ros.analysis import RateEstimate
from robofail_ros.continuous.result import FactorCurve, FactorInfo, SceneAnalysis, Threshold
from robofail_ros.report.scene_compare import (
    APPEARANCE, HEATMAP_NAME, JSON_NAME, PHYSICAL, TABLE_NAME, class_summaries, factor_class, line_worst,
    write_scene_comparison,
)

FACTORS = [
    FactorInfo("cube_hue", "cube_colour", "geom_colour", 0.0, 1.0, 0.2, "linear", circular=True),
    FactorInfo("light_intensity", "light_intensity", "light_intensity", 0.1, 3.0, 1.0, "log", "x nominal"),
    FactorInfo("camera_yaw", "camera_pose", "camera_orientation", -15.0, 15.0, 0.0, "linear", "deg"),
    FactorInfo("cube_size_x", "cube_size", "geom_size", 0.01, 0.04, 0.02, "linear", "m"),
    FactorInfo("cube_mass", "cube_dynamics", "body_mass", 0.1, 30.0, 1.0, "log", "x nominal"),
]
CONTROL = RateEstimate.measure("control", "control", [False] * 20)


def _curve(f: FactorInfo, p) -> FactorCurve:
    values = np.geomspace(f.low, f.high, 21) if f.scale == "log" else np.linspace(f.low, f.high, 21)
    p = np.broadcast_to(np.asarray(p(values) if callable(p) else p, float), values.shape)
    return FactorCurve(f.name, values.tolist(), p.tolist(), np.clip(p - 0.1, 0, 1).tolist(),
                       np.clip(p + 0.1, 0, 1).tolist())


def _model(name: str, rising: dict[str, float]) -> SceneAnalysis:
    """A model whose P(failure) is 0.05 along every line except those in `rising`: a step to the given P above the
    factor's midpoint, each with a threshold there."""
    a = SceneAnalysis(task="Lift", policy_id=name, searcher="boundary", factors=FACTORS, control=CONTROL,
                      episodes=100, failures=30, budget=100, label=name)
    for f in FACTORS:
        mid = 0.5 * (f.low + f.high)
        top = rising.get(f.name)
        a.curves.append(_curve(f, 0.05 if top is None else (lambda v, top=top, mid=mid: np.where(v > mid, top, 0.05))))
        if top is not None:
            a.thresholds.append(Threshold(f.name, mid, mid * 0.9, mid * 1.1, "above", 0.5 * (0.05 + top),
                                          f"fails when {f.name} > {mid:.3g}"))
    return a


def test_colours_lights_and_camera_are_appearance_factors_and_sizes_and_mass_are_physical():
    assert [factor_class(f.kind) for f in FACTORS] == [APPEARANCE, APPEARANCE, APPEARANCE, PHYSICAL, PHYSICAL]


def test_the_worst_point_of_a_line_is_its_largest_p_with_its_band_and_the_p_at_nominal():
    f = FACTORS[3]
    w = line_worst(_curve(f, lambda v: np.where(v > 0.03, 0.9, 0.1)), f.nominal, threshold=True)
    assert w.p == pytest.approx(0.9) and (w.p_low, w.p_high) == (pytest.approx(0.8), pytest.approx(1.0))
    assert w.value == pytest.approx(np.linspace(f.low, f.high, 21)[np.linspace(f.low, f.high, 21) > 0.03][0])
    assert w.p_nominal == pytest.approx(0.1) and w.rise == pytest.approx(0.8)


def test_an_image_model_broken_by_colours_and_a_blind_model_broken_by_mass_are_told_apart():
    image = _model("bc-image", {"cube_hue": 0.95, "camera_yaw": 0.7})
    blind = _model("bc-low_dim", {"cube_mass": 0.6})
    (img_app, img_phys), (blind_app, blind_phys) = class_summaries(image), class_summaries(blind)
    assert (img_app.with_threshold, img_phys.with_threshold) == (["cube_hue", "camera_yaw"], [])
    assert (blind_app.with_threshold, blind_phys.with_threshold) == ([], ["cube_mass"])
    assert img_app.worst.factor == "cube_hue" and img_app.worst.p == pytest.approx(0.95)
    assert (img_app.factors, img_phys.factors) == (3, 2)
    assert img_app.text().startswith("2/3 factors (cube_hue, camera_yaw); worst cube_hue: P 0.95")


def test_the_comparison_writes_a_heatmap_a_table_with_every_threshold_and_the_lines_as_json(tmp_path):
    models = [_model("bc-image", {"cube_hue": 0.95}), _model("bc-low_dim", {"cube_mass": 0.6})]
    files = write_scene_comparison(models, tmp_path)
    assert {f.name for f in files} == {HEATMAP_NAME, TABLE_NAME, JSON_NAME}
    with Image.open(tmp_path / HEATMAP_NAME) as im:
        assert "bc-image" in im.info.get("Title", "") and im.size[0] > 600
    table = (tmp_path / TABLE_NAME).read_text()
    assert "| bc-image | 0/20 [0, 16]% | 30/100 | 1/3 factors (cube_hue)" in table
    assert "fails when cube_hue > 0.5" in table and "fails when cube_mass > 15" in table
    data = json.loads((tmp_path / JSON_NAME).read_text())
    lines = {w["factor"]: w for w in data[1]["lines"]}
    assert lines["cube_mass"]["threshold"] and lines["cube_mass"]["p"] == pytest.approx(0.6)
    assert not lines["cube_hue"]["threshold"] and lines["cube_hue"]["p"] == pytest.approx(0.05)


def test_audits_of_different_tasks_are_not_put_on_one_heatmap(tmp_path):
    other = _model("b", {})
    other.task = "Stack"
    with pytest.raises(ValueError, match="different tasks cannot share one comparison: Lift, Stack"):
        write_scene_comparison([_model("a", {}), other], tmp_path)


def test_report_refuses_to_compare_a_continuous_audit_with_a_catalogue_audit(tmp_path, monkeypatch, capsys):
    from robofail_ros.analysis import AuditAnalysis

    catalogue_audit = AuditAnalysis(task="Lift", policy_id="p", searcher="uniform", perturbations=[], control=CONTROL)
    found = {"cont": _model("cont", {}), "cat": catalogue_audit}
    monkeypatch.setattr(cli, "_load_analysis", lambda d: (found[d.name], type("L", (), {"damaged_lines": []})(), None))
    assert cli.main(["report", str(tmp_path / "cont"), str(tmp_path / "cat")]) == 2
    err = capsys.readouterr().err
    assert f"continuous audit ({tmp_path / 'cont'}) cannot be compared with a catalogue audit ({tmp_path / 'cat'})" in err
    assert not (tmp_path / "comparison").exists()


def test_a_band_is_listed_once_though_its_two_edges_are_two_thresholds():
    from robofail_ros.report.scene_compare import markdown

    a = _model("m", {})
    text = "fails when 0.1 < cube_hue < 0.9 (a band)"
    a.thresholds = [Threshold("cube_hue", 0.1, 0.0, 0.2, "above", 0.5, text, band=[0.1, 0.9]),
                    Threshold("cube_hue", 0.9, 0.8, 1.0, "below", 0.5, text, band=[0.1, 0.9])]
    assert markdown([a]).count(text) == 1
