"""`robofail`: audit a policy headless, redraw a report, replay and film any logged episode."""
from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import signal
import sys
import threading
from pathlib import Path

from robofail_ros.audit import AuditFolderError, PolicyCannotRun
from robofail_ros.catalogue import CatalogueError, available_tasks
from robofail_ros.config import (
    CONTINUOUS_SEARCHERS, DEFAULT_CONTINUOUS_SEARCHER, DEFAULT_EPISODES, INITIAL_STATES, SEARCHERS, AuditConfig,
    PPOConfig, SceneSearchConfig,
)
from robofail_ros.policies import PolicySpecError
from robofail_ros.record import FolderBusyError
from robofail_ros.searchers.base import CheckpointError
from robofail_ros.sim import SimConfig, default_worker_count

DEFAULTS = AuditConfig()


def _table_console():
    """A console for the summary table: full width in a terminal, 130 columns when piped to a file."""
    from rich.console import Console

    return Console(width=None if sys.stdout.isatty() else 130)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


#: More worker processes than this per CPU only thrash (each is a whole simulation); a typo like 100 is refused.
MAX_WORKERS_PER_CPU = 4


def _worker_count(text: str) -> int:
    value = _positive_int(text)
    limit = MAX_WORKERS_PER_CPU * (os.cpu_count() or 1)
    if value > limit:
        raise argparse.ArgumentTypeError(f"at most {limit} on this machine ({MAX_WORKERS_PER_CPU} per CPU), "
                                         f"got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="robofail", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")
    sub = parser.add_subparsers(dest="command", required=True)

    audit = sub.add_parser("audit", help="find the scene conditions under which a policy fails")
    audit.add_argument("--task", default=DEFAULTS.sim.task, help=f"robosuite task (catalogues: {', '.join(available_tasks())})")
    audit.add_argument("--catalogue", default=None, help="perturbation catalogue YAML (default: the task's)")
    audit.add_argument("--policy", default=DEFAULTS.policy, help="vision, expert, robomimic:PATH (a zoo model), or package.module:ClassName")
    audit.add_argument("--searcher", default=None, choices=SEARCHERS,
                       help=f"default {DEFAULTS.searcher}; {', '.join(CONTINUOUS_SEARCHERS)} search the continuous "
                            f"factor box (a continuous audit)")
    audit.add_argument("--continuous", action="store_true",
                       help=f"a continuous audit with its default searcher ({DEFAULT_CONTINUOUS_SEARCHER})")
    audit.add_argument("--episodes", type=_positive_int, default=None,
                       help=f"searcher episode budget (default {DEFAULT_EPISODES['discrete']}, "
                            f"continuous {DEFAULT_EPISODES['continuous']})")
    audit.add_argument("--control-episodes", type=_positive_int, default=DEFAULTS.control_episodes,
                       help="unperturbed episodes (also the size of the initial-state pool)")
    audit.add_argument("--initial-states", choices=INITIAL_STATES, default=DEFAULTS.search.initial_states,
                       help="continuous audits: where each searched scene's initial state comes from: the control's "
                            "pool (every scene matched to control states) or a fresh state per experiment (rates "
                            "over the policy's initial states rather than over the pool's)")
    audit.add_argument("--workers", type=_worker_count, default=default_worker_count(),
                       help=f"worker processes (at most {MAX_WORKERS_PER_CPU} per CPU)")
    audit.add_argument("--seed", type=int, default=DEFAULTS.seed)
    audit.add_argument("--horizon", type=_positive_int, default=None, help="control steps per episode (default: per task)")
    audit.add_argument("--max-depth", type=_positive_int, default=None,
                       help="perturbations (scenes) an adversary episode may stack (default: 2 for ppo and ppo_box, 1 otherwise)")
    audit.add_argument("--n-steps", type=_positive_int, default=PPOConfig().n_steps, help="PPO episodes per worker per update")
    audit.add_argument("--out", type=Path, default=None, help="output folder (default: audits/<task>-<policy>-<searcher>-s<seed>)")
    audit.add_argument("--overwrite", action="store_true", help="discard an existing audit in --out instead of resuming it")
    audit.add_argument("--no-video", action="store_true", help="skip filming the worst failure")

    report = sub.add_parser("report", help="redraw the report of one audit, or compare several (one per model)")
    report.add_argument("dirs", type=Path, nargs="+", help="audit folders (each holds episodes.jsonl)")
    report.add_argument("--out", type=Path, default=None, help="where to write (default: the audit folder, or ./comparison)")
    report.add_argument("--overwrite", action="store_true", help="allow writing into another audit's folder")

    replay = sub.add_parser("replay", help="re-run a logged episode from its seed and perturbations or scene and film it")
    replay.add_argument("dir", type=Path, help="audit folder")
    replay.add_argument("--episode", default=None, help="episode id (default: the worst failure)")
    replay.add_argument("--size", type=_positive_int, default=256, help="video frame size in pixels")

    from robofail_ros.zoo import cli as zoo_cli

    zoo_cli.add_parser(sub, _positive_int)
    return parser


