"""Specifications for the audit report: figures, tables, video and console summary."""
from __future__ import annotations

import csv
import json
from io import StringIO
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from robofail_ros.analysis import AuditAnalysis, analyse
from robofail_ros.catalogue import load_catalogue
from robofail_ros.episode import ABORTED, FAILURE, SUCCESS, EpisodeRecord
from robofail_ros.report import (
    plot_heatmap,
    plot_radar,
    print_summary,
    summary_table,
    write_report,
    write_tables,
    write_video,
)
from robofail_ros.stats import wilson_interval

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

#: perturbation -> (failures, episodes); everything else in the Lift catalogue stays unmeasured.
MEASURED = {"table_red": (7, 10), "cube_green": (2, 10), "light_dim": (0, 5)}
CONTROL = (1, 10)
ABORTED_EPISODES = 2


@pytest.fixture(scope="module")
def catalogue():
    return load_catalogue("Lift")


def _records(policy_id: str = "bc_policy") -> list[EpisodeRecord]:
    records = []

    def add(perturbations: list[str], outcome: str) -> None:
        records.append(EpisodeRecord(
            episode_id=f"ep{len(records)}", seed=len(records), perturbations=perturbations,
            outcome=outcome, steps=50, reward=0.0, wall_time=0.1, policy_id=policy_id, task="Lift"))

    for name, (k, n) in [("", CONTROL), *MEASURED.items()]:
        perturbations = [name] if name else []
        for i in range(n):
            add(perturbations, FAILURE if i < k else SUCCESS)
    for _ in range(ABORTED_EPISODES):
        add(["table_red"], ABORTED)
    add(["table_red", "light_dim"], FAILURE)
    return records


def _pi(n: int) -> list[float]:
    logits = np.linspace(-1.0, 2.0, n)
    p = np.exp(logits) / np.exp(logits).sum()
    return p.tolist()


@pytest.fixture(scope="module")
def with_pi(catalogue) -> AuditAnalysis:
    return analyse(_records(), catalogue, "bc_policy", "rl", pi=_pi(len(catalogue)))


@pytest.fixture(scope="module")
def without_pi(catalogue) -> AuditAnalysis:
    return analyse(_records("diffusion/v2"), catalogue, "diffusion/v2", "exhaustive", label="diffusion v2")


def _assert_png(path: Path) -> None:
    assert path.read_bytes()[:8] == PNG_SIGNATURE, f"{path.name} is not a PNG"
    with Image.open(path) as im:
        im.verify()


def _read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def test_single_model_report_writes_valid_figures_json_and_csv(with_pi, catalogue, tmp_path):
    out = tmp_path / "report"
    paths = write_report([with_pi], out)

    names = {p.name for p in paths}
    assert {"radar_bc_policy.png", "heatmap_rate.png", "heatmap_pi.png", "grouped_bars.png",
            "stacked_bars.png", "results.json", "failure_rates.csv"} <= names
    for p in paths:
        assert p.exists() and p.parent == out
        if p.suffix == ".png":
            _assert_png(p)
    results = json.loads((out / "results.json").read_text())
    assert AuditAnalysis.from_json(results) == with_pi
    rows = _read_csv(out / "failure_rates.csv")
    assert [r["name"] for r in rows] == ["control", *catalogue.names]


def test_csv_control_and_perturbation_rows_match_the_records(with_pi, tmp_path):
    write_tables(with_pi, tmp_path)
    rows = {r["name"]: r for r in _read_csv(tmp_path / "failure_rates.csv")}

    k, n = CONTROL
    lo, hi = wilson_interval(k, n)
    control = rows["control"]
    assert (control["group"], control["episodes"], control["failures"]) == ("control", str(n), str(k))
    assert (control["rate"], control["ci_low"], control["ci_high"]) == (f"{k / n:.4f}", f"{lo:.4f}", f"{hi:.4f}")
    assert control["rank"] == control["p_failure_pi"] == control["excess_over_control"] == ""

    k, n = MEASURED["table_red"]  # aborted and combined episodes are not counted
    lo, hi = wilson_interval(k, n)
    red = rows["table_red"]
    assert (red["episodes"], red["failures"], red["rank"]) == (str(n), str(k), "1")
    assert (red["rate"], red["ci_low"], red["ci_high"]) == (f"{k / n:.4f}", f"{lo:.4f}", f"{hi:.4f}")
    assert red["excess_over_control"] == f"{k / n - CONTROL[0] / CONTROL[1]:.4f}"
    assert float(red["p_failure_pi"]) == pytest.approx(with_pi.perturbations[6].p_failure_pi, abs=1e-4)


def test_unmeasured_perturbations_have_empty_cells(with_pi, tmp_path):
    write_tables(with_pi, tmp_path)
    rows = {r["name"]: r for r in _read_csv(tmp_path / "failure_rates.csv")}

    cube_red = rows["cube_red"]
    assert cube_red["episodes"] == "0"
    assert cube_red["rate"] == cube_red["rank"] == cube_red["excess_over_control"] == ""
    assert cube_red["p_failure_pi"] != ""  # π is known for every action, measured or not


def test_multi_model_report_has_one_radar_per_model_and_no_tables(with_pi, without_pi, tmp_path):
    paths = write_report([with_pi, without_pi], tmp_path / "cmp")

    names = sorted(p.name for p in paths)
    assert "radar_bc_policy.png" in names and "radar_diffusion_v2.png" in names
    assert "heatmap_pi.png" in names  # at least one model has π
    assert not any(p.suffix in (".json", ".csv") for p in paths)
    for p in paths:
        _assert_png(p)


def test_report_without_pi_skips_the_pi_heatmap(without_pi, tmp_path):
    names = {p.name for p in write_report([without_pi], tmp_path)}

    assert "heatmap_rate.png" in names
    assert "heatmap_pi.png" not in names


