"""The planted study's audits replayed with first-frame outcomes: same searcher, analysis, truth and scores, 3x faster.

Why. A planted policy decides from its first frame alone (bench/planted_policies.py): it freezes, and so fails,
exactly when its rule fires on that frame (the coin included, drawn from the initial state), and otherwise the
privileged expert succeeds. So an episode's outcome is known once its first frame is rendered, without the 100
steps of the episode. That makes a searcher change measurable on all three planted policies in minutes instead of
most of an hour. It is a replay, not a substitute: the first 205 searched episodes of ColourfulTableCoin seed 1
gave the same scenes and the same 205 outcomes as the real study's episodes (the searcher diverged after that
only because it had changed in between); `continuous_study.py --check-truth` compares real episodes with the rule,
and test/test_planted.py checks the rendered frame against the reset one bit for bit. A change is kept on replayed
evidence and the real study (`bench/continuous_study.py`) is its benchmark of record.

Each run's log and scores go to <out>/<policy>/<searcher>-s<seed>/ like the study's (the scores come from the
study's own `score_run`), and the truths are read from (or measured into) <out>. Prints one line per run, then a
table.

Run:  .venv/bin/python bench/planted_replay.py [--policies DarkFreeze ...] [--searchers boundary] [--seeds 1 2 3]
      [--budget 600] [--checkpoints 512 600] [--out audits/planted_replay] [--evaluate-only]
      --evaluate-only scores the logged replays at the given checkpoints (cached per run) and replays none.
      --claims lists every pair each run claims to interact at the budget, with the pair's true S2 (measured by
      planted_truth.pair_indices when the truth did not keep it), so false claims can be counted.
      A run whose log already holds the whole budget is not replayed again (a stopped study resumes at the first
      unfinished run); --fresh replays every run.
"""
from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

import continuous_study  # noqa: E402  (sets up the paths, MUJOCO_GL and the planted modules)
import numpy as np  # noqa: E402
import planted_policies  # noqa: E402
import planted_truth  # noqa: E402

from robofail_ros.audit import audit_header  # noqa: E402
from robofail_ros.catalogue import load_catalogue  # noqa: E402
from robofail_ros.config import INITIAL_STATES, AuditConfig, SceneSearchConfig, episode_seed  # noqa: E402
from robofail_ros.episode import FAILURE, SUCCESS, EpisodeRecord  # noqa: E402
from robofail_ros.record import LOG_NAME, AuditLog, Recorder, load_log  # noqa: E402
from robofail_ros.searchers import make_searcher  # noqa: E402
from robofail_ros.searchers.base import SearchContext  # noqa: E402
from robofail_ros.sim import SimConfig  # noqa: E402

#: Searchers that need no vectorised environment (PPO-box trains its own on real episodes).
REPLAYABLE = ("boundary", "sobol", "cmaes")
CONTROL_EPISODES = 30


@dataclass
class NoVecEnv:
    """What a scene searcher reads of the worker pool: its width only."""

    num_envs: int = 2


def first_frame_outcome(oracle: planted_truth.FrameOracle, policy: planted_policies.PlantedPolicy, episode_id: str,
                        seed: int, searcher: str, scene: dict | None) -> EpisodeRecord:
    """The record of the episode from initial state `seed` in `scene` (None: the nominal scene), its outcome read
    off the first frame by the policy's own rule (test/test_planted.py holds it equal to the real episode's)."""
    space = oracle.space
    unit = space.to_unit(space.vector(scene) if scene else np.asarray(space.nominal, dtype=float))
    frames, cube_pos = oracle.frames(np.asarray(unit)[None, :], seed)
    failed = bool(policy.freezes(frames[0], cube_pos))
    return EpisodeRecord(episode_id, seed, [], FAILURE if failed else SUCCESS, 100 if failed else 50,
                         1000.0 if failed else -2.0, 0.0, f"replay_{type(policy).__name__}", space.task,
                         searcher=searcher, scene=dict(scene) if scene else None)