def _audit(args: argparse.Namespace) -> int:
    from rich.console import Console
    from tqdm import tqdm

    from robofail_ros.audit import abort_reasons, describe_aborts, run_audit
    from robofail_ros.report import print_scene_summary, print_summary
    from robofail_ros.failure_stages import stage_note

    sim = SimConfig(task=args.task, horizon=args.horizon or 0, catalogue=args.catalogue)
    config = AuditConfig(sim=sim, policy=args.policy, searcher=_searcher(args), episodes=args.episodes or 0,
                         control_episodes=args.control_episodes, seed=args.seed, workers=args.workers,
                         max_depth=args.max_depth or 0, ppo=PPOConfig(n_steps=args.n_steps),
                         search=SceneSearchConfig(initial_states=args.initial_states))
    space = _factor_space(config) if config.continuous else None
    policy_tag = args.policy.replace(":", "_").replace("/", "_").replace(".", "_")
    out = args.out or Path("audits") / f"{args.task.lower()}-{policy_tag}-{config.searcher}-s{args.seed}"
    console = Console(stderr=True)
    searched = f"{config.episodes} searched {'scenes of ' + str(space.dim) + ' factors' if space else 'episodes'}"
    bar = None
    failures = 0

    def start():
        """Every input is checked and the folder is ours: only now say what runs and draw the bar."""
        nonlocal bar
        console.print(f"[bold]robofail audit[/] {args.task} / {args.policy} / {config.searcher}: "
                      f"{config.control_episodes} control + {searched} on {config.workers} worker(s) → {out}")
        bar = tqdm(total=config.control_episodes + config.episodes, unit="ep", desc="episodes", dynamic_ncols=True)

    def progress(record, done, total):
        nonlocal failures
        failures += record.outcome == "failure"
        bar.n = done
        if record.scene is not None and space is not None:
            from robofail_ros.scene_audit import scene_tag

            last = scene_tag(record.scene, space)[:40]
        else:
            last = ("+".join(record.perturbations) or "control")[:24]
        bar.set_postfix(failures=failures, last=last, refresh=False)
        bar.refresh()

    try:
        result = run_audit(config, out, overwrite=args.overwrite, on_record=progress, film=not args.no_video,
                           on_start=start)
    finally:
        if bar is not None:
            bar.close()
    if result.scene_analysis is not None:
        print_scene_summary(result.scene_analysis, console=_table_console())
    else:
        print_summary(result.analysis, console=_table_console())
    if abort_reasons(result.records):
        console.print(f"aborted episodes by reason: {describe_aborts(result.records)}")
    note = stage_note(result.records)
    if note:
        console.print(note)
    console.print(f"{len(result.records)} episodes in {result.wall_time:.0f} s; files in {out}:")
    for f in result.files:
        console.print(f"  {f}")
    return 0


def _searcher(args: argparse.Namespace) -> str:
    """--searcher, or with --continuous the continuous default; a discrete searcher with --continuous is refused."""
    if not args.continuous:
        return args.searcher or DEFAULTS.searcher
    if args.searcher is None:
        return DEFAULT_CONTINUOUS_SEARCHER
    if args.searcher not in CONTINUOUS_SEARCHERS:
        raise ValueError(f"--continuous searches the factor box, but searcher {args.searcher!r} searches the "
                         f"catalogue; continuous searchers: {', '.join(CONTINUOUS_SEARCHERS)}")
    return args.searcher


def _factor_space(config: AuditConfig):
    """The factor box a continuous audit will search; a task without one is refused with the tasks that have one."""
    from robofail_ros.factors import NoFactorsError, load_factor_space, optional_factor_space

    try:
        return load_factor_space(config.sim.catalogue or config.sim.task)
    except NoFactorsError as exc:
        with_factors = [space.task for t in available_tasks() if (space := optional_factor_space(t)) is not None]
        raise CatalogueError(f"searcher {config.searcher!r} needs a continuous factor space: {exc}. "
                             f"Tasks with one: {', '.join(with_factors) or 'none'}") from None


