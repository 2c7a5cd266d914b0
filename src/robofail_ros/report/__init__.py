"""Figures, tables and videos that turn an audit's analysis into something a person can read.

A discrete (catalogue) audit shows two numbers per perturbation side by side on purpose: the paper's
P_failure (the adversary's softmax π, a ranking signal that is not a calibrated probability) and the
failure rate the episodes actually showed, with its 95% Wilson interval. A continuous audit shows
P(failure | scene) along each factor, its thresholds, Sobol indices, the top interacting pair, failure
rules and how well the fitted model predicted held-out episodes. Every figure copes with what was never
measured. This module only gathers the public names; each lives in the submodule of its one purpose.
"""
from robofail_ros.report.common import DPI, safe_name  # first: selects the headless matplotlib backend
from robofail_ros.report.bars import plot_grouped_bars, plot_stacked_bars
from robofail_ros.report.discrete import write_report
from robofail_ros.report.heatmap import plot_heatmap
from robofail_ros.report.labels import budget_text, entropy_label
from robofail_ros.report.radar import plot_radar
from robofail_ros.report.scene import write_scene_report
from robofail_ros.report.scene_gallery import GalleryItem
from robofail_ros.report.scene_summary import print_scene_summary, scene_summary
from robofail_ros.report.summary import print_summary, summary_table
from robofail_ros.report.tables import CSV_COLUMNS, write_tables
from robofail_ros.report.video import write_video

__all__ = [
    "CSV_COLUMNS",
    "DPI",
    "GalleryItem",
    "budget_text",
    "entropy_label",
    "plot_grouped_bars",
    "plot_heatmap",
    "plot_radar",
    "plot_stacked_bars",
    "print_scene_summary",
    "print_summary",
    "safe_name",
    "scene_summary",
    "summary_table",
    "write_report",
    "write_scene_report",
    "write_tables",
    "write_video",
]
