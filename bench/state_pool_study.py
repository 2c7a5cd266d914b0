"""Are a continuous audit's thresholds about the policy, or about the audit's pool of initial states?

Why. The trained BC policy fails from some initial states and not others (benchmarks §8o). An audit that draws every
searched scene's initial state from the control's pool of 30 states measures P(failure | scene) over those 30
states; its intervals treat each experiment as an independent draw, so they are about the pool. Another pool moved
BC's cube_size_x threshold from 0.0251 to 0.0288. Whether `initial_states: fresh` (a state of its own per searched
experiment, `config.searched_state_seed`) fixes this cannot be judged on BC alone, whose population truth is not
known. So this study builds cases whose population truth is exact.

The fake policy (no simulator, like test/test_continuous_searchers.py): each initial state, from its seed alone, is
one of three kinds:

* fragile to factor A (share v_A): it fails when A's unit coordinate exceeds its own level t ~ N(c_A, s_A);
* fragile to factor B (share v_B): it fails when B's unit coordinate is below its own level t ~ N(c_B, s_B);
* robust: it never fails.

So over the population of initial states P(failure | scene) = v_A Phi((u_A - c_A) / s_A) + v_B Phi((c_B - u_B) / s_B),
exactly, whatever the other factors. A pool of 30 states holds its own shares and levels, hence its own curve. Every
case draws v, c and s afresh from wide ranges (A is cube_size_x, B cube_size_y, as in BC), so no setting is tuned to
one case. The true thresholds are read off the exact curves by the study's own construction
(planted_truth.curve_thresholds), and every audit is scored by the study's own `score_analysis`.

Run:  .venv/bin/python bench/state_pool_study.py [--cases 1 2 ... 12] [--modes pool fresh] [--budget 600]
      [--checkpoints 256 600] [--searcher boundary] [--out audits/state_pool_study] [--jobs 2]
      Resumable: a case whose log holds the budget is not run again, scores are cached per run.
Prints one line per run, then per mode: the worst threshold error (share of range) per case, how many cases
locate both thresholds within 5%, how many of the true thresholds are reported and how many within 5%, how many
reported intervals cover the truth, and band coverage, against the population truth (and, for the pool mode,
against the pool's own truth). Cases 13-24 were drawn after the analysis change of benchmarks §8q was chosen on
cases 1-12: `--cases 13 ... 24 --out audits/state_pool_heldout` scores it on cases it was not chosen on.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

import continuous_study  # noqa: E402  (sets up the paths and the planted modules)
import planted_replay  # noqa: E402
import numpy as np  # noqa: E402
import yaml  # noqa: E402
from planted_truth import Truth, curve_thresholds  # noqa: E402
from scipy.stats import norm, qmc  # noqa: E402

from robofail_ros.catalogue import catalogue_path  # noqa: E402
from robofail_ros.config import AuditConfig, SceneSearchConfig, episode_seed  # noqa: E402
from robofail_ros.episode import FAILURE, SUCCESS, EpisodeRecord  # noqa: E402
from robofail_ros.factors import FactorSpace, parse_factors  # noqa: E402
from robofail_ros.record import LOG_NAME, AuditLog, Recorder, load_log  # noqa: E402
from robofail_ros.searchers import make_searcher  # noqa: E402
from robofail_ros.searchers.base import SearchContext  # noqa: E402

#: The box: the two factors the fake's states are fragile to, and four that do not matter.
FACTORS = ("cube_size_x", "cube_size_y", "cube_size_z", "table_size_x", "camera_x", "camera_y")
FACTOR_A, FACTOR_B = FACTORS[0], FACTORS[1]
CONTROL_EPISODES = 30
GRID = 401
TEST_SCENES = 2048


def study_space() -> FactorSpace:
    """FACTORS, as Lift's catalogue defines them."""
    entries = yaml.safe_load(catalogue_path("Lift").read_text())["factors"]
    return parse_factors("Lift", [e for e in entries if e["name"] in FACTORS])


