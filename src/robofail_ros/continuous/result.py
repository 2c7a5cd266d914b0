"""What a continuous audit concluded, as plain records that reports, topics and JSON all read.

The fitted model itself is not stored: `SceneAnalysis` keeps only what a person or a figure needs (curves,
thresholds, indices, rules, calibration), so `results.json` can be re-read without scikit-learn.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from robofail_ros.analysis import RateEstimate


@dataclass
class FactorInfo:
    """The factor as the analysis saw it (a copy of the factor space's definition, for self-contained results)."""

    name: str
    group: str
    kind: str
    low: float
    high: float
    nominal: float
    scale: str
    """'linear' or 'log': how the unit cube maps onto [low, high]."""
    unit: str = ""
    circular: bool = False
    """An angle over its whole circle (a hue): low and high are the same condition."""


@dataclass
class FactorCurve:
    """P(failure) along one factor with every other factor at its nominal value, from the fitted model."""

    factor: str
    values: list[float]
    p_mean: list[float]
    p_low: list[float]
    """Lower edge of the 95% credible band of P(failure) at each value."""
    p_high: list[float]


@dataclass
class Threshold:
    """Where failure sets in along one factor (others nominal): P(failure) crosses `level` at `value`."""

    factor: str
    value: float
    ci_low: float
    ci_high: float
    """95% interval of the crossing, in factor units."""
    direction: str
    """'below' when failure sets in as the factor goes below `value`, 'above' when it goes above."""
    level: float = 0.5
    text: str = ""
    """e.g. "fails when light_intensity < 0.31 (x nominal) [0.27, 0.35]"."""
    band: list[float] | None = None
    """[a, b] when failure is confined to a band a < factor < b: set on both of the band's edges."""
    line_beyond: int | None = None
    """Experiments run on the threshold's own line (every other factor nominal) on its failing side: beyond it,
    or inside the band. The model reads the threshold off this line; these episodes are the direct evidence for it.
    None in results written before this was counted."""
    line_beyond_failed: int | None = None
    """Of `line_beyond`, how many failed (majority outcome of each experiment)."""
    line_before: int | None = None
    """Experiments on the line on the same side of nominal but not on the failing side (between nominal and it)."""
    line_before_failed: int | None = None
    """Of `line_before`, how many failed."""

    def line_text(self) -> str:
        """'8/8 failed beyond, 0/10 before', or '' when not counted."""
        if self.line_beyond is None or self.line_before is None:
            return ""
        where = "inside the band" if self.band is not None else "beyond"
        return (f"{self.line_beyond_failed}/{self.line_beyond} failed {where}, "
                f"{self.line_before_failed}/{self.line_before} before")


@dataclass
class SobolIndex:
    """Global sensitivity of P(failure | scene) to one factor over the whole box (SALib)."""

    factor: str
    s1: float
    s1_conf: float
    st: float
    st_conf: float
    """Half-widths of the 95% intervals (SALib's and the refits' spread): two-sided for S1; for ST only its lower
    side is a claim (`st_lower`)."""

    @property
    def st_lower(self) -> float:
        """A 95% lower bound of the total index: the fitted ST less its half-width, at least 0.

        Why one-sided: ST is read off a smooth fitted surface, and a factor that only moves a sharp failure edge a
        little (a light colour shifting a darkness threshold) adds variance at every edge it moves, which no
        surface fitted to a few hundred episodes resolves. Against the planted truths (benchmarks §8l, §8n) the
        two-sided ST intervals met the truth's for only 68-71% of factors, almost every miss an underestimate,
        while this bound lay at or below the truth for 99%. S1 keeps its two-sided interval (94-97%).
        """
        return max(0.0, self.st - self.st_conf)

    @property
    def interaction(self) -> float:
        """ST - S1: the share of variance this factor causes only together with others."""
        return self.st - self.s1


#: The smallest share of Var P a claimed interaction must hold. Two factors the surrogate is flat along give S2
#: of 1e-5 with a half-width of 1e-6, an interval that excludes 0 and means nothing (seen on a planted policy
#: whose rule ignores both); 1% of the variance is the smallest share worth a person's look.
MIN_CLAIMED_S2 = 0.01


@dataclass
class Interaction:
    """A pair of factors whose joint effect is more than the sum of their effects (Sobol second order)."""

    factors: tuple[str, str]
    s2: float
    s2_conf: float

    @property
    def excludes_zero(self) -> bool:
        """Whether the 95% interval of S2 lies above 0."""
        return self.s2 - self.s2_conf > 0

    @property
    def claimed(self) -> bool:
        """Whether the pair is claimed to interact: its interval excludes 0 and S2 is at least `MIN_CLAIMED_S2`."""
        return self.excludes_zero and self.s2 >= MIN_CLAIMED_S2

    def text(self) -> str:
        """'a × b: S2 = 0.08 ± 0.12, …', saying whether the pair is claimed or only ranked (topics, summaries)."""
        verdict = ("interacting" if self.claimed else "interval includes 0: ranked first, not claimed"
                   if not self.excludes_zero else f"below {MIN_CLAIMED_S2:.2f}: ranked first, not claimed")
        return f"{self.factors[0]} × {self.factors[1]}: S2 = {self.s2:.2f} ± {self.s2_conf:.2f}, {verdict}"


@dataclass
class Condition:
    """One clause of a failure rule: `factor` `op` `value`, op in '<', '>='."""

    factor: str
    op: str
    value: float


@dataclass
class FailureRule:
    """A readable failure region (a box: a conjunction of conditions) with what the episodes inside it showed."""

    conditions: list[Condition]
    rate: RateEstimate
    """Measured failure rate of the episodes inside the box, with its Wilson interval."""
    excess_over_control: float | None = None
    text: str = ""


@dataclass
class Calibration:
    """How well the fitted P(failure | scene) predicts episodes it was not fitted on (cross-validation)."""

    brier: float
    brier_baseline: float
    """Brier score of predicting the overall failure rate everywhere: the model must beat it to be useful."""
    folds: int
    bin_predicted: list[float]
    """Reliability curve: mean predicted probability per bin ..."""
    bin_observed: list[float]
    """... and the observed failure frequency in that bin ..."""
    bin_counts: list[int]
    """... and how many held-out episodes fell in it."""


@dataclass
class PairMap:
    """Fitted P(failure) over a grid of two factors, every other factor nominal (the report's 2-D map)."""

    factors: tuple[str, str]
    x: list[float]
    """Values of factors[0] (factor units) ..."""
    y: list[float]
    """... and of factors[1]."""
    p: list[list[float]]
    """p[j][i]: P(failure) at x[i], y[j]."""


@dataclass
class SceneAnalysis:
    """Everything a continuous audit concluded."""

    task: str
    policy_id: str
    searcher: str
    factors: list[FactorInfo]
    control: RateEstimate
    episodes: int
    """Searched episodes that ran to an outcome (aborted ones excluded)."""
    failures: int
    """Failed searched episodes, repeats included."""
    aborted_episodes: int = 0
    budget: int | None = None
    curves: list[FactorCurve] = field(default_factory=list)
    thresholds: list[Threshold] = field(default_factory=list)
    sobol: list[SobolIndex] = field(default_factory=list)
    interactions: list[Interaction] = field(default_factory=list)
    """Top interacting pairs, strongest first: the claimed ones (`Interaction.claimed`)."""
    pair_ranking: list[Interaction] = field(default_factory=list)
    """The pairs with the largest S2 estimates, strongest first, claimed or not (see
    `SobolEstimate.pair_ranking`): which pair to look at first, not a claim that it interacts."""
    rules: list[FailureRule] = field(default_factory=list)
    calibration: Calibration | None = None
    worst_episodes: list[str] = field(default_factory=list)
    """Ids of failed episodes in the scenes the model finds most failure-prone, worst first (gallery, video)."""
    model: str = ""
    """What P(failure | scene) was fitted with, in words (kernel, hyperparameters)."""
    label: str = ""
    pair_map: PairMap | None = None
    """The top interacting pair (or, with no credible interaction, the two factors of largest total index)."""
    p_variance: float | None = None
    """Variance of the fitted P(failure) over the whole box: what the Sobol indices divide up (near 0: no factor
    matters, however the shares fall)."""
    length_scales: dict[str, float] = field(default_factory=dict)
    """The fitted model's ARD length scale per factor (unit cube; shorter = P(failure) changes faster along it):
    the ranking of factors when Sobol indices are not meaningful. Empty for a flat model."""
    sensitivity_note: str = ""
    """Why no Sobol indices are reported although a model was fitted (P(failure) hardly varies over the box); else
    empty."""
    interrupted: str = ""
    """'interrupted after 40 of 246 episodes' when the audit was stopped early (report titles say it); else empty."""
    nominal_conflict: str = ""
    """When the fitted model's 95% band at the nominal scene and the control's Wilson interval are disjoint: the
    two numbers and what it means (the searcher never ran the scenes near nominal, so the model extrapolates
    there and its curves and bands near nominal are not evidence). Else empty."""
    experiments: int | None = None
    """Distinct searched experiments (initial state, scene) the model, rules and calibration were fitted on: one row
    each, however often it ran (None, as in results written before repeats were collapsed: same as `episodes`)."""
    repeated_episodes: int = 0
    """Searched episodes that re-ran an experiment already counted (episodes - experiments): no new evidence."""
    searched_states: int | None = None
    """Distinct initial states the searched episodes started from. At most the control's pool when they were drawn
    from it (`initial_states: pool`): every rate is then over those few states. One per experiment with fresh states.
    None in results written before it was counted."""

    @property
    def pooled_states(self) -> bool:
        """Whether the searched scenes shared the control's pool of initial states (or fewer states than that)."""
        if self.searched_states is None:
            return False
        pool = max(self.control.experiments or self.control.episodes, 1)
        return self.searched_states <= pool and self.searched_states < (self.experiments or 0)

    def __post_init__(self) -> None:
        if self.experiments is None:
            self.experiments = self.episodes - self.repeated_episodes

    @property
    def name(self) -> str:
        return self.label or self.policy_id

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "SceneAnalysis":
        d = dict(d)
        d["factors"] = [FactorInfo(**f) for f in d["factors"]]
        d["control"] = RateEstimate.from_json(d["control"])
        d["curves"] = [FactorCurve(**c) for c in d.get("curves", [])]
        d["thresholds"] = [Threshold(**t) for t in d.get("thresholds", [])]
        d["sobol"] = [SobolIndex(**s) for s in d.get("sobol", [])]
        for key in ("interactions", "pair_ranking"):
            d[key] = [Interaction(tuple(i["factors"]), i["s2"], i["s2_conf"]) for i in d.get(key, [])]
        d["rules"] = [FailureRule([Condition(**c) for c in r["conditions"]], RateEstimate.from_json(r["rate"]),
                                  r.get("excess_over_control"), r.get("text", "")) for r in d.get("rules", [])]
        if d.get("calibration") is not None:
            d["calibration"] = Calibration(**d["calibration"])
        if d.get("pair_map") is not None:
            m = d["pair_map"]
            d["pair_map"] = PairMap(tuple(m["factors"]), m["x"], m["y"], m["p"])
        return cls(**d)
