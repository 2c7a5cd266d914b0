"""Search-quality study (issue 5): how close each searcher's estimates come to the ground truth, episode by episode.

For every searcher and audit seed this runs ONE audit through the core `run_audit` at the largest budget,
into `<out>/<searcher>-s<seed>/` (resumable: run the same command again and finished episodes are kept),
and then scores every prefix of its logged episodes at the checkpoints. This is a nested-budget design:
the first 108 episodes of a 540-episode audit are exactly the audit a user with a 108-episode budget
would have run (every searcher decides from the episodes before, never after), so one run per seed gives
the whole error-vs-episodes curve. Episode counts are searched episodes; each audit also runs its control
(30 episodes by default) first, the same for every searcher.

Ground truth is a `ground_truth.json` written by bench/ground_truth.py for the same policy (audit seed 0);
the study's seeds should differ from it, so its initial states are independent of the ground truth's. The
audit seed fixes more than the initial states: robosuite's Lift draws the cube's nominal size when the model
is built, from the audit seed, so a study seed's rates for size-sensitive perturbations can differ from the
ground truth's by more than sampling error. That floor is the same for every searcher of a seed.

Scores per (searcher, seed, prefix), over the catalogue's single perturbations:
- MAE and Spearman ρ of the estimates against the ground-truth rates. A perturbation's estimate is its
  measured rate; one not yet measured gets 0.5, the Beta(1, 1) prior mean, and `visited` says how many
  were measured. PPO's stacked (two-perturbation) episodes count towards its budget but rate nothing.
- coverage: the fraction of measured perturbations whose 95% Wilson interval contains the ground-truth rate,
  two ways: "experiments counted" (`coverage`, the analysis's interval: each distinct initial state and
  perturbation once, with the mean outcome of its repeats) and "episodes counted" (`coverage_episodes`, the
  interval the analysis gave before issue 12: every episode an independent trial). Mean interval widths too.
  Both are also given over only the perturbations with repeats (`coverage_repeated`, `coverage_repeated_episodes`),
  where the two intervals can differ at all.
- repeated: episodes that repeat an earlier one's initial state and perturbations (searchers draw initial
  states from the control's pool, so a perturbation tried more often than the pool is large repeats them;
  for a deterministic policy a repeat only copies an outcome, and counting it narrows the interval without
  evidence: the difference between the two coverages).
- top mode identified: the first prefix from which the searcher's top-ranked perturbation stays in the
  ground-truth top set (perturbations whose ground-truth interval overlaps the highest rate's).
- all modes seen: the first prefix by which every ground-truth failure mode (rate above the control's,
  one-sided Fisher exact test, p < 0.05) has failed at least once on its own.
For PPO, per π snapshot (taken at the end of each rollout, before that rollout's update, and once more
at the end of the audit): entropy, MAE and Spearman ρ of π against the ground-truth
rates, and the total-variation distance between π and the rates normalised to sum to 1.

Writes search_quality.json, .csv, .md (Markdown tables for the docs) and figures into <out>; prints the
summary table last.

Run:  .venv/bin/python bench/search_quality.py --policy vision --truth /tmp/ground_truth_vision/ground_truth.json
      [--searchers ppo bandit uniform adaptive] [--seeds 1 2 3] [--budget 540] [--workers 2] [--out DIR]
      [--evaluate-only]
"""
from __future__ import annotations

import argparse
import csv
import json
import math
import os
import re
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
os.environ.setdefault("MUJOCO_GL", "egl")

import numpy as np  # noqa: E402
from scipy import stats as st  # noqa: E402

from robofail_ros.analysis import analyse  # noqa: E402
from robofail_ros.catalogue import Catalogue, load_catalogue  # noqa: E402
from robofail_ros.config import SEARCHERS, AuditConfig  # noqa: E402
from robofail_ros.episode import ABORTED, FAILURE, EpisodeRecord  # noqa: E402
from robofail_ros.record import LOG_NAME, episode_key, load_log  # noqa: E402
from robofail_ros.sim import SimConfig  # noqa: E402
from robofail_ros.stats import entropy_nats, wilson_interval  # noqa: E402

