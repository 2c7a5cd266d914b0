"""The worst scenes as pictures: the first frame of each, so a person sees what the policy saw."""
from __future__ import annotations

import math
import textwrap
from pathlib import Path
from typing import Sequence

import numpy as np

from robofail_ros.continuous.result import SceneAnalysis
from robofail_ros.report.common import plt, save_figure
from robofail_ros.report.scene_labels import scene_title
from robofail_ros.report.video import as_rgb_uint8

#: One gallery entry: (episode id, caption, HxWx3 uint8 first frame). The audit renders; the report lays out.
GalleryItem = tuple[str, str, np.ndarray]
COLUMNS = 4


def plot_gallery(analysis: SceneAnalysis, items: Sequence[GalleryItem], out_dir: Path) -> Path:
    """A grid of first frames, worst scene first, each captioned with its episode id and the caller's caption."""
    if not items:
        raise ValueError("plot_gallery needs at least one (episode_id, caption, image) item")
    cols = min(COLUMNS, len(items))
    rows = math.ceil(len(items) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.3 * cols, 3.8 * rows + 0.9), squeeze=False, layout="constrained")
    for ax in axes.flat:
        ax.axis("off")
    for ax, (episode_id, caption, image) in zip(axes.flat, items):
        ax.imshow(as_rgb_uint8(image), interpolation="nearest")
        text = "\n".join([episode_id, *textwrap.wrap(caption, 38)])
        ax.set_title(text, fontsize=7.5, loc="left")
    title = f"Worst scenes (first frame, worst first)\n{scene_title(analysis)}"
    fig.suptitle(title, fontsize=10)
    return save_figure(fig, Path(out_dir) / "gallery.png", metadata={"Title": title, "Description": "robofail_ros gallery"})