def _read_audit(folder: Path):
    """The log and configuration of an audit folder."""
    from robofail_ros.record import LOG_NAME, load_log

    loaded = load_log(folder / LOG_NAME)
    if loaded.header is None:
        raise FileNotFoundError(f"{folder / LOG_NAME} is missing or has no header: not an audit folder")
    return loaded, AuditConfig.from_json(loaded.header["config"])


def _load_analysis(folder: Path):
    """(analysis, log, config) of an audit folder."""
    loaded, config = _read_audit(folder)
    return _analyse(folder, loaded, config), loaded, config


def _analyse(folder: Path, loaded, config: AuditConfig):
    """An `AuditAnalysis` for a catalogue audit, a `SceneAnalysis` for a continuous one."""
    from robofail_ros.analysis import analyse
    from robofail_ros.catalogue import load_catalogue

    policy_id = loaded.episodes[0].policy_id if loaded.episodes else config.policy
    if config.continuous:
        return _analyse_scenes(folder, loaded, config, policy_id)
    catalogue = load_catalogue(config.sim.catalogue or config.sim.task)
    finals = [s for s in loaded.snapshots if "pi" in s]
    pi = finals[-1]["pi"] if finals else None
    return analyse(loaded.episodes, catalogue, policy_id, config.searcher, pi=pi, budget=config.episodes)


def _analyse_scenes(folder: Path, loaded, config: AuditConfig, policy_id: str):
    """Refit a continuous audit's analysis from its episodes, over the task's factor space as it is now."""
    from dataclasses import asdict

    from robofail_ros.audit import analyse_scene_records

    space = _factor_space(config)
    logged = {f["name"]: f for f in loaded.header.get("factors") or []}
    current = {f.name: asdict(f) for f in space.info()}
    changed = sorted(n for n in set(logged) | set(current) if logged.get(n) != current.get(n))
    if logged and changed:
        print(f"{folder}: the factor space has changed since this audit ran (differs in: {', '.join(changed)}); "
              "the report uses the current one", file=sys.stderr)
    return analyse_scene_records(loaded.episodes, space, policy_id, config)


def _report(args: argparse.Namespace) -> int:
    from robofail_ros.continuous.result import SceneAnalysis
    from robofail_ros.record import LOG_NAME
    from robofail_ros.report import print_scene_summary, print_summary, write_report, write_scene_report
    from robofail_ros.report.stages import write_failure_stages

    loaded_audits = []
    for d in args.dirs:
        analysis, loaded, _ = _load_analysis(d)
        if loaded.damaged_lines:
            print(f"{d}: skipped damaged log line(s) {loaded.damaged_lines}", file=sys.stderr)
        loaded_audits.append((d, analysis, loaded))
    continuous = [d for d, a, _ in loaded_audits if isinstance(a, SceneAnalysis)]
    if continuous and len(continuous) != len(args.dirs):
        discrete = [str(d) for d, a, _ in loaded_audits if not isinstance(a, SceneAnalysis)]
        raise ValueError(f"a continuous audit ({', '.join(map(str, continuous))}) cannot be compared with a catalogue "
                         f"audit ({', '.join(discrete)}): their findings are of different kinds; compare continuous "
                         "audits with each other, catalogue audits with each other")
    out = args.out or (args.dirs[0] if len(args.dirs) == 1 else Path("comparison"))
    foreign = (out / LOG_NAME).exists() and out.resolve() not in {d.resolve() for d in args.dirs}
    if foreign and not args.overwrite:
        raise AuditFolderError(f"{out} holds another audit; its report files would be overwritten. "
                               "Choose another --out, or pass --overwrite")
    if continuous and len(loaded_audits) > 1:
        from robofail_ros.report.scene_compare import write_scene_comparison

        for d, analysis, _ in loaded_audits:
            analysis.label = analysis.label or d.name
        files = write_scene_comparison([a for _, a, _ in loaded_audits], out, console=_table_console())
    elif continuous:
        [(_, analysis, loaded)] = loaded_audits
        print_scene_summary(analysis, console=_table_console())
        files = write_scene_report(analysis, loaded.episodes, out) + write_failure_stages(loaded.episodes, out)
    else:
        analyses = []
        for d, analysis, _ in loaded_audits:
            if len(args.dirs) > 1:  # one row per audit folder when comparing
                analysis.label = analysis.label or d.name
            analyses.append(analysis)
            print_summary(analysis, console=_table_console())
        files = write_report(analyses, out)
        if len(loaded_audits) == 1:
            files += write_failure_stages(loaded_audits[0][2].episodes, out)
    for f in files:
        print(f)
    return 0


