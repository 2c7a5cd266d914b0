"""`robofail`: audit a policy headless, redraw a report, replay and film any logged episode."""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from robofail_ros.audit import AuditFolderError
from robofail_ros.catalogue import CatalogueError, available_tasks
from robofail_ros.config import SEARCHERS, AuditConfig, PPOConfig
from robofail_ros.policies import PolicySpecError
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="robofail", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")
    sub = parser.add_subparsers(dest="command", required=True)

    audit = sub.add_parser("audit", help="find the scene conditions under which a policy fails")
    audit.add_argument("--task", default=DEFAULTS.sim.task, help=f"robosuite task (catalogues: {', '.join(available_tasks())})")
    audit.add_argument("--catalogue", default=None, help="perturbation catalogue YAML (default: the task's)")
    audit.add_argument("--policy", default=DEFAULTS.policy, help="vision, expert, robomimic:PATH (a zoo model), or package.module:ClassName")
    audit.add_argument("--searcher", default=DEFAULTS.searcher, choices=SEARCHERS)
    audit.add_argument("--episodes", type=_positive_int, default=DEFAULTS.episodes, help="searcher episode budget")
    audit.add_argument("--control-episodes", type=_positive_int, default=DEFAULTS.control_episodes,
                       help="unperturbed episodes (also the size of the initial-state pool)")
    audit.add_argument("--workers", type=_positive_int, default=default_worker_count())
    audit.add_argument("--seed", type=int, default=DEFAULTS.seed)
    audit.add_argument("--horizon", type=_positive_int, default=None, help="control steps per episode (default: per task)")
    audit.add_argument("--max-depth", type=_positive_int, default=None,
                       help="perturbations an adversary episode may stack (default: 2 for ppo, 1 otherwise)")
    audit.add_argument("--n-steps", type=_positive_int, default=PPOConfig().n_steps, help="PPO episodes per worker per update")
    audit.add_argument("--out", type=Path, default=None, help="output folder (default: audits/<task>-<policy>-<searcher>-s<seed>)")
    audit.add_argument("--overwrite", action="store_true", help="discard an existing audit in --out instead of resuming it")
    audit.add_argument("--no-video", action="store_true", help="skip filming the worst failure")

    report = sub.add_parser("report", help="redraw the report of one audit, or compare several (one per model)")
    report.add_argument("dirs", type=Path, nargs="+", help="audit folders (each holds episodes.jsonl)")
    report.add_argument("--out", type=Path, default=None, help="where to write (default: the audit folder, or ./comparison)")
    report.add_argument("--overwrite", action="store_true", help="allow writing into another audit's folder")

    replay = sub.add_parser("replay", help="re-run a logged episode from its seed and perturbations and film it")
    replay.add_argument("dir", type=Path, help="audit folder")
    replay.add_argument("--episode", default=None, help="episode id (default: the worst failure)")
    replay.add_argument("--size", type=_positive_int, default=256, help="video frame size in pixels")

    from robofail_ros.zoo import cli as zoo_cli

    zoo_cli.add_parser(sub, _positive_int)
    return parser


def _audit(args: argparse.Namespace) -> int:
    from rich.console import Console
    from tqdm import tqdm

    from robofail_ros.audit import run_audit
    from robofail_ros.report import print_summary

    sim = SimConfig(task=args.task, horizon=args.horizon or 0, catalogue=args.catalogue)
    config = AuditConfig(sim=sim, policy=args.policy, searcher=args.searcher, episodes=args.episodes,
                         control_episodes=args.control_episodes, seed=args.seed, workers=args.workers,
                         max_depth=args.max_depth or 0, ppo=PPOConfig(n_steps=args.n_steps))
    policy_tag = args.policy.replace(":", "_").replace("/", "_").replace(".", "_")
    out = args.out or Path("audits") / f"{args.task.lower()}-{policy_tag}-{args.searcher}-s{args.seed}"
    console = Console(stderr=True)
    console.print(f"[bold]robofail audit[/] {args.task} / {args.policy} / {args.searcher}: "
                  f"{config.control_episodes} control + {config.episodes} searched episodes on {config.workers} worker(s) → {out}")
    bar = tqdm(total=config.control_episodes + config.episodes, unit="ep", desc="episodes", dynamic_ncols=True)
    failures = 0

    def progress(record, done, total):
        nonlocal failures
        failures += record.outcome == "failure"
        bar.n = done
        bar.set_postfix(failures=failures, last=("+".join(record.perturbations) or "control")[:24], refresh=False)
        bar.refresh()

    try:
        result = run_audit(config, out, overwrite=args.overwrite, on_record=progress, film=not args.no_video)
    finally:
        bar.close()
    print_summary(result.analysis, console=_table_console())
    console.print(f"{len(result.records)} episodes in {result.wall_time:.0f} s; files in {out}:")
    for f in result.files:
        console.print(f"  {f}")
    return 0


