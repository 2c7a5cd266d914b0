"""Which continuous searcher finds failure thresholds and interactions with the fewest episodes (issue 12).

Ground truths are the planted policies of bench/planted_policies.py (a threshold, an interaction, a narrow band,
a one-in-three region), whose true P(failure | scene) is measured once by rendering first frames
(bench/planted_truth.py) over the Lift factor box restricted to its colour and light factors (12 factors; the
planted expert's physics cannot see them, so the rule is the only way to fail; planted_truth.VISUAL_GROUPS says
why the camera pose is left out).

For every (policy, searcher, seed) this runs ONE continuous audit through the core `run_audit` at the largest
budget, into `<out>/<policy>/<searcher>-s<seed>/` (resumable: run the same command again and finished episodes
are kept), then scores prefixes of its logged episodes at the checkpoints: the first 128 episodes of a
600-episode audit are exactly the audit a 128-episode budget would have run (every searcher decides from the
episodes before, never after; the control run comes first and is the same for all). Each prefix is analysed by
the product's own `analyse_scenes`, and what it reports is scored against the truth:

- threshold error: per true threshold (same factor and direction), |reported - true| in unit-cube coordinates,
  i.e. as a share of the factor's range (log factors in log terms); a true threshold not reported scores 1.0.
  `located` when every true threshold is within 5%. `spurious`: reported thresholds with no true counterpart, on
  a factor the truth measured (a grid truth measures two; thresholds elsewhere are counted as `unmeasured`).
- interval coverage: true thresholds inside the reported 95% interval (of those reported), and the share of
  the truth's factor curves inside the reported 95% band of P(failure) along each factor (within 0.05: a
  logistic-link band never reaches a planted rule's exact 0 or 1); and the share of factors whose reported
  Sobol intervals (first order, total) hold the truth's index, or meet the truth's own Monte-Carlo interval;
  and, for the total index the report claims from below only, whether its lower bound holds.
- regions: recall and precision of the fitted model's failure region {P > half-way from P(nominal) to the
  largest P in the box} against the true region {P > 0}, on the truth's 1024-scene test set; the same for the
  union of the reported rule boxes.
- calibration: mean squared error of the fitted P(failure | scene) against the true P over the test set (the
  part of the Brier score a model can remove), the expected Brier score, and the best constant's Brier score;
  a reliability curve (mean true P per bin of fitted P) at the largest budget.
- interaction: whether the top reported interacting pair is the truth's top Sobol pair.
- model against control: whether the analysis warned that its model contradicts the control at nominal.

Scores are cached per run (`scores.json`), so a resumed or extended study scores only new prefixes.
Writes continuous_study.json, .md (Markdown tables for docs/benchmarks.md) and figures into <out>; prints the
summary last.

Run:  .venv/bin/python bench/continuous_study.py [--policies DarkFreeze ...] [--searchers boundary sobol ...]
      [--seeds 1 2 3] [--budget 600] [--workers 2] [--out DIR] [--evaluate-only] [--truth-only]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("MUJOCO_GL", "egl")
# Worker processes import the planted policies by their spec `planted_policies:<Class>`.
os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT / "bench"), os.environ.get("PYTHONPATH")) if p)

import numpy as np  # noqa: E402

from robofail_ros.config import CONTINUOUS_SEARCHERS, INITIAL_STATES, AuditConfig, SceneSearchConfig  # noqa: E402
from robofail_ros.continuous.result import SceneAnalysis  # noqa: E402
from robofail_ros.continuous.surrogate import SET_ASIDE_LENGTH_SCALE  # noqa: E402
from robofail_ros.factors import FactorSpace, load_factor_space  # noqa: E402
from robofail_ros.record import LOG_NAME, load_log  # noqa: E402
from robofail_ros.sim import SimConfig  # noqa: E402

import planted_policies  # noqa: E402
import planted_truth  # noqa: E402
from planted_truth import Truth  # noqa: E402

LOCATED = 0.05
"""A threshold is located when within this share of its factor's range of the truth (the issue's target)."""
BAND_TOLERANCE = 0.05
"""A fitted band counts as holding the true P within this much: a logistic-link model never reaches exactly 0 or
1, so a planted rule's exact 0 (or 1) would otherwise be outside every band by construction."""
SOBOL_TOLERANCE = 0.005
"""A reported Sobol index counts as holding the true one within this much: half the last digit the report prints
(two decimals). An ignored factor's index of 1e-6 +- 1e-7 against a true 0 +- 0 is rounding, not a miss."""
DEFAULT_CHECKPOINTS = (64, 128, 192, 256, 384, 512, 600)
SCORE_VERSION = 10
"""Bumped when the scores change meaning, so cached scores are recomputed."""


def analysis_fingerprint() -> str:
    """A hash of the analysis code (robofail_ros/continuous/*.py): cached scores of an older analysis are
    recomputed, not served. A damped Laplace step changed every real-policy score while SCORE_VERSION stayed."""
    import hashlib

    import robofail_ros.continuous as analysis

    digest = hashlib.sha256()
    for path in sorted(Path(analysis.__file__).parent.glob("*.py")):
        digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()[:16]


def truth_fingerprint(truth: Truth) -> str:
    """A hash of the truth a run is scored against: a re-measured or re-summarised truth rescores its runs."""
    import dataclasses
    import hashlib

    return hashlib.sha256(json.dumps(dataclasses.asdict(truth), sort_keys=True, default=str).encode()).hexdigest()[:16]


