"""A continuous audit's numbers as files: results.json to reload, and one CSV per kind of finding."""
from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Iterable, Sequence

from robofail_ros.continuous.result import SceneAnalysis
from robofail_ros.report.common import csv_cell
from robofail_ros.report.scene_labels import conditions_text

THRESHOLD_COLUMNS = ("factor", "direction", "value", "ci_low", "ci_high", "level", "line_beyond",
                     "line_beyond_failed", "line_before", "line_before_failed", "text")
RULE_COLUMNS = ("rule", "conditions", "episodes", "failures", "rate", "ci_low", "ci_high", "ci_width",
                "excess_over_control")
SOBOL_COLUMNS = ("factor", "s1", "s1_conf", "st", "st_conf", "st_lower", "interaction", "length_scale")
PAIR_COLUMNS = ("factor_a", "factor_b", "s2", "s2_conf", "claimed")


def _write_csv(path: Path, columns: Sequence[str], rows: Iterable[Sequence[object]]) -> Path:
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(columns)
        w.writerows([csv_cell(v) for v in row] for row in rows)
    return path


def write_scene_tables(analysis: SceneAnalysis, out_dir: Path) -> list[Path]:
    """results.json (lossless, reloadable with SceneAnalysis.from_json), thresholds.csv, rules.csv, sobol.csv and
    pairs.csv (the pairs ranked by S2, `claimed` as `Interaction.claimed` says).

    sobol.csv carries each factor's fitted length scale: an index of 0 +- 0 next to a length scale of
    SET_ASIDE_LENGTH_SCALE or more is a factor the model set aside, not one shown to have no effect. Its
    `st_lower` is the total index's 95% lower bound, the side of the ST interval that is a claim
    (`SobolIndex.st_lower`).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path = out_dir / "results.json"
    json_path.write_text(json.dumps(analysis.to_json(), indent=2) + "\n")
    thresholds = _write_csv(out_dir / "thresholds.csv", THRESHOLD_COLUMNS,
                            ([getattr(t, c) for c in THRESHOLD_COLUMNS] for t in analysis.thresholds))
    rules = _write_csv(out_dir / "rules.csv", RULE_COLUMNS, (
        [r.text, conditions_text(r), r.rate.episodes,
         r.rate.failures, r.rate.rate, r.rate.ci_low, r.rate.ci_high, r.rate.ci_width, r.excess_over_control]
        for r in analysis.rules))
    sobol = _write_csv(out_dir / "sobol.csv", SOBOL_COLUMNS,
                       ([s.factor, s.s1, s.s1_conf, s.st, s.st_conf, s.st_lower, s.interaction,
                         (analysis.length_scales or {}).get(s.factor)] for s in analysis.sobol))
    pairs = _write_csv(out_dir / "pairs.csv", PAIR_COLUMNS,
                       ([*i.factors, i.s2, i.s2_conf, i.claimed] for i in analysis.pair_ranking))
    return [json_path, thresholds, rules, sobol, pairs]
