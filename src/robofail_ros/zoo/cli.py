"""`robofail zoo build | list | audit`: the policy-zoo experiment from the command line."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from robofail_ros.config import SEARCHERS
from robofail_ros.zoo.spec import ALGOS, DEFAULT_DEMOS, MODALITIES, NOMINAL_EPISODES, TASKS, Budget, check_choice, default_budget


def _choices(what: str, accepted: tuple[str, ...]):
    def parse(text: str) -> list[str]:
        values = [v.strip() for v in text.split(",") if v.strip()]
        try:
            return [check_choice(what, v, accepted) for v in values] or list(accepted)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
    return parse


def add_parser(sub, positive_int) -> None:
    """Register `zoo` and its subcommands on the main parser's subparsers."""
    zoo = sub.add_parser("zoo", help="robomimic policies trained here from scripted demos, and their audits")
    zsub = zoo.add_subparsers(dest="zoo_command", required=True)

    build = zsub.add_parser("build", help="record demos, train every (algorithm, modality), measure nominal success")
    build.add_argument("--task", default="Lift", type=_choices("task", TASKS), help=f"one of {', '.join(TASKS)}")
    build.add_argument("--algos", type=_choices("algorithm", ALGOS), default=list(ALGOS), help=",".join(ALGOS))
    build.add_argument("--modalities", type=_choices("modality", MODALITIES), default=list(MODALITIES),
                       help=",".join(MODALITIES))
    build.add_argument("--demos", type=positive_int, default=DEFAULT_DEMOS, help="demonstrations to record/train on")
    build.add_argument("--steps", type=positive_int, default=None, help="gradient steps for every model (default: per model, see spec.py)")
    build.add_argument("--batch-size", type=positive_int, default=None, help="batch size for every model (default: per model)")
    build.add_argument("--nominal-episodes", type=positive_int, default=NOMINAL_EPISODES, help="unperturbed episodes for nominal success")
    build.add_argument("--seed", type=int, default=0, help="demo and training seed")

    zsub.add_parser("list", help="the cached zoo models with their budget and nominal success")

    audit = zsub.add_parser("audit", help="audit every zoo model with the same catalogue and budget; write the figures")
    audit.add_argument("--task", default="Lift", type=_choices("task", TASKS))
    audit.add_argument("--searcher", default="uniform", choices=SEARCHERS,
                       help="uniform by default: every perturbation equally often from the same initial states for every model")
    audit.add_argument("--episodes", type=positive_int, default=108, help="searched episodes per model")
    audit.add_argument("--control-episodes", type=positive_int, default=20, help="unperturbed episodes per model")
    audit.add_argument("--workers", type=positive_int, default=None)
    audit.add_argument("--seed", type=int, default=0)
    audit.add_argument("--out", type=Path, default=Path("audits/zoo"), help="one folder per model inside, figures at the top")
    audit.add_argument("--video", action="store_true", help="film each model's worst failure")
    audit.add_argument("--min-nominal-success", type=float, default=None,
                       help="audit only models at least this successful unperturbed (default 0.2; 0 audits all but 0/N)")


def _console():
    from rich.console import Console

    return Console(width=None if sys.stdout.isatty() else 140)


def _fmt_nominal(meta) -> str:
    lo, hi = meta.nominal_ci
    return f"{meta.nominal_successes}/{meta.nominal_episodes} [{100 * lo:.0f}, {100 * hi:.0f}]%"


def _models_table(metas, title: str):
    from rich.table import Table

    table = Table(title=title)
    for col in ("model", "steps", "batch", "demos", "train s", "eval s", "nominal success [95% CI]"):
        table.add_column(col, justify="left" if col == "model" else "right")
    for m in metas:
        b = m.budget
        table.add_row(m.name, str(b["steps"]), str(b["batch_size"]), str(b["demos"]), f"{m.train_wall_time_s:.0f}",
                      f"{m.eval_wall_time_s:.0f}", _fmt_nominal(m))
    return table


def _build(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from robofail_ros.sim import SimConfig, Simulation
    from robofail_ros.zoo import cache
    from robofail_ros.zoo.build import build_model, ensure_dataset

    task = args.task[0]
    console = _console()
    bar = tqdm(total=args.demos, desc=f"{task} demos", unit="demo", dynamic_ncols=True)
    dataset = ensure_dataset(task, args.demos, args.seed, on_demo=lambda k, n: bar.update(k - bar.n))
    bar.close()
    dataset_sha = cache.sha256_file(dataset)
    console.print(f"dataset {dataset} (sha256 {dataset_sha[:12]}…)")
    sim = Simulation(SimConfig(task=task), seed=args.seed)
    metas = []
    try:
        for modality in args.modalities:
            for algo in args.algos:
                d = default_budget(algo, modality, args.demos, task)
                budget = Budget(args.steps or d.steps, args.batch_size or d.batch_size, args.demos)
                bar = tqdm(total=budget.steps, desc=f"{algo}-{modality}", unit="step", dynamic_ncols=True)

                def progress(done, total, log, bar=bar):
                    bar.n = done
                    bar.set_postfix(loss=f"{log.get('Loss', float('nan')):.3f}", refresh=False)
                    bar.refresh()

                meta, trained = build_model(sim, algo, modality, dataset, dataset_sha, budget,
                                            nominal_episodes=args.nominal_episodes, seed=args.seed, on_progress=progress)
                bar.close()
                console.print(f"{meta.name}: {'trained' if trained else 'cached'}, nominal success {_fmt_nominal(meta)}")
                metas.append(meta)
    finally:
        sim.close()
    console.print(_models_table(metas, f"zoo ({task}) in {cache.zoo_dir()}"))
    return 0


def _list(args: argparse.Namespace) -> int:
    from robofail_ros.zoo import cache

    models = cache.list_models()
    if not models:
        print(f"no zoo models in {cache.zoo_dir()}; run `robofail zoo build`", file=sys.stderr)
        return 1
    _console().print(_models_table([m for _, m in models], f"zoo models in {cache.zoo_dir()}"))
    for folder, meta in models:
        print(f"robomimic:{folder}  ckpt sha256 {meta.checkpoint_sha256[:12]}…  dataset sha256 {meta.dataset_sha256[:12]}…")
    return 0


def _audit(args: argparse.Namespace) -> int:
    from robofail_ros.zoo.audit import audit_zoo

    audit_zoo(task=args.task[0], searcher=args.searcher, episodes=args.episodes,
              control_episodes=args.control_episodes, workers=args.workers, seed=args.seed, out=args.out,
              film=args.video, console=_console(),
              **({} if args.min_nominal_success is None else {"min_nominal": args.min_nominal_success}))
    return 0


def run(args: argparse.Namespace) -> int:
    return {"build": _build, "list": _list, "audit": _audit}[args.zoo_command](args)