def _replay(args: argparse.Namespace) -> int:
    from robofail_ros.audit import worst_failure
    from robofail_ros.episode import run_episode
    from robofail_ros.policies import load_policy
    from robofail_ros.report import write_video
    from robofail_ros.scene_audit import worst_records
    from robofail_ros.sim import Simulation

    loaded, config = _read_audit(args.dir)
    if args.episode is None:  # only then is the analysis needed (a continuous one is a model fit)
        analysis = _analyse(args.dir, loaded, config)
        if config.continuous:
            target = next(iter(worst_records(analysis, loaded.episodes)), None)
        else:
            target = worst_failure(loaded.episodes, analysis)
        if target is None:
            print("robofail: error: no failed episode in this audit; pass --episode ID", file=sys.stderr)
            return 2
    else:
        matches = [r for r in loaded.episodes if r.episode_id == args.episode]
        if not matches:
            ids = ", ".join(r.episode_id for r in loaded.episodes[:5])
            known = f"ids look like: {ids}, …" if ids else "this audit has no episodes yet"
            print(f"robofail: error: unknown episode {args.episode!r}; {known}", file=sys.stderr)
            return 2
        target = matches[0]
    sim = Simulation(config.sim, seed=config.seed)
    policy = load_policy(config.policy)
    policy.bind(sim.scene)
    record = run_episode(sim, policy, target.perturbations, target.seed, episode_id=target.episode_id,
                         film_size=args.size, scene=target.scene)
    name = f"replay_{target.episode_id}.mp4"
    path = write_video(record.frames, args.dir / name)
    same = record.outcome == target.outcome and record.steps == target.steps
    print(json.dumps({"episode": target.episode_id, "perturbations": target.perturbations, "scene": target.scene,
                      "seed": target.seed,
                      "logged": [target.outcome, target.steps], "replayed": [record.outcome, record.steps],
                      "reproduced": same, "video": str(path)}, indent=2))
    return 0 if same else 1


@contextlib.contextmanager
def _ctrl_c_raises():
    """SIGINT raises KeyboardInterrupt in here, whatever this process inherited; the old disposition after.

    SIGINT is how an audit is stopped (Ctrl-C, `docker stop`, `kill -INT`), and the stop writes the report of
    the finished episodes. But Python makes SIGINT a KeyboardInterrupt only if its parent left SIGINT at the
    default: started with SIGINT ignored (a background job of a non-interactive shell, for one) or blocked, the
    audit ignored every stop request, ran its whole budget and exited 0.
    """
    if threading.current_thread() is not threading.main_thread():  # only the main thread may set handlers
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    blocked = signal.SIGINT in signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        if blocked:
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        if previous is not None:  # None: set outside Python, nothing to restore it with
            signal.signal(signal.SIGINT, previous)


def main(argv: list[str] | None = None) -> int:
    with _ctrl_c_raises():
        return _main(argv)


def _main(argv: list[str] | None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        if args.command == "zoo":
            from robofail_ros.zoo import cli as zoo_cli

            return zoo_cli.run(args)
        return {"audit": _audit, "report": _report, "replay": _replay}[args.command](args)
    except (CatalogueError, PolicySpecError, AuditFolderError, CheckpointError, ValueError, FileNotFoundError,
            FolderBusyError, PolicyCannotRun) as exc:
        print(f"robofail: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:
        from robofail_ros.audit import AuditInterrupted
        from robofail_ros.zoo.train import RESUME_EVERY_S, TrainingInterrupted  # no torch import at module level

        if isinstance(exc, TrainingInterrupted):
            print(f"robofail: interrupted while training {exc.checkpoint.parent.name}; its state at step "
                  f"{exc.saved_steps} of {exc.total_steps} is saved (one every {RESUME_EVERY_S:.0f} s) — run the same "
                  "command to resume from there", file=sys.stderr)
            return 130

        report = ""
        if isinstance(exc, AuditInterrupted) and exc.files:  # run_audit wrote the report of the episodes done
            report = f"; the report of those ({exc.mark}) is in {exc.files[0].parent}"
        done = f" after {exc.done} of {exc.total} episodes" if isinstance(exc, AuditInterrupted) else ""
        print(f"robofail: interrupted{done}; every finished episode is in the log{report} — run the same "
              "command to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
