"""The parts of an audit that only a continuous (factor-box) audit has: its checks before any worker starts,
and the pictures a worker renders for its report (the gallery of worst scenes, the film of the worst failure).

run_audit (audit.py) calls these; the analysis itself is continuous.analyse_scenes and the figures are
report.write_scene_report, so this module only gathers what they need from the simulation.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Sequence

import numpy as np

from robofail_ros.config import AuditConfig
from robofail_ros.continuous.result import SceneAnalysis
from robofail_ros.episode import EpisodeRecord
from robofail_ros.factors import FactorSpace, load_factor_space

log = logging.getLogger(__name__)

#: Worst scenes shown in the report's gallery.
GALLERY_SIZE = 8
#: Side in pixels of a gallery frame and of the worst failure's film.
PICTURE_SIZE = 256
#: Factors named in a gallery caption: those the scene moves farthest from nominal (in unit-cube terms).
CAPTION_FACTORS = 3


def load_checked_space(config: AuditConfig, bind: bool = True) -> FactorSpace:
    """The audit's factor box, validated and (with `bind`) bound to the task's model, before any worker starts.

    A bad factor (range, scale, nominal, kind) fails on load; a target the model lacks fails on binding, which
    needs the robosuite model: it is built once here in the main process (about 2 s, no renderer), so the
    error is one CatalogueError naming the factor instead of a worker process dying. Remote workers (the ROS
    graph) bind on their own simulators, so their audits pass bind=False.
    """
    source = config.sim.catalogue or config.sim.task
    space = load_factor_space(source)
    if bind:
        from robofail_ros.audit import check_against_model
        from robofail_ros.catalogue import load_catalogue

        check_against_model(config, load_catalogue(source), space, None)
    return space


def farthest_factors(scene: dict[str, float] | None, space: FactorSpace, n: int) -> list[tuple[int, float]]:
    """(factor index, value) of the `n` factors a scene moves farthest from nominal, in unit-cube terms."""
    values = space.vector(scene)
    distance = np.abs(space.to_unit(values) - space.to_unit(space.nominal))
    return [(int(i), float(values[i])) for i in np.argsort(-distance, kind="stable")[:n] if distance[i] > 0]


def scene_caption(record: EpisodeRecord, space: FactorSpace, n: int = CAPTION_FACTORS) -> str:
    """'failure; light_intensity=0.21 (nom. 1), cube_value=0.12 (nom. 0.72), …': what sets this scene apart."""
    parts = [f"{space.factors[i].name}={v:.3g} (nom. {space.factors[i].nominal:.3g})"
             for i, v in farthest_factors(record.scene, space, n)]
    return f"{record.outcome}; " + ", ".join(parts) if parts else record.outcome


def scene_tag(scene: dict[str, float] | None, space: FactorSpace, n: int = 2) -> str:
    """'light_intensity=0.21 cube_value=0.12': a progress bar's few words about a scene."""
    return " ".join(f"{space.factors[i].name}={v:.2g}" for i, v in farthest_factors(scene, space, n)) or "nominal"


def worst_records(analysis: SceneAnalysis, records: Sequence[EpisodeRecord]) -> list[EpisodeRecord]:
    """The failed episodes the analysis ranks worst, worst first."""
    by_id = {r.episode_id: r for r in records}
    return [by_id[i] for i in analysis.worst_episodes if i in by_id]


def render_gallery(vec_env, worst: Sequence[EpisodeRecord], space: FactorSpace,
                   size: int = PICTURE_SIZE) -> list[tuple[str, str, np.ndarray]]:
    """The first frame of each of the worst episodes, rendered by worker 0 from its seed and scene."""
    items = []
    for r in worst[:GALLERY_SIZE]:
        frame = vec_env.env_method("first_frame", list(r.perturbations), r.seed, r.scene, size, indices=[0])[0]
        items.append((r.episode_id, scene_caption(r, space), frame))
    return items


def film_worst_scene(vec_env, worst: Sequence[EpisodeRecord], out_dir: Path) -> list[Path]:
    """Re-run and film the worst failure (worker 0); [] when no episode failed."""
    from robofail_ros.report import write_video

    if not worst:
        return []
    r = worst[0]
    filmed = vec_env.env_method("film", list(r.perturbations), r.seed, PICTURE_SIZE, r.scene, indices=[0])[0]
    if filmed.outcome != r.outcome:  # physics is deterministic per seed; say so if this ever stops being true
        log.warning("re-running %s gave %s, the log says %s", r.episode_id, filmed.outcome, r.outcome)
    return [write_video(filmed.frames, Path(out_dir) / f"worst_failure_{r.episode_id}.mp4")]
