"""Everything a continuous audit's report holds: figures, tables, and the gallery the audit rendered."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

from robofail_ros.continuous.result import SceneAnalysis
from robofail_ros.episode import EpisodeRecord
from robofail_ros.report.scene_calibration import plot_reliability
from robofail_ros.report.scene_curves import plot_factor_curves
from robofail_ros.report.scene_gallery import GalleryItem, plot_gallery
from robofail_ros.report.scene_pair import plot_pair_map
from robofail_ros.report.scene_sobol import plot_sobol
from robofail_ros.report.scene_tables import write_scene_tables


def write_scene_report(analysis: SceneAnalysis, records: Sequence[EpisodeRecord], out_dir: Path,
                       gallery: Sequence[GalleryItem] | None = None) -> list[Path]:
    """Factor curves, pair map, Sobol bars, reliability diagram, gallery (when given) and the tables.

    The worst failure's mp4 is not written here: filming needs a simulator, so the caller films it and
    passes the frames to `write_video`.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [plot_factor_curves(analysis, out_dir), plot_pair_map(analysis, records, out_dir),
             plot_sobol(analysis, out_dir), plot_reliability(analysis, out_dir)]
    if gallery:
        paths.append(plot_gallery(analysis, gallery, out_dir))
    paths.extend(write_scene_tables(analysis, out_dir))
    return paths
