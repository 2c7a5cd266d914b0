"""The terminal tables that close a continuous audit: thresholds, failure rules, sensitivity, calibration."""
from __future__ import annotations

from typing import TYPE_CHECKING

from robofail_ros.continuous.result import SceneAnalysis
from robofail_ros.report.common import fmt_pct, interval_pct
from robofail_ros.report.scene_calibration import calibration_text
from robofail_ros.report.scene_labels import conditions_text, fmt_value, scene_budget_text
from robofail_ros.stats import widest_half_width

if TYPE_CHECKING:
    from rich.console import Console, RenderableType
    from rich.table import Table

TOP_SOBOL, TOP_PAIRS = 5, 3


def _table(title: str, columns: list[tuple[str, str]]) -> "Table":
    """A table in the discrete summary's style; columns are (header, 'left'|'right'), the last one may wrap."""
    from rich import box
    from rich.table import Table

    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True, title=title, title_justify="left",
                  title_style="bold")
    for i, (name, justify) in enumerate(columns):
        table.add_column(name, justify=justify, no_wrap=i < len(columns) - 1)
    return table


def _conf(v: float, conf: float) -> str:
    return f"{v:.2f} ± {conf:.2f}"


def _thresholds(a: SceneAnalysis) -> "RenderableType":
    if not a.thresholds:
        return "[bold]Thresholds[/]: none; no factor alone moves P(failure) across the level (others at nominal)"
    start = "the control's rate" if a.control.rate is not None else "the model's P at nominal"
    table = _table(f"Thresholds (where P(failure) crosses the level, half-way from {start} to the worst P on that "
                   "side; the other factors at nominal)",
                   [("factor", "left"), ("fails", "left"), ("at", "right"), ("95% interval", "right"),
                    ("level", "right"), ("on its line:\nfailed beyond,\nbefore", "right"), ("in words", "left")])
    for t in a.thresholds:
        line = ("-" if t.line_beyond is None else
                f"{t.line_beyond_failed}/{t.line_beyond}, {t.line_before_failed}/{t.line_before}")
        table.add_row(t.factor, t.direction, fmt_value(t.value), f"[{fmt_value(t.ci_low)}, {fmt_value(t.ci_high)}]",
                      f"{t.level:.2f}", line, t.text)
    return table


def _rules(a: SceneAnalysis) -> "RenderableType":
    if not a.rules:
        return "[bold]Failure rules[/]: none found"
    c = a.control
    table = _table("Failure rules (measured on the episodes inside each box)",
                   [("fail/n", "right"), ("rate", "right"), ("95% interval", "right"), ("Δ ctrl", "right"),
                    ("rule", "left")])
    for r in a.rules:
        e = r.rate
        excess = "n/a" if r.excess_over_control is None else f"{100 * r.excess_over_control:+.1f}pp"
        if r.excess_over_control is not None and c.rate is not None and e.ci_low > c.ci_high:
            excess = f"[bold red]{excess}[/]"  # worse than control beyond both intervals
        table.add_row(e.count_text(), fmt_pct(e.rate), interval_pct(e.ci_low, e.ci_high), excess,
                      r.text or conditions_text(r))
    return table


def _sensitivity(a: SceneAnalysis) -> list["RenderableType"]:
    out: list["RenderableType"] = [f"[bold]Sensitivity[/]: {a.sensitivity_note or 'no Sobol indices'}"]
    if a.sobol:
        top = sorted(a.sobol, key=lambda s: -s.st)[:TOP_SOBOL]
        variance = f", Var P = {a.p_variance:.2g}" if a.p_variance is not None else ""
        out[0] = table = _table(f"Sobol indices, top {len(top)} of {len(a.sobol)}{variance}",
                                [("factor", "left"), ("S1", "right"), ("ST fitted", "right"),
                                 ("ST, 95% at least", "right"), ("ST − S1", "right")])
        for s in top:
            # ST's interval is a claim on its lower side only (SobolIndex.st_lower says why).
            table.add_row(s.factor, _conf(s.s1, s.s1_conf), f"{s.st:.2f}", f"≥ {s.st_lower:.2f}",
                          f"{s.interaction:.2f}")
    if a.interactions:
        tested = len(a.factors) * (len(a.factors) - 1) // 2
        # Each claim is a 95% interval of its own, with no correction for the pairs tested (benchmarks §8h).
        pairs = _table(f"Interacting pairs, claimed by a per-pair 95% interval ({tested} pairs tested)",
                       [("pair", "left"), ("S2 (Sobol)", "right")])
        for i in a.interactions[:TOP_PAIRS]:
            pairs.add_row(f"{i.factors[0]} × {i.factors[1]}", _conf(i.s2, i.s2_conf))
        out.append(pairs)
    elif a.pair_ranking:
        out.append(f"[bold]Interacting pairs[/]: none claimed; the largest estimate is {a.pair_ranking[0].text()}")
    else:
        out.append("[bold]Interacting pairs[/]: " + ("not estimated (see above)" if a.sensitivity_note else "none"))
    return out


def scene_summary(analysis: SceneAnalysis) -> list["RenderableType"]:
    """Headline, thresholds (with intervals), rules (rate, interval, vs control), top Sobol indices and pairs,
    and the calibration line, in the order they are printed."""
    a, c = analysis, analysis.control
    control = (f"control {fmt_pct(c.rate)} {interval_pct(c.ci_low, c.ci_high)} ({c.count_text()})"
               if c.rate is not None else "control not measured")
    head = (f"[bold]{a.name} on {a.task}[/] — searcher {a.searcher}, {scene_budget_text(a)}; "
            f"{a.failures}/{a.episodes} searched episodes failed; {control}")
    if a.repeated_episodes:
        head += (f"; {a.repeated_episodes} episode(s) re-ran an initial state and scene already run: "
                 f"fitted on the {a.experiments} distinct ones")
    foot = [f"[bold]Calibration[/]: {calibration_text(a)}"]
    foot += initial_states_text(a)
    if a.nominal_conflict:
        foot.insert(0, f"[bold red]Model and control disagree[/]: {a.nominal_conflict}")
    if a.model:
        foot.append(f"[bold]Model[/]: {a.model}")
    foot.append(f"{a.aborted_episodes} episode(s) aborted (not counted as failures)")
    return [head, _thresholds(a), _rules(a), *_sensitivity(a), "\n".join(foot)]


def initial_states_text(a: SceneAnalysis) -> list[str]:
    """What the rates are over: the control's pool of initial states, or a state of its own per experiment."""
    states = a.control.experiments or a.control.episodes
    if a.pooled_states:
        # Every rate is over the pool; a policy whose failures depend on the state (benchmarks §8o) differs from
        # pool to pool by up to this.
        spread = 100 * widest_half_width(states)
        return [f"[bold]Initial states[/]: every rate here is over this audit's pool of {states}; where failures "
                f"depend on the initial state, another pool of {states} can differ by up to ±{spread:.0f} points "
                f"(--initial-states fresh gives every experiment a state of its own)"]
    if a.searched_states:
        return [f"[bold]Initial states[/]: the {a.experiments} searched experiments started from "
                f"{a.searched_states} distinct initial states, so the rates and intervals are over the "
                f"policy's initial states rather than one pool's"]
    return []


def print_scene_summary(analysis: SceneAnalysis, console: "Console | None" = None) -> None:
    """Print the closing summary of a continuous audit to `console` (a fresh stdout console by default)."""
    from rich.console import Console

    console = console or Console()
    for part in scene_summary(analysis):
        console.print(part)
        console.print()
