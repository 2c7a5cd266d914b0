"""Figures, tables and videos that turn an `AuditAnalysis` into something a person can read.

Two numbers per perturbation are shown side by side on purpose: the paper's P_failure
(the adversary's softmax π, a ranking signal that is not a calibrated probability) and
the failure rate the episodes actually showed, with its 95% Wilson interval. Every figure
copes with perturbations that were never measured (rate None, drawn grey / left blank)
and with audits that have no π at all.
"""
from __future__ import annotations

import csv
import json
import math
import re
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import matplotlib

matplotlib.use("Agg")  # reports are written on headless audit machines; never open a window

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from robofail_ros.analysis import AuditAnalysis, RateEstimate  # noqa: E402

if TYPE_CHECKING:  # rich is only needed for the console summary
    from rich.console import Console
    from rich.table import Table

DPI = 120
CSV_COLUMNS = ("name", "group", "episodes", "failures", "rate", "ci_low", "ci_high", "ci_width",
               "p_failure_pi", "excess_over_control", "rank")
PI_COLOUR, RATE_COLOUR = "tab:purple", "tab:blue"
VALUES = ("rate", "pi")


# --------------------------------------------------------------------------- helpers


def safe_name(name: str) -> str:
    """A file-name fragment: policy ids may contain `/` or spaces, file names must not."""
    return re.sub(r"[^A-Za-z0-9]", "_", name) or "model"


def _unique_safe_names(analyses: Sequence[AuditAnalysis]) -> list[str]:
    """Safe names with a numeric suffix on collisions, so no model's figure overwrites another's."""
    seen: dict[str, int] = {}
    out = []
    for a in analyses:
        base = safe_name(a.name)
        seen[base] = seen.get(base, 0) + 1
        out.append(base if seen[base] == 1 else f"{base}_{seen[base]}")
    return out


def _perturbation_axis(analyses: Sequence[AuditAnalysis]) -> tuple[list[str], list[str]]:
    """Union of perturbation names in catalogue order (first model first) and their groups."""
    names: list[str] = []
    groups: dict[str, str] = {}
    for a in analyses:
        for p in a.perturbations:
            if p.name not in groups:
                names.append(p.name)
                groups[p.name] = p.group
    return names, [groups[n] for n in names]


def _values(analysis: AuditAnalysis, names: Sequence[str], value: str) -> np.ndarray:
    """Per-name values of one model as floats, NaN where unmeasured / absent."""
    if value not in VALUES:
        raise ValueError(f"value must be one of {VALUES}, got {value!r}")
    by_name = {p.name: p for p in analysis.perturbations}
    out = np.full(len(names), np.nan)
    for i, n in enumerate(names):
        p = by_name.get(n)
        v = None if p is None else (p.rate if value == "rate" else p.p_failure_pi)
        if v is not None:
            out[i] = v
    return out


