"""Ground truth for the search-quality study: every perturbation (and the control) from the same N initial states.

An exhaustive Monte Carlo sweep is the uniform searcher with a budget of N repetitions of every perturbation
and a control run of N episodes: repetition r of every perturbation starts from the control's initial state r,
so each comparison with the control is paired. It runs through the core `run_audit`, so it is parallel
(`--workers`) and resumable (run the same command again after an interruption: finished episodes are kept).
Writes `ground_truth.json` (per-perturbation failures, rate, 95% Wilson interval) into the audit folder and
prints the table last.

Run: .venv/bin/python bench/ground_truth.py [--policy vision] [--seeds 50] [--workers 2] [--out audits/ground_truth-vision]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
os.environ.setdefault("MUJOCO_GL", "egl")


def main() -> None:
    from robofail_ros.audit import run_audit
    from robofail_ros.catalogue import load_catalogue
    from robofail_ros.config import AuditConfig
    from robofail_ros.sim import SimConfig, default_worker_count

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", default="Lift")
    parser.add_argument("--policy", default="vision")
    parser.add_argument("--seeds", type=int, default=50, help="initial states per condition (>= 50 by default)")
    parser.add_argument("--workers", type=int, default=default_worker_count())
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    catalogue = load_catalogue(args.task)
    out = args.out or ROOT / "audits" / f"ground_truth-{args.task.lower()}-{args.policy.replace(':', '_')}-n{args.seeds}"
    config = AuditConfig(sim=SimConfig(task=args.task), policy=args.policy, searcher="uniform",
                         episodes=args.seeds * len(catalogue), control_episodes=args.seeds, seed=args.seed,
                         workers=args.workers)
    started = time.perf_counter()
    done = [0]

    def progress(record, n, total):
        done[0] = n
        if n % 100 == 0:
            print(f"[ground truth] {n}/{total} episodes after {time.perf_counter() - started:.0f} s", file=sys.stderr)

    result = run_audit(config, out, on_record=progress, film=False)
    a = result.analysis
    truth = {"task": args.task, "policy": a.policy_id, "seeds": args.seeds, "audit_seed": args.seed,
             "control": {"failures": a.control.failures, "episodes": a.control.episodes, "rate": a.control.rate,
                         "ci": [a.control.ci_low, a.control.ci_high]},
             "perturbations": {e.name: {"failures": e.failures, "episodes": e.episodes, "rate": e.rate,
                                        "ci": [e.ci_low, e.ci_high]} for e in a.perturbations}}
    (out / "ground_truth.json").write_text(json.dumps(truth, indent=2))
    print(f"\nground truth: {a.policy_id} on {args.task}, {args.seeds} initial states per condition, "
          f"{len(result.records)} episodes in {result.wall_time:.0f} s ({args.workers} workers) -> {out / 'ground_truth.json'}")
    print(f"{'condition':<20}{'failures':>10}{'rate':>8}   95% Wilson interval")
    rows = [("control", a.control)] + [(e.name, e) for e in sorted(a.perturbations, key=lambda e: -(e.rate or 0))]
    for name, e in rows:
        print(f"{name:<20}{e.failures:>5}/{e.episodes:<4}{(e.rate or 0):>8.2f}   [{e.ci_low:.2f}, {e.ci_high:.2f}]")


if __name__ == "__main__":
    main()