UNVISITED_ESTIMATE = 0.5
"""Estimate of a perturbation with no rated episode: the mean of the uniform Beta(1, 1) prior."""
CHECKPOINT_MULTIPLES = (1, 2, 4, 8, 12, 16, 20)
"""Default checkpoints in passes over the catalogue (27, 54, 108, … episodes for Lift's 27 perturbations)."""
MODE_P_VALUE = 0.05
"""A ground-truth failure mode fails more often than the control at this one-sided Fisher exact level."""


# --------------------------------------------------------------------------- ground truth


class Truth:
    """A ground_truth.json as arrays in catalogue order, with the top set and the failure modes it implies."""

    def __init__(self, data: dict[str, Any], catalogue: Catalogue) -> None:
        missing = [n for n in catalogue.names if n not in data["perturbations"]]
        if missing:
            raise ValueError(f"ground truth has no entry for {', '.join(missing)}; it must cover the whole catalogue")
        self.data = data
        self.names = catalogue.names
        per = [data["perturbations"][n] for n in self.names]
        self.rate = np.array([p["rate"] for p in per], float)
        self.lo = np.array([p["ci"][0] for p in per], float)
        self.hi = np.array([p["ci"][1] for p in per], float)
        best = int(np.argmax(self.rate))
        self.top = {n for n, h in zip(self.names, self.hi) if h >= self.lo[best]}
        c = data["control"]
        self.modes = {
            n for n, p in zip(self.names, per)
            if st.fisher_exact([[p["failures"], p["episodes"] - p["failures"]],
                                [c["failures"], c["episodes"] - c["failures"]]], alternative="greater").pvalue
            < MODE_P_VALUE}


# --------------------------------------------------------------------------- scoring


def spearman(x: np.ndarray, y: np.ndarray) -> float | None:
    """Spearman ρ, or None when either side is constant (ρ undefined)."""
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        return None
    return float(st.spearmanr(x, y).statistic)


def score_prefix(control: list[EpisodeRecord], searched: list[EpisodeRecord], catalogue: Catalogue,
                 truth: Truth, searcher: str) -> dict[str, Any]:
    """Scores of the audit made of the control run and these searched episodes."""
    a = analyse(control + searched, catalogue, "study", searcher)
    est = np.array([UNVISITED_ESTIMATE if e.rate is None else e.rate for e in a.perturbations])
    seen = [i for i, e in enumerate(a.perturbations) if e.rate is not None]
    covered = [a.perturbations[i].ci_low <= truth.rate[i] <= a.perturbations[i].ci_high for i in seen]
    # The interval as it was before repeats were collapsed: every episode counted as an independent trial.
    per_episode = {i: wilson_interval(a.perturbations[i].failures, a.perturbations[i].episodes) for i in seen}
    covered_episodes = [lo <= truth.rate[i] <= hi for i, (lo, hi) in per_episode.items()]
    # The same two coverages over only the perturbations that had repeats, where the two intervals can differ.
    rep = [k for k, i in enumerate(seen) if a.perturbations[i].repeated_episodes]
    top = a.ranking[0].name if a.ranking and a.ranking[0].rank is not None else None
    experiments = {episode_key(r.seed, r.perturbations) for r in searched}
    return {
        "episodes": len(searched),
        "repeated": len(searched) - len(experiments),
        "visited": len(seen),
        "mae": float(np.mean(np.abs(est - truth.rate))),
        "spearman": spearman(est, truth.rate),
        "coverage": float(np.mean(covered)) if covered else None,
        "coverage_episodes": float(np.mean(covered_episodes)) if covered_episodes else None,
        "repeated_perturbations": len(rep),
        "coverage_repeated": float(np.mean([covered[k] for k in rep])) if rep else None,
        "coverage_repeated_episodes": float(np.mean([covered_episodes[k] for k in rep])) if rep else None,
        "mean_ci_width": float(np.mean([a.perturbations[i].ci_width for i in seen])) if seen else None,
        "mean_ci_width_episodes": float(np.mean([hi - lo for lo, hi in per_episode.values()])) if seen else None,
        "top": top,
        "top_in_truth_top": top in truth.top,
    }


