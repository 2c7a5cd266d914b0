"""The analysis node's continuous half: P(failure | scene) refitted off the executor thread, published latched.

Fitting takes seconds, so it runs on a thread of its own, at most once every `fit_every` new searched episodes and
once more on the final log; the executor keeps answering meanwhile. What a fit concluded goes out as topics a late
rqt/RViz still sees: per factor the threshold nearest nominal (NaN: none found) and the Sobol indices, as labelled
vectors in factor-space order and one Float64 per factor, and one diagnostic per failure rule.

The headline topics of a catalogue audit (`p_failure`, `entropy`) are not silent here either; they carry what a
scene space honestly supports, after every episode (`SceneHeadline`): P(failure) of a searched scene and of the
unperturbed control (Beta posterior means), and the entropy of where the failure variance lies (the latest fit's
Sobol total indices, normalised over the factors; NaN before the first fit).
"""
from __future__ import annotations

import math
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Callable, Iterable

from diagnostic_msgs.msg import DiagnosticStatus, KeyValue
from rclpy.node import Node
from std_msgs.msg import Float64, Float64MultiArray, MultiArrayDimension, String

from robofail_ros import names
from dataclasses import dataclass

from robofail_ros.analysis import RateEstimate
from robofail_ros.continuous.result import FailureRule, SceneAnalysis
from robofail_ros.episode import ABORTED, EpisodeRecord
from robofail_ros.factors import FactorSpace
from robofail_ros.nodes.common import LATCHED
from robofail_ros.stats import entropy_nats, posterior_mean_rate

#: Measured failure rate from which a rule's diagnostic turns WARN, and ERROR (as for the catalogue's rows).
WARN_RATE, ERROR_RATE = 0.2, 0.5

NAN = float("nan")


def factor_vector(values: Iterable[float]) -> Float64MultiArray:
    """A vector over the factors in factor-space order; `factor_labels` names the entries."""
    msg = Float64MultiArray(data=[float(v) for v in values])
    msg.layout.dim = [MultiArrayDimension(label="factor", size=len(msg.data), stride=len(msg.data))]
    return msg


def nearest_thresholds(analysis: SceneAnalysis, space: FactorSpace) -> list[float]:
    """Per factor, the threshold closest to nominal (in the unit cube: log factors by ratio), NaN where none.

    It is where failure first sets in as the factor moves away from nominal; a factor with a band (two crossings)
    or one on each side keeps its others in results.json and the report.
    """
    out = [NAN] * space.dim
    distance = [math.inf] * space.dim
    for t in analysis.thresholds:
        if t.factor not in space.names or not math.isfinite(t.value):
            continue
        i = space.index(t.factor)
        f = space.factors[i]
        d = abs(float(f.to_unit(min(max(t.value, f.low), f.high))) - float(f.to_unit(f.nominal)))
        if d < distance[i]:
            out[i], distance[i] = float(t.value), d
    return out


def sobol_vectors(analysis: SceneAnalysis, space: FactorSpace) -> tuple[list[float], list[float], list[float]]:
    """First-order, total and total's lower bound (the claim the report makes, `SobolIndex.st_lower`) in
    factor-space order (NaN for a factor the analysis did not index)."""
    by_name = {s.factor: s for s in analysis.sobol}

    def vector(attribute: str) -> list[float]:
        return [float(getattr(by_name[n], attribute)) if n in by_name else NAN for n in space.names]

    return vector("s1"), vector("st"), vector("st_lower")


#: The entries of a continuous audit's `p_failure` vector (and its `scenes/<entry>/p_failure` topics), in order.
HEADLINE_ENTRIES = ("searched", "control")
SOURCE_SCENES = "scene_posterior"
SOURCE_SCENES_TEXT = ("p_failure: Beta(1+k, 1+n-k) posterior mean failure rate (k+1)/(n+2) of the searched scenes "
                      "and of the unperturbed control (aborted episodes excluded); entropy: of the latest fit's "
                      "Sobol total indices normalised over the factors (NaN before the first fit)")


@dataclass(frozen=True)
class SceneHeadline:
    """A scene space's P(failure) so far (searched scenes, control) and the spread of its failure variance."""

    p_failure: tuple[float, float]
    entropy: float
    episodes: int


def scene_headline(records: Iterable[EpisodeRecord], analysis: SceneAnalysis | None,
                   space: FactorSpace) -> SceneHeadline:
    """The headline from the episodes so far and the latest fit (see the module docstring)."""
    counts = {"searched": [0, 0], "control": [0, 0]}
    for r in records:
        if r.outcome == ABORTED or (r.scene is None and r.perturbations):
            continue
        c = counts["searched" if r.scene is not None else "control"]
        c[0] += r.failed
        c[1] += 1
    p = tuple(posterior_mean_rate(*counts[e]) for e in HEADLINE_ENTRIES)
    entropy = NAN
    if analysis is not None:
        shares = [max(v, 0.0) for v in sobol_vectors(analysis, space)[1] if math.isfinite(v)]
        total = sum(shares)
        if total > 0:
            entropy = entropy_nats([v / total for v in shares])
    return SceneHeadline(p, entropy, counts["searched"][1])