# --------------------------------------------------------------------------- scoring one analysis


def unit_of(space: FactorSpace, factor: str, value: float) -> float:
    return float(space.factors[space.names.index(factor)].to_unit(value))


def score_thresholds(analysis: SceneAnalysis, truth: Truth, space: FactorSpace) -> dict[str, Any]:
    """Each true threshold matched to the nearest reported one of the same factor and direction, on the same side of
    the factor's nominal value.

    The side matters because a direction does not say where a threshold is: the far edge of a reported band above
    nominal ("fails below 0.0386", where the band ends) and a true threshold below nominal ("fails below 0.0094") are
    both 'below', but they are different findings, and scoring one against the other measured nothing (§8i).
    """
    matched, per_true = set(), []
    for t, own_ci in zip(truth.thresholds, truth.threshold_ci or [None] * len(truth.thresholds)):
        nominal_u = unit_of(space, t.factor, float(space.nominal[space.names.index(t.factor)]))
        cands = [(k, r) for k, r in enumerate(analysis.thresholds)
                 if r.factor == t.factor and r.direction == t.direction
                 and (unit_of(space, t.factor, r.value) - nominal_u) * (t.unit - nominal_u) > 0]
        if not cands:
            per_true.append({"factor": t.factor, "direction": t.direction, "true": t.value, "error": 1.0,
                             "found": False, "covered": None})
            continue
        k, r = min(cands, key=lambda kr: abs(unit_of(space, t.factor, kr[1].value) - t.unit))
        matched.add(k)
        lo, hi = sorted((unit_of(space, t.factor, r.ci_low), unit_of(space, t.factor, r.ci_high)))
        per_true.append({"factor": t.factor, "direction": t.direction, "true": t.value, "reported": r.value,
                         "error": abs(unit_of(space, t.factor, r.value) - t.unit), "found": True,
                         "covered": bool(lo - 1e-9 <= t.unit <= hi + 1e-9),
                         # a measured truth is uncertain too: does the reported interval meet the truth's own?
                         "meets_truth_ci": None if own_ci is None else bool(lo <= own_ci[1] and own_ci[0] <= hi)})
    errors = [p["error"] for p in per_true]
    covered = [p["covered"] for p in per_true if p["covered"] is not None]
    # A measured (grid) truth has curves for the factors it measured only; it can neither confirm nor refute a
    # threshold on another factor, so those are counted apart instead of as spurious. A planted truth has them all.
    measured = set(truth.curves) or set(space.names)
    return {
        "thresholds": per_true,
        "max_error": max(errors) if errors else 0.0,
        "mean_error": float(np.mean(errors)) if errors else 0.0,
        "located": all(e <= LOCATED for e in errors),
        "spurious": sum(k not in matched and r.factor in measured for k, r in enumerate(analysis.thresholds)),
        "unmeasured": sum(r.factor not in measured for r in analysis.thresholds),
        "threshold_coverage": float(np.mean(covered)) if covered else None,
        "meets_truth_ci": _mean([p.get("meets_truth_ci") for p in per_true]),
    }


def band_coverage(analysis: SceneAnalysis, truth: Truth, space: FactorSpace) -> float | None:
    """Share of points of the reported factor curves whose 95% band holds the true P there (within BAND_TOLERANCE).

    A measured truth's P is itself a K-episode rate: there a point counts as held when the reported band meets
    the measurement's 95% Wilson interval (both intervals; a band narrower than the truth's doubt is not
    penalised for the truth's noise).
    """
    hits = []
    for c in analysis.curves:
        if c.factor not in truth.curves:
            continue
        u = np.array([unit_of(space, c.factor, v) for v in c.values])
        lo, hi = np.asarray(c.p_low) - BAND_TOLERANCE, np.asarray(c.p_high) + BAND_TOLERANCE
        if c.factor in truth.curve_ci:
            ci = np.asarray(truth.curve_ci[c.factor], float)
            true_lo, true_hi = (np.interp(u, truth.units_of(c.factor), ci[:, k]) for k in (0, 1))
            hits += list((lo <= true_hi) & (true_lo <= hi))
        else:
            true_p = np.interp(u, truth.units_of(c.factor), truth.curves[c.factor])
            hits += list((lo <= true_p) & (true_p <= hi))
    return float(np.mean(hits)) if hits else None


def recall_precision(predicted: np.ndarray, actual: np.ndarray) -> tuple[float | None, float | None]:
    both = float(np.sum(predicted & actual))
    recall = both / actual.sum() if actual.sum() else None
    precision = both / predicted.sum() if predicted.sum() else None
    return recall, precision


def rules_region(analysis: SceneAnalysis, values: np.ndarray, names: list[str]) -> np.ndarray:
    inside = np.zeros(len(values), bool)
    for rule in analysis.rules:
        box = np.ones(len(values), bool)
        for c in rule.conditions:
            col = values[:, names.index(c.factor)]
            box &= col < c.value if c.op == "<" else col >= c.value
        inside |= box
    return inside