def _interval(analysis: AuditAnalysis, names: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Wilson bounds per name, NaN where unmeasured (its (0, 1) interval says nothing)."""
    by_name = {p.name: p for p in analysis.perturbations}
    lo, hi = np.full(len(names), np.nan), np.full(len(names), np.nan)
    for i, n in enumerate(names):
        p = by_name.get(n)
        if p is not None and p.rate is not None:
            lo[i], hi[i] = p.ci_low, p.ci_high
    return lo, hi


def _nice_ceiling(x: float) -> float:
    """A round axis limit just above x, capped at 1 (everything plotted is a probability)."""
    for c in (0.02, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.8, 1.0):
        if x <= c * 0.98:
            return c
    return 1.0


def _model_colours(n: int) -> list:
    cmap = plt.get_cmap("tab10" if n <= 10 else "tab20")
    return [cmap(i % cmap.N) for i in range(n)]


def _group_separators(ax: plt.Axes, groups: Sequence[str], vertical: bool = True) -> None:
    """Thin lines between perturbation groups so 28 tick labels read as ~10 families."""
    for i in range(1, len(groups)):
        if groups[i] != groups[i - 1]:
            if vertical:
                ax.axvline(i - 0.5, color="0.85", lw=0.8, zorder=0)


def _bar_figure_width(n_cols: int, n_models: int = 1) -> float:
    return float(min(max(8.0, 2.0 + n_cols * (0.28 + 0.1 * n_models)), 40.0))


def _save(fig: plt.Figure, path: Path, metadata: dict[str, str] | None = None) -> Path:
    """Save and close: long audits write hundreds of figures and pyplot keeps every open one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fig.savefig(path, dpi=DPI, metadata=metadata)
    finally:
        plt.close(fig)
    return path


def _fmt_pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


def budget_text(a: AuditAnalysis) -> str:
    """'budget 540 searched + 30 control episodes': how much evidence stands behind every number of a report."""
    if a.budget is None:
        return f"{a.total_episodes} episodes"
    return f"budget {a.budget} searched + {a.control.episodes} control episodes"


def _budget_suffix(analyses: Sequence[AuditAnalysis]) -> str:
    """', searcher bandit, budget 540 searched + 30 control episodes' for a one-model figure; models differ otherwise."""
    if len(analyses) != 1:
        return ""
    return f", searcher {analyses[0].searcher}, {budget_text(analyses[0])}"


def _model_title(a: AuditAnalysis) -> str:
    return f"{a.name} on {a.task} (searcher: {a.searcher}, {budget_text(a)})"


def entropy_label(a: AuditAnalysis) -> str:
    """'H = 2.31 nats (max ln 27 = 3.30)': the paper's spread-of-vulnerabilities number, with its ceiling."""
    if a.entropy_pi is None:
        return ""
    n = len(a.pi) if a.pi else len(a.perturbations)
    ceiling = f" (max ln {n} = {math.log(n):.2f})" if n > 1 else ""
    return f"H = {a.entropy_pi:.2f} nats{ceiling}"


# --------------------------------------------------------------------------- tables


def _cell(v: object) -> object:
    if v is None:
        return ""
    if isinstance(v, float):
        return "" if math.isnan(v) else f"{v:.4f}"
    return v


def write_tables(analysis: AuditAnalysis, out_dir: Path) -> list[Path]:
    """results.json (lossless, reloadable with AuditAnalysis.from_json) and failure_rates.csv (for spreadsheets)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path = out_dir / "results.json"
    json_path.write_text(json.dumps(analysis.to_json(), indent=2) + "\n")
    csv_path = out_dir / "failure_rates.csv"
    with csv_path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(CSV_COLUMNS)
        for e in [analysis.control, *analysis.perturbations]:
            w.writerow([_cell(getattr(e, c)) for c in CSV_COLUMNS])
    return [json_path, csv_path]


# --------------------------------------------------------------------------- radar


def _radar(analysis: AuditAnalysis, path: Path) -> Path:
    """One model's radar: π polygon (filled, as in the paper's Fig. 4) and the measured rate with its band."""
    names = [p.name for p in analysis.perturbations]
    n = len(names)
    theta = np.linspace(0, 2 * np.pi, n, endpoint=False)
    closed = np.append(theta, theta[:1] + 2 * np.pi)
    rate = _values(analysis, names, "rate")
    lo, hi = _interval(analysis, names)
    pi = np.array(analysis.pi, dtype=float) if analysis.pi is not None else None
    has_rate = bool(np.isfinite(rate).any())

    fig, ax = plt.subplots(figsize=(9, 9), subplot_kw={"projection": "polar"})
    ax.set_theta_offset(np.pi / 2)
    ax.set_theta_direction(-1)

    r_max = _nice_ceiling(float(np.nanmax(hi))) if has_rate else (
        _nice_ceiling(float(pi.max())) if pi is not None and pi.size else 1.0)
    ax.set_ylim(0, r_max)
    # Five rings, the outer one (= the axis limit) unlabelled: its label would sit on the tick labels.
    rings = np.linspace(0, r_max, 6)[1:]
    ax.set_yticks(rings)
    half_spoke = 180.0 / max(n, 1)
    ax.set_rlabel_position(half_spoke)
    ax.set_yticklabels([f"{r:.3g}" for r in rings[:-1]] + [""], fontsize=8,
                       color=RATE_COLOUR if has_rate else PI_COLOUR)
    label_box = {"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.75}
    for t in ax.get_yticklabels():
        t.set_bbox(label_box)
        t.set_zorder(10)

    handles = []
    if pi is not None:
        # π sums to 1 over the catalogue, so beside 0-1 rates it would hug the centre: give it
        # its own radial scale, labelled in its colour, whenever rates are drawn too.
        pi_max = _nice_ceiling(float(pi.max())) if pi.size else 1.0
        k = r_max / pi_max if has_rate else 1.0
        scaled = np.append(pi, pi[:1]) * k
        (h,) = ax.plot(closed, scaled, color=PI_COLOUR, lw=1.8, label="P_failure = π(a|o) (adversary)")
        ax.fill(closed, scaled, color=PI_COLOUR, alpha=0.18)
        handles.append(h)
        if has_rate and not math.isclose(k, 1.0):
            for r in rings[:-1]:
                ax.text(np.deg2rad(-half_spoke), r, f"{r / k:.3g}", color=PI_COLOUR, fontsize=8,
                        ha="center", va="center", bbox=label_box, zorder=10)
            h.set_label(f"P_failure = π(a|o) (own scale, 0-{pi_max:g})")

    if has_rate:
        r_closed = np.append(rate, rate[:1])
        lo_c, hi_c = np.append(lo, lo[:1]), np.append(hi, hi[:1])
        ok = np.isfinite(lo_c)
        ax.fill_between(closed, np.where(ok, lo_c, 0), np.where(ok, hi_c, 0), where=ok,
                        color=RATE_COLOUR, alpha=0.15, lw=0, label="95% Wilson interval")
        (h,) = ax.plot(closed, r_closed, color=RATE_COLOUR, lw=1.8, marker="o", ms=4,
                       label=f"measured failure rate (scale 0-{r_max:g})")
        handles.append(h)
        handles.append(plt.Rectangle((0, 0), 1, 1, color=RATE_COLOUR, alpha=0.15, label="95% Wilson interval"))
        c = analysis.control
        if c.rate is not None:
            ring = np.linspace(0, 2 * np.pi, 200)
            (h,) = ax.plot(ring, np.full_like(ring, c.rate), color="0.3", ls="--", lw=1,
                           label=f"control rate {_fmt_pct(c.rate)}")
            handles.append(h)

    ax.set_xticks(theta)
    ax.set_xticklabels(names, fontsize=8)
    for label, v in zip(ax.get_xticklabels(), rate):
        if not np.isfinite(v):
            label.set_color("0.55")
            label.set_fontstyle("italic")
    ax.tick_params(axis="x", pad=10)

    title = _model_title(analysis)
    subtitle = entropy_label(analysis)
    unmeasured = int((~np.isfinite(rate)).sum())
    if unmeasured and has_rate:
        subtitle = "; ".join(s for s in (subtitle, f"{unmeasured} unmeasured (grey labels)") if s)
    full_title = title + (f"\n{subtitle}" if subtitle else "")
    ax.set_title(full_title, fontsize=11, pad=24)
    if handles:
        fig.legend(handles=handles, loc="lower center", ncol=min(len(handles), 2), fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    return _save(fig, path, metadata={"Title": full_title, "Description": "robofail_ros radar"})


def plot_radar(analyses: list[AuditAnalysis], out_dir: Path) -> list[Path]:
    """One radar PNG per model (`radar_<name>.png`); the title carries H(π) when π is known."""
    out_dir = Path(out_dir)
    return [_radar(a, out_dir / f"radar_{s}.png") for a, s in zip(analyses, _unique_safe_names(analyses))]


# --------------------------------------------------------------------------- heatmap


def plot_heatmap(analyses: list[AuditAnalysis], out_dir: Path, value: str = "rate") -> Path:
    """Models × perturbations; 'pi' rows are renormalised to sum to 1 as in the paper, unmeasured cells grey."""
    if not analyses:
        raise ValueError("plot_heatmap needs at least one analysis")
    names, groups = _perturbation_axis(analyses)
    data = np.vstack([_values(a, names, value) for a in analyses])
    if value == "pi":
        sums = np.nansum(data, axis=1, keepdims=True)
        data = np.divide(data, sums, out=np.full_like(data, np.nan), where=sums > 0)
    rows, cols = data.shape
    vmax = 1.0 if value == "rate" else max(float(np.nanmax(data)) if np.isfinite(data).any() else 1.0, 1e-9)

    fig_w = min(max(8.0, 2.5 + 0.5 * cols), 40.0)
    fig_h = 2.2 + 0.45 * rows + 0.07 * max((len(n) for n in names), default=0)
    fig, ax = plt.subplots(figsize=(fig_w, fig_h))
    cmap = plt.get_cmap("viridis" if value == "pi" else "Reds").with_extremes(bad="0.85")
    im = ax.imshow(np.ma.masked_invalid(data), cmap=cmap, vmin=0.0, vmax=vmax, aspect="auto",
                   interpolation="nearest")
    fmt = "{:.2f}" if value == "rate" else "{:.3f}"
    for r in range(rows):
        for c in range(cols):
            v = data[r, c]
            if np.isfinite(v):
                frac = v / vmax
                dark = frac > 0.55 if value == "rate" else frac < 0.6
                ax.text(c, r, fmt.format(v), ha="center", va="center", fontsize=7,
                        color="white" if dark else "black")
            else:
                ax.text(c, r, "–", ha="center", va="center", fontsize=7, color="0.5")
    ax.set_xticks(range(cols))
    ax.set_xticklabels(names, rotation=60, ha="right", rotation_mode="anchor", fontsize=8)
    ax.set_yticks(range(rows))
    ax.set_yticklabels([a.name for a in analyses], fontsize=9)
    for i in range(1, cols):
        if groups[i] != groups[i - 1]:
            ax.axvline(i - 0.5, color="white", lw=2)
    label = "measured failure rate" if value == "rate" else "P_failure = π(a|o), row-normalised"
    missing = "unmeasured" if value == "rate" else "no π for this model"
    ax.set_title(f"{label} ({analyses[0].task}{_budget_suffix(analyses)}); grey = {missing}", fontsize=11)
    cbar = fig.colorbar(im, ax=ax, fraction=0.025, pad=0.01)
    cbar.ax.tick_params(labelsize=8)
    fig.tight_layout()
    return _save(fig, Path(out_dir) / f"heatmap_{value}.png")


# --------------------------------------------------------------------------- bars


def plot_grouped_bars(analyses: list[AuditAnalysis], out_dir: Path) -> Path:
    """Measured rate per perturbation, one bar per model, Wilson error bars, dashed control line per model."""
    if not analyses:
        raise ValueError("plot_grouped_bars needs at least one analysis")
    names, groups = _perturbation_axis(analyses)
    m = len(analyses)
    x = np.arange(len(names))
    width = 0.8 / m
    colours = _model_colours(m)
    fig, ax = plt.subplots(figsize=(_bar_figure_width(len(names), m), 6.0))
    _group_separators(ax, groups)
    handles = []
    for j, (a, col) in enumerate(zip(analyses, colours)):
        rate = _values(a, names, "rate")
        lo, hi = _interval(a, names)
        pos = x - 0.4 + width * (j + 0.5)
        ok = np.isfinite(rate)
        handles.append(ax.bar(pos[ok], rate[ok], width=width * 0.95, color=col, label=a.name, zorder=2))
        yerr = np.vstack([rate[ok] - lo[ok], hi[ok] - rate[ok]]).clip(min=0)
        ax.errorbar(pos[ok], rate[ok], yerr=yerr, fmt="none", ecolor="0.2", elinewidth=0.8,
                    capsize=min(3.0, 12.0 / m), zorder=3)
        if (~ok).any():
            ax.plot(pos[~ok], np.full((~ok).sum(), 0.01), ls="none", marker="x", ms=4, color=col, zorder=3)
        if a.control.rate is not None:
            handles.append(ax.axhline(
                a.control.rate, color=col, ls="--", lw=1.2, zorder=1,
                label=f"control {_fmt_pct(a.control.rate)} (n={a.control.episodes})"))
    ax.set_xticks(x)
    ax.set_xticklabels(names, rotation=60, ha="right", rotation_mode="anchor", fontsize=8)
    ax.set_xlim(-0.6, len(names) - 0.4)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("failure rate (95% Wilson interval)")
    fig.suptitle(f"Measured failure rate per perturbation ({analyses[0].task}{_budget_suffix(analyses)}); "
                 f"× = not measured", fontsize=11)
    ax.grid(axis="y", color="0.92", zorder=0)
    # Above the axes: inside, it would hide the bars of the first perturbations.
    ax.legend(handles=handles, fontsize=8, ncol=min(len(handles), 8), loc="lower left",
              bbox_to_anchor=(0.0, 1.0), frameon=False)
    fig.tight_layout()
    return _save(fig, Path(out_dir) / "grouped_bars.png")


def plot_stacked_bars(analyses: list[AuditAnalysis], out_dir: Path, value: str = "rate") -> Path:
    """Each failure mode's value stacked over models (paper Fig. 3): tall bars are modes many models share.

    Writes `stacked_bars.png` for measured rates and `stacked_bars_pi.png` for π.
    """
    if not analyses:
        raise ValueError("plot_stacked_bars needs at least one analysis")
    names, groups = _perturbation_axis(analyses)
    x = np.arange(len(names))
    colours = _model_colours(len(analyses))
    fig, ax = plt.subplots(figsize=(_bar_figure_width(len(names)), 5.5))
    _group_separators(ax, groups)
    bottom = np.zeros(len(names))
    for a, col in zip(analyses, colours):
        if value == "pi" and a.pi is None:
            continue  # no π for this model: nothing to stack, and no misleading legend entry
        v = np.nan_to_num(_values(a, names, value), nan=0.0)
        ax.bar(x, v, bottom=bottom, width=0.75, color=col, label=a.name, zorder=2,
               edgecolor="white", linewidth=0.5)
        bottom += v
    ax.set_xticks(x)
    ax.set_xticklabels(names, rotation=60, ha="right", rotation_mode="anchor", fontsize=8)
    ax.set_xlim(-0.6, len(names) - 0.4)
    what = "measured failure rate" if value == "rate" else "P_failure = π(a|o)"
    ax.set_ylabel(f"{what}, stacked over models")
    ax.set_title(f"Failure modes across models ({analyses[0].task}{_budget_suffix(analyses)}): {what}", fontsize=11)
    ax.grid(axis="y", color="0.92", zorder=0)
    ax.legend(fontsize=8, loc="upper left", ncol=min(len(analyses), 4), framealpha=0.9)
    fig.tight_layout()
    return _save(fig, Path(out_dir) / ("stacked_bars.png" if value == "rate" else "stacked_bars_pi.png"))


# --------------------------------------------------------------------------- video


def _as_rgb_uint8(frame: np.ndarray) -> np.ndarray:
    f = np.asarray(frame)
    if f.ndim == 2:
        f = np.repeat(f[:, :, None], 3, axis=2)
    if f.ndim != 3 or f.shape[2] not in (3, 4):
        raise ValueError(f"frames must be HxWx3 images, got shape {f.shape}")
    f = f[:, :, :3]
    if f.dtype != np.uint8:
        if np.issubdtype(f.dtype, np.floating) and f.size and float(np.nanmax(f)) <= 1.0:
            f = f * 255.0
        f = np.clip(np.nan_to_num(f), 0, 255).astype(np.uint8)
    return f


def write_video(frames: list[np.ndarray], path: Path, fps: int = 20) -> Path:
    """H.264 mp4 of a (failure) episode; frames are edge-padded to even sizes, which yuv420p requires."""
    import imageio.v2 as imageio

    if not frames:
        raise ValueError("write_video needs at least one frame")
    rgb = [_as_rgb_uint8(f) for f in frames]
    h = max(f.shape[0] for f in rgb)
    w = max(f.shape[1] for f in rgb)
    h, w = h + h % 2, w + w % 2
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = imageio.get_writer(str(path), format="FFMPEG", mode="I", fps=fps, codec="libx264",
                                pixelformat="yuv420p", macro_block_size=1, ffmpeg_log_level="error")
    try:
        for f in rgb:
            pad = ((0, h - f.shape[0]), (0, w - f.shape[1]), (0, 0))
            writer.append_data(np.pad(f, pad, mode="edge") if any(p[1] for p in pad) else f)
    finally:
        writer.close()
    return path


# --------------------------------------------------------------------------- console summary


def _interval_text(e: RateEstimate) -> str:
    return f"[{100 * e.ci_low:.1f}, {100 * e.ci_high:.1f}]%"


def summary_table(analysis: AuditAnalysis, top: int | None = None) -> "Table":
    """Ranked measured perturbations with intervals and excess over control; unmeasured ones are only counted."""
    from rich import box
    from rich.table import Table

    c = analysis.control
    control = (f"control {_fmt_pct(c.rate)} {_interval_text(c)} ({c.failures}/{c.episodes})"
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
        row = [str(p.rank), p.name, p.group, f"{p.failures}/{p.episodes}", _fmt_pct(p.rate),
               _interval_text(p), f"{100 * p.ci_width:.1f}pp", excess]
        if has_pi:
            row.append("n/a" if p.p_failure_pi is None else f"{p.p_failure_pi:.3f}")
        table.add_row(*row)
    notes = []
    if analysis.entropy_pi is not None:
        notes.append(f"entropy of π: {entropy_label(analysis)}")
    notes.append(f"{analysis.aborted_episodes} episode(s) aborted (not counted as failures)")
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


# --------------------------------------------------------------------------- everything


def write_report(analyses: list[AuditAnalysis], out_dir: Path) -> list[Path]:
    """All figures for one or more models, plus the tables when the report is about a single model."""
    if not analyses:
        raise ValueError("write_report needs at least one analysis")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    any_pi = any(a.pi is not None for a in analyses)
    paths = list(plot_radar(analyses, out_dir))
    paths.append(plot_heatmap(analyses, out_dir, value="rate"))
    if any_pi:
        paths.append(plot_heatmap(analyses, out_dir, value="pi"))
    paths.append(plot_grouped_bars(analyses, out_dir))
    paths.append(plot_stacked_bars(analyses, out_dir, value="rate"))
    if any_pi:
        paths.append(plot_stacked_bars(analyses, out_dir, value="pi"))
    if len(analyses) == 1:
        paths.extend(write_tables(analyses[0], out_dir))
    return paths
