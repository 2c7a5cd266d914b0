"""Failure regions as readable rules: boxes of scenes where the episodes failed credibly more than the control.

1. A shallow decision tree (scikit-learn) splits the searched episodes on factor values, in factor units (a tree
   is invariant to the monotone unit-cube map, so its split points read directly). Classes are balanced so that
   a rare failure pocket still earns a split. Each leaf is a box: the conditions on its path, the tightest
   bound per factor and side.
2. A tree splits wherever the sample allows, so each box is pruned condition by condition: a condition stays
   only if the episodes it excludes (inside the other conditions, outside this one) failed significantly less
   often than those inside the box (Fisher's exact test, one-sided, at ALPHA divided by the number of factors);
   the least supported condition goes first.
3. A pruned box is a candidate when the failure rate of its episodes is credibly above the control: its Wilson
   interval lies wholly above the control's (with no control episodes, above the searched episodes' rate).
4. Boxes overlap, so candidates are taken strongest first (highest lower bound) and one is kept only if the
   episodes it adds, those no stronger rule covers, are credibly above the control too: "camera_yaw > 8" is no
   finding when its failures all sit inside "light_intensity < 0.3".
5. Of two kept rules one nested in the other, the inner one goes: the larger box is the failure region, and
   "even worse inside" is exactly what a tree searching every split finds in noise (measured: 1 in 20 synthetic
   audits produced "light_intensity < 0.31 and cube_mass >= 0.93: 102/102" inside a region uniformly at 90%,
   Fisher p = 2e-5).

The rates are measured on the same episodes the tree was grown on, so they lean optimistic for small boxes;
`min_samples_leaf` grows with n (MIN_LEAF_FRACTION) to keep each box's count meaningful.

Rows are experiments, not episodes: the caller collapses repeats of one (initial state, scene) into one row with
the mean outcome of its repeats and their number (`continuous.analyse.collapse_repeats`). The tree and the Fisher
tests use each row's majority outcome (mean >= 0.5); a box's rate and Wilson interval count each row once with
its mean (n = rows, k = sum of means), and its raw episode counts come from the repeats.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
from scipy.stats import fisher_exact
from sklearn.tree import DecisionTreeClassifier

from robofail_ros.analysis import RateEstimate
from robofail_ros.continuous.result import Condition, FailureRule

#: Depth of the tree: at most this many conditions per rule, which stays readable.
MAX_DEPTH = 3
#: Smallest leaf as a share of the episodes (and never fewer than MIN_LEAF episodes).
MIN_LEAF_FRACTION = 0.02
MIN_LEAF = 5
#: Significance level of a condition, divided by the number of factors; strict because the tree chose the split
#: (factor and value) that looks best in this very sample.
ALPHA = 0.01
#: At most this many rules, highest lower bound of the failure rate first.
MAX_RULES = 8


def _fmt(v: float) -> str:
    return f"{v:.3g}"


def _percent(v: float) -> str:
    return f"{100 * v:.0f}%"


def describe_box(conditions: Sequence[Condition]) -> str:
    """Conditions in words, a factor bounded on both sides as one range: "0.3 <= cube_value < 0.5 and ..."."""
    parts: list[str] = []
    for factor in dict.fromkeys(c.factor for c in conditions):
        lower = [c.value for c in conditions if c.factor == factor and c.op == ">="]
        upper = [c.value for c in conditions if c.factor == factor and c.op == "<"]
        if lower and upper:
            parts.append(f"{_fmt(max(lower))} <= {factor} < {_fmt(min(upper))}")
        elif lower:
            parts.append(f"{factor} >= {_fmt(max(lower))}")
        else:
            parts.append(f"{factor} < {_fmt(min(upper))}")
    return " and ".join(parts) or "everywhere"


def rule_text(conditions: Sequence[Condition], rate: RateEstimate, control: RateEstimate | None) -> str:
    """e.g. "light_intensity < 0.35 and cube_value < 0.4: 18/20 failed [70%, 97%] vs control 0/30"."""
    where = describe_box(conditions)
    text = f"{where}: {rate.count_text()} failed [{_percent(rate.ci_low)}, {_percent(rate.ci_high)}]"
    if control is not None and control.episodes:
        text += f" vs control {control.count_text()}"
    return text


def _leaf_boxes(tree: DecisionTreeClassifier) -> dict[int, dict[tuple[int, str], float]]:
    """For every leaf, its bounds {(feature, '<' or '>='): value}, tightest per feature and side."""
    t = tree.tree_
    boxes: dict[int, dict[tuple[int, str], float]] = {}

    def walk(node: int, bounds: dict[tuple[int, str], float]) -> None:
        if t.children_left[node] == t.children_right[node]:  # a leaf
            boxes[node] = bounds
            return
        f, v = int(t.feature[node]), float(t.threshold[node])
        left = dict(bounds)
        left[(f, "<")] = min(v, bounds.get((f, "<"), np.inf))
        right = dict(bounds)
        right[(f, ">=")] = max(v, bounds.get((f, ">="), -np.inf))
        walk(int(t.children_left[node]), left)
        walk(int(t.children_right[node]), right)

    walk(0, {})
    return boxes


def _inside(values: np.ndarray, conditions: Sequence[Condition], names: Sequence[str]) -> np.ndarray:
    keep = np.ones(len(values), dtype=bool)
    for c in conditions:
        col = values[:, list(names).index(c.factor)]
        keep &= (col < c.value) if c.op == "<" else (col >= c.value)
    return keep


def _fisher_greater(y_a: np.ndarray, y_b: np.ndarray) -> float:
    """One-sided p-value that outcomes y_a fail more often than y_b (1.0 when either is empty)."""
    if not len(y_a) or not len(y_b):
        return 1.0
    table = [[int(y_a.sum()), int(len(y_a) - y_a.sum())], [int(y_b.sum()), int(len(y_b) - y_b.sum())]]
    return float(fisher_exact(table, alternative="greater")[1])


def _contains(outer: Sequence[Condition], inner: Sequence[Condition]) -> bool:
    """True when the box of `inner` lies inside the box of `outer` (every outer bound is matched or tighter)."""
    for c in outer:
        same = [d.value for d in inner if d.factor == c.factor and d.op == c.op]
        if not same or (c.op == "<" and min(same) > c.value) or (c.op == ">=" and max(same) < c.value):
            return False
    return True


def _prune(conditions: list[Condition], values: np.ndarray, y: np.ndarray, names: Sequence[str],
           alpha: float) -> list[Condition]:
    """Drop the conditions the episodes do not support (module docstring), least supported first."""
    conditions = list(conditions)
    while conditions:
        inside = _inside(values, conditions, names)
        worst, worst_p = None, alpha
        for c in conditions:
            others = _inside(values, [o for o in conditions if o is not c], names) & ~inside
            p = _fisher_greater(y[inside], y[others])
            if p > worst_p:
                worst, worst_p = c, p
        if worst is None:
            break
        conditions.remove(worst)
    return conditions


def failure_rules(values: np.ndarray, failed: Sequence[bool] | Sequence[float] | np.ndarray, names: Sequence[str],
                  control: RateEstimate | None, *, seed: int = 0,
                  repeats: Sequence[int] | np.ndarray | None = None) -> list[FailureRule]:
    """Rules from searched experiments: scene vectors `values` (n, d) in factor units and their outcomes.

    `failed` holds each row's outcome, or the mean outcome of its repeats; `repeats` how many episodes each row
    stands for (default 1 each).
    """
    values = np.asarray(values, dtype=float)
    mean = np.asarray(failed, dtype=float)
    reps = np.ones(len(mean), dtype=int) if repeats is None else np.asarray(repeats, dtype=int)
    if values.ndim != 2 or values.shape[1] != len(names) or len(mean) != len(values) or len(reps) != len(mean):
        raise ValueError(f"values must be (n, {len(names)}) with one outcome and one repeat count per row, got "
                         f"{values.shape}, {len(mean)} outcomes and {len(reps)} repeat counts")
    y = mean >= 0.5

    def measure(name: str, group: str, rows: np.ndarray) -> RateEstimate:
        return RateEstimate.from_experiments(name, group, list(zip(mean[rows].tolist(), reps[rows].tolist())))

    if len(y) < 2 * MIN_LEAF or y.all() or not y.any():
        return []  # no split possible, or nothing to separate
    reference = (control.ci_high if control is not None and control.episodes else float(mean.mean()))
    tree = DecisionTreeClassifier(max_depth=MAX_DEPTH, class_weight="balanced", random_state=seed,
                                  min_samples_leaf=max(MIN_LEAF, int(MIN_LEAF_FRACTION * len(y))))
    tree.fit(values, y)
    alpha = ALPHA / len(names)
    rules = []
    seen: set[tuple] = set()
    for bounds in _leaf_boxes(tree).values():
        # Order the clauses as the factors are ordered, lower bound before upper bound.
        conditions = [Condition(names[f], op, float(v)) for (f, op), v in
                      sorted(bounds.items(), key=lambda kv: (kv[0][0], kv[0][1] != ">="))]
        conditions = _prune(conditions, values, y, names, alpha)
        key = tuple((c.factor, c.op, c.value) for c in conditions)
        if not conditions or key in seen:
            continue
        seen.add(key)
        inside = _inside(values, conditions, names)
        rate = measure(describe_box(conditions), "rule", inside)
        if rate.ci_low <= reference:
            continue
        excess = None
        if control is not None and control.rate is not None and rate.rate is not None:
            excess = rate.rate - control.rate
            rate.excess_over_control = excess
        rules.append(FailureRule(conditions, rate, excess, rule_text(conditions, rate, control)))
    rules.sort(key=lambda r: (-r.rate.ci_low, -(r.rate.rate or 0.0), len(r.conditions)))
    kept, covered = [], np.zeros(len(y), dtype=bool)
    for rule in rules:
        inside = _inside(values, rule.conditions, names)
        added = measure("", "", inside & ~covered)
        if added.experiments and added.ci_low > reference:
            kept.append(rule)
            covered |= inside
    kept = [r for r in kept if not any(o is not r and _contains(o.conditions, r.conditions) for o in kept)]
    return kept[:MAX_RULES]
