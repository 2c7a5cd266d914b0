"""From episode records to failure-mode estimates: the paper's π-based P_failure and the measured rates.

The paper reads the adversary's softmax π(a|o) on the unperturbed scene as
P(failure | perturbation) and its entropy as the spread of vulnerabilities. π is not
a calibrated probability (PPO with ent_coef 0 collapses onto the worst action), so
beside it we report what the episodes actually showed: each perturbation's failure
rate with a 95% Wilson interval, against a matched unperturbed control.

Repeated experiments are not new evidence. Searchers draw initial states from the control
run's pool, so a perturbation tried more often than the pool is large re-runs an experiment
(same initial state, same perturbations, same scene: `record.episode_key`). Physics and the
shipped policies are deterministic given the initial state, so such a repeat only copies an
outcome; counting it as an independent Bernoulli trial narrows the interval without evidence
(the bandit and PPO did exactly that in the search-quality study). Every rate here is therefore
measured on experiments, not episodes: the episodes are clustered by experiment, an
experiment's outcome is the mean of its repeats' outcomes (one observation for a deterministic
policy, whose repeats all agree; for a stochastic one the mean keeps what the repeats showed
without counting the experiment more than once), and the rate and its Wilson interval use
n = the number of distinct experiments and k = the sum of the experiment means. The raw
episode and failure counts stay on every estimate (`episodes`, `failures`) beside
`experiments` and `failed_experiments`.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Hashable, Iterable, Sequence

from robofail_ros.catalogue import Catalogue
from robofail_ros.episode import ABORTED, EpisodeRecord
from robofail_ros.record import episode_key
from robofail_ros.stats import CONFIDENCE, entropy_nats, experiment_means, wilson_interval

CONTROL = "control"


@dataclass
class RateEstimate:
    """Measured failure rate of one condition (a perturbation, a combination, or the control).

    `rate`, `ci_low` and `ci_high` count each distinct experiment once (module docstring):
    rate = failed_experiments / experiments. `episodes` and `failures` are the raw counts, repeats included.
    """

    name: str
    group: str
    episodes: int
    """Episodes that ran to an outcome, repeats of the same experiment included."""
    failures: int
    """Failed episodes, repeats included."""
    rate: float | None
    ci_low: float
    ci_high: float
    p_failure_pi: float | None = None
    excess_over_control: float | None = None
    rank: int | None = None
    experiments: int | None = None
    """Distinct experiments among the episodes: the n of the rate and its interval (None: same as `episodes`,
    as in results written before repeats were collapsed)."""
    failed_experiments: float | None = None
    """Sum over experiments of the share of their repeats that failed: the k of the rate and its interval (a whole
    number unless a stochastic policy's repeats disagreed; None: same as `failures`)."""

    def __post_init__(self) -> None:
        if self.experiments is None:
            self.experiments = self.episodes
        if self.failed_experiments is None:
            self.failed_experiments = float(self.failures)

    @classmethod
    def measure(cls, name: str, group: str, outcomes: Sequence[bool],
                keys: Sequence[Hashable] | None = None) -> "RateEstimate":
        """Rate of `outcomes`, one per episode; episodes with equal `keys` are one experiment (None: all distinct)."""
        outcomes = [bool(o) for o in outcomes]
        keys = list(range(len(outcomes))) if keys is None else list(keys)
        return cls.from_experiments(name, group, experiment_means(outcomes, keys))

    @classmethod
    def from_experiments(cls, name: str, group: str,
                         experiments: Sequence[tuple[float, int]]) -> "RateEstimate":
        """Rate of experiments given as (mean outcome of its repeats, number of repeats)."""
        n = len(experiments)
        k = float(sum(mean for mean, _ in experiments))
        episodes = int(sum(reps for _, reps in experiments))
        failures = int(round(sum(mean * reps for mean, reps in experiments)))
        lo, hi = wilson_interval(k, n)
        return cls(name, group, episodes, failures, (k / n) if n else None, lo, hi,
                   experiments=n, failed_experiments=k)

    @property
    def repeated_episodes(self) -> int:
        """Episodes that re-ran an experiment already counted: evidence the interval does not use."""
        return self.episodes - self.experiments

    def count_text(self) -> str:
        """"k/n" of the rate; with repeats, also the raw episodes: "3/8 (12/20 episodes)"."""
        k = self.failed_experiments
        k_text = f"{k:.0f}" if float(k).is_integer() else f"{k:.1f}"
        if not self.repeated_episodes:
            return f"{k_text}/{self.experiments}"
        return f"{k_text}/{self.experiments} ({self.failures}/{self.episodes} episodes)"

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
    """Aggregate records into per-perturbation estimates; aborted episodes are counted, never rated.

    Each condition's rate counts every distinct experiment (seed, perturbations, scene) once, with the mean
    outcome of its repeats (module docstring); `episodes`/`failures` keep the raw counts.
    """
    records = list(records)
    valid = [r for r in records if r.outcome != ABORTED]
    # Per condition: (outcomes, experiment keys) of its episodes; repeats of one experiment count once.
    singles: dict[str, tuple[list[bool], list[tuple]]] = {n: ([], []) for n in catalogue.names}
    combos: dict[tuple[str, ...], tuple[list[bool], list[tuple]]] = {}
    control: tuple[list[bool], list[tuple]] = ([], [])
    for r in valid:
        if r.scene is not None:  # continuous-space episodes are analysed by continuous.analyse
            continue
        if not r.perturbations:
            cell = control
        elif len(r.perturbations) == 1 and r.perturbations[0] in singles:
            cell = singles[r.perturbations[0]]
        else:
            cell = combos.setdefault(tuple(r.perturbations), ([], []))
        cell[0].append(r.failed)
        cell[1].append(episode_key(r.seed, r.perturbations, r.scene))
    ctrl = RateEstimate.measure(CONTROL, CONTROL, *control)
    estimates = []
    for i, p in enumerate(catalogue.perturbations):
        e = RateEstimate.measure(p.name, p.group, *singles[p.name])
        if pi is not None:
            e.p_failure_pi = float(pi[i])
        if e.rate is not None and ctrl.rate is not None:
            e.excess_over_control = e.rate - ctrl.rate
        estimates.append(e)
    measured = sorted((e for e in estimates if e.rate is not None),
                      key=lambda e: (-e.rate, -e.ci_low, -e.experiments, e.name))
    for rank, e in enumerate(measured, start=1):
        e.rank = rank
    combo_estimates = sorted(
        (RateEstimate.measure(" + ".join(k), "combination", *v) for k, v in combos.items()),
        key=lambda e: (-(e.rate or 0.0), -e.experiments))
    return AuditAnalysis(
        task=catalogue.task, policy_id=policy_id, searcher=searcher, control=ctrl,
        perturbations=estimates, combinations=combo_estimates,
        pi=[float(p) for p in pi] if pi is not None else None,
        entropy_pi=entropy_nats(pi) if pi is not None else None,
        total_episodes=len(records), aborted_episodes=len(records) - len(valid), label=label, budget=budget,
    )
