"""Which kinds of perturbation break a model beyond what its own control shows, and how sure we are.

The paper's question across modalities is whether image models are more vulnerable to visual
perturbations than low-dim ones. A perturbed failure only counts against a perturbation when the
policy succeeded unperturbed from the same initial state, so each perturbed experiment is paired
with the control episode that started from its initial state (searchers draw initial states
from the control run's pool): of the experiments whose control succeeded, the share that failed
is the rate at which the perturbation *broke* the policy, with a 95% Wilson interval. Pooled per
catalogue group, and over appearance-only edits (colours, lights, camera pose: what a camera sees
changes, the physics does not) against physical ones (sizes, mass, friction). A policy that reads
no image must show 0 broken by appearance edits: a built-in check of the comparison itself.

The interval treats the pooled experiments as independent. They are distinct experiments (no repeat is
counted twice), but a sweep starts them from a few initial states, so the interval speaks for those
states; how a model fares from other states is what a larger control pool (`--control-episodes`) tells.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Iterable, Sequence

from robofail_ros.catalogue import APPEARANCE_KINDS, Catalogue
from robofail_ros.episode import ABORTED, FAILURE, EpisodeRecord
from robofail_ros.stats import wilson_interval

APPEARANCE = "appearance (colour, light, camera)"
PHYSICAL = "physical (size, mass, friction)"


@dataclass
class GroupEffect:
    """One model, one set of perturbations: how often they broke an initial state the control succeeded from."""

    group: str
    experiments: int
    """Distinct perturbed experiments (initial state x perturbation) with a control episode from the same state."""
    failed: float
    """Of those, failed experiments (repeats of one experiment averaged, analysis.py)."""
    control_succeeded: int
    """Experiments whose initial state the control succeeded from: the n of `broken_rate`."""
    broken: float
    """Of those, experiments that failed: failures the perturbation caused."""
    broken_rate: float | None
    ci_low: float
    ci_high: float

    def text(self) -> str:
        """`7/12 = 58% [32, 81]`: broken of control-succeeded experiments, with its interval."""
        if not self.control_succeeded:
            return f"— (control failed all {self.experiments})" if self.experiments else "—"
        k = f"{self.broken:g}"
        return (f"{k}/{self.control_succeeded} = {100 * self.broken_rate:.0f}% "
                f"[{100 * self.ci_low:.0f}, {100 * self.ci_high:.0f}]")

    def to_json(self) -> dict:
        return asdict(self)


def _control_by_seed(records: Sequence[EpisodeRecord]) -> dict[int, float]:
    """Mean control failure per initial state (a deterministic policy's repeats agree)."""
    sums: dict[int, list[float]] = {}
    for r in records:
        if not r.perturbations and r.scene is None:
            s = sums.setdefault(r.seed, [0.0, 0])
            s[0] += r.outcome == FAILURE
            s[1] += 1
    return {seed: total / n for seed, (total, n) in sums.items()}


def effect(records: Iterable[EpisodeRecord], group: str, members: set[str]) -> GroupEffect:
    """Pooled effect of the single perturbations in `members` (combinations are left out: they cannot be pooled)."""
    records = [r for r in records if r.outcome != ABORTED]
    control = _control_by_seed(records)
    perturbed = [r for r in records if len(r.perturbations) == 1 and r.perturbations[0] in members and r.seed in control]
    by_key: dict[tuple[int, str], list[bool]] = {}
    for r in perturbed:  # one experiment = (initial state, perturbation); its repeats are one observation
        by_key.setdefault((r.seed, r.perturbations[0]), []).append(r.outcome == FAILURE)
    means = {key: sum(v) / len(v) for key, v in by_key.items()}
    ok = {key: m for key, m in means.items() if control[key[0]] == 0.0}
    broken = sum(ok.values())
    n = len(ok)
    low, high = wilson_interval(broken, n)
    return GroupEffect(group, len(means), float(sum(means.values())), n, float(broken),
                       broken / n if n else None, low, high)


def group_effects(records: Sequence[EpisodeRecord], catalogue: Catalogue) -> list[GroupEffect]:
    """Appearance and physical pools first, then every catalogue group in catalogue order."""
    appearance = {p.name for p in catalogue.perturbations if p.kind in APPEARANCE_KINDS}
    physical = {p.name for p in catalogue.perturbations} - appearance
    groups: dict[str, set[str]] = {}
    for p in catalogue.perturbations:
        groups.setdefault(p.group, set()).add(p.name)
    return ([effect(records, APPEARANCE, appearance), effect(records, PHYSICAL, physical)]
            + [effect(records, g, names) for g, names in groups.items()])


def markdown_table(rows: Sequence[tuple[str, str, list[GroupEffect]]]) -> str:
    """One row per model: its matched control, then broken/control-succeeded per pool and group."""
    if not rows:
        return ""
    groups = [e.group for e in rows[0][2]]
    header = ["model", "control failures (the sweep's initial states)", *groups]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for model, control, effects in rows:
        lines.append("| " + " | ".join([model, control, *(e.text() for e in effects)]) + " |")
    return "\n".join(lines) + "\n"


def matched_control_text(records: Sequence[EpisodeRecord]) -> str:
    """Control failures on the initial states the searched episodes started from: `1/4 = 25% [5, 70]`."""
    records = [r for r in records if r.outcome != ABORTED]
    control = _control_by_seed(records)
    used = {r.seed for r in records if r.perturbations} & set(control)
    k, n = sum(control[s] for s in used), len(used)
    if not n:
        return "—"
    low, high = wilson_interval(k, n)
    return f"{k:g}/{n} = {100 * k / n:.0f}% [{100 * low:.0f}, {100 * high:.0f}]"