def test_radar_title_carries_the_entropy_of_pi(with_pi, without_pi, tmp_path):
    [radar] = plot_radar([with_pi], tmp_path)
    with Image.open(radar) as im:
        title = im.info["Title"]
    assert f"H = {with_pi.entropy_pi:.2f} nats" in title
    assert "bc_policy" in title

    [radar] = plot_radar([without_pi], tmp_path)
    with Image.open(radar) as im:
        assert "nats" not in im.info["Title"]


def test_radar_file_names_are_safe_and_distinct(catalogue, tmp_path):
    a = analyse(_records(), catalogue, "team/policy v1", "rl")
    b = analyse(_records(), catalogue, "team/policy:v1", "rl")

    paths = plot_radar([a, b], tmp_path)

    assert [p.name for p in paths] == ["radar_team_policy_v1.png", "radar_team_policy_v1_2.png"]
    assert all(p.parent == tmp_path for p in paths)


def test_heatmap_works_for_one_model_and_for_pi(with_pi, tmp_path):
    _assert_png(plot_heatmap([with_pi], tmp_path, value="rate"))
    _assert_png(plot_heatmap([with_pi], tmp_path, value="pi"))
    with pytest.raises(ValueError):
        plot_heatmap([with_pi], tmp_path, value="entropy")


def test_figures_survive_an_audit_with_nothing_measured(catalogue, tmp_path):
    empty = analyse([], catalogue, "untested", "rl", pi=_pi(len(catalogue)))

    for p in write_report([empty], tmp_path):
        assert p.exists()


def test_write_video_writes_a_readable_mp4_with_every_frame(tmp_path):
    import imageio.v2 as imageio

    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 255, size=(37, 51, 3), dtype=np.uint8) for _ in range(12)]

    path = write_video(frames, tmp_path / "videos" / "episode.mp4", fps=10)

    assert path.exists() and path.stat().st_size > 0
    reader = imageio.get_reader(str(path))
    try:
        read = [f for f in reader]
    finally:
        reader.close()
    assert len(read) == 12
    assert read[0].shape == (38, 52, 3)  # padded to the even size H.264/yuv420p needs


def test_write_video_rejects_no_frames(tmp_path):
    with pytest.raises(ValueError):
        write_video([], tmp_path / "x.mp4")


def test_summary_table_lists_each_measured_perturbation_once_in_rank_order(with_pi):
    table = summary_table(with_pi)

    assert table.row_count == len(MEASURED)
    assert list(table.columns[1].cells) == ["table_red", "cube_green", "light_dim"]
    assert "P_fail(π)" in [c.header for c in table.columns]
    assert "bc_policy" in table.title and "Lift" in table.title and "rl" in table.title
    assert "control 10.0%" in table.title
    assert "nats" in table.caption and f"{ABORTED_EPISODES} episode(s) aborted" in table.caption


def test_summary_table_top_and_missing_pi(without_pi):
    assert summary_table(without_pi, top=2).row_count == 2
    table = summary_table(without_pi)
    assert "P_fail(π)" not in [c.header for c in table.columns]
    assert "nats" not in table.caption


def test_print_summary_writes_to_the_given_console(with_pi):
    from rich.console import Console

    buf = StringIO()
    print_summary(with_pi, Console(file=buf, width=160))

    text = buf.getvalue()
    assert "table_red" in text and "+60.0pp" in text


def test_every_reported_number_comes_with_its_episode_count_interval_and_budget(catalogue, tmp_path):
    analysis = analyse(_records(), catalogue, "bc_policy", "adaptive", budget=40)
    write_tables(analysis, tmp_path)
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["searcher"] == "adaptive" and results["budget"] == 40
    for e in [results["control"], *results["perturbations"]]:
        assert {"episodes", "ci_low", "ci_high", "ci_width"} <= set(e)
        assert e["ci_width"] == pytest.approx(e["ci_high"] - e["ci_low"])
    assert AuditAnalysis.from_json(results) == analysis
    rows = _read_csv(tmp_path / "failure_rates.csv")
    assert all(r["ci_width"] for r in rows)

    table = summary_table(analysis)
    assert "searcher adaptive" in table.title and "budget 40 searched + 10 control episodes" in table.title
    widths = list(table.columns[[c.header for c in table.columns].index("width")].cells)
    assert widths[0] == f"{100 * (lambda lo, hi: hi - lo)(*wilson_interval(7, 10)):.1f}pp"  # table_red, 7/10
    plot_radar([analysis], tmp_path)
    with Image.open(tmp_path / "radar_bc_policy.png") as im:
        assert "budget 40 searched" in im.info["Title"]


def test_a_results_json_written_before_widths_and_budgets_still_loads(with_pi):
    old = with_pi.to_json()
    old.pop("budget")
    for e in [old["control"], *old["perturbations"]]:
        e.pop("ci_width")
    assert AuditAnalysis.from_json(old).perturbations == with_pi.perturbations


def test_learning_curves_plot_every_model_that_has_one_and_refuse_when_none_does(tmp_path):
    from robofail_ros.report.learning_curves import plot_learning_curves

    curve = [{"steps": 4000, "successes": 7, "episodes": 20}, {"steps": 8000, "successes": 48, "episodes": 50}]
    path = plot_learning_curves([("bc-image-lift", curve), ("cql-image-lift", [])], tmp_path / "lc.png", target=0.8)
    assert path.stat().st_size > 10_000
    with pytest.raises(ValueError, match="no model has a learning curve; build with `robofail zoo build --curve K`"):
        plot_learning_curves([("cql-image-lift", [])], tmp_path / "none.png")