@dataclass(frozen=True)
class Case:
    """One state-dependent fake policy: shares, centres and spreads of its two fragile kinds (unit coordinates)."""

    number: int
    v_a: float
    c_a: float
    s_a: float
    v_b: float
    c_b: float
    s_b: float

    @classmethod
    def draw(cls, number: int) -> "Case":
        r = np.random.default_rng([7, number])
        return cls(number, v_a=float(r.uniform(0.25, 0.6)), c_a=float(r.uniform(0.55, 0.8)),
                   s_a=float(r.uniform(0.03, 0.1)), v_b=float(r.uniform(0.2, 0.4)), c_b=float(r.uniform(0.1, 0.2)),
                   s_b=float(r.uniform(0.02, 0.06)))

    def state(self, seed: int) -> tuple[str, float]:
        """The kind of the initial state `seed` and its own level, from the seed alone."""
        r = np.random.default_rng([11, self.number, int(seed)])
        kind = r.uniform()
        if kind < self.v_a:
            return "A", float(r.normal(self.c_a, self.s_a))
        if kind < self.v_a + self.v_b:
            return "B", float(r.normal(self.c_b, self.s_b))
        return "robust", 0.0

    def fails(self, seed: int, u_a: float, u_b: float) -> bool:
        kind, level = self.state(seed)
        return (kind == "A" and u_a > level) or (kind == "B" and u_b < level)

    def population_p(self, u_a: np.ndarray, u_b: np.ndarray) -> np.ndarray:
        return self.v_a * norm.cdf((u_a - self.c_a) / self.s_a) + self.v_b * norm.cdf((self.c_b - u_b) / self.s_b)

    def pool_p(self, seeds: list[int], u_a: np.ndarray, u_b: np.ndarray) -> np.ndarray:
        """P(failure) over the pool `seeds` only: the share of its states that fail."""
        return np.mean([[self.fails(s, a, b) for a, b in zip(u_a, u_b)] for s in seeds], axis=0)


def truth_of(case: Case, space: FactorSpace, p_of) -> Truth:
    """A study Truth from an exact P(u_a, u_b): curves along every factor, thresholds, test scenes."""
    grid = np.linspace(0.0, 1.0, GRID)
    nominal = np.asarray(space.to_unit(np.asarray(space.nominal, float)), float)
    ia, ib = space.index(FACTOR_A), space.index(FACTOR_B)
    curves, thresholds = {}, []
    for name in space.names:
        u = np.tile(nominal, (GRID, 1))
        u[:, space.index(name)] = grid
        p = np.asarray(p_of(u[:, ia], u[:, ib]), float)
        curves[name] = [float(v) for v in p]
        thresholds += curve_thresholds(name, grid, p, float(nominal[space.index(name)]), space)
    test = qmc.Sobol(space.dim, scramble=True, rng=case.number).random(TEST_SCENES)
    test_p = np.asarray(p_of(test[:, ia], test[:, ib]), float)
    return Truth(policy=f"state-split-{case.number}", rule=str(asdict(case)), factors=list(space.names),
                 curves=curves, grid=[float(g) for g in grid], thresholds=thresholds,
                 test_unit=test.tolist(), test_p=[float(v) for v in test_p],
                 nominal_p=float(p_of(nominal[None, ia], nominal[None, ib])[0]), region_above=0.05)


class FakeContext(SearchContext):
    """Runs each job by asking the case whether its initial state fails in its scene (None: the nominal scene)."""

    case: Case

    def run_jobs(self, jobs) -> None:
        for j in jobs:
            self.recorder.add(fake_record(self.case, self.space, j.episode_id, j.seed, j.searcher, j.scene))


def fake_record(case: Case, space: FactorSpace, episode_id: str, seed: int, searcher: str,
                scene: dict | None) -> EpisodeRecord:
    u = np.asarray(space.to_unit(space.vector(scene) if scene else np.asarray(space.nominal, float)), float)
    failed = case.fails(seed, u[space.index(FACTOR_A)], u[space.index(FACTOR_B)])
    return EpisodeRecord(episode_id, seed, [], FAILURE if failed else SUCCESS, 100 if failed else 50,
                         1000.0 if failed else -2.0, 0.0, f"state-split-{case.number}", space.task,
                         searcher=searcher, scene=dict(scene) if scene else None)


def run_dir(out: Path, case: int, mode: str, searcher: str) -> Path:
    return out / f"case{case}" / f"{searcher}-{mode}"


