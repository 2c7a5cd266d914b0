"""Ground truth for a real policy in the continuous space: dense lines and a grid over its two most important factors.

A real policy's failure region cannot be derived, only measured. This measures it where the continuous analysis
makes claims that can be checked: along each of the two factors that matter most (every other factor nominal),
where the thresholds are read, and on the plane of the two, where the pair map is drawn. Every cell runs the same
K initial states (the audit's seed pool for `--seed`), so neighbouring cells are paired comparisons.

- lines: LINE_POINTS values per factor, uniform in unit-cube coordinates (log factors log-spaced), K episodes each;
- grid: GRID_POINTS x GRID_POINTS values of the two factors, K episodes each;
- the nominal scene is a point of both lines and of the grid (the line grids include nominal exactly).

The two factors come from `--factors A B`, or from a first audit's results.json (`--from-audit DIR`: the two
largest total Sobol indices, else the model's two shortest length scales; see `top_factors`). Episodes run
through the audit's workers (`make_vec_env` + `run_batch`) and are
appended to `grid.jsonl` as they finish (resumable: run the same command again). Writes grid_truth.json (rates
with Wilson intervals, the true thresholds along each line by the analysis' own definition, applied to the
measured rates) and grid_truth.png.

Run: .venv/bin/python bench/grid_truth.py --policy vision --from-audit audits/Lift-vision-boundary-s0 [--episodes 8]
     [--workers 2] [--out audits/grid_truth-vision]
     More initial states on the lines of a measured truth (the same pool, extended; resumable):
     .venv/bin/python bench/grid_truth.py --policy SPEC --factors A B --episodes 24 --lines-only --out DIR
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("MUJOCO_GL", "egl")

import numpy as np  # noqa: E402

LINE_POINTS = 41
GRID_POINTS = 10
LOG_NAME = "grid.jsonl"
#: Smallest rise of a measured line over its nominal rate to call a threshold (with K=8 episodes a point's rate
#: moves in steps of 0.125, so one unlucky episode is not a threshold).
MIN_RISE = 0.2
#: Bootstrap redraws of every line for the true thresholds' own intervals.
BOOTSTRAP_DRAWS = 400


def unit_values(nominal_unit: float, points: int) -> np.ndarray:
    """`points` values uniform on [0, 1] plus the nominal value, sorted."""
    return np.unique(np.concatenate([np.linspace(0.0, 1.0, points), [nominal_unit]]))


def top_factors(audit_dir: Path) -> list[str]:
    """The two most important factors by a first continuous audit's results.json: the two largest total Sobol
    indices, or, where the audit reported none because P(failure) hardly varies over the box (a policy that fails
    almost everywhere), the two shortest length scales of its fitted model."""
    data = json.loads((audit_dir / "results.json").read_text())
    sobol = sorted(data.get("sobol") or [], key=lambda s: -s["st"])
    if len(sobol) >= 2:
        return [sobol[0]["factor"], sobol[1]["factor"]]
    scales = data.get("length_scales") or {}
    if len(scales) >= 2:
        return sorted(scales, key=scales.get)[:2]
    raise SystemExit(f"{audit_dir}/results.json has neither Sobol indices nor length scales to pick the two top "
                     "factors from; pass --factors A B")


def plan(space, factors: list[str], episodes: int, seeds: list[int],
         lines_only: bool = False) -> list[tuple[str, dict[str, float], int]]:
    """(cell id, scene, seed) of every episode: both lines, then the grid (unless `lines_only`)."""
    idx = [space.names.index(f) for f in factors]
    nominal_u = np.asarray(space.to_unit(np.asarray(space.nominal, float)), float)
    jobs = []

    def scene_at(units: dict[int, float]) -> dict[str, float]:
        u = nominal_u.copy()
        for i, v in units.items():
            u[i] = v
        values = np.asarray(space.from_unit(u), float)
        return {space.names[i]: float(values[i]) for i in idx}

    for which, i in enumerate(idx):
        for a, v in enumerate(unit_values(nominal_u[i], LINE_POINTS)):
            jobs += [(f"line{which}-{a:03d}", scene_at({i: v}), s) for s in seeds[:episodes]]
    if lines_only:
        return jobs
    gx, gy = (unit_values(nominal_u[i], GRID_POINTS) for i in idx)
    for a, vx in enumerate(gx):
        for b, vy in enumerate(gy):
            jobs += [(f"grid-{a:02d}-{b:02d}", scene_at({idx[0]: vx, idx[1]: vy}), s) for s in seeds[:episodes]]
    return jobs


def measured_thresholds(factor: str, units: np.ndarray, failures: np.ndarray, episodes: np.ndarray,
                        nominal_u: float, nominal_k: int, nominal_n: int, space) -> list:
    """True thresholds of one measured line, by the analysis' definition made safe for K-episode rates.

    Two guards keep a few unlucky episodes from making a threshold: the nominal rate is pooled over every
    nominal cell (both lines and the grid: 3K episodes, not K), and a side's threshold(s) count only if the
    region they claim (the points from the onset outward, up to the far edge of a band) fails credibly more
    often than nominal, pooled (one-sided Fisher exact test at 2.5%, the analysis' CREDIBLE = 0.975, divided by
    the side's number of points because the onset was chosen by looking at them: Bonferroni). Pooling the
    claimed region rather than testing the side's worst point avoids picking the largest of twenty noisy rates
    and calling it a rise. For the same reason a band's far edge stands only if the band fails credibly more
    often than the points beyond it; one low rate after the peak is not the end of a failure region.
    """
    from planted_truth import curve_thresholds

    i0 = int(np.argmin(np.abs(units - nominal_u)))
    rates = np.where(np.arange(len(units)) == i0, nominal_k / nominal_n, failures / episodes)
    kept = []
    found = curve_thresholds(factor, units, rates, nominal_u, space, min_rise=MIN_RISE)
    for above in (True, False):
        side = [t for t in found if (t.unit > nominal_u) == above]
        if not side:
            continue
        side.sort(key=lambda t: abs(t.unit - nominal_u))
        on_side = (units > nominal_u) if above else (units < nominal_u)
        alpha = 0.025 / int(on_side.sum())
        distance = np.abs(units - nominal_u)
        inside = on_side & (distance >= abs(side[0].unit - nominal_u))
        if len(side) > 1:  # a band: its far edge must be credible too, or the failure runs on to the range's end
            beyond = on_side & (distance > abs(side[1].unit - nominal_u))
            band = inside & ~beyond
            if _credibly_more(failures[band].sum(), episodes[band].sum(), failures[beyond].sum(),
                              episodes[beyond].sum(), alpha):
                inside = band
            else:
                side = side[:1]
        if _credibly_more(failures[inside].sum(), episodes[inside].sum(), nominal_k, nominal_n, alpha):
            kept += side
    return kept


def _credibly_more(k1: int, n1: int, k2: int, n2: int, alpha: float) -> bool:
    """Whether k1/n1 fails more often than k2/n2 (one-sided Fisher exact test at `alpha`)."""
    from scipy.stats import fisher_exact

    if not n1 or not n2:
        return False
    return fisher_exact([[int(k1), int(n1 - k1)], [int(k2), int(n2 - k2)]], alternative="greater")[1] < alpha


def threshold_intervals(factor: str, units: np.ndarray, outcomes: np.ndarray, nominal_u: float,
                        nominal_outcomes: np.ndarray, space, draws: int = BOOTSTRAP_DRAWS, seed: int = 0) -> list[dict]:
    """Each measured true threshold with its own 95% interval, so a score against it can be read with its doubt.

    `outcomes[point, state]` is 1 where the episode from initial state `state` failed at that point of the line,
    0 where it succeeded and NaN where it was not run; `nominal_outcomes[cell, state]` the same for every nominal
    cell (pooled). A measured rate is the share of K initial states that failed, so the truth's threshold is
    itself uncertain, and the uncertainty is over the states, not over independent episodes: every point runs the
    *same* K states, and a trained policy's failures are often a property of the state (the BC low-dim policy
    fails beyond cube_size_x 0.025 from 4 of its 8 states at nearly every point, and from the other 4 at none,
    benchmarks §8o). So the bootstrap redraws the K states with replacement, jointly for every point and the
    nominal cells (a cluster bootstrap), and finds the thresholds again by the same construction; each true
    threshold takes the 2.5-97.5 percentiles of the nearest redrawn threshold of its direction on its side of
    nominal. Redrawing each point's count alone (Binomial(n, k/n), as before) treated the points as independent,
    so the few states that carry a failure region stayed in every redraw and the interval was far too narrow.
    `found_share` is the share of redraws that find the threshold at all: one that a few states make is found in
    few of them.

    The grid itself cannot place a threshold more finely than its spacing: between a point that failed 0/8 and
    its neighbour that failed 8/8 the step may lie anywhere, and no redraw of 0/8 or 8/8 moves it, so the
    bootstrap alone gave such thresholds a zero-width interval (the vision policy's cube_hue, [0.0625, 0.0625]
    between points 0.05 and 0.075). Each redrawn threshold is therefore also placed uniformly within half a grid
    spacing of where it was read.
    """
    outcomes, nominal_outcomes = np.asarray(outcomes, float), np.asarray(nominal_outcomes, float)

    def counts(states: np.ndarray) -> tuple[np.ndarray, np.ndarray, int, int]:
        run, nominal_run = outcomes[:, states], nominal_outcomes[:, states]
        return (np.nansum(run, axis=1), np.isfinite(run).sum(axis=1),
                int(np.nansum(nominal_run)), int(np.isfinite(nominal_run).sum()))

    every_state = np.arange(outcomes.shape[1])
    failures, episodes, nominal_k, nominal_n = counts(every_state)
    found = measured_thresholds(factor, units, failures, episodes, nominal_u, nominal_k, nominal_n, space)
    rng = np.random.default_rng(seed)
    redrawn: list[list] = [[] for _ in found]
    for _ in range(draws):
        failures, episodes, nominal_k, nominal_n = counts(rng.choice(every_state, size=len(every_state)))
        again = (measured_thresholds(factor, units, failures, episodes, nominal_u, nominal_k, nominal_n, space)
                 if episodes.all() and nominal_n else [])
        for k, t in enumerate(found):
            same = [a.unit for a in again  # a band's far edge across nominal is another finding (§8i)
                    if a.direction == t.direction and (a.unit > nominal_u) == (t.unit > nominal_u)]
            if same:
                nearest = min(same, key=lambda u: abs(u - t.unit))
                redrawn[k].append(nearest + rng.uniform(-0.5, 0.5) * _spacing_at(units, nearest))
    index = space.names.index(factor)
    out = []
    for t, units_drawn in zip(found, redrawn):
        row = dict(t.__dict__, found_share=len(units_drawn) / draws)
        if units_drawn:
            lo, hi = np.percentile(units_drawn, [2.5, 97.5])
            row["ci_unit"] = [float(lo), float(hi)]
            row["ci"] = [float(space.factors[index].from_unit(u)) for u in (lo, hi)]
        out.append(row)
    return out


def _spacing_at(units: np.ndarray, u: float) -> float:
    """The distance between the two measured points on either side of unit coordinate u."""
    ordered = np.sort(units)
    i = int(np.clip(np.searchsorted(ordered, u), 1, len(ordered) - 1))
    return float(ordered[i] - ordered[i - 1])


def summarise(space, factors: list[str], records: list[dict]) -> dict[str, Any]:
    """Rates per cell, and the true thresholds along each line (continuous/thresholds.py's definition)."""
    from robofail_ros.stats import wilson_interval

    cells: dict[str, list[dict]] = {}
    for r in records:
        cells.setdefault(r["cell"], []).append(r)

    def rate(rows):
        k, n = sum(r["failed"] for r in rows), len(rows)
        lo, hi = wilson_interval(k, n, 0.95)
        return {"failures": k, "episodes": n, "rate": k / n, "ci": [lo, hi]}

    idx = [space.names.index(f) for f in factors]
    nominal_u = [float(space.factors[i].to_unit(space.nominal[i])) for i in idx]

    def is_nominal(scene: dict) -> bool:
        return all(abs(float(space.factors[i].to_unit(scene[f])) - u) < 1e-9 for f, i, u in zip(factors, idx, nominal_u))

    at_nominal = [r for r in records if is_nominal(r["scene"])]
    states = sorted({r["seed"] for r in records})
    column = {s: c for c, s in enumerate(states)}

    def by_state(groups: list[list[dict]]) -> np.ndarray:
        """outcomes[group, state]: 1 failed, 0 succeeded, NaN not run (the bootstrap redraws whole states)."""
        m = np.full((len(groups), len(states)), np.nan)
        for g, rows in enumerate(groups):
            for r in rows:
                m[g, column[r["seed"]]] = float(r["failed"])
        return m

    nominal_cells: dict[str, list[dict]] = {}
    for r in at_nominal:
        nominal_cells.setdefault(r["cell"], []).append(r)
    nominal_outcomes = by_state(list(nominal_cells.values()))
    out: dict[str, Any] = {"factors": factors, "lines": {}, "grid": {}, "thresholds": [],
                           "nominal": rate(at_nominal)}
    for which, (f, i) in enumerate(zip(factors, idx)):
        rows = sorted((k, v) for k, v in cells.items() if k.startswith(f"line{which}-"))
        values = [v[0]["scene"][f] for _, v in rows]
        units = np.array([float(space.factors[i].to_unit(x)) for x in values])
        rates = [rate(v) for _, v in rows]
        out["lines"][f] = {"values": values, "unit": units.tolist(), **{k: [r[k] for r in rates] for k in rates[0]}}
        out["thresholds"] += threshold_intervals(f, units, by_state([v for _, v in rows]), nominal_u[which],
                                                 nominal_outcomes, space)
    grid_rows = {k: v for k, v in cells.items() if k.startswith("grid-")}
    out["grid"] = [{"scene": v[0]["scene"], **rate(v)} for _, v in sorted(grid_rows.items())]
    return out


def figure(result: dict, out: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    f1, f2 = result["factors"]
    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    for ax, f in zip(axes[:2], (f1, f2)):
        line = result["lines"][f]
        lo, hi = zip(*line["ci"])
        ax.fill_between(line["values"], lo, hi, alpha=0.3)
        ax.plot(line["values"], line["rate"], marker=".")
        for t in result["thresholds"]:
            if t["factor"] == f:
                ax.axvline(t["value"], color="red", ls="--", lw=1)
                if "ci" in t:
                    ax.axvspan(*sorted(t["ci"]), color="red", alpha=0.12, lw=0)
        ax.set_xlabel(f)
        ax.set_ylabel("failure rate (others nominal)")
        ax.set_ylim(-0.02, 1.02)
    if not result["grid"]:  # a --lines-only truth in a fresh folder: no plane measured
        axes[2].axis("off")
        axes[2].text(0.5, 0.5, "grid not measured (--lines-only)", ha="center", va="center")
        return _save(fig, result, out)
    xs = sorted({c["scene"][f1] for c in result["grid"]})
    ys = sorted({c["scene"][f2] for c in result["grid"]})
    img = np.full((len(ys), len(xs)), np.nan)
    for c in result["grid"]:
        img[ys.index(c["scene"][f2]), xs.index(c["scene"][f1])] = c["rate"]
    m = axes[2].pcolormesh(xs, ys, img, vmin=0, vmax=1, cmap="Reds", shading="nearest")
    fig.colorbar(m, ax=axes[2], label="failure rate")
    axes[2].set_xlabel(f1)
    axes[2].set_ylabel(f2)
    return _save(fig, result, out)


def _save(fig: Any, result: dict, out: Path) -> Path:
    import matplotlib.pyplot as plt

    per_point = max(n for line in result["lines"].values() for n in line["episodes"])
    per_cell = max((c["episodes"] for c in result["grid"]), default=0)
    fig.suptitle(f"{result['policy']}: measured failure rate, {per_point} initial states per line point"
                 + (f", {per_cell} per grid cell" if per_cell and per_cell != per_point else ""))
    fig.tight_layout()
    path = out / "grid_truth.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main() -> None:
    from tqdm import tqdm

    from robofail_ros.adversary_env import EpisodeJob
    from robofail_ros.audit import control_jobs
    from robofail_ros.config import AuditConfig
    from robofail_ros.factors import load_factor_space
    from robofail_ros.sim import SimConfig
    from robofail_ros.workers import make_vec_env, run_batch

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--policy", default="vision")
    parser.add_argument("--task", default="Lift")
    parser.add_argument("--factors", nargs=2, default=None)
    parser.add_argument("--from-audit", type=Path, default=None)
    parser.add_argument("--episodes", type=int, default=8, help="initial states per point")
    parser.add_argument("--seed", type=int, default=0, help="audit seed whose initial-state pool is used")
    parser.add_argument("--lines-only", action="store_true",
                        help="run only the two lines' cells (thresholds are read there): e.g. to add initial "
                             "states to the lines of a measured truth with a larger --episodes")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    space = load_factor_space(args.task)
    factors = args.factors or (top_factors(args.from_audit) if args.from_audit else None)
    if not factors:
        parser.error("pass --factors A B or --from-audit DIR")
    unknown = [f for f in factors if f not in space.names]
    if unknown:
        parser.error(f"unknown factor(s) {', '.join(unknown)}; {args.task} has {', '.join(space.names)}")
    config = AuditConfig(sim=SimConfig(task=args.task), policy=args.policy, searcher="sobol", episodes=1,
                         control_episodes=args.episodes, seed=args.seed, workers=args.workers)
    seeds = [j.seed for j in control_jobs(config)]
    jobs = plan(space, factors, args.episodes, seeds, lines_only=args.lines_only)
    args.out.mkdir(parents=True, exist_ok=True)
    log = args.out / LOG_NAME
    done = [json.loads(line) for line in log.read_text().splitlines() if line.strip()] if log.exists() else []
    done_keys = {(d["cell"], d["seed"]) for d in done}
    todo = [j for j in jobs if (j[0], j[2]) not in done_keys]
    print(f"[grid truth] {args.policy} on {args.task}: {' x '.join(factors)}, {len(jobs)} episodes "
          f"({len(done)} already logged)", file=sys.stderr)
    started = time.perf_counter()
    if todo:
        vec_env = make_vec_env(config)
        try:
            with log.open("a") as fh, tqdm(total=len(todo), desc="grid truth", unit="ep") as bar:
                for i in range(0, len(todo), 32):
                    batch = todo[i:i + 32]
                    records = run_batch(vec_env, [EpisodeJob(f"{c}-s{s}", (), s, "grid", scene)
                                                  for c, scene, s in batch])
                    for (c, scene, s), r in zip(batch, records):
                        row = {"cell": c, "seed": s, "scene": scene, "failed": r.failed, "outcome": r.outcome}
                        fh.write(json.dumps(row) + "\n")
                        done.append(row)
                    fh.flush()
                    os.fsync(fh.fileno())
                    bar.update(len(batch))
        finally:
            vec_env.close()
    valid = [d for d in done if d["outcome"] != "aborted"]
    earlier = args.out / "grid_truth.json"  # a re-summary of logged episodes keeps the time they took
    spent = json.loads(earlier.read_text()).get("wall_time_s", 0.0) if earlier.exists() and done_keys else 0.0
    result = {"policy": args.policy, "task": args.task, "seed": args.seed, "episodes_per_cell": args.episodes,
              "wall_time_s": spent + time.perf_counter() - started, **summarise(space, factors, valid)}
    (args.out / "grid_truth.json").write_text(json.dumps(result, indent=1) + "\n")
    path = figure(result, args.out)
    print(f"{len(valid)} episodes; true thresholds: "
          + (", ".join(f"{t['factor']} {t['direction']} {t['value']:.3g}"
                       + (f" [{t['ci'][0]:.3g}, {t['ci'][1]:.3g}]" if "ci" in t else "")
                       + f" (found in {100 * t['found_share']:.0f}% of redraws)" for t in result["thresholds"])
             or "none")
          + f"; files: {args.out / 'grid_truth.json'}, {path}")


if __name__ == "__main__":
    main()


def as_truth(result: dict, space) -> "Truth":
    """A measured grid truth in the shape the continuous study scores against (planted_truth.Truth).

    The test scenes are the grid's cells (every other factor nominal) with their measured rates; the true region
    is where the rate exceeds half-way from the nominal scene's rate to the largest rate, the same half-way
    definition the analysis applies to its fitted model. A --lines-only truth has no test scenes: only its
    thresholds and curves are scored.
    """
    from planted_truth import TrueThreshold, Truth

    nominal_u = np.asarray(space.to_unit(np.asarray(space.nominal, float)), float)
    curves, units, cis = {}, {}, {}
    for f, line in result["lines"].items():
        curves[f], units[f], cis[f] = list(line["rate"]), list(line["unit"]), list(line["ci"])
    test_u, test_p = [], []
    for cell in result["grid"]:
        u = nominal_u.copy()
        for f, v in cell["scene"].items():
            i = space.names.index(f)
            u[i] = float(space.factors[i].to_unit(v))
        test_u.append(u.tolist())
        test_p.append(cell["rate"])
    nominal_p = result["nominal"]["rate"]  # pooled over every nominal cell
    return Truth(result["policy"], "measured on a grid", list(space.names), curves, [],
                 [TrueThreshold(t["factor"], t["value"], t["unit"], t["direction"]) for t in result["thresholds"]],
                 test_u, test_p, nominal_p=nominal_p,
                 curve_units=units, region_above=0.5 * (nominal_p + max(test_p, default=nominal_p)), curve_ci=cis,
                 threshold_ci=[t.get("ci_unit") for t in result["thresholds"]])