def _text(value) -> str:
    return "" if value is None else f"{value:.4f}" if isinstance(value, float) else str(value)


def rule_diagnostic(index: int, rule: FailureRule, control: RateEstimate) -> DiagnosticStatus:
    """One rqt_robot_monitor row per failure rule: its conditions, measured rate and interval, and the control's."""
    rate = rule.rate
    if rate.rate is None:
        level = DiagnosticStatus.STALE
    else:
        level = (DiagnosticStatus.ERROR if rate.rate >= ERROR_RATE else
                 DiagnosticStatus.WARN if rate.rate >= WARN_RATE else DiagnosticStatus.OK)
    conditions = " and ".join(f"{c.factor} {c.op} {c.value:.4g}" for c in rule.conditions)
    values = {"rule": conditions, "episodes": rate.episodes, "failures": rate.failures,
              "experiments": rate.experiments, "failed_experiments": rate.failed_experiments, "rate": rate.rate,
              "ci_low": rate.ci_low, "ci_high": rate.ci_high, "control_rate": control.rate,
              "control_episodes": control.episodes, "excess_over_control": rule.excess_over_control}
    return DiagnosticStatus(level=level, name=f"robofail: rule {index}", hardware_id="robofail_ros",
                            message=rule.text or conditions,
                            values=[KeyValue(key=k, value=_text(v)) for k, v in values.items()])


def fit_status(analysis: SceneAnalysis | None, searched: int, fitting: bool) -> DiagnosticStatus:
    """The continuous analysis itself: how many episodes the last fit saw, and whether a refit is under way."""
    if analysis is None:
        message = f"{searched} searched episode(s); " + ("first fit running" if fitting else "no fit yet")
        return DiagnosticStatus(level=DiagnosticStatus.STALE, name="robofail: scene analysis",
                                hardware_id="robofail_ros", message=message)
    repeats = f", {analysis.repeated_episodes} repeat(s) counted once" if analysis.repeated_episodes else ""
    message = (f"fitted on {analysis.episodes} searched episodes ({analysis.failures} failed{repeats}): "
               f"{len(analysis.thresholds)} threshold(s), {len(analysis.rules)} rule(s)"
               + ("; refitting" if fitting else ""))
    values = [KeyValue(key="model", value=analysis.model)]
    level = DiagnosticStatus.OK
    if analysis.nominal_conflict:  # the fit extrapolates across the region around nominal: rqt shows it in yellow
        level, message = DiagnosticStatus.WARN, "model and control disagree at nominal; " + message
        values.append(KeyValue(key="model_vs_control", value=analysis.nominal_conflict))
    return DiagnosticStatus(level=level, name="robofail: scene analysis", hardware_id="robofail_ros",
                            message=message, values=values)


def top_pair_text(analysis: SceneAnalysis) -> str:
    """`~/sobol/top_pair`: the pair ranked first by S2 and whether it is claimed, else why there is none."""
    if analysis.pair_ranking:
        return analysis.pair_ranking[0].text()
    return "none: " + (analysis.sensitivity_note or "no Sobol indices (too few episodes or one-class outcomes)")


