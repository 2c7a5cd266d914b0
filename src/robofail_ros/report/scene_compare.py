"""Several continuous audits side by side, one per model: which factors break each model, and how badly.

The paper compares models in a models × perturbations heatmap. A named perturbation moves one condition away from
the nominal scene; its continuous counterpart is a factor's line through nominal (every other factor nominal), and
the number that answers "how badly can this factor alone break this model" is the largest P(failure) on that line,
read from the model's fitted curve (`FactorCurve`) with its 95% band at that point. The cell is marked when the
analysis found a threshold on that factor, i.e. a rise over nominal that is large and credible
(continuous.thresholds): a high P that was already as high at nominal is no vulnerability to the factor.

The paper's question across input modalities (are image models more vulnerable to what a camera sees?) is asked of
the factors' kinds: appearance factors (colours, lights, camera pose) change the pixels and nothing else, physical
ones (sizes, mass, friction) change what happens. Per model: on how many factors of each class a threshold was
found, and the worst line. A model that reads no image must show none on appearance factors, the comparison's own
check. Everything here is read off each audit's `SceneAnalysis`; nothing is refitted.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from robofail_ros.catalogue import APPEARANCE_KINDS
from robofail_ros.continuous.result import FactorCurve, SceneAnalysis, Threshold
from robofail_ros.factors import FACTOR_TARGETS
from robofail_ros.report.common import plt, save_figure
from robofail_ros.report.scene_labels import scene_budget_text

HEATMAP_NAME = "factor_heatmap.png"
TABLE_NAME = "scene_comparison.md"
JSON_NAME = "scene_comparison.json"
APPEARANCE = "appearance"
PHYSICAL = "physical"


def factor_class(kind: str) -> str:
    """'appearance' for a factor kind that only changes what a camera sees, else 'physical'."""
    return APPEARANCE if FACTOR_TARGETS.get(kind) in APPEARANCE_KINDS else PHYSICAL


@dataclass
class LineWorst:
    """The worst point of one factor's line for one model: where P(failure) is largest, others nominal."""

    factor: str
    value: float
    p: float
    p_low: float
    p_high: float
    """The 95% band of P at `value`."""
    p_nominal: float
    """P(failure) on the same curve at the factor's nominal value."""
    threshold: bool
    """Whether the analysis found a threshold on this factor (a credible rise over nominal)."""

    @property
    def rise(self) -> float:
        return self.p - self.p_nominal


def line_worst(curve: FactorCurve, nominal: float, threshold: bool) -> LineWorst:
    """The largest P(failure) on a factor's curve (the point nearest nominal on a tie) and P at nominal."""
    values, p = np.asarray(curve.values, float), np.asarray(curve.p_mean, float)
    top = np.flatnonzero(p >= p.max() - 1e-12)
    i = int(top[np.argmin(np.abs(values[top] - nominal))])
    return LineWorst(curve.factor, float(values[i]), float(p[i]), float(curve.p_low[i]), float(curve.p_high[i]),
                     float(np.interp(nominal, values, p)), threshold)


def model_lines(analysis: SceneAnalysis) -> dict[str, LineWorst]:
    """Every factor of one audit with a fitted curve, by name."""
    nominal = {f.name: f.nominal for f in analysis.factors}
    with_threshold = {t.factor for t in analysis.thresholds}
    return {c.factor: line_worst(c, nominal[c.factor], c.factor in with_threshold) for c in analysis.curves
            if c.factor in nominal}


@dataclass
class ClassSummary:
    """One model, one class of factors (appearance or physical): where it is vulnerable."""

    factor_class: str
    factors: int
    with_threshold: list[str]
    worst: LineWorst | None
    """The line with the largest rise over nominal in this class."""

    def text(self) -> str:
        """'3/17 factors (cube_hue, …); worst cube_hue: P 0.97 [0.91, 0.99] (0.02 at nominal)'."""
        named = f" ({', '.join(self.with_threshold)})" if self.with_threshold else ""
        head = f"{len(self.with_threshold)}/{self.factors} factors{named}"
        if self.worst is None:
            return head
        w = self.worst
        return f"{head}; worst {w.factor}: P {w.p:.2f} [{w.p_low:.2f}, {w.p_high:.2f}] ({w.p_nominal:.2f} at nominal)"


