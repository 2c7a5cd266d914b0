"""The terminal table that closes a discrete audit: ranked failure modes with intervals and excess over control."""
from __future__ import annotations

from typing import TYPE_CHECKING

from robofail_ros.analysis import AuditAnalysis
from robofail_ros.report.common import fmt_pct, interval_pct
from robofail_ros.report.labels import budget_text, entropy_label

if TYPE_CHECKING:  # rich is only needed for the console summary
    from rich.console import Console
    from rich.table import Table


def summary_table(analysis: AuditAnalysis, top: int | None = None) -> "Table":
    """Ranked measured perturbations with intervals and excess over control; unmeasured ones are only counted."""
    from rich import box
    from rich.table import Table

    c = analysis.control
    control = (f"control {fmt_pct(c.rate)} {interval_pct(c.ci_low, c.ci_high)} ({c.count_text()})"
               if c.rate is not None else "control not measured")
    table = Table(
        box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True,
        title=(f"{analysis.name} on {analysis.task} — searcher {analysis.searcher}, {budget_text(analysis)}, "
               f"{analysis.total_episodes} run; {control}"),
        title_justify="left",
    )
    # Numbers keep their width; on a narrow terminal the group column is the one that gives way.
    def number(header: str, width: int) -> None:
        table.add_column(header, justify="right", no_wrap=True, min_width=width)

    number("#", 2)
    table.add_column("perturbation", no_wrap=True)
    table.add_column("group", min_width=4, overflow="ellipsis")
    number("fail/n", 5)
    number("rate", 5)
    number("95% interval", 13)
    number("width", 6)
    number("Δ ctrl", 7)
    has_pi = analysis.pi is not None
    if has_pi:
        number("P_fail(π)", 5)
    measured = [p for p in analysis.ranking if p.rank is not None and p.rate is not None]
    shown = measured if top is None else measured[:max(top, 0)]
    for p in shown:
        if p.excess_over_control is None:
            excess = "n/a"
        else:
            excess = f"{100 * p.excess_over_control:+.1f}pp"
            if c.rate is not None and p.ci_low > c.ci_high:
                excess = f"[bold red]{excess}[/]"  # worse than control beyond both intervals
        row = [str(p.rank), p.name, p.group, p.count_text(), fmt_pct(p.rate),
               interval_pct(p.ci_low, p.ci_high), f"{100 * p.ci_width:.1f}pp", excess]
        if has_pi:
            row.append("n/a" if p.p_failure_pi is None else f"{p.p_failure_pi:.3f}")
        table.add_row(*row)
    notes = []
    if analysis.entropy_pi is not None:
        notes.append(f"entropy of π: {entropy_label(analysis)}")
    notes.append(f"{analysis.aborted_episodes} episode(s) aborted (not counted as failures)")
    repeated = sum(e.repeated_episodes for e in [c, *analysis.perturbations, *analysis.combinations])
    if repeated:
        notes.append(f"{repeated} episode(s) re-ran an experiment (initial state and perturbations) already run: "
                     "each experiment counts once in rates and intervals")
    unmeasured = len(analysis.perturbations) - len(measured)
    if unmeasured:
        notes.append(f"{unmeasured} perturbation(s) not measured")
    if len(shown) < len(measured):
        notes.append(f"showing top {len(shown)} of {len(measured)}")
    if analysis.combinations:
        notes.append(f"{len(analysis.combinations)} combination(s) in results.json")
    table.caption = "; ".join(notes)
    table.caption_justify = "left"
    return table


def print_summary(analysis: AuditAnalysis, console: "Console | None" = None, top: int | None = None) -> None:
    """Print the summary table to `console` (a fresh stdout console by default)."""
    from rich.console import Console

    (console or Console()).print(summary_table(analysis, top=top))