class SceneStatistics:
    """Publishers and the fitting thread of a continuous audit's analysis."""

    def __init__(self, node: Node, space: FactorSpace, searcher: str, fit_every: int) -> None:
        self.node, self.space, self.searcher, self.fit_every = node, space, searcher, fit_every
        self.analysis: SceneAnalysis | None = None
        self._fitted_on = 0
        self._running: Future | None = None
        self._lock = threading.Lock()
        self._fitter = ThreadPoolExecutor(max_workers=1, thread_name_prefix="scene_fit")
        pub = node.create_publisher
        labels = pub(String, "~/" + names.FACTOR_LABELS, LATCHED)
        labels.publish(String(data="\n".join(space.names)))
        self.threshold_pub = pub(Float64MultiArray, "~/" + names.THRESHOLDS, LATCHED)
        self.threshold_one = {n: pub(Float64, "~/" + names.THRESHOLD_ONE.format(name=n), LATCHED) for n in space.names}
        self.first_pub = pub(Float64MultiArray, "~/" + names.SOBOL_FIRST, LATCHED)
        self.total_pub = pub(Float64MultiArray, "~/" + names.SOBOL_TOTAL, LATCHED)
        self.total_lower_pub = pub(Float64MultiArray, "~/" + names.SOBOL_TOTAL_LOWER, LATCHED)
        self.total_one = {n: pub(Float64, "~/" + names.SOBOL_TOTAL_ONE.format(name=n), LATCHED) for n in space.names}
        self.top_pair_pub = pub(String, "~/" + names.SOBOL_TOP_PAIR, LATCHED)
        self.headline_pub = pub(Float64MultiArray, "~/" + names.P_FAILURE, LATCHED)
        self.headline_one = {e: pub(Float64, "~/" + names.SCENES_P_FAILURE_ONE.format(name=e), LATCHED)
                             for e in HEADLINE_ENTRIES}
        self.entropy_pub = pub(Float64, "~/" + names.ENTROPY, LATCHED)
        source = pub(String, "~/" + names.P_FAILURE_SOURCE, LATCHED)
        source.publish(String(data=f"{SOURCE_SCENES}: {SOURCE_SCENES_TEXT}"))
        self._headline_key: tuple | None = None

    @staticmethod
    def searched(records: Iterable[EpisodeRecord]) -> list[EpisodeRecord]:
        return [r for r in records if r.scene is not None]

    @property
    def fitting(self) -> bool:
        return self._running is not None and not self._running.done()

    def maybe_fit(self, records: Iterable[EpisodeRecord], policy_id: str, budget: int | None, seed: int,
                  final: bool = False, then: Callable[[SceneAnalysis, list[EpisodeRecord]], None] | None = None
                  ) -> bool:
        """Start a fit on the fitting thread if `fit_every` new searched episodes arrived (always when `final`).

        Called on the executor thread; returns at once. A final fit queues behind a running one, so the last
        published values are always those of the final log.
        """
        records = list(records)
        n = len(self.searched(records))
        with self._lock:
            due = final or (self.fit_every > 0 and not self.fitting and n - self._fitted_on >= self.fit_every)
            if not due or n == 0:
                return False
            self._fitted_on = n
            self._running = self._fitter.submit(self._fit, records, policy_id, budget, seed, then)
        return True

    def _fit(self, records: list[EpisodeRecord], policy_id: str, budget: int | None, seed: int,
             then: Callable[[SceneAnalysis, list[EpisodeRecord]], None] | None) -> None:
        from robofail_ros.continuous.analyse import analyse_scenes  # scikit-learn and SALib load on this thread

        try:
            analysis = analyse_scenes(records, self.space, policy_id, self.searcher, budget=budget, seed=seed)
        except Exception as exc:  # a failed fit must not end the node: say why; the next one may succeed
            self.node.get_logger().error(f"scene analysis failed on {len(records)} episodes: "
                                         f"{type(exc).__name__}: {exc}")
            return
        self.analysis = analysis
        self.publish(analysis)
        if then is not None:
            try:
                then(analysis, records)
            except Exception as exc:  # e.g. a report that cannot be written: said, not fatal
                self.node.get_logger().error(f"after the scene analysis: {type(exc).__name__}: {exc}")

    def publish(self, analysis: SceneAnalysis) -> None:
        thresholds = nearest_thresholds(analysis, self.space)
        self.threshold_pub.publish(factor_vector(thresholds))
        for name, value in zip(self.space.names, thresholds):
            self.threshold_one[name].publish(Float64(data=value))
        first, total, total_lower = sobol_vectors(analysis, self.space)
        self.first_pub.publish(factor_vector(first))
        self.total_pub.publish(factor_vector(total))
        self.total_lower_pub.publish(factor_vector(total_lower))
        for name, value in zip(self.space.names, total):
            self.total_one[name].publish(Float64(data=value))
        self.top_pair_pub.publish(String(data=top_pair_text(analysis)))

    def publish_headline(self, records: Iterable[EpisodeRecord]) -> SceneHeadline | None:
        """Publish the headline if an episode or a fit arrived since the last time (called on every tick)."""
        records = list(records)
        analysis = self.analysis
        key = (len(records), id(analysis))
        if key == self._headline_key:
            return None
        self._headline_key = key
        h = scene_headline(records, analysis, self.space)
        msg = Float64MultiArray(data=[float(v) for v in h.p_failure])
        msg.layout.dim = [MultiArrayDimension(label=f"{','.join(HEADLINE_ENTRIES)}; source={SOURCE_SCENES}",
                                              size=len(msg.data), stride=len(msg.data))]
        self.headline_pub.publish(msg)
        for entry, value in zip(HEADLINE_ENTRIES, h.p_failure):
            self.headline_one[entry].publish(Float64(data=float(value)))
        self.entropy_pub.publish(Float64(data=float(h.entropy)))
        return h

    def diagnostics(self, searched: int) -> list[DiagnosticStatus]:
        """The analysis' own status, then one row per failure rule of the latest fit."""
        analysis = self.analysis
        rows = [fit_status(analysis, searched, self.fitting)]
        if analysis is not None:
            rows += [rule_diagnostic(i, rule, analysis.control) for i, rule in enumerate(analysis.rules, start=1)]
        return rows

    def close(self) -> None:
        self._fitter.shutdown(wait=False, cancel_futures=True)
