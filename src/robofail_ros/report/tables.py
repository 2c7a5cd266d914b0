"""A discrete audit's numbers as files: results.json to reload, failure_rates.csv for spreadsheets."""
from __future__ import annotations

import csv
import json
from pathlib import Path

from robofail_ros.analysis import AuditAnalysis
from robofail_ros.report.common import csv_cell

CSV_COLUMNS = ("name", "group", "episodes", "failures", "experiments", "failed_experiments", "rate", "ci_low", "ci_high", "ci_width",
               "p_failure_pi", "excess_over_control", "rank")


def write_tables(analysis: AuditAnalysis, out_dir: Path) -> list[Path]:
    """results.json (lossless, reloadable with AuditAnalysis.from_json) and failure_rates.csv (for spreadsheets).

    Both carry the raw `episodes`/`failures` and the `experiments`/`failed_experiments` the rate is measured on.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path = out_dir / "results.json"
    json_path.write_text(json.dumps(analysis.to_json(), indent=2) + "\n")
    csv_path = out_dir / "failure_rates.csv"
    with csv_path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(CSV_COLUMNS)
        for e in [analysis.control, *analysis.perturbations]:
            w.writerow([csv_cell(getattr(e, c)) for c in CSV_COLUMNS])
    return [json_path, csv_path]
