"""`robofail zoo build | list | audit`: the policy-zoo experiment from the command line."""
from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

from robofail_ros.config import CONTINUOUS_SEARCHERS, DEFAULT_EPISODES, SEARCHERS
from robofail_ros.failure_stages import describe, ordered_stages

#: Searched episodes per model of a catalogue zoo audit: 4 per perturbation of the 27-scene Lift catalogue.
ZOO_EPISODES = 108
from robofail_ros.zoo.spec import (ALGOS, CURVE_EPISODES, DEFAULT_BUILD, DEFAULT_DEMOS, MODALITIES, NOMINAL_EPISODES, TASKS, Budget,
                                   check_choice, default_budget, parse_model_name)


def _choices(what: str, accepted: tuple[str, ...]):
    def parse(text: str) -> list[str]:
        values = [v.strip() for v in text.split(",") if v.strip()]
        try:
            return [check_choice(what, v, accepted) for v in values] or list(accepted)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
    return parse


def _model_names(text: str) -> list[tuple[str, str, str | None]]:
    try:
        return [parse_model_name(n) for n in text.split(",") if n.strip()]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {text!r}")
    return value


def add_parser(sub, positive_int) -> None:
    """Register `zoo` and its subcommands on the main parser's subparsers."""
    zoo = sub.add_parser("zoo", help="robomimic policies trained here from scripted demos, and their audits")
    zsub = zoo.add_subparsers(dest="zoo_command", required=True)

    build = zsub.add_parser("build", help="record demos, train every (algorithm, modality), measure nominal success")
    build.add_argument("--task", default="Lift", type=_choices("task", TASKS), help=f"one of {', '.join(TASKS)}")
    build.add_argument("--algos", type=_choices("algorithm", ALGOS), default=None,
                       help=f"{','.join(ALGOS)} (with --modalities: their cross product; default: the default build)")
    build.add_argument("--modalities", type=_choices("modality", MODALITIES), default=None, help=",".join(MODALITIES))
    build.add_argument("--demos", type=positive_int, default=DEFAULT_DEMOS, help="demonstrations to record/train on")
    build.add_argument("--steps", type=positive_int, default=None, help="gradient steps for every model (default: per model, see spec.py)")
    build.add_argument("--batch-size", type=positive_int, default=None, help="batch size for every model (default: per model)")
    build.add_argument("--nominal-episodes", type=positive_int, default=NOMINAL_EPISODES, help="unperturbed episodes for nominal success")
    build.add_argument("--seed", type=int, default=0, help="demo and training seed")
    build.add_argument("--model", dest="models", type=_model_names, default=None,
                       help="only these models, e.g. bc-image or bc-image,bc_rnn-image_proprio (instead of --algos x --modalities)")
    build.add_argument("--curve", type=_non_negative_int, default=0,
                       help="learning-curve snapshots evaluated during training (nominal success at evenly spaced steps)")
    build.add_argument("--curve-episodes", type=positive_int, default=CURVE_EPISODES, help="unperturbed episodes per snapshot")

    zsub.add_parser("list", help="the cached zoo models with their budget and nominal success")

    curves = zsub.add_parser("curves", help="plot the learning curves of the cached models (built with --curve)")
    curves.add_argument("--task", default="Lift", type=_choices("task", TASKS))
    curves.add_argument("--out", type=Path, default=Path("audits/zoo/learning_curves.png"), help="PNG to write")
    curves.add_argument("--target", type=float, default=0.8, help="nominal-success bar drawn as a dashed line")

    audit = zsub.add_parser("audit", help="audit every zoo model with the same catalogue and budget; write the figures")
    audit.add_argument("--task", default="Lift", type=_choices("task", TASKS))
    audit.add_argument("--searcher", default="uniform", choices=SEARCHERS,
                       help="uniform by default: every perturbation equally often from the same initial states for every "
                            f"model; {', '.join(CONTINUOUS_SEARCHERS)} search the task's factor box instead")
    audit.add_argument("--episodes", type=positive_int, default=None,
                       help=f"searched episodes per model (default {ZOO_EPISODES}; with a continuous searcher "
                            f"{DEFAULT_EPISODES['continuous']}, the continuous audit's default)")
    audit.add_argument("--control-episodes", type=positive_int, default=20, help="unperturbed episodes per model")
    audit.add_argument("--workers", type=positive_int, default=None)
    audit.add_argument("--seed", type=int, default=0)
    audit.add_argument("--out", type=Path, default=Path("audits/zoo"), help="one folder per model inside, figures at the top")
    audit.add_argument("--video", action="store_true", help="film each model's worst failure")
    audit.add_argument("--model", dest="models", type=_model_names, default=None,
                       help="only these cached models, e.g. bc-image,bc-low_dim (default: every model of the task)")
    audit.add_argument("--min-nominal-success", type=float, default=None,
                       help="audit only models at least this successful unperturbed (default 0.2; 0 audits all but 0/N)")