def class_summaries(analysis: SceneAnalysis) -> list[ClassSummary]:
    """Appearance, then physical factors of one audit: thresholds found and the worst line of each class."""
    lines = model_lines(analysis)
    out = []
    for cls in (APPEARANCE, PHYSICAL):
        names = [f.name for f in analysis.factors if factor_class(f.kind) == cls]
        worst = max((lines[n] for n in names if n in lines), key=lambda w: w.rise, default=None)
        out.append(ClassSummary(cls, len(names), [n for n in names if n in lines and lines[n].threshold], worst))
    return out


def _factor_axis(analyses: Sequence[SceneAnalysis]) -> tuple[list[str], list[str]]:
    """Factor names in the first audit's order, appearance before physical (then any other audit's extras)."""
    seen: dict[str, str] = {}
    for a in analyses:
        for f in a.factors:
            seen.setdefault(f.name, factor_class(f.kind))
    names = [n for n, c in seen.items() if c == APPEARANCE] + [n for n, c in seen.items() if c == PHYSICAL]
    return names, [seen[n] for n in names]


def plot_factor_heatmap(analyses: Sequence[SceneAnalysis], out_dir: Path) -> Path:
    """Models × factors: the worst P(failure) on each factor's line; a framed cell has a threshold, grey none."""
    if not analyses:
        raise ValueError("plot_factor_heatmap needs at least one analysis")
    names, classes = _factor_axis(analyses)
    lines = [model_lines(a) for a in analyses]
    data = np.array([[m[n].p if n in m else np.nan for n in names] for m in lines])
    rows, cols = data.shape
    fig, ax = plt.subplots(figsize=(min(max(8.0, 2.5 + 0.45 * cols), 40.0), 3.2 + 0.45 * rows))
    cmap = plt.get_cmap("Reds").with_extremes(bad="0.85")
    im = ax.imshow(np.ma.masked_invalid(data), cmap=cmap, vmin=0.0, vmax=1.0, aspect="auto", interpolation="nearest")
    for r, m in enumerate(lines):
        for c, n in enumerate(names):
            if n not in m:
                ax.text(c, r, "–", ha="center", va="center", fontsize=7, color="0.5")
                continue
            ax.text(c, r, f"{m[n].p:.2f}", ha="center", va="center", fontsize=7,
                    color="white" if m[n].p > 0.55 else "black")
            if m[n].threshold:
                ax.add_patch(plt.Rectangle((c - 0.46, r - 0.46), 0.92, 0.92, fill=False, lw=1.6, ec="black"))
    ax.set_xticks(range(cols))
    ax.set_xticklabels(names, rotation=60, ha="right", rotation_mode="anchor", fontsize=8)
    ax.set_yticks(range(rows))
    ax.set_yticklabels([a.name for a in analyses], fontsize=9)
    for i in range(1, cols):
        if classes[i] != classes[i - 1]:
            ax.axvline(i - 0.5, color="black", lw=1.5)
            ax.text(i - 0.6, 1.01, f"{APPEARANCE} ←", ha="right", va="bottom", fontsize=8,
                    transform=ax.get_xaxis_transform())
            ax.text(i - 0.4, 1.01, f"→ {PHYSICAL}", ha="left", va="bottom", fontsize=8,
                    transform=ax.get_xaxis_transform())
    ax.set_title(f"worst P(failure) on each factor's line, every other factor nominal\n({analyses[0].task}"
                 f"{shared_budget(analyses)})\nframed: a threshold was found (a credible rise over nominal); "
                 "grey: no curve", fontsize=9, pad=16)
    cbar = fig.colorbar(im, ax=ax, fraction=0.025, pad=0.01)
    cbar.ax.tick_params(labelsize=8)
    fig.tight_layout()
    return save_figure(fig, Path(out_dir) / HEATMAP_NAME, metadata={"Title": "factor heatmap: " +
                                                                     ", ".join(a.name for a in analyses)})


