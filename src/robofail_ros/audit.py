"""An audit from start to report: control run, search, analysis, files. Resumable from its log."""
from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from stable_baselines3.common.vec_env import VecEnv

from robofail_ros.adversary_env import EpisodeJob
from robofail_ros.analysis import AuditAnalysis, analyse
from robofail_ros.catalogue import load_catalogue
from robofail_ros.config import AuditConfig, episode_seed
from robofail_ros.episode import FAILURE, EpisodeRecord
from robofail_ros.policies import load_policy
from robofail_ros.record import LOG_NAME, AuditLog, Recorder, load_log
from robofail_ros.searchers import SearchContext, make_searcher

log = logging.getLogger(__name__)

CONFIG_NAME = "audit_config.json"


class AuditFolderError(RuntimeError):
    """The output folder holds a different audit; resuming would mix incompatible episodes."""


@dataclass
class AuditResult:
    analysis: AuditAnalysis
    records: list[EpisodeRecord]
    files: list[Path]
    out_dir: Path
    wall_time: float


def _check_resumable(header: dict | None, config: AuditConfig, out_dir: Path) -> None:
    if header is None:
        return
    logged = AuditConfig.from_json(header["config"]).identity()
    wanted = config.identity()
    if logged != wanted:
        diff = sorted(k for k in set(logged) | set(wanted) if logged.get(k) != wanted.get(k))
        raise AuditFolderError(
            f"{out_dir} holds an audit with a different configuration (differs in: {', '.join(diff)}); "
            f"choose another --out folder, or pass --overwrite to start afresh")


def control_jobs(config: AuditConfig) -> list[EpisodeJob]:
    """One unperturbed episode per initial state of the seed pool."""
    return [EpisodeJob(f"control-{i:04d}", (), episode_seed(config.seed, i, config.control_episodes), "control")
            for i in range(config.control_episodes)]


def run_audit(
    config: AuditConfig,
    out_dir: Path,
    overwrite: bool = False,
    on_record: Callable[[EpisodeRecord, int, int], None] | None = None,
    film: bool = True,
    make_env: Callable[[AuditConfig, list[EpisodeRecord], str], VecEnv] | None = None,
    on_snapshot: Callable[[dict], None] | None = None,
    write_files: bool = True,
) -> AuditResult:
    """Run (or resume) an audit in `out_dir`; every finished episode is logged at once.

    `on_record(record, done, total)` is called for each new episode (progress bars, ROS topics),
    `on_snapshot(data)` for each adversary snapshot (π after a PPO update). `make_env` replaces the
    local worker processes (the ROS adversary node runs episodes through the graph instead).
    """
    started = time.perf_counter()
    out_dir = Path(out_dir)
    log_path = out_dir / LOG_NAME
    if overwrite and log_path.exists():
        for leftover in out_dir.iterdir():
            if leftover.is_file():
                leftover.unlink()
    loaded = load_log(log_path)
    if loaded.damaged_lines:
        log.warning("skipped %d damaged line(s) in %s: %s", len(loaded.damaged_lines), log_path, loaded.damaged_lines)
    _check_resumable(loaded.header, config, out_dir)
    catalogue = load_catalogue(config.sim.catalogue or config.sim.task)
    # A bad policy spec fails here, before any worker starts; remote policies are checked by their node.
    policy_id = load_policy(config.policy).policy_id if make_env is None else None
    total = config.control_episodes + config.episodes

    audit_log = AuditLog(log_path, on_snapshot=on_snapshot)
    if loaded.header is None:
        audit_log.write_header({"config": config.to_json(), "catalogue": catalogue.names,
                                "started": time.strftime("%Y-%m-%dT%H:%M:%S")})
        (out_dir / CONFIG_NAME).write_text(json.dumps(config.to_json(), indent=2))
    recorder = Recorder(audit_log, loaded.episodes)
    if on_record is not None:
        recorder.on_record = lambda r: on_record(r, len(recorder.records), total)

    if make_env is None:
        from robofail_ros.workers import make_vec_env as make_env
    vec_env = make_env(config, loaded.episodes, f"r{int(time.time())}")
    try:
        ctx = SearchContext(config, vec_env, recorder, audit_log, catalogue.names, out_dir)
        ctx.run_jobs([j for j in control_jobs(config) if j.episode_id not in recorder])
        pi = make_searcher(config.searcher).run(ctx, config.episodes)
        policy_id = policy_id or next((r.policy_id for r in recorder.records), config.policy)
        analysis = analyse(recorder.records, catalogue, policy_id, config.searcher, pi=pi,
                           budget=config.episodes)
        files = write_outputs(analysis, out_dir) if write_files else []
        if film and write_files:
            files += film_worst_failure(vec_env, recorder.records, analysis, out_dir)
    finally:
        vec_env.close()
        audit_log.close()
    return AuditResult(analysis, recorder.records, files, out_dir, time.perf_counter() - started)


def write_outputs(analysis: AuditAnalysis, out_dir: Path) -> list[Path]:
    from robofail_ros.report import write_report

    return write_report([analysis], out_dir)


def worst_failure(records: list[EpisodeRecord], analysis: AuditAnalysis) -> EpisodeRecord | None:
    """A failed episode of the top-ranked failure mode (the one a person will want to watch first)."""
    for estimate in analysis.ranking:
        for r in records:
            if r.outcome == FAILURE and r.perturbations == [estimate.name]:
                return r
    return next((r for r in records if r.outcome == FAILURE), None)


def film_worst_failure(vec_env, records: list[EpisodeRecord], analysis: AuditAnalysis, out_dir: Path) -> list[Path]:
    from robofail_ros.report import write_video

    worst = worst_failure(records, analysis)
    if worst is None:
        return []
    filmed = vec_env.env_method("film", list(worst.perturbations), worst.seed, indices=[0])[0]
    name = "worst_failure_" + "_".join(worst.perturbations or ["control"]) + ".mp4"
    return [write_video(filmed.frames, out_dir / name)]