def episodes_to_top(control: list[EpisodeRecord], searched: list[EpisodeRecord], catalogue: Catalogue,
                    truth: Truth) -> int | None:
    """First prefix length from which the top-ranked perturbation stays in the ground-truth top set."""
    first = None
    for n in range(1, len(searched) + 1):
        a = analyse(control + searched[:n], catalogue, "study", "")
        top = a.ranking[0] if a.ranking and a.ranking[0].rank is not None else None
        ok = top is not None and top.name in truth.top
        first = (first or n) if ok else None
    return first


def episodes_to_all_modes(searched: list[EpisodeRecord], truth: Truth) -> int | None:
    """First prefix length by which every ground-truth failure mode has failed at least once on its own."""
    unseen = set(truth.modes)
    if not unseen:
        return 0
    for n, r in enumerate(searched, start=1):
        if r.outcome == FAILURE and len(r.perturbations) == 1:
            unseen.discard(r.perturbations[0])
            if not unseen:
                return n
    return None


def score_pi(snapshot: dict[str, Any], truth: Truth) -> dict[str, Any]:
    """How far the adversary's π is from the measured rates it is read as."""
    pi = np.array(snapshot["pi"], float)
    total = truth.rate.sum()
    normalised = truth.rate / total if total > 0 else np.full_like(truth.rate, 1 / len(truth.rate))
    top = truth.names[int(np.argmax(pi))]
    return {
        "episodes": int(snapshot["episodes"]),
        "final": bool(snapshot.get("final", False)),
        "entropy": float(snapshot.get("entropy", entropy_nats(pi))),
        "mae": float(np.mean(np.abs(pi - truth.rate))),
        "spearman": spearman(pi, truth.rate),
        "tv_distance": float(0.5 * np.abs(pi - normalised).sum()),
        "pi_top": top,
        "pi_top_in_truth_top": top in truth.top,
        "pi_above_uniform": int((pi > 1 / len(pi)).sum()),
    }


