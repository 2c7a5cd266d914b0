"""What every figure of a report shares: the headless backend, file names, axis limits and saving."""
from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Sequence

import matplotlib

matplotlib.use("Agg")  # reports are written on headless audit machines; never open a window

import matplotlib.pyplot as plt  # noqa: E402

DPI = 120


def safe_name(name: str) -> str:
    """A file-name fragment: policy ids may contain `/` or spaces, file names must not."""
    return re.sub(r"[^A-Za-z0-9]", "_", name) or "model"


def unique_safe_names(names: Sequence[str]) -> list[str]:
    """Safe names with a numeric suffix on collisions, so no model's figure overwrites another's."""
    seen: dict[str, int] = {}
    out = []
    for name in names:
        base = safe_name(name)
        seen[base] = seen.get(base, 0) + 1
        out.append(base if seen[base] == 1 else f"{base}_{seen[base]}")
    return out


def nice_ceiling(x: float) -> float:
    """A round axis limit just above x, capped at 1 (everything plotted is a probability)."""
    for c in (0.02, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.8, 1.0):
        if x <= c * 0.98:
            return c
    return 1.0


def model_colours(n: int) -> list:
    cmap = plt.get_cmap("tab10" if n <= 10 else "tab20")
    return [cmap(i % cmap.N) for i in range(n)]


def save_figure(fig: plt.Figure, path: Path, metadata: dict[str, str] | None = None) -> Path:
    """Save and close: long audits write hundreds of figures and pyplot keeps every open one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fig.savefig(path, dpi=DPI, metadata=metadata)
    finally:
        plt.close(fig)
    return path


def fmt_pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


def interval_pct(ci_low: float, ci_high: float) -> str:
    """'[12.3, 45.6]%': a Wilson interval as the tables print it."""
    return f"[{100 * ci_low:.1f}, {100 * ci_high:.1f}]%"


def csv_cell(v: object) -> object:
    """A CSV cell: None and NaN become empty, floats get four decimals."""
    if v is None:
        return ""
    if isinstance(v, float):
        return "" if math.isnan(v) else f"{v:.4f}"
    return v