def score_model(analysis: SceneAnalysis, truth: Truth, space: FactorSpace) -> dict[str, Any]:
    """Calibration and failure regions of the fitted P(failure | scene) on the truth's test scenes."""
    test_u = np.asarray(truth.test_unit)
    p_true = np.asarray(truth.test_p)
    actual = p_true > truth.region_above
    model = getattr(analysis, "fitted", None)
    out: dict[str, Any] = {}
    if not len(p_true):  # a truth measured on lines only (grid_truth.py --lines-only): no test scenes
        return out
    if model is not None:
        p_hat = model.predict(test_u)[0]
        nominal_u = np.asarray(space.to_unit(np.asarray(space.nominal, float)), float)
        p_nom = float(model.predict(nominal_u[None, :])[0][0])
        mse = float(np.mean((p_hat - p_true) ** 2))
        noise = float(np.mean(p_true * (1 - p_true)))
        const = float(np.mean(p_true))
        out.update(p_mse=mse, brier=mse + noise, brier_constant=float(np.mean((const - p_true) ** 2)) + noise)
        rise = float(p_hat.max()) - p_nom
        predicted = p_hat > p_nom + 0.5 * rise if rise >= 0.1 else np.zeros(len(p_hat), bool)
        out["region_recall"], out["region_precision"] = recall_precision(predicted, actual)
        bins = np.clip((p_hat * 10).astype(int), 0, 9)
        out["reliability"] = [[float(p_hat[bins == b].mean()), float(p_true[bins == b].mean()), int((bins == b).sum())]
                              for b in range(10) if (bins == b).any()]
    values = np.asarray(space.from_unit(test_u), float)
    out["rules_recall"], out["rules_precision"] = recall_precision(rules_region(analysis, values, list(space.names)),
                                                                   actual)
    return out


def score_pair(analysis: SceneAnalysis, truth: Truth) -> dict[str, Any]:
    """Whether the truth's top pair is ranked first (the largest S2 estimate: the issue's "ranks the planted
    interaction first") and whether it is also reported (its S2 interval excludes 0); None without a true pair."""
    ranking = analysis.pair_ranking or analysis.interactions  # an analysis saved before the ranking existed
    top = set(ranking[0].factors) if ranking else None
    reported = set(analysis.interactions[0].factors) if analysis.interactions else None
    true_top = set(truth.top_pairs[0][:2]) if truth.top_pairs else None
    return {"top_pair": sorted(top) if top else None,
            "top_pair_ok": (top == true_top) if true_top else None,
            "top_pair_reported": (reported == true_top) if true_top else None}


def sobol_meets(estimate: float, half_width: float, true: float, true_half_width: float = 0.0) -> bool:
    """Whether a reported index's interval reaches the true one (or its interval), within SOBOL_TOLERANCE."""
    return abs(estimate - true) <= half_width + true_half_width + SOBOL_TOLERANCE


def lower_bound_holds(lower: float, true: float, true_half_width: float = 0.0) -> bool:
    """Whether a reported lower bound is at or below the true index (or its interval), within SOBOL_TOLERANCE."""
    return lower <= true + true_half_width + SOBOL_TOLERANCE


def score_sobol(analysis: SceneAnalysis, truth: Truth) -> dict[str, Any]:
    """Coverage of the reported Sobol intervals (first order S1 and total ST, one per factor) against the truth's.

    `st_coverage`: share of factors whose reported 95% interval holds the true ST; `st_meets_truth`: share whose
    interval meets the truth's own 95% interval (the truth is a Monte-Carlo estimate too), both within
    SOBOL_TOLERANCE. The same for S1. ST's claim is its lower bound (`SobolIndex.st_lower`): `st_lower_holds` is
    the share of factors whose bound is at or below the truth's interval, `st_lower_informative` the share whose
    bound says anything (above SOBOL_TOLERANCE; a bound of 0 holds trivially) and `st_lower_informative_holds` the
    share of those that hold. None when the analysis reports no indices (P nearly constant) or the truth has none
    (a measured grid truth).
    """
    if not analysis.sobol or not truth.sobol_st:
        return {k: None for k in ("st_coverage", "st_meets_truth", "s1_coverage", "s1_meets_truth",
                                  "st_lower_holds", "st_lower_informative", "st_lower_informative_holds")}
    ls = analysis.length_scales or {}
    # Per factor (true ST, its half-width, reported ST, its half-width, the model's length scale, the reported
    # lower bound) for the figure.
    out: dict[str, Any] = {"st_points": [[truth.sobol_st[i.factor], truth.sobol_st_conf.get(i.factor), i.st,
                                          i.st_conf, ls.get(i.factor), i.st_lower] for i in analysis.sobol]}
    held = [(i.st_lower > SOBOL_TOLERANCE, lower_bound_holds(i.st_lower, truth.sobol_st[i.factor],
                                                              truth.sobol_st_conf.get(i.factor) or 0.0))
            for i in analysis.sobol]
    informative = [holds for says, holds in held if says]
    out["st_lower_holds"] = float(np.mean([holds for _, holds in held]))
    out["st_lower_informative"] = len(informative) / len(held)
    out["st_lower_informative_holds"] = float(np.mean(informative)) if informative else None
    for order in ("st", "s1"):
        true, true_conf = getattr(truth, f"sobol_{order}"), getattr(truth, f"sobol_{order}_conf")
        rows = [(getattr(i, order), getattr(i, f"{order}_conf"), true[i.factor], true_conf.get(i.factor))
                for i in analysis.sobol]
        out[f"{order}_coverage"] = float(np.mean([sobol_meets(est, conf, t) for est, conf, t, _ in rows]))
        out[f"{order}_meets_truth"] = (float(np.mean([sobol_meets(*row) for row in rows])) if true_conf else None)
    return out


