"""`zoo audit`: every cached zoo model audited with the same catalogue, searcher, budget and seeds, then compared.

Each model is an ordinary resumable `run_audit` into `<out>/<model>/`; the comparison
figures come from the same `write_report` the single-model audit uses, and the zoo table
puts nominal success, the measured top failure modes and π's view side by side. A model
with no nominal success cannot fail *because of* a perturbation, so it is listed, not audited.

With a continuous searcher (`--searcher boundary`) every model searches the task's factor box instead, each gets
its own scene report, and the comparison is `report.scene_compare`'s: the worst P(failure) on each factor's line
per model, and on how many appearance and physical factors a threshold was found.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from robofail_ros.analysis import AuditAnalysis, RateEstimate
from robofail_ros.audit import run_audit
from robofail_ros.config import CONTINUOUS_SEARCHERS, AuditConfig
from robofail_ros.continuous.result import SceneAnalysis
from robofail_ros.report.scene_compare import unique_findings
from robofail_ros.policies import ROBOMIMIC_PREFIX
from robofail_ros.sim import SimConfig, default_worker_count
from robofail_ros.stats import entropy_nats
from robofail_ros.catalogue import load_catalogue
from robofail_ros.zoo import cache
from robofail_ros.zoo.groups import group_effects, matched_control_text
from robofail_ros.zoo.groups import markdown_table as groups_table

TABLE_NAME = "zoo_table.md"
GROUPS_NAME = "zoo_groups.md"
GROUPS_PREAMBLE = ("Failures caused by each kind of perturbation: of the perturbed experiments whose initial state the "
                   "model's control succeeded from, how many failed, with a 95% Wilson interval (zoo/groups.py).\n\n")
TOP_MODES = 3
MIN_NOMINAL_SUCCESS = 0.2
"""Below this nominal success rate the control run fails so often that no perturbation can show an excess
(at 1/20 a 4-episode perturbation would have to fail 4/4 just to match the control): listed, not audited."""


@dataclass
class ZooRow:
    meta: cache.ModelMeta
    analysis: AuditAnalysis | SceneAnalysis | None
    wall_time: float = 0.0
    skipped: str = ""
    """Why a model was not audited."""


def _pct(x: float) -> str:
    return f"{100 * x:.0f}"


def _mode(e: RateEstimate) -> str:
    excess = "" if e.excess_over_control is None else f" ({100 * e.excess_over_control:+.0f}pp vs control)"
    return f"{e.name} {e.count_text()} [{_pct(e.ci_low)}, {_pct(e.ci_high)}]%{excess}"


def rate_entropy(a: AuditAnalysis) -> float | None:
    """Entropy of the measured failure rates normalised to sum 1: the paper's spread-of-vulnerability reading,
    computed from episodes instead of π (which a uniform sweep does not have). None when nothing failed."""
    rates = [e.rate for e in a.perturbations if e.rate is not None]
    total = sum(rates)
    return entropy_nats([r / total for r in rates]) if total > 0 else None


def row_cells(row: ZooRow) -> list[str]:
    """model, nominal success, control failures, top failure modes, π's top mode, H(π), H(measured rates)."""
    m = row.meta
    lo, hi = m.nominal_ci
    nominal = f"{m.nominal_successes}/{m.nominal_episodes} [{_pct(lo)}, {_pct(hi)}]%"
    a = row.analysis
    if a is None:
        return [m.name, nominal, "—", f"not audited: {row.skipped}", "—", "—", "—"]
    c = a.control
    control = f"{c.count_text()} [{_pct(c.ci_low)}, {_pct(c.ci_high)}]%"
    if isinstance(a, SceneAnalysis):
        found = unique_findings(a)
        thresholds = "; ".join(t.text for t in found[:TOP_MODES]) or "none found"
        more = f" (+{len(found) - TOP_MODES} more)" if len(found) > TOP_MODES else ""
        return [m.name, nominal, control, f"{a.failures}/{a.episodes}", thresholds + more]
    top = [e for e in a.ranking if e.failures > 0][:TOP_MODES]
    modes = "; ".join(_mode(e) for e in top) or "no perturbation caused a failure"
    if a.pi is None:
        pi_top, entropy = f"n/a ({a.searcher}: no π)", "n/a"
    else:
        best = max(a.perturbations, key=lambda e: e.p_failure_pi or 0.0)
        pi_top, entropy = f"{best.name} {best.p_failure_pi:.2f}", f"{a.entropy_pi:.2f}"
    h_rates = rate_entropy(a)
    return [m.name, nominal, control, modes, pi_top, entropy, "n/a" if h_rates is None else f"{h_rates:.2f}"]


HEADERS = ["model", "nominal success [95% CI]", "control failures", f"top-{TOP_MODES} failure modes, failures/episodes [95% CI]",
           "π top mode (P_failure)", "H(π) nats", "H(measured rates) nats"]


SCENE_HEADERS = ["model", "nominal success [95% CI]", "control failures", "searched scenes failed",
                 "thresholds (others nominal) [95% CI]"]