def _console():
    from rich.console import Console

    return Console(width=None if sys.stdout.isatty() else 140)


def _fmt_stages(meta) -> str:
    """`; failures stopped at: none 3, grasped cube A 9`: where the failed nominal episodes got stuck."""
    stages = Counter({s or "not recorded": n for s, n in meta.nominal_failure_stages.items()})
    return "; failures stopped at: " + describe(stages, ordered_stages(meta.task, stages)) if stages else ""


def _fmt_nominal(meta) -> str:
    lo, hi = meta.nominal_ci
    return f"{meta.nominal_successes}/{meta.nominal_episodes} [{100 * lo:.0f}, {100 * hi:.0f}]%"


def _fmt_curve(meta) -> str:
    """`2k: 3/20, 4k: 9/20, 8k: 41/50`: nominal success along training, the final model last."""
    def steps(n: int) -> str:
        return f"{n // 1000}k" if n % 1000 == 0 else str(n)
    return ", ".join(f"{steps(p['steps'])}: {p['successes']}/{p['episodes']}" for p in meta.curve[:-1]) if len(meta.curve) > 1 else ""


def _models_table(metas, title: str):
    from rich.table import Table

    table = Table(title=title)
    for col in ("model", "steps", "batch", "demos", "train s", "eval s", "nominal success [95% CI]", "learning curve"):
        table.add_column(col, justify="left" if col in ("model", "learning curve") else "right")
    for m in metas:
        b = m.budget
        table.add_row(m.name, str(b["steps"]), str(b["batch_size"]), str(b["demos"]), f"{m.train_wall_time_s:.0f}",
                      f"{m.eval_wall_time_s:.0f}", _fmt_nominal(m), _fmt_curve(m))
    return table


def _requested_models(args: argparse.Namespace) -> tuple[str, list[tuple[str, str]]]:
    """(task, [(algorithm, modality)]) from --model, or --algos x --modalities; a model name's task must match --task."""
    task = args.task[0]
    if not args.models:
        if args.algos is None and args.modalities is None:
            return task, list(DEFAULT_BUILD)
        return task, [(a, m) for m in (args.modalities or MODALITIES) for a in (args.algos or ALGOS)]
    named = {t for _, _, t in args.models if t}
    if len(named) > 1 or (named and args.task != ["Lift"] and named != {task}):
        raise ValueError(f"--model names task(s) {', '.join(sorted(named))} but --task is {task}; one task per build")
    return (named.pop() if named else task), [(a, m) for a, m, _ in args.models]


def _plan_table(rows, title: str):
    from rich.table import Table

    from robofail_ros.zoo.estimate import format_duration

    table = Table(title=title)
    for col in ("model", "steps", "batch", "now", "train", "evaluate"):
        table.add_column(col, justify="left" if col in ("model", "now") else "right")
    for name, budget, plan, est in rows:
        state = ("cached" if plan.cached else f"resume at {plan.resume_steps}" if plan.resume_steps else "train")
        table.add_row(name, str(budget.steps), str(budget.batch_size), state,
                      format_duration(est.train_s), format_duration(est.eval_s))
    return table