def score_analysis(analysis: SceneAnalysis, truth: Truth, space: FactorSpace) -> dict[str, Any]:
    st = {s.factor: s.st for s in analysis.sobol}
    return {
        **score_thresholds(analysis, truth, space),
        "band_coverage": band_coverage(analysis, truth, space),
        **score_model(analysis, truth, space),
        **score_pair(analysis, truth),
        **score_sobol(analysis, truth),
        "top_factor": max(st, key=st.get) if st else None,
        "top_factor_ok": (max(st, key=st.get) == max(truth.sobol_st, key=truth.sobol_st.get))
        if st and truth.sobol_st else None,
        "failures": analysis.failures,
        "nominal_conflict": bool(analysis.nominal_conflict),
    }


def score_run(run_dir: Path, truth: Truth, space: FactorSpace, checkpoints: list[int], searcher: str, seed: int,
              rescore: bool = False) -> dict[str, Any]:
    """Scores of every checkpoint prefix of one audit's log, cached in run_dir/scores.json.

    The analysis gets the audit's own seed, as `run_audit` gives it, so a score is of the report the user saw.
    """
    from robofail_ros.continuous.analyse import analyse_scenes

    cache_path = run_dir / "scores.json"
    cache = json.loads(cache_path.read_text()) if cache_path.exists() and not rescore else {}
    fingerprint = {"analysis": analysis_fingerprint(), "truth": truth_fingerprint(truth)}
    if cache.get("version") != SCORE_VERSION or any(cache.get(k) != v for k, v in fingerprint.items()):
        cache = {"version": SCORE_VERSION, **fingerprint, "checkpoints": {}}
    episodes = load_log(run_dir / LOG_NAME).episodes
    control = [r for r in episodes if r.scene is None and not r.perturbations]
    searched = [r for r in episodes if r.scene is not None]
    for n in checkpoints:
        if str(n) in cache["checkpoints"] or n > len(searched):
            continue
        started = time.perf_counter()
        analysis = analyse_scenes(control + searched[:n], space, "study", searcher, seed=seed, keep_model=True)
        cache["checkpoints"][str(n)] = {"episodes": n, **score_analysis(analysis, truth, space),
                                        "analysis_s": time.perf_counter() - started}
        tmp = cache_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(cache))
        tmp.replace(cache_path)
    return {"searched": len(searched), "control": len(control),
            "scores": [cache["checkpoints"][str(n)] for n in checkpoints if str(n) in cache["checkpoints"]]}


# --------------------------------------------------------------------------- aggregation


def first_reached(scores: list[dict], key: str | Callable[[dict], bool]) -> int | None:
    """First checkpoint from which `key` (a score's field, or a test of a score) holds at every later checkpoint
    (None: not by the last one)."""
    holds = key if callable(key) else (lambda s: bool(s.get(key)))
    first = None
    for s in scores:
        if holds(s):
            first = s["episodes"] if first is None else first
        else:
            first = None
    return first


def episodes_to_error(scores: list[dict], error: float) -> int | None:
    """First checkpoint from which the worst threshold error stays at or below `error`."""
    return first_reached(scores, lambda s: s["max_error"] <= error + 1e-12)


def _mean(values: list) -> float | None:
    values = [v for v in values if v is not None]
    return float(np.mean(values)) if values else None


def aggregate(runs: list[dict], checkpoints: list[int]) -> list[dict]:
    """Per (policy, searcher, checkpoint): means over seeds; per (policy, searcher): episodes to each target."""
    rows = []
    keys = sorted({(r["policy"], r["searcher"]) for r in runs})
    for policy, searcher in keys:
        mine = [r for r in runs if r["policy"] == policy and r["searcher"] == searcher]
        for n in checkpoints:
            at = [s for r in mine for s in r["scores"] if s["episodes"] == n]
            if not at:
                continue
            row = {"policy": policy, "searcher": searcher, "episodes": n, "seeds": len(at)}
            for k in ("max_error", "mean_error", "spurious", "unmeasured", "threshold_coverage", "meets_truth_ci",
                      "band_coverage", "p_mse", "brier", "brier_constant", "region_recall", "region_precision",
                      "rules_recall", "rules_precision", "st_coverage", "st_meets_truth", "s1_coverage",
                      "s1_meets_truth", "st_lower_holds", "st_lower_informative", "st_lower_informative_holds",
                      "nominal_conflict"):
                row[k] = _mean([s.get(k) for s in at])
            for k in ("located", "top_pair_ok", "top_pair_reported", "top_factor_ok"):
                vals = [s.get(k) for s in at if s.get(k) is not None]
                row[k] = f"{sum(vals)}/{len(vals)}" if vals else None
            rows.append(row)
    return rows


def reach_table(runs: list[dict]) -> list[dict]:
    out = []
    for r in runs:
        out.append({"policy": r["policy"], "searcher": r["searcher"], "seed": r["seed"],
                    "located_at": first_reached(r["scores"], "located"),
                    "top_pair_at": first_reached(r["scores"], "top_pair_ok"),
                    "error_at_end": r["scores"][-1]["max_error"] if r["scores"] else None})
    return out