def headers(rows: list[ZooRow]) -> list[str]:
    """The zoo table's columns: a continuous audit has thresholds where a catalogue audit has modes and π."""
    return SCENE_HEADERS if any(isinstance(r.analysis, SceneAnalysis) for r in rows) else HEADERS


def markdown_table(rows: list[ZooRow]) -> str:
    cols = headers(rows)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(row_cells(r)[:len(cols)]) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def audit_zoo(task: str, searcher: str, episodes: int, control_episodes: int, workers: int | None, seed: int,
              out: Path, film: bool = False, console=None, min_nominal: float = MIN_NOMINAL_SUCCESS,
              only: list[str] | None = None) -> list[ZooRow]:
    """Audit every cached model of `task` (or `only` those named), resuming any finished part; write figures and the
    zoo table into `out`."""
    from rich.table import Table
    from tqdm import tqdm

    from robofail_ros.report import write_report
    from robofail_ros.report.scene_compare import HEATMAP_NAME, write_scene_comparison
    from robofail_ros.report.scene_compare import TABLE_NAME as COMPARISON_NAME

    continuous = searcher in CONTINUOUS_SEARCHERS
    models = [(f, m) for f, m in cache.list_models() if m.task == task]
    if not models:
        raise FileNotFoundError(f"no zoo models for {task} in {cache.zoo_dir()}; run `robofail zoo build --task {task}`")
    if only:
        missing = sorted(set(only) - {m.name for _, m in models})
        if missing:
            raise FileNotFoundError(f"no cached {task} zoo model named {', '.join(missing)}; cached: "
                                    f"{', '.join(m.name for _, m in models)} (build it: robofail zoo build --model NAME)")
        models = [(f, m) for f, m in models if m.name in only]
    out = Path(out)
    catalogue = load_catalogue(task)
    rows: list[ZooRow] = []
    effects: list[tuple[str, str, list]] = []
    for folder, meta in models:
        if meta.nominal_successes == 0 or (meta.nominal_rate or 0.0) < min_nominal:
            why = "no nominal success" if meta.nominal_successes == 0 else f"nominal success below {min_nominal:.0%}"
            rows.append(ZooRow(meta, None, skipped=why))
            continue
        config = AuditConfig(sim=SimConfig(task=task), policy=f"{ROBOMIMIC_PREFIX}{folder}", searcher=searcher,
                             episodes=episodes, control_episodes=control_episodes, seed=seed,
                             workers=workers or default_worker_count())
        bar = tqdm(total=control_episodes + episodes, desc=meta.name, unit="ep", dynamic_ncols=True)

        def progress(record, done, total, bar=bar):
            bar.n = done
            bar.refresh()

        try:
            result = run_audit(config, out / meta.name, on_record=progress, film=film)
        finally:
            bar.close()
        analysis = result.scene_analysis if continuous else result.analysis
        analysis.label = meta.name
        rows.append(ZooRow(meta, analysis, result.wall_time))
        if not continuous:
            effects.append((meta.name, matched_control_text(result.records), group_effects(result.records, catalogue)))
    analyses = [r.analysis for r in rows if r.analysis is not None]
    if analyses and continuous:
        write_scene_comparison(analyses, out)
    elif analyses:
        write_report(analyses, out)
    (out / TABLE_NAME).write_text(markdown_table(rows))
    if not continuous:
        (out / GROUPS_NAME).write_text(GROUPS_PREAMBLE + groups_table(effects))
        (out / "zoo_groups.json").write_text(json.dumps(
            [{"model": m, "matched_control": c, "groups": [e.to_json() for e in es]} for m, c, es in effects],
            indent=2))
    (out / "zoo_table.json").write_text(json.dumps(
        [{"model": r.meta.to_json(), "audit": r.analysis.to_json() if r.analysis else None,
          "audit_wall_time_s": round(r.wall_time, 1)} for r in rows], indent=2))
    if console is not None:
        table = Table(title=f"zoo audit: {task}, {searcher}, {control_episodes} control + {episodes} searched episodes per model")
        cols = headers(rows)
        for h in cols:
            table.add_column(h)
        for r in rows:
            table.add_row(*row_cells(r)[:len(cols)])
        console.print(table)
        if effects:
            broken = Table(title="broken by the perturbation: failed / experiments whose control succeeded from the "
                                 "same initial state [95% Wilson]")
            for h in ("model", "control failures", *(e.group for e in effects[0][2][:2])):
                broken.add_column(h)
            for m, c, es in effects:
                broken.add_row(m, c, *(e.text() for e in es[:2]))
            console.print(broken)
        if continuous:
            console.print(f"per-model scene reports in {out}/<model>/; {HEATMAP_NAME}, {COMPARISON_NAME} and "
                          f"{TABLE_NAME} in {out}")
        else:
            console.print(f"figures, {TABLE_NAME} and {GROUPS_NAME} (every catalogue group) in {out}")
    return rows