class FirstFrameContext(SearchContext):
    """Runs each job through `first_frame_outcome`, recording it as a worker would."""

    oracle: planted_truth.FrameOracle
    policy: planted_policies.PlantedPolicy

    def run_jobs(self, jobs) -> None:
        for job in jobs:
            self.recorder.add(first_frame_outcome(self.oracle, self.policy, job.episode_id, job.seed, job.searcher,
                                                  job.scene))


def replay(oracle: planted_truth.FrameOracle, name: str, searcher: str, seed: int, budget: int,
           run_dir: Path, initial_states: str = SceneSearchConfig().initial_states) -> None:
    """One audit of `name` by `searcher`, from scratch, into run_dir (an earlier replay there is replaced)."""
    policy = planted_policies.PLANTED[name]()
    policy.bind(oracle.sim.scene)
    run_dir.mkdir(parents=True, exist_ok=True)
    for stale in (LOG_NAME, "scores.json"):
        (run_dir / stale).unlink(missing_ok=True)
    config = AuditConfig(sim=SimConfig(task=oracle.space.task, catalogue=str(oracle.catalogue)), searcher=searcher,
                         episodes=budget, control_episodes=CONTROL_EPISODES, seed=seed,
                         search=SceneSearchConfig(initial_states=initial_states))
    with AuditLog(run_dir / LOG_NAME) as log:
        # a header as a real audit's, so `./robofail report` and `replay` read the replay like any audit
        log.write_header(audit_header(config, load_catalogue(oracle.catalogue).names, oracle.space))
        ctx = FirstFrameContext(config, NoVecEnv(), Recorder(log, []), log, [], run_dir, space=oracle.space)
        ctx.oracle, ctx.policy = oracle, policy
        for i in range(CONTROL_EPISODES):  # the control episodes: the nominal scene, from the shared pool
            ctx.recorder.add(first_frame_outcome(oracle, policy, f"control-{i:04d}",
                                                 episode_seed(seed, i, CONTROL_EPISODES), "control", None))
        make_searcher(searcher).run(ctx, budget)


def claimed_pairs(oracle: planted_truth.FrameOracle, truth: planted_truth.Truth, name: str, run_dir: Path,
                  budget: int, searcher: str, seed: int, measured: dict) -> list[str]:
    """'a × b: S2 est ± half-width, true S2' for each pair the run's report claims at `budget` episodes.

    The analysis is the product's own (`analyse_scenes`, the audit's seed), so these are the claims a user read.
    A true S2 the truth did not keep (it measures its three largest SALib pairs) is measured here on the same
    10 x 10 grid of conditional means, once per policy and pair (`measured` caches it across runs).
    """
    from robofail_ros.continuous.analyse import analyse_scenes

    episodes = load_log(run_dir / LOG_NAME).episodes
    control = [r for r in episodes if r.scene is None and not r.perturbations]
    searched = [r for r in episodes if r.scene is not None][:budget]
    analysis = analyse_scenes(control + searched, oracle.space, "study", searcher, seed=seed)
    known = {frozenset((a, b)): s2 for a, b, s2, _ in truth.top_pairs}
    names = list(oracle.space.names)
    nominal_u = np.asarray(oracle.space.to_unit(np.asarray(oracle.space.nominal, dtype=float)), dtype=float)
    lines = []
    for claim in analysis.interactions:
        key = frozenset(claim.factors)
        if key not in known and (name, key) not in measured:
            policy = planted_policies.PLANTED[name]()
            policy.bind(oracle.sim.scene)
            pair = tuple(sorted(names.index(f) for f in claim.factors))
            measured[(name, key)] = planted_truth.pair_indices(oracle, {name: policy}, nominal_u, pair, 0)[name]
        true = known.get(key, measured.get((name, key)))
        lines.append(f"{claim.factors[0]} × {claim.factors[1]}: S2 {claim.s2:.3f} ± {claim.s2_conf:.3f}, "
                     f"true {true:.3f}")
    return lines