def shared_budget(analyses: Sequence[SceneAnalysis]) -> str:
    """', searcher boundary, budget 512 searched + 30 control episodes' when every audit ran the same; else ''."""
    texts = {(a.searcher, scene_budget_text(a)) for a in analyses}
    if len(texts) != 1:
        return ""
    (searcher, budget), = texts
    return f", searcher {searcher}, {budget}"


HEADERS = ["model", "control failures [95% CI]", "searched scenes failed", "appearance factors with a threshold",
           "physical factors with a threshold"]


def comparison_rows(analyses: Sequence[SceneAnalysis]) -> list[list[str]]:
    """One row per audit, in HEADERS' order."""
    rows = []
    for a in analyses:
        c = a.control
        control = f"{c.count_text()} [{100 * c.ci_low:.0f}, {100 * c.ci_high:.0f}]%"
        searched = f"{a.failures}/{a.episodes}" + (f" ({a.interrupted})" if a.interrupted else "")
        rows.append([a.name, control, searched, *(s.text() for s in class_summaries(a))])
    return rows


def unique_findings(analysis: SceneAnalysis) -> list[Threshold]:
    """The thresholds of one audit, a band once: its two edges are two `Threshold`s with one text."""
    seen: set[str] = set()
    return [t for t in analysis.thresholds if not (t.text in seen or seen.add(t.text))]


def markdown(analyses: Sequence[SceneAnalysis]) -> str:
    """The comparison table, then every threshold of every model (the Markdown file a results page quotes)."""
    lines = ["| " + " | ".join(HEADERS) + " |", "|" + "---|" * len(HEADERS)]
    lines += ["| " + " | ".join(r) + " |" for r in comparison_rows(analyses)]
    lines += ["", "| model | threshold (others nominal) | experiments on its line |", "|---|---|---|"]
    for a in analyses:
        for t in unique_findings(a):
            lines.append(f"| {a.name} | {t.text} | {t.line_text() or '—'} |")
        if not a.thresholds:
            lines.append(f"| {a.name} | none found | — |")
    return "\n".join(lines) + "\n"


def write_scene_comparison(analyses: Sequence[SceneAnalysis], out_dir: Path, console=None) -> list[Path]:
    """The heatmap, the Markdown table and a JSON of the per-factor worst lines, for two or more continuous audits.

    Refuses audits of different tasks: their factor boxes differ, so the columns would not mean the same thing.
    """
    analyses = list(analyses)
    tasks = sorted({a.task for a in analyses})
    if len(tasks) > 1:
        raise ValueError(f"continuous audits of different tasks cannot share one comparison: {', '.join(tasks)}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    files = [plot_factor_heatmap(analyses, out_dir)]
    table = out_dir / TABLE_NAME
    table.write_text(markdown(analyses))
    data = [{"model": a.name, "policy_id": a.policy_id, "searcher": a.searcher, "episodes": a.episodes,
             "failures": a.failures, "control": a.control.to_json(),
             "classes": [{**asdict(s), "worst": asdict(s.worst) if s.worst else None} for s in class_summaries(a)],
             "lines": [asdict(w) for w in model_lines(a).values()]} for a in analyses]
    js = out_dir / JSON_NAME
    js.write_text(json.dumps(data, indent=2))
    files += [table, js]
    if console is not None:
        from rich.table import Table

        t = Table(title=f"continuous audits compared ({tasks[0]}): factors on which a threshold was found, and the "
                        "worst line of each class (P(failure), others nominal)")
        for h in HEADERS:
            t.add_column(h)
        for r in comparison_rows(analyses):
            t.add_row(*r)
        console.print(t)
    return files