def sobol_ratio(runs: list[dict], best: str) -> list[dict]:
    """Per (policy, seed): episodes Sobol needs for the threshold error `best` reaches at its located point."""
    out = []
    for r in runs:
        if r["searcher"] != best:
            continue
        at = first_reached(r["scores"], "located")
        sob = next((s for s in runs if s["searcher"] == "sobol" and s["policy"] == r["policy"]
                    and s["seed"] == r["seed"]), None)
        if at is None or sob is None:
            continue
        err = next(s["max_error"] for s in r["scores"] if s["episodes"] == at)
        sob_at = episodes_to_error(sob["scores"], err)
        out.append({"policy": r["policy"], "seed": r["seed"], "best_at": at, "error": err, "sobol_at": sob_at,
                    "half_or_less": sob_at is None and sob["scores"] and sob["scores"][-1]["episodes"] >= 2 * at
                    or (sob_at is not None and at <= sob_at / 2)})
    return out


# --------------------------------------------------------------------------- output


def _fmt(v: Any, digits: int = 3) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:.{digits}g}" if abs(v) < 1000 else f"{v:.0f}"
    return str(v)


def unmeasured(row: dict) -> str:
    """' (+N on unmeasured factors)' where a measured truth could not judge N reported thresholds, else ''."""
    n = row.get("unmeasured")
    return f" (+{_fmt(n)} on unmeasured factors)" if n else ""


def markdown(result: dict) -> str:
    lines = [f"Budget {result['budget']} searched episodes (+{result['control_episodes']} control), seeds "
             f"{result['seeds']}, factor box: {result['box']}.", ""]
    for t in result["truths"]:
        thr = t.get("thresholds_text") or "none"
        pair = (" × ".join(t["top_pairs"][0][:2]) + f" (S2 {t['top_pairs'][0][2]:.2f}"
                + ("" if t["clear_pair"] else "; none stands out, so no ranking target") + ")") if t["top_pairs"] else "–"
        share = t["region_share"]
        region = "not measured (lines only)" if share is None or share != share else f"{100 * share:.1f}% of the box"
        lines.append(f"- **{t['policy']}**: {t['rule']}. True thresholds (others nominal): {thr}. Region: "
                     f"{region}. Top true interaction: {pair}.")
    lines += ["", "| policy | searcher | episodes | seeds | located | max thr. error | spurious | thr. coverage | "
              "band coverage | P MSE | Brier (const.) | region recall / precision | rules recall / precision | "
              "top pair ranked first / reported | thr. CI meets truth's CI | ST / S1 coverage (meet truth's CI) | "
              "ST lower bound holds: all / where above 0 (share above 0) | model contradicts control |",
              "|" + "---|" * 18]
    for r in result["summary"]:
        if r["episodes"] not in result["table_checkpoints"]:
            continue
        lines.append(
            f"| {r['policy']} | {r['searcher']} | {r['episodes']} | {r['seeds']} | {_fmt(r['located'])} | "
            f"{_fmt(r['max_error'])} | {_fmt(r['spurious'])}{unmeasured(r)} | {_fmt(r['threshold_coverage'])} | "
            f"{_fmt(r['band_coverage'])} | {_fmt(r['p_mse'])} | {_fmt(r['brier'])} ({_fmt(r['brier_constant'])}) | "
            f"{_fmt(r['region_recall'])} / {_fmt(r['region_precision'])} | {_fmt(r['rules_recall'])} / "
            f"{_fmt(r['rules_precision'])} | {_fmt(r['top_pair_ok'])} / {_fmt(r.get('top_pair_reported'))} | "
            f"{_fmt(r['meets_truth_ci'])} | {_fmt(r.get('st_coverage'))} / {_fmt(r.get('s1_coverage'))} "
            f"({_fmt(r.get('st_meets_truth'))} / {_fmt(r.get('s1_meets_truth'))}) | "
            f"{_fmt(r.get('st_lower_holds'))} / {_fmt(r.get('st_lower_informative_holds'))} "
            f"({_fmt(r.get('st_lower_informative'))}) | {_fmt(r.get('nominal_conflict'))} |")
    lines += ["", "Episodes from which the target holds at every later checkpoint (– = not by the last):", "",
              "| policy | searcher | seed | all thresholds within 5% | top pair ranked first | max error at the end |",
              "|---|---|---|---|---|---|"]
    for r in result["reach"]:
        lines.append(f"| {r['policy']} | {r['searcher']} | {r['seed']} | {_fmt(r['located_at'])} | "
                     f"{_fmt(r['top_pair_at'])} | {_fmt(r['error_at_end'])} |")
    return "\n".join(lines) + "\n"


