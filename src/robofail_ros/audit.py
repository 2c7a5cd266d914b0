"""An audit from start to report: control run, search, analysis, files. Resumable from its log.

One path for both modes: a catalogue audit searches the named perturbations and is analysed per perturbation;
a continuous audit searches the factor box (scene_audit.py holds its extra checks and pictures) and is analysed
by continuous.analyse_scenes.
"""
from __future__ import annotations

import json
import logging
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

from stable_baselines3.common.vec_env import VecEnv

from robofail_ros.adversary_env import EpisodeJob
from robofail_ros.analysis import AuditAnalysis, analyse
from robofail_ros.catalogue import Catalogue, CatalogueError, load_catalogue
from robofail_ros.config import AuditConfig, episode_seed
from robofail_ros.continuous.result import SceneAnalysis
from robofail_ros.episode import ABORTED, FAILURE, EpisodeRecord
from robofail_ros.factors import FactorSpace
from robofail_ros.policies import PolicySpecError, PolicyUnderTest, load_policy
from robofail_ros.policies.base import check_task
from robofail_ros.record import LOCK_NAME, LOG_NAME, AuditLog, FolderLock, Recorder, load_log
from robofail_ros.searchers import SearchContext, make_searcher

log = logging.getLogger(__name__)

CONFIG_NAME = "audit_config.json"


class AuditFolderError(RuntimeError):
    """The output folder holds a different audit; resuming would mix incompatible episodes."""


class PolicyCannotRun(RuntimeError):
    """Every control (unperturbed) episode aborted: the policy cannot run at all, so searching for the scenes
    that break it would spend the whole budget on aborts and draw empty figures."""


def abort_reasons(records: list[EpisodeRecord]) -> list[tuple[str, int]]:
    """The reasons episodes aborted, most frequent first, with their counts (the closing summary lists them)."""
    counts = Counter(r.reason or "no reason given" for r in records if r.outcome == ABORTED)
    return counts.most_common()


def describe_aborts(records: list[EpisodeRecord], width: int = 200) -> str:
    """'3× ValueError: camera x not found; 1× action has NaN': abort reasons grouped, each cut to `width`."""
    return "; ".join(f"{n}× {reason if len(reason) <= width else reason[:width - 1] + '…'}"
                     for reason, n in abort_reasons(records))


def check_control_run(records: list[EpisodeRecord], config: AuditConfig) -> None:
    """Stop the audit when the policy could not run a single unperturbed episode, saying why."""
    control = [r for r in records if r.searcher == "control"]
    if control and all(r.outcome == ABORTED for r in control):
        raise PolicyCannotRun(
            f"policy {config.policy!r} aborted all {len(control)} control episodes, so no search was run: "
            f"{describe_aborts(control)}. Fix the policy, then rerun with --overwrite")


class AuditInterrupted(KeyboardInterrupt):
    """An audit stopped before its budget was spent: Ctrl-C, or its ROS node told to stop (raised inside the
    audit with just a reason). `run_audit` raises it again once the report of the finished episodes is written,
    with the counts and the files, so the caller can say where the report is and how to resume."""

    def __init__(self, reason: str = "interrupted", done: int = 0, total: int = 0,
                 files: tuple[Path, ...] = ()) -> None:
        super().__init__(reason)
        self.reason, self.done, self.total, self.files = reason, done, total, tuple(files)

    @property
    def mark(self) -> str:
        """What the report's titles and results.json say about it: 'interrupted after 40 of 246 episodes'."""
        return f"interrupted after {self.done} of {self.total} episodes"


@dataclass
class AuditResult:
    analysis: AuditAnalysis
    """Per named perturbation (a continuous audit's holds only its control run)."""
    records: list[EpisodeRecord]
    files: list[Path]
    out_dir: Path
    wall_time: float
    scene_analysis: SceneAnalysis | None = None
    """A continuous audit's analysis: P(failure | scene), thresholds, Sobol indices, rules; None otherwise."""


def audit_header(config: AuditConfig, catalogue_names: list[str], space: FactorSpace | None) -> dict:
    """The first line of an audit's log: what `report`, `replay` and a resumed audit read back (the configuration,
    the catalogue's names and, for a continuous audit, the factor box it searched)."""
    header = {"config": config.to_json(), "catalogue": list(catalogue_names),
              "started": time.strftime("%Y-%m-%dT%H:%M:%S")}
    if space is not None:
        header["factors"] = [asdict(f) for f in space.info()]
    return header