def _build(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from robofail_ros.sim import SimConfig, Simulation
    from robofail_ros.zoo import cache
    from robofail_ros.zoo.build import build_model, curve_steps, ensure_dataset, plan_model
    from robofail_ros.zoo.estimate import Estimate, demos_seconds, episode_seconds, format_duration, model_estimate, step_seconds
    from robofail_ros.zoo.spec import model_name

    task, models = _requested_models(args)
    console = _console()
    recorded = cache.dataset_path(task, args.demos, args.seed).is_file()
    if not recorded:
        console.print(f"{task}: recording {args.demos} demos first, about {format_duration(demos_seconds(task, args.demos))}")
    bar = tqdm(total=args.demos, desc=f"{task} demos", unit="demo", dynamic_ncols=True, disable=recorded)
    dataset = ensure_dataset(task, args.demos, args.seed, on_demo=lambda k, n: bar.update(k - bar.n))
    bar.close()
    dataset_sha = cache.sha256_file(dataset)
    console.print(f"dataset {dataset} (sha256 {dataset_sha[:12]}…)")
    rows = []
    for algo, modality in models:
        d = default_budget(algo, modality, args.demos, task)
        budget = Budget(args.steps or d.steps, args.batch_size or d.batch_size, args.demos)
        plan = plan_model(task, algo, modality, dataset, dataset_sha, budget, args.nominal_episodes, args.seed)
        est = Estimate(0.0, 0.0) if plan.cached else model_estimate(
            algo, modality, task, budget, args.nominal_episodes, len(curve_steps(budget.steps, args.curve)),
            args.curve_episodes, plan.resume_steps)
        rows.append((model_name(algo, modality, task), budget, plan, est))
    total = sum(est.total_s for *_, est in rows)
    console.print(_plan_table(rows, f"zoo build plan ({task}): about {format_duration(total)} on this machine"))
    overall = tqdm(total=round(total), desc="zoo build", unit="s", dynamic_ncols=True, position=0,
                   bar_format="{l_bar}{bar}| {percentage:3.0f}% [{elapsed}<{remaining}]", disable=total == 0)
    sim = Simulation(SimConfig(task=task), seed=args.seed)
    metas = []
    planned_so_far = 0.0
    try:
        for (name, budget, plan, est), (algo, modality) in zip(rows, models):
            bar = tqdm(total=budget.steps, initial=plan.resume_steps, desc=name, unit="step", dynamic_ncols=True,
                       position=1, leave=False, disable=plan.cached is not None)
            per_step, per_episode = step_seconds(algo, modality, budget.batch_size), episode_seconds(algo, modality, task)

            def progress(done, total_steps, log, bar=bar, per_step=per_step):
                overall.update(per_step * (done - bar.n))
                bar.n = done
                bar.set_postfix(loss=f"{log.get('Loss', float('nan')):.3f}", refresh=False)
                bar.refresh()

            def curve(point, name=name):
                overall.write(f"{name}: {point['successes']}/{point['episodes']} nominal at step {point['steps']}")

            meta, trained = build_model(sim, algo, modality, dataset, dataset_sha, budget,
                                        nominal_episodes=args.nominal_episodes, seed=args.seed, on_progress=progress,
                                        curve_points=args.curve, curve_episodes=args.curve_episodes, on_curve=curve,
                                        on_episode=lambda k, n, e=per_episode: overall.update(e))
            bar.close()
            planned_so_far += est.total_s
            overall.n = round(min(planned_so_far, total))  # re-anchor on the plan after each model
            overall.refresh()
            overall.write(f"{meta.name}: {'trained' if trained else 'cached'}, nominal success {_fmt_nominal(meta)}"
                          + _fmt_stages(meta))
            metas.append(meta)
    finally:
        overall.close()
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
    from robofail_ros.zoo.spec import model_name

    task, models = _requested_models(args) if args.models else (args.task[0], None)
    continuous = args.searcher in CONTINUOUS_SEARCHERS
    episodes = args.episodes or (DEFAULT_EPISODES["continuous"] if continuous else ZOO_EPISODES)
    audit_zoo(task=task, searcher=args.searcher, episodes=episodes,
              control_episodes=args.control_episodes, workers=args.workers, seed=args.seed, out=args.out,
              film=args.video, console=_console(), only=[model_name(a, m, task) for a, m in models] if models else None,
              **({} if args.min_nominal_success is None else {"min_nominal": args.min_nominal_success}))
    return 0


def _curves(args: argparse.Namespace) -> int:
    from robofail_ros.report.learning_curves import plot_learning_curves
    from robofail_ros.zoo import cache

    task = args.task[0]
    models = [m for _, m in cache.list_models() if m.task == task]
    path = plot_learning_curves([(m.name, m.curve) for m in models], args.out,
                                title=f"{task}: nominal success during training", target=args.target)
    print(f"wrote {path} ({sum(len(m.curve) > 1 for m in models)} of {len(models)} {task} models have a curve)")
    return 0


def run(args: argparse.Namespace) -> int:
    return {"build": _build, "list": _list, "audit": _audit, "curves": _curves}[args.zoo_command](args)
