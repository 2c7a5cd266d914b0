"""From episode records to failure-mode estimates: the paper's π-based P_failure and the measured rates.

The paper reads the adversary's softmax π(a|o) on the unperturbed scene as
P(failure | perturbation) and its entropy as the spread of vulnerabilities. π is not
a calibrated probability (PPO with ent_coef 0 collapses onto the worst action), so
beside it we report what the episodes actually showed: each perturbation's failure
rate with a 95% Wilson interval, against a matched unperturbed control.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Iterable, Sequence

from robofail_ros.catalogue import Catalogue
from robofail_ros.episode import ABORTED, EpisodeRecord
from robofail_ros.stats import CONFIDENCE, entropy_nats, wilson_interval

CONTROL = "control"


@dataclass
class RateEstimate:
    """Measured failure rate of one condition (a perturbation, a combination, or the control)."""

    name: str
    group: str
    episodes: int
    failures: int
    rate: float | None
    ci_low: float
    ci_high: float
    p_failure_pi: float | None = None
    excess_over_control: float | None = None
    rank: int | None = None

    @classmethod
    def measure(cls, name: str, group: str, outcomes: Sequence[bool]) -> "RateEstimate":
        n, k = len(outcomes), sum(outcomes)
        lo, hi = wilson_interval(k, n)
        return cls(name, group, n, k, (k / n) if n else None, lo, hi)

    @property
    def ci_width(self) -> float:
        return self.ci_high - self.ci_low

    def to_json(self) -> dict[str, Any]:
        """Fields plus the interval width, so a reader of results.json sees how sure each number is."""
        return {**asdict(self), "ci_width": self.ci_width}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "RateEstimate":
        return cls(**{k: v for k, v in d.items() if k != "ci_width"})


@dataclass
class AuditAnalysis:
    """Everything an audit concluded, in a form reports, topics and JSON all read from."""

    task: str
    policy_id: str
    searcher: str
    control: RateEstimate
    perturbations: list[RateEstimate]
    combinations: list[RateEstimate] = field(default_factory=list)
    pi: list[float] | None = None
    entropy_pi: float | None = None
    total_episodes: int = 0
    aborted_episodes: int = 0
    confidence: float = CONFIDENCE
    label: str = ""
    budget: int | None = None
    """Searcher episode budget the audit ran with (control not counted); None where unknown."""
    interrupted: str = ""
    """'interrupted after 40 of 246 episodes' when the audit was stopped early (report titles say it); else empty."""

    @property
    def name(self) -> str:
        return self.label or self.policy_id

    @property
    def ranking(self) -> list[RateEstimate]:
        """Perturbations ordered from most to least failure-prone (unmeasured ones last)."""
        return sorted((p for p in self.perturbations if p.rank is not None), key=lambda p: p.rank) + [
            p for p in self.perturbations if p.rank is None]

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["control"] = self.control.to_json()
        d["perturbations"] = [p.to_json() for p in self.perturbations]
        d["combinations"] = [p.to_json() for p in self.combinations]
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "AuditAnalysis":
        d = dict(d)
        d["control"] = RateEstimate.from_json(d["control"])
        d["perturbations"] = [RateEstimate.from_json(p) for p in d["perturbations"]]
        d["combinations"] = [RateEstimate.from_json(p) for p in d.get("combinations", [])]
        return cls(**d)


def analyse(
    records: Iterable[EpisodeRecord],
    catalogue: Catalogue,
    policy_id: str,
    searcher: str,
    pi: Sequence[float] | None = None,
    label: str = "",
    budget: int | None = None,
) -> AuditAnalysis:
    """Aggregate records into per-perturbation estimates; aborted episodes are counted, never rated."""
    records = list(records)
    valid = [r for r in records if r.outcome != ABORTED]
    singles: dict[str, list[bool]] = {n: [] for n in catalogue.names}
    combos: dict[tuple[str, ...], list[bool]] = {}
    control: list[bool] = []
    for r in valid:
        if r.scene is not None:  # continuous-space episodes are analysed by continuous.analyse
            continue
        if not r.perturbations:
            control.append(r.failed)
        elif len(r.perturbations) == 1 and r.perturbations[0] in singles:
            singles[r.perturbations[0]].append(r.failed)
        else:
            combos.setdefault(tuple(r.perturbations), []).append(r.failed)
    ctrl = RateEstimate.measure(CONTROL, CONTROL, control)
    estimates = []
    for i, p in enumerate(catalogue.perturbations):
        e = RateEstimate.measure(p.name, p.group, singles[p.name])
        if pi is not None:
            e.p_failure_pi = float(pi[i])
        if e.rate is not None and ctrl.rate is not None:
            e.excess_over_control = e.rate - ctrl.rate
        estimates.append(e)
    measured = sorted((e for e in estimates if e.rate is not None),
                      key=lambda e: (-e.rate, -e.ci_low, -e.episodes, e.name))
    for rank, e in enumerate(measured, start=1):
        e.rank = rank
    combo_estimates = sorted(
        (RateEstimate.measure(" + ".join(k), "combination", v) for k, v in combos.items()),
        key=lambda e: (-(e.rate or 0.0), -e.episodes))
    return AuditAnalysis(
        task=catalogue.task, policy_id=policy_id, searcher=searcher, control=ctrl,
        perturbations=estimates, combinations=combo_estimates,
        pi=[float(p) for p in pi] if pi is not None else None,
        entropy_pi=entropy_nats(pi) if pi is not None else None,
        total_episodes=len(records), aborted_episodes=len(records) - len(valid), label=label, budget=budget,
    )