def _check_resumable(header: dict | None, config: AuditConfig, out_dir: Path,
                     space: FactorSpace | None = None) -> None:
    if header is None:
        return
    logged = AuditConfig.from_json(header["config"]).identity()
    wanted = config.identity()
    if logged != wanted:
        flat_logged, flat_wanted = _flatten(logged), _flatten(wanted)
        diff = [f"{k}: {flat_logged.get(k)!r} there, {flat_wanted.get(k)!r} here"
                for k in sorted(set(flat_logged) | set(flat_wanted)) if flat_logged.get(k) != flat_wanted.get(k)]
        raise AuditFolderError(
            f"{out_dir} holds an audit with a different configuration (differs in: {'; '.join(diff)}); "
            f"choose another --out folder, or pass --overwrite to start afresh")
    if space is not None and "factors" in header:  # the catalogue file may have been edited since
        now = {f.name: asdict(f) for f in space.info()}
        then = {f["name"]: f for f in header["factors"]}
        diff = sorted(n for n in set(now) | set(then) if now.get(n) != then.get(n))
        if diff:
            raise AuditFolderError(
                f"{out_dir} holds an audit over a different factor space (differs in: {', '.join(diff)}); "
                f"choose another --out folder, or pass --overwrite to start afresh")


def _flatten(d: dict, prefix: str = "") -> dict:
    """{'sim': {'task': 'Lift'}} -> {'sim.task': 'Lift'}: a refusal names the very field that differs."""
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


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
    on_start: Callable[[], None] | None = None,
) -> AuditResult:
    """Run (or resume) an audit in `out_dir`; every finished episode is logged at once.

    `on_record(record, done, total)` is called for each new episode (progress bars, ROS topics),
    `on_snapshot(data)` for each adversary snapshot (π after a PPO update). `make_env` replaces the
    local worker processes (the ROS adversary node runs episodes through the graph instead). `on_start()` is
    called once every input is checked and the folder is held, before any worker starts (a CLI draws its
    progress bar there, so a refusal is never drawn over one).

    Bad input (task, catalogue, policy, a target the model lacks, a folder holding another audit) is refused
    before anything is written. The folder is held with an OS lock (`FolderLock`) for the whole run, so a
    second audit on it, CLI or ROS adversary, is refused with FolderBusyError naming this process.
    """
    started = time.perf_counter()
    out_dir = Path(out_dir)
    log_path = out_dir / LOG_NAME
    # Every check first, reading only: bad input is refused before the folder is touched or a worker starts.
    catalogue = load_catalogue(config.sim.catalogue or config.sim.task)
    if catalogue.task.lower() != config.sim.task.lower():
        raise CatalogueError(f"catalogue {catalogue.source} is for task {catalogue.task}, not {config.sim.task}; "
                             f"pass a catalogue whose 'task' is {config.sim.task}")
    # A bad policy spec fails here, before any worker starts; remote policies are checked by their node.
    policy = load_policy(config.policy) if make_env is None else None
    policy_id = policy.policy_id if policy is not None else None
    space: FactorSpace | None = None
    if config.continuous:  # a bad factor fails on load (scene_audit.py says how)
        from robofail_ros.scene_audit import load_checked_space

        space = load_checked_space(config, bind=False)
    if make_env is None:  # local workers: bind here once, so a target the model lacks is one line, not N crashes
        check_against_model(config, catalogue, space, policy)
    if not overwrite:  # after the input checks: a bad value is named as such, not as a different configuration
        _check_resumable(load_log(log_path).header, config, out_dir, space)
    lock = FolderLock(out_dir).acquire()  # a second audit on this folder is refused here, naming the holder
    try:
        return _run_locked(config, out_dir, overwrite, on_record, film, make_env, on_snapshot, write_files,
                           started, catalogue, policy_id, space, on_start)
    finally:
        lock.release()


def check_against_model(config: AuditConfig, catalogue: Catalogue, space: FactorSpace | None,
                        policy: PolicyUnderTest | None) -> None:
    """Bind the catalogue (and factor space) to the task's model and check the policy's cameras exist in it.

    Workers do the same on start-up, but an error there kills every worker process and reaches the user as a
    broken pipe; here it is one CatalogueError or PolicySpecError before anything starts. Building the model
    costs about 2 s (robosuite, no renderer), once per audit.
    """
    from robofail_ros.perturb import LiveModelPerturber
    from robofail_ros.sim import _make_robosuite_env

    env = _make_robosuite_env(config.sim, config.seed)
    try:
        model = env.sim.model._model
        LiveModelPerturber(model, catalogue, space)
        cameras = sorted(model.camera(i).name for i in range(model.ncam))
        if policy is not None:
            check_task(policy, config.sim.task)
        missing = [c for c in (policy.needs.cameras if policy is not None else ()) if c not in cameras]
        if missing:
            raise PolicySpecError(f"policy {config.policy!r} reads camera(s) {', '.join(missing)}, which task "
                                  f"{config.sim.task} lacks; cameras: {', '.join(cameras)}")
    finally:
        env.close()


