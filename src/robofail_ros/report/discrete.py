"""Everything a discrete (catalogue) audit's report holds, for one model or a comparison of several."""
from __future__ import annotations

from pathlib import Path

from robofail_ros.analysis import AuditAnalysis
from robofail_ros.report.bars import plot_grouped_bars, plot_stacked_bars
from robofail_ros.report.heatmap import plot_heatmap
from robofail_ros.report.radar import plot_radar
from robofail_ros.report.tables import write_tables


def write_report(analyses: list[AuditAnalysis], out_dir: Path) -> list[Path]:
    """All figures for one or more models, plus the tables when the report is about a single model."""
    if not analyses:
        raise ValueError("write_report needs at least one analysis")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    any_pi = any(a.pi is not None for a in analyses)
    paths = list(plot_radar(analyses, out_dir))
    paths.append(plot_heatmap(analyses, out_dir, value="rate"))
    if any_pi:
        paths.append(plot_heatmap(analyses, out_dir, value="pi"))
    paths.append(plot_grouped_bars(analyses, out_dir))
    paths.append(plot_stacked_bars(analyses, out_dir, value="rate"))
    if any_pi:
        paths.append(plot_stacked_bars(analyses, out_dir, value="pi"))
    if len(analyses) == 1:
        paths.extend(write_tables(analyses[0], out_dir))
    return paths