def _distinct(snapshots: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """π snapshots without repeats (a resumed audit snapshots its unchanged final π again)."""
    seen, out = set(), []
    for s in snapshots:
        key = (s.get("episodes"), tuple(s.get("pi") or ()))
        if "pi" in s and key not in seen:
            seen.add(key)
            out.append(s)
    return out


def score_run(run_dir: Path, searcher: str, checkpoints: list[int], catalogue: Catalogue,
              truth: Truth) -> dict[str, Any]:
    """Every score of one audit folder; prefixes are in the order the episodes were logged (= decided)."""
    loaded = load_log(run_dir / LOG_NAME)
    control = [r for r in loaded.episodes if r.searcher == "control"]
    searched = [r for r in loaded.episodes if r.searcher == searcher]
    policy_ids = sorted({r.policy_id for r in loaded.episodes})
    return {
        "policy_id": policy_ids,
        "searched_episodes": len(searched),
        "control": {"episodes": len(control), "failures": sum(r.outcome == FAILURE for r in control)},
        "aborted": sum(r.outcome == ABORTED for r in searched),
        "stacked": sum(len(r.perturbations) > 1 for r in searched),
        "prefixes": [score_prefix(control, searched[:n], catalogue, truth, searcher)
                     for n in checkpoints if n <= len(searched)],
        "episodes_to_top": episodes_to_top(control, searched, catalogue, truth),
        "episodes_to_all_modes": episodes_to_all_modes(searched, truth),
        "pi": [score_pi(s, truth) for s in _distinct(loaded.snapshots)],
        "final_pi": next((s["pi"] for s in reversed(loaded.snapshots) if "pi" in s), None),
    }


def aggregate(runs: list[dict[str, Any]], searchers: list[str], checkpoints: list[int]) -> list[dict[str, Any]]:
    """Mean, min and max over seeds of every prefix score, per searcher and checkpoint."""
    rows = []
    for s in searchers:
        for n in checkpoints:
            ps = [p for r in runs if r["searcher"] == s for p in r["prefixes"] if p["episodes"] == n]
            if not ps:
                continue
            row: dict[str, Any] = {"searcher": s, "episodes": n, "seeds": len(ps)}
            for k in ("mae", "spearman", "coverage", "coverage_episodes", "visited", "mean_ci_width",
                      "mean_ci_width_episodes", "repeated", "repeated_perturbations", "coverage_repeated",
                      "coverage_repeated_episodes"):
                vals = [p[k] for p in ps if p[k] is not None]
                row[k] = float(np.mean(vals)) if vals else None
                row[f"{k}_min"] = float(np.min(vals)) if vals else None
                row[f"{k}_max"] = float(np.max(vals)) if vals else None
            row["top_in_truth_top"] = sum(p["top_in_truth_top"] for p in ps)
            rows.append(row)
    return rows


# --------------------------------------------------------------------------- figures


COLOURS = {"ppo": "tab:purple", "bandit": "tab:orange", "uniform": "tab:blue", "adaptive": "tab:green"}


def _axes(figsize: tuple[float, float]):
    """A figure for a headless machine (Agg), imported only when figures are drawn."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=figsize)


def _finish(fig, ax, title: str, path: Path, legend_size: int = 8) -> Path:
    """The same title, grid, legend and file settings for every study figure."""
    import matplotlib.pyplot as plt

    ax.set_title(title, fontsize=10)
    ax.grid(color="0.92")
    ax.legend(fontsize=legend_size)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _curve(summary: list[dict[str, Any]], searchers: list[str], key: str, ylabel: str, title: str, path: Path,
           reference: float | None = None, dotted: str | None = None) -> Path:
    """Mean over seeds of `key` per searcher with its min-max band; `dotted`: a second key drawn dotted, no band."""
    fig, ax = _axes((7, 4.2))
    for s in searchers:
        rows = [r for r in summary if r["searcher"] == s and r[key] is not None]
        if not rows:
            continue
        x = [r["episodes"] for r in rows]
        col = COLOURS.get(s)
        ax.plot(x, [r[key] for r in rows], marker="o", ms=4, color=col, label=s)
        if dotted is not None:
            ax.plot(x, [r[dotted] for r in rows], ls=":", marker=".", ms=4, color=col)
        ax.fill_between(x, [r[f"{key}_min"] for r in rows], [r[f"{key}_max"] for r in rows], color=col, alpha=0.15,
                        lw=0)
    if reference is not None:
        ax.axhline(reference, color="0.4", ls="--", lw=1)
    ax.set_xlabel("searched episodes (control run not counted)")
    ax.set_ylabel(ylabel)
    return _finish(fig, ax, title, path)


def _pi_scatter(runs: list[dict[str, Any]], truth: Truth, title: str, path: Path) -> Path:
    fig, ax = _axes((6, 4.5))
    markers = "osD^v<>"
    rng = np.random.default_rng(0)
    for k, r in enumerate(x for x in runs if x["final_pi"] is not None):
        jitter = rng.uniform(-0.01, 0.01, len(truth.rate))  # many rates are exactly 0 or 1
        ax.scatter(truth.rate + jitter, r["final_pi"], s=18, marker=markers[k % len(markers)], alpha=0.7,
                   label=f"seed {r['seed']} (H = {entropy_nats(r['final_pi']):.2f} nats)")
    ax.plot([0, 1], [0, 1], color="0.5", ls="--", lw=1, label="calibrated: π = rate")
    total = truth.rate.sum()
    if total > 0:
        ax.plot([0, 1], [0, 1 / total], color="0.5", ls=":", lw=1, label="π = rate / Σ rates")
    ax.set_xlabel("ground-truth failure rate (jittered ±0.01)")
    ax.set_ylabel("final π(a|o) of the PPO adversary")
    return _finish(fig, ax, title, path, legend_size=7)


def _entropy(runs: list[dict[str, Any]], n_arms: int, title: str, path: Path) -> Path:
    fig, ax = _axes((6, 4))
    for r in runs:
        pts = sorted({(p["episodes"], p["entropy"]) for p in r["pi"]})
        if pts:
            ax.plot(*zip(*pts), marker="o", ms=4, label=f"seed {r['seed']}")
    ax.axhline(math.log(n_arms), color="0.5", ls="--", lw=1, label=f"uniform π: ln {n_arms} = {math.log(n_arms):.2f}")
    ax.set_xlabel("searched episodes at the snapshot (end of each rollout, before its update; last: final π)")
    ax.set_ylabel("entropy of π (nats)")
    ax.set_ylim(bottom=0)
    return _finish(fig, ax, title, path)


def write_figures(result: dict[str, Any], truth: Truth, out: Path) -> list[Path]:
    summary, searchers = result["summary"], result["searchers"]
    # A checkpoint spec (robomimic:/long/path/model) would overflow the title: name the model, not its path.
    policy = result["policy"].rstrip("/").rsplit("/", 1)[-1].removesuffix(".pth")
    what = f"{policy} on {result['task']}, budget {result['budget']}, seeds {result['seeds']}"
    band = "line: mean over seeds, band: min-max"
    paths = [
        _curve(summary, searchers, "mae", "mean absolute error vs ground truth",
               f"Estimate error ({what})\n{band}; unmeasured perturbations count as 0.5", out / "error_vs_episodes.png"),
        _curve(summary, searchers, "spearman", "Spearman ρ vs ground truth",
               f"Ranking agreement ({what})\n{band}", out / "spearman_vs_episodes.png"),
        _curve(summary, searchers, "coverage", "coverage of 95% Wilson intervals",
               f"Interval coverage over measured perturbations ({what})\n{band}; dashed: nominal 95%; "
               "dotted: repeats counted as episodes", out / "coverage_vs_episodes.png", reference=0.95,
               dotted="coverage_episodes"),
    ]
    ppo = [r for r in result["runs"] if r["searcher"] == "ppo"]
    if any(r["final_pi"] for r in ppo):
        paths.append(_pi_scatter(ppo, truth, f"PPO's π vs measured failure rate ({what})", out / "ppo_pi_vs_rate.png"))
        paths.append(_entropy(ppo, len(truth.names), f"Entropy of PPO's π as training goes on ({what})",
                              out / "ppo_entropy.png"))
    return paths


# --------------------------------------------------------------------------- tables


CSV_COLUMNS = ("searcher", "seed", "episodes", "repeated", "visited", "mae", "spearman", "coverage",
               "coverage_episodes", "repeated_perturbations", "coverage_repeated", "coverage_repeated_episodes",
               "mean_ci_width", "mean_ci_width_episodes", "top", "top_in_truth_top")


def write_csv(runs: list[dict[str, Any]], path: Path) -> Path:
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(CSV_COLUMNS)
        for r in runs:
            for p in r["prefixes"]:
                row = {"searcher": r["searcher"], "seed": r["seed"], **p}
                w.writerow(["" if row[c] is None else (f"{row[c]:.4f}" if isinstance(row[c], float) else row[c])
                            for c in CSV_COLUMNS])
    return path


def _f(v: float | None, digits: int = 3) -> str:
    return "n/a" if v is None else f"{v:.{digits}f}"


def _milestone(r: dict[str, Any], key: str) -> str:
    return str(r[key]) if r[key] is not None else f">{r['searched_episodes']}"


def markdown_tables(result: dict[str, Any]) -> str:
    """The summary as Markdown tables, ready to paste into docs/benchmarks.md."""
    def rng(row: dict[str, Any], key: str, digits: int = 3) -> str:
        if row[key] is None:
            return "n/a"
        return f"{row[key]:.{digits}f} ({row[f'{key}_min']:.{digits}f}–{row[f'{key}_max']:.{digits}f})"

    lines = [f"Means over seeds {result['seeds']} (min–max in brackets); unmeasured perturbations count as "
             f"{result['unvisited_estimate']} in MAE and ρ; coverage is over measured perturbations, with each "
             "experiment counted once (the analysis's intervals).", "",
             "| searcher | episodes | MAE | Spearman ρ | coverage | visited | mean CI width | repeated | top ok |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in result["summary"]:
        lines.append(f"| {r['searcher']} | {r['episodes']} | {rng(r, 'mae')} | {rng(r, 'spearman', 2)} | "
                     f"{rng(r, 'coverage', 2)} | {r['visited']:.1f} | {r['mean_ci_width']:.2f} | {r['repeated']:.0f} | "
                     f"{r['top_in_truth_top']}/{r['seeds']} |")
    lines += ["", "Repeated experiments: coverage and mean interval width with every episode counted as an "
                  "independent trial (before) and with each distinct experiment counted once (after).", "",
              "| searcher | episodes | repeated | coverage, episodes counted | coverage, experiments counted | "
              "perturbations with repeats | their coverage, episodes / experiments counted | "
              "mean CI width, episodes / experiments counted |",
              "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in result["summary"]:
        lines.append(f"| {r['searcher']} | {r['episodes']} | {r['repeated']:.0f} | {rng(r, 'coverage_episodes', 2)} | "
                     f"{rng(r, 'coverage', 2)} | {r['repeated_perturbations']:.1f} | "
                     f"{_f(r['coverage_repeated_episodes'], 2)} / {_f(r['coverage_repeated'], 2)} | "
                     f"{_f(r['mean_ci_width_episodes'], 2)} / {_f(r['mean_ci_width'], 2)} |")
    lines += ["", "| searcher | seed | episodes to top mode | episodes to all failure modes seen failing |",
              "|---|---:|---:|---:|"]
    for r in result["runs"]:
        lines.append(f"| {r['searcher']} | {r['seed']} | {_milestone(r, 'episodes_to_top')} | "
                     f"{_milestone(r, 'episodes_to_all_modes')} |")
    ppo = [r for r in result["runs"] if r["searcher"] == "ppo" and r["pi"]]
    if ppo:
        lines += ["", "| PPO seed | snapshot at episode | H(π) nats | MAE π vs rate | ρ π vs rate | TV π vs rate/Σ | "
                      "π's top | π > 1/N |", "|---:|---:|---:|---:|---:|---:|---|---:|"]
        for r in ppo:
            for p in r["pi"]:
                lines.append(f"| {r['seed']} | {p['episodes']}{' (final)' if p['final'] else ''} | {p['entropy']:.2f} | "
                             f"{p['mae']:.3f} | {_f(p['spearman'], 2)} | {p['tv_distance']:.3f} | {p['pi_top']} | "
                             f"{p['pi_above_uniform']} |")
    return "\n".join(lines) + "\n"


def print_summary(result: dict[str, Any]) -> None:
    """The per-budget table (means over seeds) and the per-seed milestones, rich if it is installed."""
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:  # plain text is enough for a log file
        Console = Table = None
    head = ("searcher", "episodes", "MAE", "Spearman ρ", "coverage", "cov. (episodes)", "visited", "mean CI width",
            "repeated", "top ok")
    rows = [(r["searcher"], str(r["episodes"]), _f(r["mae"]), _f(r["spearman"]), _f(r["coverage"]),
             _f(r["coverage_episodes"]), f"{r['visited']:.1f}", _f(r["mean_ci_width"]), f"{r['repeated']:.0f}",
             f"{r['top_in_truth_top']}/{r['seeds']}")
            for r in result["summary"]]
    title = (f"Search quality: {result['policy']} on {result['task']} vs {result['truth']} "
             f"(means over seeds {result['seeds']})")
    milestones = []
    for s in result["searchers"]:
        rs = [r for r in result["runs"] if r["searcher"] == s]
        tops = ", ".join(f"s{r['seed']}: {_milestone(r, 'episodes_to_top')}" for r in rs)
        modes = ", ".join(f"s{r['seed']}: {_milestone(r, 'episodes_to_all_modes')}" for r in rs)
        milestones.append(f"{s:<9} top mode identified after {tops}; all {len(result['truth_modes'])} "
                          f"failure modes seen failing after {modes}")
    for r in [r for r in result["runs"] if r["searcher"] == "ppo" and r["pi"]]:
        last = r["pi"][-1]
        milestones.append(f"ppo s{r['seed']} final π: H = {last['entropy']:.2f} nats, MAE vs rates {last['mae']:.3f}, "
                          f"ρ {_f(last['spearman'])}, TV vs normalised rates {last['tv_distance']:.3f}, "
                          f"top {last['pi_top']} ({'in' if last['pi_top_in_truth_top'] else 'NOT in'} the true top set), "
                          f"{last['pi_above_uniform']} perturbation(s) above 1/N")
    if Table is not None:
        table = Table(title=title, title_justify="left")
        for h in head:
            table.add_column(h, justify="left" if h == "searcher" else "right")
        for row in rows:
            table.add_row(*row)
        console = Console(width=160)
        console.print(table)
        for m in milestones:
            console.print(m)
        return
    print(title)
    print("  ".join(f"{h:>13}" for h in head))
    for row in rows:
        print("  ".join(f"{c:>13}" for c in row))
    print("\n".join(milestones))


# --------------------------------------------------------------------------- running


def policy_tag(spec: str) -> str:
    """A folder-name fragment for a policy spec (`robomimic:/x/bc_rnn.pth` -> `robomimic-bc_rnn`)."""
    kind, _, rest = spec.partition(":")
    tag = f"{kind}-{Path(rest).stem}" if rest else kind
    return re.sub(r"[^A-Za-z0-9_.-]", "_", tag)


class Progress:
    """One line per 20 new episodes (or a live line on a terminal): where the study is and how long it will take."""

    def __init__(self, total_new: int) -> None:
        self.total_new, self.new, self.started = total_new, 0, time.perf_counter()
        self.tty = sys.stderr.isatty()

    def __call__(self, label: str, done: int, total: int) -> None:
        self.new += 1
        if not self.tty and self.new % 20 and self.new != self.total_new:
            return
        elapsed = time.perf_counter() - self.started
        rate = self.new / elapsed if elapsed > 0 else 0.0
        eta = (self.total_new - self.new) / rate / 60 if rate > 0 else float("nan")
        line = (f"[search quality] {label} {done}/{total} | study {self.new}/{self.total_new} new episodes, "
                f"{rate:.2f} ep/s, ETA {eta:.0f} min")
        print(("\r" + line) if self.tty else line, end="" if self.tty else "\n", file=sys.stderr, flush=True)


def run_study(args: argparse.Namespace, catalogue: Catalogue) -> dict[str, float]:
    """Run (or resume) every audit of the study; seed-major order, so an interrupted study has whole seeds."""
    from robofail_ros.audit import run_audit

    plan = [(seed, s) for seed in args.seeds for s in args.searchers]
    configs = {}
    for seed, s in plan:
        configs[(seed, s)] = AuditConfig(sim=SimConfig(task=args.task), policy=args.policy, searcher=s,
                                         episodes=args.budget, control_episodes=args.control_episodes, seed=seed,
                                         workers=args.workers)
    logged = {k: len(load_log(args.out / f"{k[1]}-s{k[0]}" / LOG_NAME).episodes) for k in plan}
    total_new = sum(max(0, c.episodes + c.control_episodes - logged[k]) for k, c in configs.items())
    progress = Progress(max(total_new, 1))
    walls: dict[str, float] = {}
    for seed, s in plan:
        run_dir = args.out / f"{s}-s{seed}"
        label = f"{s}-s{seed}"
        result = run_audit(configs[(seed, s)], run_dir, film=False, write_files=False,
                           on_record=lambda r, done, total, label=label: progress(label, done, total))
        walls[label] = result.wall_time
    if progress.tty:
        print(file=sys.stderr)
    return walls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--policy", default="vision", help="policy spec, as for `robofail audit --policy`")
    parser.add_argument("--truth", type=Path, required=True, help="ground_truth.json from bench/ground_truth.py")
    parser.add_argument("--task", default="Lift")
    parser.add_argument("--searchers", nargs="+", default=["ppo", "bandit", "uniform", "adaptive"], choices=SEARCHERS)
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3],
                        help="audit seeds; keep them apart from the ground truth's seed")
    parser.add_argument("--budget", type=int, default=540, help="searched episodes per audit (the largest checkpoint)")
    parser.add_argument("--checkpoints", nargs="+", type=int, default=None,
                        help="prefix lengths to score (default: 1, 2, 4, 8, 12, 16, 20 passes over the catalogue)")
    parser.add_argument("--control-episodes", type=int, default=AuditConfig.control_episodes)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", type=Path, default=None, help="default: audits/search_quality-<policy>")
    parser.add_argument("--evaluate-only", action="store_true", help="score the logged episodes, run none")
    args = parser.parse_args()

    truth_data = json.loads(args.truth.read_text())
    if truth_data.get("task", args.task) != args.task:
        parser.error(f"--truth is for task {truth_data['task']!r}, not {args.task!r}")
    if truth_data.get("audit_seed") in args.seeds:
        print(f"warning: seed {truth_data['audit_seed']} is the ground truth's own: its estimates share its "
              f"initial states", file=sys.stderr)
    catalogue = load_catalogue(args.task)
    truth = Truth(truth_data, catalogue)
    args.out = args.out or ROOT / "audits" / f"search_quality-{policy_tag(args.policy)}"
    args.out.mkdir(parents=True, exist_ok=True)
    n = len(catalogue)
    checkpoints = sorted({c for c in (args.checkpoints or [m * n for m in CHECKPOINT_MULTIPLES]) if c <= args.budget}
                         | {args.budget})

    started = time.perf_counter()
    walls = {} if args.evaluate_only else run_study(args, catalogue)
    study_wall = time.perf_counter() - started

    runs = []
    for seed in args.seeds:
        for s in args.searchers:
            run_dir = args.out / f"{s}-s{seed}"
            if not (run_dir / LOG_NAME).exists():
                print(f"no audit in {run_dir}; skipped", file=sys.stderr)
                continue
            scored = score_run(run_dir, s, checkpoints, catalogue, truth)
            if truth_data.get("policy") and scored["policy_id"] and scored["policy_id"] != [truth_data["policy"]]:
                raise SystemExit(f"{run_dir} ran policy {scored['policy_id']}, the ground truth is for "
                                 f"{truth_data['policy']!r}: pass the --truth made for --policy {args.policy}")
            runs.append({"searcher": s, "seed": seed, "dir": str(run_dir), "wall_time_s": walls.get(f"{s}-s{seed}"),
                         **scored})
    result = {
        "policy": args.policy, "task": args.task, "truth": str(args.truth), "budget": args.budget,
        "seeds": args.seeds, "searchers": args.searchers, "checkpoints": checkpoints,
        "control_episodes": args.control_episodes, "workers": args.workers,
        "unvisited_estimate": UNVISITED_ESTIMATE, "study_wall_time_s": None if args.evaluate_only else study_wall,
        "truth_top": sorted(truth.top), "truth_modes": sorted(truth.modes),
        "runs": runs, "summary": aggregate(runs, args.searchers, checkpoints),
    }
    (args.out / "search_quality.json").write_text(json.dumps(result, indent=1) + "\n")
    write_csv(runs, args.out / "search_quality.csv")
    (args.out / "search_quality.md").write_text(markdown_tables(result))
    figures = write_figures(result, truth, args.out)
    print(f"\n{len(runs)} audit(s) scored against {args.truth}; "
          + (f"study ran for {study_wall / 60:.1f} min; " if not args.evaluate_only else "")
          + f"files in {args.out}: search_quality.json, .csv, .md, "
          + ", ".join(p.name for p in figures))
    print_summary(result)


if __name__ == "__main__":
    main()