def _run_locked(config: AuditConfig, out_dir: Path, overwrite: bool, on_record, film: bool, make_env,
                on_snapshot, write_files: bool, started: float, catalogue: Catalogue, policy_id: str | None,
                space: FactorSpace | None, on_start: Callable[[], None] | None) -> AuditResult:
    """`run_audit` once its input is checked and it holds the folder."""
    log_path = out_dir / LOG_NAME
    if overwrite and log_path.exists():
        for leftover in out_dir.iterdir():
            if leftover.is_file() and leftover.name != LOCK_NAME:
                leftover.unlink()
    loaded = load_log(log_path)
    if loaded.damaged_lines:
        log.warning("skipped %d damaged line(s) in %s: %s", len(loaded.damaged_lines), log_path, loaded.damaged_lines)
    _check_resumable(loaded.header, config, out_dir, space)
    total = config.control_episodes + config.episodes

    audit_log = AuditLog(log_path, on_snapshot=on_snapshot)
    if loaded.header is None:
        audit_log.write_header(audit_header(config, catalogue.names, space))
        (out_dir / CONFIG_NAME).write_text(json.dumps(config.to_json(), indent=2))
    recorder = Recorder(audit_log, loaded.episodes)
    if on_record is not None:
        recorder.on_record = lambda r: on_record(r, len(recorder.records), total)

    if on_start is not None:
        on_start()
    if make_env is None:
        from robofail_ros.workers import make_vec_env as make_env
    vec_env: VecEnv | None = None
    scene_analysis = None
    stop: AuditInterrupted | None = None
    try:
        try:
            # Inside the try: starting the workers takes seconds (tens on a loaded machine), and a Ctrl-C then
            # is a stop like any other, answered with the report of the episodes already logged.
            vec_env = make_env(config, loaded.episodes, f"r{int(time.time())}")
            ctx = SearchContext(config, vec_env, recorder, audit_log, catalogue.names, out_dir, space=space,
                                snapshots=loaded.snapshots)
            ctx.run_jobs([j for j in control_jobs(config) if j.episode_id not in recorder])
            check_control_run(recorder.records, config)
            pi = make_searcher(config.searcher).run(ctx, config.episodes)
        except KeyboardInterrupt as exc:  # the report of what is done, marked, and no film: workers may be gone
            logged = load_log(log_path)
            recorder.adopt(logged.episodes)  # the stop may have come between logging an episode and keeping it
            stop = AuditInterrupted(getattr(exc, "reason", "interrupted"), len(recorder.records), total)
            pi = next((s["pi"] for s in reversed(logged.snapshots) if "pi" in s), None)
        policy_id = policy_id or next((r.policy_id for r in recorder.records), config.policy)
        analysis = analyse(recorder.records, catalogue, policy_id, config.searcher, pi=pi,
                           budget=config.episodes)
        analysis.interrupted = stop.mark if stop else ""
        if space is None:
            files = write_outputs(analysis, out_dir) if write_files else []
            if film and write_files and stop is None:
                files += film_worst_failure(vec_env, recorder.records, analysis, out_dir)
        else:
            scene_analysis = analyse_scene_records(recorder.records, space, policy_id, config)
            scene_analysis.interrupted = analysis.interrupted
            files = write_scene_outputs(vec_env if stop is None else None, scene_analysis, recorder.records, space,
                                        out_dir, film and stop is None) if write_files else []
        if write_files:
            from robofail_ros.report.stages import write_failure_stages

            files += write_failure_stages(recorder.records, out_dir)
    finally:
        # vec_env is None when the audit stopped while its workers started: make_vec_env ended those it had started
        if vec_env is not None and stop is None:
            vec_env.close()
        elif vec_env is not None:  # episodes may still be running in it: end them, their results would not count
            from robofail_ros.workers import abandon

            abandon(vec_env)
        audit_log.close()
    if stop is not None:
        raise AuditInterrupted(stop.reason, stop.done, stop.total, tuple(files))
    return AuditResult(analysis, recorder.records, files, out_dir, time.perf_counter() - started, scene_analysis)


def analyse_scene_records(records: list[EpisodeRecord], space: FactorSpace, policy_id: str,
                          config: AuditConfig) -> SceneAnalysis:
    """The continuous analysis of an audit's log (also what `robofail report` redraws from)."""
    from robofail_ros.continuous.analyse import analyse_scenes

    return analyse_scenes(records, space, policy_id, config.searcher, budget=config.episodes, seed=config.seed)


def write_scene_outputs(vec_env, analysis: SceneAnalysis, records: list[EpisodeRecord], space: FactorSpace,
                        out_dir: Path, film: bool = True) -> list[Path]:
    """The continuous report, with the worst scenes' first frames (and the worst failure filmed) by a worker;
    without one (`vec_env` None: an interrupted audit's workers may be gone) the report has no pictures."""
    from robofail_ros.report import write_scene_report
    from robofail_ros.scene_audit import film_worst_scene, render_gallery, worst_records

    worst = worst_records(analysis, records)
    gallery = render_gallery(vec_env, worst, space) if vec_env is not None else []  # None: no worker to render
    files = write_scene_report(analysis, records, out_dir, gallery=gallery or None)
    if film and vec_env is not None:
        files += film_worst_scene(vec_env, worst, out_dir)
    return files


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