def run_one(out: Path, case_number: int, mode: str, searcher: str, budget: int, checkpoints: list[int]) -> dict:
    """Run one audit of one case (unless its log holds the budget), then score its checkpoints against the
    population truth and, for a pool, against the pool's own truth."""
    case, space = Case.draw(case_number), study_space()
    folder = run_dir(out, case_number, mode, searcher)
    started = time.perf_counter()
    if planted_replay.replayed_episodes(folder) != budget:
        folder.mkdir(parents=True, exist_ok=True)
        for stale in (LOG_NAME, "scores.json"):
            (folder / stale).unlink(missing_ok=True)
        config = AuditConfig(searcher=searcher, episodes=budget, control_episodes=CONTROL_EPISODES,
                             seed=case_number, search=SceneSearchConfig(initial_states=mode))
        with AuditLog(folder / LOG_NAME) as log:
            ctx = FakeContext(config, planted_replay.NoVecEnv(), Recorder(log, []), log, [], folder, space=space)
            ctx.case = case
            for i in range(CONTROL_EPISODES):  # the control: the nominal scene, from the pool
                ctx.recorder.add(fake_record(case, space, f"control-{i:04d}",
                                             episode_seed(case_number, i, CONTROL_EPISODES), "control", None))
            make_searcher(searcher).run(ctx, budget)
    run_s = time.perf_counter() - started
    episodes = load_log(folder / LOG_NAME).episodes
    pool = sorted({r.seed for r in episodes if r.scene is None})
    truths = {"population": truth_of(case, space, case.population_p)}
    if mode == "pool":
        truths["own pool"] = truth_of(case, space, lambda a, b: case.pool_p(pool, a, b))
    scores = {k: continuous_study.score_run(folder if k == "population" else _pool_view(folder), t, space,
                                            checkpoints, searcher, case_number)["scores"]
              for k, t in truths.items()}
    return {"case": case_number, "mode": mode, "searcher": searcher, "run_s": run_s, "scores": scores,
            "truth": [asdict(t) for t in truths["population"].thresholds],
            "pool_kinds": {k: sum(case.state(s)[0] == k for s in pool) for k in ("A", "B", "robust")}}


def _pool_view(folder: Path) -> Path:
    """A second folder holding the same log, so its scores against the pool's truth are cached apart."""
    view = folder.parent / (folder.name + "-vs-own-pool")
    view.mkdir(exist_ok=True)
    link = view / LOG_NAME
    if not link.exists():
        link.symlink_to((folder / LOG_NAME).resolve())
    return view


def _task(args: tuple) -> dict:
    return run_one(*args)