def figures(result: dict, out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    policies = sorted({r["policy"] for r in result["summary"]})
    for key, label, name in (("max_error", "worst threshold error (share of range)", "study_threshold_error.png"),
                             ("p_mse", "MSE of P(failure | scene) vs truth", "study_p_mse.png")):
        fig, axes = plt.subplots(1, len(policies), figsize=(4.2 * len(policies), 3.4), squeeze=False)
        for ax, policy in zip(axes[0], policies):
            for searcher in result["searchers"]:
                rows = [r for r in result["summary"] if r["policy"] == policy and r["searcher"] == searcher
                        and r[key] is not None]
                if rows:
                    ax.plot([r["episodes"] for r in rows], [r[key] for r in rows], marker="o", label=searcher)
            if key == "max_error":
                ax.axhline(LOCATED, color="grey", ls="--", lw=1)
            ax.set_title(policy)
            ax.set_xlabel("searched episodes")
            ax.set_ylabel(label)
            ax.grid(alpha=0.3)
        axes[0][0].legend()
        fig.tight_layout()
        path = out / name
        fig.savefig(path, dpi=110)
        plt.close(fig)
        paths.append(path)
    paths.append(sobol_figure(result, out, plt))
    fig, axes = plt.subplots(1, len(policies), figsize=(4.2 * len(policies), 3.6), squeeze=False)
    for ax, policy in zip(axes[0], policies):
        for searcher in result["searchers"]:
            pts = [pt for r in result["runs"] if r["policy"] == policy and r["searcher"] == searcher and r["scores"]
                   for pt in r["scores"][-1].get("reliability", [])]
            if pts:
                pts = np.array(pts)
                ax.scatter(pts[:, 0], pts[:, 1], s=8 + 60 * pts[:, 2] / pts[:, 2].max(), alpha=0.6, label=searcher)
        ax.plot([0, 1], [0, 1], color="grey", lw=1)
        ax.set_title(f"{policy}: reliability at the largest budget")
        ax.set_xlabel("fitted P(failure)")
        ax.set_ylabel("true P(failure), mean in bin")
    axes[0][0].legend()
    fig.tight_layout()
    path = out / "study_reliability.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return paths + [path]


def sobol_figure(result: dict, out: Path, plt: Any) -> Path:
    """Reported total index against the true one, every factor of every run at its largest budget, one panel per
    searcher. The whisker goes down to the reported lower bound, the claim the report makes; blue where it holds
    (at or below the truth's interval), red where it does not; hollow where the model set the factor aside
    (length scale >= SET_ASIDE_LENGTH_SCALE, so its index is 0 whatever the truth). The title also counts the
    two-sided intervals that meet the truth's, which the report no longer claims for ST (§8n)."""
    searchers = [s for s in result["searchers"] if any(r["searcher"] == s and r["scores"] for r in result["runs"])]
    fig, axes = plt.subplots(1, max(len(searchers), 1), figsize=(4.2 * max(len(searchers), 1), 4.0), squeeze=False)
    for ax, searcher in zip(axes[0], searchers):
        pts = [pt for r in result["runs"] if r["searcher"] == searcher and r["scores"]
               for pt in r["scores"][-1].get("st_points") or []]
        held = met = n = 0
        for true, true_conf, st, conf, ls, lower in pts:
            holds = lower_bound_holds(lower, true, true_conf or 0.0)
            held, met, n = held + holds, met + sobol_meets(st, conf, true, true_conf or 0.0), n + 1
            colour = "tab:blue" if holds else "tab:red"
            ax.errorbar(true, st, yerr=[[st - lower], [0.0]], xerr=true_conf or 0.0, fmt="o", ms=4, lw=0.8,
                        color=colour, mfc="none" if ls is not None and ls >= SET_ASIDE_LENGTH_SCALE else colour,
                        alpha=0.7)
        ax.plot([0, 1], [0, 1], color="grey", lw=1)
        ax.set_title(f"{searcher}: lower bound holds {held}/{n}\n(two-sided: {met}/{n} meet the truth's)"
                     if n else searcher, fontsize=10)
        ax.set_xlabel("true total index ST (95% interval)")
        ax.set_ylabel("reported ST, whisker to its 95% lower bound")
    fig.tight_layout()
    path = out / "study_sobol_st.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


# --------------------------------------------------------------------------- running


class Progress:
    def __init__(self, total_new: int) -> None:
        self.total_new, self.new, self.started = max(total_new, 1), 0, time.perf_counter()

    def __call__(self, label: str, done: int, total: int) -> None:
        self.new += 1
        if self.new % 25 and self.new != self.total_new:
            return
        elapsed = time.perf_counter() - self.started
        rate = self.new / elapsed if elapsed > 0 else 0.0
        eta = (self.total_new - self.new) / rate / 60 if rate > 0 else float("nan")
        print(f"[continuous study] {label} {done}/{total} | {self.new}/{self.total_new} new episodes, "
              f"{rate:.2f} ep/s, ETA {eta:.0f} min", file=sys.stderr, flush=True)


def check_truth(policies: list[str], catalogue: Path, truths: dict[str, Truth], episodes: int,
                seed: int = 7) -> dict[str, dict[str, Any]]:
    """Run real episodes (the audit's own runner) at test scenes and compare their outcomes with the truth.

    Half the scenes are drawn from the true failure region and half from outside it, so a rare region is
    checked as well as a large one. For a deterministic rule every outcome must match; inside the coin's
    region about a third must fail.
    """
    from robofail_ros.episode import run_episode
    from robofail_ros.sim import SimConfig, Simulation

    rng = np.random.default_rng(seed)
    sim = Simulation(SimConfig(task="Lift", catalogue=str(catalogue)), seed=seed)
    space = sim.space
    out = {}
    try:
        for name in policies:
            policy = planted_policies.PLANTED[name]()
            policy.bind(sim.scene)
            truth = truths[name]
            p = np.asarray(truth.test_p)
            inside, outside = np.flatnonzero(p > 0), np.flatnonzero(p == 0)
            picks = [(int(i), True) for i in rng.choice(inside, min(len(inside), episodes // 2), replace=False)]
            picks += [(int(i), False) for i in rng.choice(outside, min(len(outside), episodes - len(picks)),
                                                           replace=False)]
            rows = []
            for k, (i, is_in) in enumerate(picks):
                scene = space.scene(space.from_unit(np.asarray(truth.test_unit[i])))
                r = run_episode(sim, policy, [], seed=1000 + k, scene=scene)
                rows.append((is_in, float(p[i]), r.failed))
            fail_in = [f for is_in, _, f in rows if is_in]
            fail_out = [f for is_in, _, f in rows if not is_in]
            deterministic = all(q in (0.0, 1.0) for _, q, _ in rows)
            out[name] = {"episodes": len(rows), "inside": len(fail_in), "failed_inside": int(sum(fail_in)),
                         "outside": len(fail_out), "failed_outside": int(sum(fail_out)),
                         "matches": int(sum((q >= 0.5) == f for _, q, f in rows)) if deterministic else None}
            print(f"[continuous study] truth check {name}: failed {sum(fail_in)}/{len(fail_in)} inside the true "
                  f"region, {sum(fail_out)}/{len(fail_out)} outside", file=sys.stderr, flush=True)
    finally:
        sim.close()
    return out


class Subject:
    """A policy the study audits: its spec, the catalogue of its factor box, its truth and where its runs go."""

    def __init__(self, label: str, spec: str, catalogue: Path | None, truth: Truth, space: FactorSpace) -> None:
        self.label, self.spec, self.catalogue, self.truth, self.space = label, spec, catalogue, truth, space

    def config(self, searcher: str, seed: int, budget: int, workers: int,
               initial_states: str = SceneSearchConfig().initial_states) -> AuditConfig:
        return AuditConfig(sim=SimConfig(task="Lift", catalogue=str(self.catalogue) if self.catalogue else None),
                           policy=self.spec, searcher=searcher, episodes=budget, seed=seed, workers=workers,
                           search=SceneSearchConfig(initial_states=initial_states))


def thresholds_text(truth: Truth, space: FactorSpace) -> str:
    """The true thresholds in factor units, each with the truth's own 95% interval where it was measured."""
    parts = []
    for t, ci in zip(truth.thresholds, truth.threshold_ci or [None] * len(truth.thresholds)):
        text = f"{t.factor} {'<' if t.direction == 'below' else '>'} {t.value:.3g}"
        if ci is not None:
            f = space.factors[space.names.index(t.factor)]
            text += " [" + ", ".join(f"{float(f.from_unit(u)):.3g}" for u in ci) + "]"
        parts.append(text)
    return "; ".join(parts)


def real_label(spec: str) -> str:
    """A short folder-safe label of a real policy: `vision` -> real-vision, `robomimic:.../bc-low_dim-lift` ->
    real-bc-low_dim-lift (the zoo model's folder names it)."""
    name = Path(spec.partition(":")[2]).name if spec.startswith("robomimic:") else spec
    return "real-" + "".join(c if c.isalnum() or c in "-_" else "_" for c in name)


def run_dir_of(out: Path, label: str, searcher: str, seed: int) -> Path:
    return out / label / f"{searcher}-s{seed}"


def run_audits(args: argparse.Namespace, subjects: list[Subject]) -> None:
    """Every audit of the study, seed-major (an interrupted study has whole seeds), resumable."""
    from robofail_ros.audit import run_audit

    plan = [(seed, subj, s) for seed in args.seeds for subj in subjects for s in args.searchers]
    configs = {(seed, subj.label, s): subj.config(s, seed, args.budget, args.workers, args.initial_states)
               for seed, subj, s in plan}
    logged = {k: len(load_log(run_dir_of(args.out, k[1], k[2], k[0]) / LOG_NAME).episodes) for k in configs}
    progress = Progress(sum(max(0, c.episodes + c.control_episodes - logged[k]) for k, c in configs.items()))
    for seed, subj, searcher in plan:
        k = (seed, subj.label, searcher)
        if logged[k] >= configs[k].episodes + configs[k].control_episodes:
            continue
        label = f"{subj.label}/{searcher}-s{seed}"
        run_audit(configs[k], run_dir_of(args.out, subj.label, searcher, seed), film=False, write_files=False,
                  on_record=lambda r, done, total, label=label: progress(label, done, total))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--policies", nargs="*", default=list(planted_policies.PLANTED),
                        choices=list(planted_policies.PLANTED), help="planted policies (none: pass no name)")
    parser.add_argument("--real", nargs="*", default=[], metavar="SPEC=GRID_TRUTH",
                        help="real policies on the whole Lift box, each with the grid_truth.json of "
                             "bench/grid_truth.py, e.g. vision=audits/grid_truth-vision/grid_truth.json")
    parser.add_argument("--searchers", nargs="+", default=list(CONTINUOUS_SEARCHERS), choices=CONTINUOUS_SEARCHERS)
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    parser.add_argument("--budget", type=int, default=600, help="searched episodes per audit (the last checkpoint)")
    parser.add_argument("--checkpoints", nargs="+", type=int, default=None)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--initial-states", choices=INITIAL_STATES, default=SceneSearchConfig().initial_states,
                        help="where each searched scene's initial state comes from (the audit's --initial-states)")
    parser.add_argument("--out", type=Path, default=ROOT / "audits" / "continuous_study")
    parser.add_argument("--truth-only", action="store_true", help="measure the truths, run no audit")
    parser.add_argument("--evaluate-only", action="store_true", help="score the logged episodes, run none")
    parser.add_argument("--runs-only", action="store_true",
                        help="run the planted policies' audits only (no truth, no scoring; e.g. while a truth is "
                             "measured in another process)")
    parser.add_argument("--rescore", action="store_true", help="ignore cached scores")
    parser.add_argument("--check-truth", type=int, default=0, metavar="N",
                        help="run N real episodes per policy at test scenes (half inside the true region) and "
                             "compare outcomes with the truth; written to truth_check.json")
    args = parser.parse_args()
    checkpoints = sorted({c for c in (args.checkpoints or DEFAULT_CHECKPOINTS) if c <= args.budget} | {args.budget})
    args.out.mkdir(parents=True, exist_ok=True)
    catalogue = planted_truth.visual_catalogue(args.out)
    space = load_factor_space(catalogue)

    if args.runs_only:
        run_audits(args, [Subject(p, f"planted_policies:{p}", catalogue, None, space) for p in args.policies])
        return
    oracle: list = []

    def shared_oracle() -> planted_truth.FrameOracle:
        if not oracle:
            oracle.append(planted_truth.FrameOracle(catalogue))
        return oracle[0]

    started = time.perf_counter()
    try:
        truths = planted_truth.load_or_measure(args.policies, shared_oracle, args.out)
    finally:
        if oracle:
            oracle[0].close()
            print(f"[continuous study] truths measured in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    if args.check_truth:
        checked = check_truth(args.policies, catalogue, truths, args.check_truth)
        (args.out / "truth_check.json").write_text(json.dumps(checked, indent=1) + "\n")
    if args.truth_only:
        for t in truths.values():
            region = "not measured" if t.region_share is None else f"{100 * t.region_share:.1f}% of the box"
            print(f"{t.policy}: {t.rule}; region {region}; thresholds "
                  + (", ".join(f"{x.factor} {x.direction} {x.value:.3g}" for x in t.thresholds) or "none")
                  + "; top pairs " + ", ".join(f"{a}×{b} {s:.2f} (SALib {c:.2f})" for a, b, s, c in t.top_pairs[:3]))
        return

    subjects = [Subject(p, f"planted_policies:{p}", catalogue, truths[p], space) for p in args.policies]
    for item in args.real:
        spec, sep, path = item.partition("=")
        if not sep or not Path(path).exists():
            parser.error(f"--real {item!r}: expected SPEC=PATH to an existing grid_truth.json")
        import grid_truth

        full = load_factor_space("Lift")
        data = json.loads(Path(path).read_text())
        if data["policy"] != spec:
            parser.error(f"{path} was measured for policy {data['policy']!r}, not {spec!r}")
        label = real_label(spec)
        subjects.append(Subject(label, spec, None, grid_truth.as_truth(data, full), full))
    started = time.perf_counter()
    if not args.evaluate_only:
        run_audits(args, subjects)
    runs = []
    for subj in subjects:
        for seed in args.seeds:
            for searcher in args.searchers:
                run_dir = run_dir_of(args.out, subj.label, searcher, seed)
                if not (run_dir / LOG_NAME).exists():
                    continue
                scored = score_run(run_dir, subj.truth, subj.space, checkpoints, searcher, seed, args.rescore)
                if not subj.truth.clear_pair:  # no interaction stands out in the truth: no ranking target
                    for sc in scored["scores"]:
                        sc["top_pair_ok"] = sc["top_pair_reported"] = None
                runs.append({"policy": subj.label, "searcher": searcher, "seed": seed, **scored})
                print(f"[continuous study] scored {subj.label}/{searcher}-s{seed}: {len(scored['scores'])} "
                      "checkpoints", file=sys.stderr, flush=True)
    result = {
        "budget": args.budget, "seeds": args.seeds, "searchers": args.searchers, "checkpoints": checkpoints,
        "table_checkpoints": [c for c in (128, 256, 600, args.budget) if c in checkpoints],
        "control_episodes": AuditConfig.control_episodes, "box": "; ".join(
            f"{subj.label}: " + (f"{catalogue.name} ({space.dim} colour and light factors)" if subj.catalogue
                                 else f"the whole Lift box ({subj.space.dim} factors)") for subj in subjects),
        "truths": [{**subj.truth.to_json(), "policy": subj.label, "region_share": subj.truth.region_share,
                    "clear_pair": subj.truth.clear_pair, "thresholds_text": thresholds_text(subj.truth, subj.space),
                    "test_unit": None, "test_p": None, "curves": None} for subj in subjects],
        "runs": runs, "summary": aggregate(runs, checkpoints), "reach": reach_table(runs),
        "sobol_ratio": {s: sobol_ratio(runs, s) for s in args.searchers if s != "sobol"},
        "wall_time_s": time.perf_counter() - started,
    }
    (args.out / "continuous_study.json").write_text(json.dumps(result, indent=1) + "\n")
    (args.out / "continuous_study.md").write_text(markdown(result))
    paths = figures(result, args.out) if runs else []
    print(markdown(result))
    print(f"files in {args.out}: continuous_study.json, continuous_study.md, " + ", ".join(p.name for p in paths))


if __name__ == "__main__":
    main()