def replayed_episodes(run_dir: Path) -> int:
    """Searched episodes in run_dir's log (0 without one): a replay is deterministic, so a log that holds the
    whole budget (no more: a searcher may plan by its budget) is the replay the same command would make again."""
    path = run_dir / LOG_NAME
    return sum(r.scene is not None for r in load_log(path).episodes) if path.exists() else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--policies", nargs="+", default=list(planted_policies.PLANTED),
                        choices=list(planted_policies.PLANTED))
    parser.add_argument("--searchers", nargs="+", default=["boundary"], choices=REPLAYABLE)
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    parser.add_argument("--budget", type=int, default=600)
    parser.add_argument("--checkpoints", nargs="+", type=int, default=[512, 600])
    parser.add_argument("--initial-states", choices=INITIAL_STATES, default=SceneSearchConfig().initial_states,
                        help="where each searched scene's initial state comes from (the audit's --initial-states)")
    parser.add_argument("--out", type=Path, default=ROOT / "audits" / "planted_replay")
    parser.add_argument("--evaluate-only", action="store_true", help="score the logged replays, replay none")
    parser.add_argument("--fresh", action="store_true", help="replay runs whose log already holds the budget")
    parser.add_argument("--claims", action="store_true",
                        help="list each run's claimed interacting pairs at the budget with their true S2")
    args = parser.parse_args()
    if args.budget < 1:
        parser.error(f"--budget {args.budget}: expected a positive number of episodes")
    checkpoints = sorted({c for c in args.checkpoints if 0 < c <= args.budget} | {args.budget})
    args.out.mkdir(parents=True, exist_ok=True)
    catalogue = planted_truth.visual_catalogue(args.out)
    oracle = planted_truth.FrameOracle(catalogue)
    rows, claims, measured = [], [], {}
    try:
        truths = planted_truth.load_or_measure(args.policies, lambda: oracle, args.out)
        plan = [(p, s, seed) for p in args.policies for s in args.searchers for seed in args.seeds]
        for k, (name, searcher, seed) in enumerate(plan, 1):
            started = time.perf_counter()
            run_dir = args.out / name / f"{searcher}-s{seed}"
            if not args.evaluate_only and (args.fresh or replayed_episodes(run_dir) != args.budget):
                replay(oracle, name, searcher, seed, args.budget, run_dir, args.initial_states)
            elif not (run_dir / LOG_NAME).exists():
                print(f"[replay {k}/{len(plan)}] {name} {searcher} seed {seed}: no log in {run_dir}, skipped")
                continue
            scores = continuous_study.score_run(run_dir, truths[name], oracle.space, checkpoints, searcher, seed)
            for s in scores["scores"]:
                rows.append((name, searcher, seed, s))
            last = scores["scores"][-1]
            print(f"[replay {k}/{len(plan)}] {name} {searcher} seed {seed}: worst error {last['max_error']:.3f}, "
                  f"located {last['located']}, spurious {last['spurious']} "
                  f"({time.perf_counter() - started:.0f} s)", flush=True)
            if args.claims:
                found = claimed_pairs(oracle, truths[name], name, run_dir, args.budget, searcher, seed, measured)
                claims.append((name, searcher, seed, found))
                print(f"    claimed at {args.budget}: " + ("; ".join(found) or "no pair"), flush=True)
    finally:
        oracle.close()
    print("\n| policy | searcher | seed | episodes | worst threshold error | located | spurious | CI coverage |")
    print("|---|---|---|---|---|---|---|---|")
    for name, searcher, seed, s in rows:
        coverage = s.get("threshold_coverage")
        print(f"| {name} | {searcher} | {seed} | {s['episodes']} | {s['max_error']:.3f} | {s['located']} | "
              f"{s['spurious']} | {'-' if coverage is None else f'{coverage:.2f}'} |")
    if claims:
        print(f"\n| policy | searcher | seed | pairs claimed at {args.budget} (estimate ± 95% half-width, true S2) |")
        print("|---|---|---|---|")
        for name, searcher, seed, found in claims:
            print(f"| {name} | {searcher} | {seed} | {'; '.join(found) or '-'} |")


if __name__ == "__main__":
    main()
