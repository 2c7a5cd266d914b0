"""The paper's radar (Fig. 4): π and the measured failure rate with its interval, one PNG per model."""
from __future__ import annotations

import math
import textwrap
from pathlib import Path

import numpy as np

from robofail_ros.analysis import AuditAnalysis
from robofail_ros.report.common import fmt_pct, nice_ceiling, plt, save_figure, unique_safe_names
from robofail_ros.report.labels import entropy_label, interval, model_title, values

PI_COLOUR, RATE_COLOUR = "tab:purple", "tab:blue"


def _radar(analysis: AuditAnalysis, path: Path) -> Path:
    """One model's radar: π polygon (filled, as in the paper's Fig. 4) and the measured rate with its band."""
    names = [p.name for p in analysis.perturbations]
    n = len(names)
    theta = np.linspace(0, 2 * np.pi, n, endpoint=False)
    closed = np.append(theta, theta[:1] + 2 * np.pi)
    rate = values(analysis, names, "rate")
    lo, hi = interval(analysis, names)
    pi = np.array(analysis.pi, dtype=float) if analysis.pi is not None else None
    has_rate = bool(np.isfinite(rate).any())

    fig, ax = plt.subplots(figsize=(9, 9), subplot_kw={"projection": "polar"})
    ax.set_theta_offset(np.pi / 2)
    ax.set_theta_direction(-1)

    r_max = nice_ceiling(float(np.nanmax(hi))) if has_rate else (
        nice_ceiling(float(pi.max())) if pi is not None and pi.size else 1.0)
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
        pi_max = nice_ceiling(float(pi.max())) if pi.size else 1.0
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
                           label=f"control rate {fmt_pct(c.rate)}")
            handles.append(h)

    ax.set_xticks(theta)
    ax.set_xticklabels(names, fontsize=8)
    for label, v in zip(ax.get_xticklabels(), rate):
        if not np.isfinite(v):
            label.set_color("0.55")
            label.set_fontstyle("italic")
    ax.tick_params(axis="x", pad=10)

    title = model_title(analysis)
    subtitle = entropy_label(analysis)
    unmeasured = int((~np.isfinite(rate)).sum())
    if unmeasured and has_rate:
        subtitle = "; ".join(s for s in (subtitle, f"{unmeasured} unmeasured (grey labels)") if s)
    # A long model name and budget would run past the figure's edges (a zoo model on NutAssemblySquare did): wrap it.
    full_title = "\n".join(textwrap.wrap(title, 90)) + (f"\n{subtitle}" if subtitle else "")
    ax.set_title(full_title, fontsize=11, pad=24)
    if handles:
        fig.legend(handles=handles, loc="lower center", ncol=min(len(handles), 2), fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    return save_figure(fig, path, metadata={"Title": full_title, "Description": "robofail_ros radar"})


def plot_radar(analyses: list[AuditAnalysis], out_dir: Path) -> list[Path]:
    """One radar PNG per model (`radar_<name>.png`); the title carries H(π) when π is known."""
    out_dir = Path(out_dir)
    safe = unique_safe_names([a.name for a in analyses])
    return [_radar(a, out_dir / f"radar_{s}.png") for a, s in zip(analyses, safe)]