def summary(results: list[dict]) -> str:
    """Markdown: one row per mode and truth at each checkpoint, then one line per run."""
    lines = ["| initial states | scored against | episodes | worst error per case | located | thresholds reported "
             "| within 5% | intervals covering the truth | band coverage | Brier (constant) |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    keys = sorted({(r["mode"], k) for r in results for k in r["scores"]}, key=lambda mk: (mk[0] != "pool", mk[1]))
    checkpoints = sorted({s["episodes"] for r in results for v in r["scores"].values() for s in v})
    for mode, against in keys:
        for n in checkpoints:
            rows = [next(s for s in r["scores"][against] if s["episodes"] == n) for r in results
                    if r["mode"] == mode and against in r["scores"]
                    and any(s["episodes"] == n for s in r["scores"][against])]
            if not rows:
                continue
            errors = " / ".join(f"{s['max_error']:.3f}" for s in rows)
            found = [t for s in rows for t in s["thresholds"] if t["found"]]
            total = sum(len(s["thresholds"]) for s in rows)
            covered = sum(bool(t["covered"]) for t in found)
            band = [s["band_coverage"] for s in rows if s.get("band_coverage") is not None]
            brier = [(s["brier"], s["brier_constant"]) for s in rows if "brier" in s]
            lines.append(
                f"| {mode} | {against} | {n} | {errors} | {sum(s['located'] for s in rows)}/{len(rows)} | "
                f"{len(found)}/{total} | {sum(t['error'] <= continuous_study.LOCATED for t in found)}/{total} | "
                f"{covered}/{len(found)} | {np.mean(band) if band else float('nan'):.3f} | "
                f"{np.mean([b for b, _ in brier]):.4f} ({np.mean([c for _, c in brier]):.4f}) |")
    return "\n".join(lines)


def figure(results: list[dict], budget: int, out: Path) -> Path:
    """Per case and fragile factor: the true population threshold and what each mode reported at `budget`
    (filled: its interval covers the truth; hollow: it does not; a cross at the truth: not reported)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    styles = {"pool": ("tab:blue", "o", -0.15), "fresh": ("tab:orange", "s", 0.15)}
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.2))
    for ax, (factor, direction) in zip(axes, ((FACTOR_A, "above"), (FACTOR_B, "below"))):
        counts = {}
        for r in results:
            score = next((s for s in r["scores"]["population"] if s["episodes"] == budget), None)
            t = None if score is None else next((t for t in score["thresholds"] if t["factor"] == factor
                                                 and t["direction"] == direction), None)
            if t is None:
                continue
            colour, marker, dx = styles[r["mode"]]
            x = r["case"] + dx
            ax.hlines(t["true"], r["case"] - 0.35, r["case"] + 0.35, colors="black", linewidth=1.5)
            found, covered = counts.setdefault(r["mode"], [0, 0, 0]), t.get("covered")
            found[2] += 1
            if t["found"]:
                found[0] += 1
                found[1] += bool(covered)
                ax.plot(x, t["reported"], marker=marker, color=colour, markersize=7,
                        markerfacecolor=colour if covered else "white", linestyle="none")
            else:
                ax.plot(x, t["true"], marker="x", color=colour, markersize=9, linestyle="none")
        summary = "; ".join(f"{m}: {f}/{n} reported, {c} covered" for m, (f, c, n) in counts.items())
        ax.set_title(f"{factor} {'>' if direction == 'above' else '<'} (true: black)\n{summary}", fontsize=9)
        ax.set_xlabel("case")
        ax.set_ylabel(f"{factor} (m)")
        ax.set_xticks(sorted({r["case"] for r in results}))
    handles = [plt.Line2D([], [], color=c, marker=m, linestyle="none", label=f"{mode} states")
               for mode, (c, m, _) in styles.items()]
    handles.append(plt.Line2D([], [], color="grey", marker="x", linestyle="none",
                              label="not reported (drawn at the truth)"))
    fig.suptitle(f"Boundary at {budget} episodes against the exact population threshold "
                 f"(hollow: the 95% interval misses it)", fontsize=10)
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    fig.legend(handles=handles, fontsize=8, loc="lower center", ncol=3)
    path = out / "state_pool_study.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", nargs="+", type=int, default=list(range(1, 13)))
    parser.add_argument("--modes", nargs="+", default=["pool", "fresh"], choices=["pool", "fresh"])
    parser.add_argument("--searcher", default="boundary", choices=planted_replay.REPLAYABLE)
    parser.add_argument("--budget", type=int, default=600)
    parser.add_argument("--checkpoints", nargs="+", type=int, default=[256, 600])
    parser.add_argument("--out", type=Path, default=ROOT / "audits" / "state_pool_study")
    parser.add_argument("--jobs", type=int, default=2, help="runs at once (one process each)")
    args = parser.parse_args()
    if args.budget < 1 or any(c < 1 for c in args.cases) or args.jobs < 1:
        parser.error("--budget, --cases and --jobs take positive numbers")
    checkpoints = sorted({c for c in args.checkpoints if 0 < c <= args.budget} | {args.budget})
    plan = [(args.out, c, m, args.searcher, args.budget, checkpoints) for c in args.cases for m in args.modes]
    results = []
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        for k, r in enumerate(pool.map(_task, plan), 1):
            results.append(r)
            last = {against: s[-1] for against, s in r["scores"].items()}
            text = "; ".join(f"vs {a}: worst error {s['max_error']:.3f}, coverage {s.get('threshold_coverage')}"
                             for a, s in last.items())
            print(f"[{k}/{len(plan)}] case {r['case']} {r['mode']} (pool kinds {r['pool_kinds']}): {text} "
                  f"({r['run_s']:.0f} s)", flush=True)
    print(f"figure: {figure(results, args.budget, args.out)}")
    table = summary(results)
    (args.out / "state_pool_study.json").write_text(json.dumps(results, indent=1))
    (args.out / "state_pool_study.md").write_text(table + "\n")
    print("\n" + table)


if __name__ == "__main__":
    main()