def _load_analysis(folder: Path):
    from robofail_ros.analysis import analyse
    from robofail_ros.catalogue import load_catalogue
    from robofail_ros.record import LOG_NAME, load_log

    loaded = load_log(folder / LOG_NAME)
    if loaded.header is None:
        raise FileNotFoundError(f"{folder / LOG_NAME} is missing or has no header: not an audit folder")
    config = AuditConfig.from_json(loaded.header["config"])
    catalogue = load_catalogue(config.sim.catalogue or config.sim.task)
    finals = [s for s in loaded.snapshots if "pi" in s]
    pi = finals[-1]["pi"] if finals else None
    policy_id = loaded.episodes[0].policy_id if loaded.episodes else config.policy
    analysis = analyse(loaded.episodes, catalogue, policy_id, config.searcher, pi=pi, budget=config.episodes)
    return analysis, loaded, config


def _report(args: argparse.Namespace) -> int:
    from robofail_ros.record import LOG_NAME
    from robofail_ros.report import print_summary, write_report

    analyses = []
    for d in args.dirs:
        analysis, loaded, _ = _load_analysis(d)
        if loaded.damaged_lines:
            print(f"{d}: skipped damaged log line(s) {loaded.damaged_lines}", file=sys.stderr)
        if len(args.dirs) > 1:  # one row per audit folder when comparing
            analysis.label = analysis.label or d.name
        analyses.append(analysis)
        print_summary(analysis, console=_table_console())
    out = args.out or (args.dirs[0] if len(args.dirs) == 1 else Path("comparison"))
    foreign = (out / LOG_NAME).exists() and out.resolve() not in {d.resolve() for d in args.dirs}
    if foreign and not args.overwrite:
        raise AuditFolderError(f"{out} holds another audit; its report files would be overwritten. "
                               "Choose another --out, or pass --overwrite")
    for f in write_report(analyses, out):
        print(f)
    return 0


def _replay(args: argparse.Namespace) -> int:
    from robofail_ros.audit import worst_failure
    from robofail_ros.episode import run_episode
    from robofail_ros.policies import load_policy
    from robofail_ros.report import write_video
    from robofail_ros.sim import Simulation

    analysis, loaded, config = _load_analysis(args.dir)
    if args.episode is None:
        target = worst_failure(loaded.episodes, analysis)
        if target is None:
            print("no failed episode in this audit; pass --episode ID", file=sys.stderr)
            return 2
    else:
        matches = [r for r in loaded.episodes if r.episode_id == args.episode]
        if not matches:
            ids = ", ".join(r.episode_id for r in loaded.episodes[:5])
            print(f"unknown episode {args.episode!r}; ids look like: {ids}, …", file=sys.stderr)
            return 2
        target = matches[0]
    sim = Simulation(config.sim, seed=config.seed)
    policy = load_policy(config.policy)
    policy.bind(sim.scene)
    record = run_episode(sim, policy, target.perturbations, target.seed, episode_id=target.episode_id, film_size=args.size)
    name = f"replay_{target.episode_id}.mp4"
    path = write_video(record.frames, args.dir / name)
    same = record.outcome == target.outcome and record.steps == target.steps
    print(json.dumps({"episode": target.episode_id, "perturbations": target.perturbations, "seed": target.seed,
                      "logged": [target.outcome, target.steps], "replayed": [record.outcome, record.steps],
                      "reproduced": same, "video": str(path)}, indent=2))
    return 0 if same else 1


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        if args.command == "zoo":
            from robofail_ros.zoo import cli as zoo_cli

            return zoo_cli.run(args)
        return {"audit": _audit, "report": _report, "replay": _replay}[args.command](args)
    except (CatalogueError, PolicySpecError, AuditFolderError, CheckpointError, ValueError, FileNotFoundError) as exc:
        print(f"robofail: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("robofail: interrupted; every finished episode is in the log — run the same command to resume",
              file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
