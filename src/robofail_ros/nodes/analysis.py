"""Failure-analysis node: live P(failure|env), entropy and measured failure rates for RViz, rqt and monitors.

It recomputes the core analysis (`analyse`) from every episode outcome seen on the
graph plus those already in the audit log (so a restarted node publishes the same
statistics), and the adversary's latest π. Everything is published latched, so a
late RViz or rqt still sees the current values. When the adversary reports the
audit finished, it publishes the final statistics from the log; the report files are the adversary's (the
core's run_audit writes them, as headless, before it says "finished"), so there is one writer.

The headline `p_failure` / `entropy` moves after every episode under every searcher: it is π where the searcher
has one (PPO, after its first update; the paper's definition), and otherwise the failure distribution estimated
from the episodes (`stats.failure_distribution`), which `posterior/…` carries beside it in every case.
`p_failure_source`, the vector's layout label and a /diagnostics row name the source.

In both kinds of audit `failure_stages` counts the failed episodes by the furthest task stage they reached
(`failure_stages.py`: never grasped, grasped, lifted, …), and each perturbation's /diagnostics row says it too.

For a continuous audit (a continuous `searcher`, or `continuous: true`) it publishes instead what the core's
`analyse_scenes` concludes: thresholds, Sobol indices and failure rules (`nodes/scene_analysis.py`).
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from geometry_msgs.msg import Point
from rcl_interfaces.msg import ParameterDescriptor
from rclpy.node import Node
from std_msgs.msg import ColorRGBA, Float64, Float64MultiArray, MultiArrayDimension, String
from visualization_msgs.msg import Marker, MarkerArray

from robofail_ros import names
from robofail_ros.analysis import AuditAnalysis, RateEstimate, analyse
from robofail_ros.catalogue import load_catalogue
from robofail_ros.config import CONTINUOUS_SEARCHERS, AuditConfig
from robofail_ros.episode import EpisodeRecord
from robofail_ros.factors import load_factor_space
from robofail_ros.failure_stages import count_stages, describe, stage_order, total_failures
from robofail_ros.nodes.common import LATCHED, RELIABLE, audit_searcher, labelled_vector, run_node
from robofail_ros.obs_codec import record_from_strings
from robofail_ros.nodes.scene_analysis import SceneStatistics
from robofail_ros.record import LOG_NAME, load_log
from robofail_ros.stats import entropy_nats, failure_distribution

#: Measured failure rate above which a perturbation's diagnostic turns WARN, and ERROR.
WARN_RATE, ERROR_RATE = 0.2, 0.5

#: Sources of the headline P(failure | env), as `p_failure_source`, the layout label and /diagnostics name them.
SOURCE_PI = "pi"
"""The PPO adversary's π(a|o) on the unperturbed scene after its latest update (the paper's P_failure)."""
SOURCE_POSTERIOR = "beta_posterior"
"""Per perturbation the posterior mean (1 + k) / (2 + n) of Beta(1 + k, 1 + n - k), normalised to sum 1 over the
catalogue: where a failure comes from if every perturbation were tried equally often. n counts distinct experiments
and k their mean outcomes (`RateEstimate.experiments`, `failed_experiments`), so repeats are not new evidence."""
SOURCE_PI_TEXT = "the PPO adversary's pi(a|o) on the unperturbed scene, after its latest update"
SOURCE_POSTERIOR_TEXT = ("per perturbation the Beta(1+k, 1+n-k) posterior mean (k+1)/(n+2) of its single-perturbation "
                         "experiments (distinct initial states; aborted episodes excluded), normalised to sum 1")


@dataclass
class Headline:
    """P(failure | env) over the catalogue and its entropy, with where the numbers come from."""

    p_failure: list[float]
    entropy: float
    source: str
    posterior: list[float]
    posterior_entropy: float

    @property
    def text(self) -> str:
        """What `p_failure_source` says: the source's name first (machine-readable), then its definition."""
        what = SOURCE_PI_TEXT if self.source == SOURCE_PI else SOURCE_POSTERIOR_TEXT
        return f"{self.source}: {what}"


def headline(analysis: AuditAnalysis) -> Headline:
    """The headline from one analysis: π where it exists, else the episodes' failure distribution (always beside)."""
    posterior = failure_distribution([(e.failed_experiments, e.experiments) for e in analysis.perturbations])
    posterior_entropy = entropy_nats(posterior)
    if analysis.pi is not None:
        return Headline(list(analysis.pi), float(analysis.entropy_pi), SOURCE_PI, posterior, posterior_entropy)
    return Headline(posterior, posterior_entropy, SOURCE_POSTERIOR, posterior, posterior_entropy)


def sourced_vector(values, source: str) -> Float64MultiArray:
    """A catalogue-order vector whose layout label also names its source, so `ros2 topic echo` shows it."""
    msg = labelled_vector(values)
    msg.layout.dim[0].label = f"perturbation; source={source}"
    return msg


def headline_diagnostic(h: Headline, analysis: AuditAnalysis) -> DiagnosticStatus:
    """One rqt_robot_monitor row for the headline itself: its source, entropy and top perturbation."""
    top = max(range(len(h.p_failure)), key=lambda i: h.p_failure[i]) if h.p_failure else None
    message = (f"source {h.source}; entropy {h.entropy:.3f} nats" +
               (f"; top {analysis.perturbations[top].name} {h.p_failure[top]:.3f}" if top is not None else ""))
    values = {"source": h.text, "entropy": h.entropy, "posterior_entropy": h.posterior_entropy,
              "episodes": analysis.total_episodes, "aborted": analysis.aborted_episodes}
    return DiagnosticStatus(
        level=DiagnosticStatus.OK, name="robofail: P(failure | env)", hardware_id="robofail_ros", message=message,
        values=[KeyValue(key=k, value=f"{v:.4f}" if isinstance(v, float) else str(v)) for k, v in values.items()])


def diagnostic_for(estimate: RateEstimate, control: RateEstimate, p_failure: float | None = None,
                   posterior: float | None = None, failed_at: str = "") -> DiagnosticStatus:
    """One rqt_robot_monitor row: OK / WARN / ERROR by measured rate, with the evidence as key/values
    (`p_failure`: the headline's entry, `posterior`: the episodes' failure distribution's entry, `failed_at`: its
    failures by the furthest task stage reached)."""
    if estimate.rate is None:
        level, message = DiagnosticStatus.STALE, "not measured yet"
    else:
        level = (DiagnosticStatus.ERROR if estimate.rate >= ERROR_RATE else
                 DiagnosticStatus.WARN if estimate.rate >= WARN_RATE else DiagnosticStatus.OK)
        message = (f"{estimate.count_text()} failed: {estimate.rate:.0%} "
                   f"[{estimate.ci_low:.0%}, {estimate.ci_high:.0%}]")
    values = {"group": estimate.group, "episodes": estimate.episodes, "failures": estimate.failures,
              "experiments": estimate.experiments, "failed_experiments": estimate.failed_experiments,
              "rate": estimate.rate, "ci_low": estimate.ci_low, "ci_high": estimate.ci_high,
              "p_failure": p_failure, "p_failure_posterior": posterior, "p_failure_pi": estimate.p_failure_pi,
              "rank": estimate.rank,
              "control_rate": control.rate, "excess_over_control": estimate.excess_over_control,
              "failed_at": failed_at}
    return DiagnosticStatus(level=level, name=f"robofail: {estimate.name}", hardware_id="robofail_ros", message=message,
                            values=[KeyValue(key=k, value="" if v is None else f"{v:.4f}" if isinstance(v, float) else str(v))
                                    for k, v in values.items()])


def bar_markers(analysis: AuditAnalysis, frame_id: str = "world", spacing: float = 0.12,
                height: float = 1.0) -> MarkerArray:
    """A bar chart for RViz: one bar per perturbation (height = measured rate), labels, π as thin bars."""
    markers = []
    for i, e in enumerate(analysis.perturbations):
        x = i * spacing
        rate = e.rate or 0.0
        bar = Marker(ns="measured_rate", id=i, type=Marker.CUBE, action=Marker.ADD)
        bar.header.frame_id = frame_id
        bar.pose.position.x, bar.pose.position.z = x, max(rate * height, 0.002) / 2
        bar.pose.orientation.w = 1.0
        bar.scale.x, bar.scale.y, bar.scale.z = spacing * 0.6, spacing * 0.6, max(rate * height, 0.002)
        bar.color = ColorRGBA(r=0.8, g=0.2 + 0.6 * (1 - rate), b=0.2, a=0.9 if e.rate is not None else 0.3)
        label = Marker(ns="labels", id=i, type=Marker.TEXT_VIEW_FACING, action=Marker.ADD)
        label.header.frame_id = frame_id
        label.pose.position.x, label.pose.position.z = x, max(rate * height, 0.0) + 0.05
        label.pose.orientation.w = 1.0
        label.scale.z = 0.03
        label.color = ColorRGBA(r=1.0, g=1.0, b=1.0, a=1.0)
        label.text = f"{e.name}\n{'-' if e.rate is None else f'{e.rate:.0%} ({e.count_text()})'}"
        markers += [bar, label]
        if e.p_failure_pi is not None:
            pi = Marker(ns="p_failure_pi", id=i, type=Marker.LINE_LIST, action=Marker.ADD)
            pi.header.frame_id = frame_id
            pi.pose.orientation.w = 1.0
            pi.scale.x = 0.01
            pi.color = ColorRGBA(r=0.6, g=0.3, b=0.9, a=1.0)
            pi.points = [Point(x=x + spacing * 0.35, z=0.0), Point(x=x + spacing * 0.35, z=e.p_failure_pi * height)]
            markers.append(pi)
    return MarkerArray(markers=markers)


def logged_budget(header: dict | None) -> int | None:
    """The searched-episode budget an audit log's header records, so the report states it beside every number."""
    if not header or "config" not in header:
        return None
    episodes = header["config"].get("episodes")
    return int(episodes) if isinstance(episodes, int) and not isinstance(episodes, bool) else None


def logged_seed(header: dict | None) -> int:
    """The audit seed an audit log's header records (0 before it is written): a continuous fit is seeded by it,
    so the node publishes what `robofail report` computes from the same log."""
    seed = (header or {}).get("config", {}).get("seed")
    return int(seed) if isinstance(seed, int) and not isinstance(seed, bool) else 0


class AnalysisNode(Node):
    def __init__(self) -> None:
        super().__init__(names.ANALYSIS, namespace=names.NAMESPACE)
        self.declare_parameter("task", "Lift", ParameterDescriptor(description="task whose catalogue to analyse", read_only=True))
        self.declare_parameter("out_dir", "audits/ros", ParameterDescriptor(
            description="audit folder: its log is read at start, the report is written there", read_only=True))
        self.declare_parameter("searcher", AuditConfig().searcher, ParameterDescriptor(description="searcher name for the report", read_only=True))
        self.declare_parameter("continuous", False, ParameterDescriptor(
            description="a continuous audit (as the adversary's parameter): a catalogue searcher becomes the "
                        "continuous default", read_only=True))
        self.declare_parameter("publish_rate", 2.0, ParameterDescriptor(description="Hz of statistics updates"))
        self.declare_parameter("fit_every", 64, ParameterDescriptor(
            description="continuous audits: refit P(failure | scene) after this many new searched episodes "
                        "(0 = only at the end); a fit takes seconds and runs beside the executor", read_only=True))
        self.catalogue = load_catalogue(self.get_parameter("task").value)
        self.out_dir = Path(self.get_parameter("out_dir").value)
        self.searcher = audit_searcher(self.get_parameter("searcher").value, self.get_parameter("continuous").value)
        self.records: dict[str, EpisodeRecord] = {}
        self.pi: list[float] | None = None
        loaded = load_log(self.out_dir / LOG_NAME)
        self.budget: int | None = logged_budget(loaded.header)
        self.seed = logged_seed(loaded.header)
        for r in loaded.episodes:
            self.records[r.episode_id] = r
        snapshots = [s for s in loaded.snapshots if "pi" in s]
        if snapshots:
            self.pi = list(snapshots[-1]["pi"])
        self.analysis: AuditAnalysis | None = None
        self.headline: Headline | None = None
        self._dirty = True
        self.diag_pub = self.create_publisher(DiagnosticArray, names.DIAGNOSTICS, 10)
        self.stages_pub = self.create_publisher(Float64MultiArray, "~/" + names.FAILURE_STAGES, LATCHED)
        self.stage_order: list[str] = []
        self.failures_by_stage: dict[str, Counter] = {}
        self._stages_of = -1  # how many records the published stage counts are of
        self.scenes: SceneStatistics | None = None
        if self.searcher in CONTINUOUS_SEARCHERS:
            fit_every = int(self.get_parameter("fit_every").value)
            if fit_every < 0:
                raise ValueError(f"fit_every must be 0 (only at the end) or positive, got {fit_every}")
            self.scenes = SceneStatistics(self, load_factor_space(self.catalogue.source), self.searcher, fit_every)
        else:
            self._catalogue_publishers()
        self._outcome_topics: set[str] = set()
        self._discover_outcomes()
        self.create_timer(1.0, self._discover_outcomes)  # workers (/robofail/worker_<k>) may join at any time
        if self.scenes is None:  # π is over the catalogue
            self.create_subscription(Float64MultiArray, names.node_topic(names.ADVERSARY, names.PI), self._on_pi,
                                     LATCHED)
        self.create_subscription(String, names.node_topic(names.ADVERSARY, names.AUDIT_STATE), self._on_state, LATCHED)
        self.create_timer(1.0 / float(self.get_parameter("publish_rate").value), self.publish)
        mode = f"the scene space of {self.catalogue.task}" if self.scenes else f"{self.catalogue.task}'s catalogue"
        self.get_logger().info(f"analysing {mode} ({self.searcher}): {len(self.records)} episode(s) from "
                               f"{self.out_dir / LOG_NAME}")

    def _catalogue_publishers(self) -> None:
        names_ = self.catalogue.names
        pub = self.create_publisher
        self.p_failure_pub = pub(Float64MultiArray, "~/" + names.P_FAILURE, LATCHED)
        self.p_failure_one = {n: pub(Float64, "~/" + names.P_FAILURE_ONE.format(name=n), LATCHED) for n in names_}
        self.entropy_pub = pub(Float64, "~/" + names.ENTROPY, LATCHED)
        self.source_pub = pub(String, "~/" + names.P_FAILURE_SOURCE, LATCHED)
        self.posterior_pub = pub(Float64MultiArray, "~/" + names.POSTERIOR_P_FAILURE, LATCHED)
        self.posterior_one = {n: pub(Float64, "~/" + names.POSTERIOR_P_FAILURE_ONE.format(name=n), LATCHED)
                              for n in names_}
        self.posterior_entropy_pub = pub(Float64, "~/" + names.POSTERIOR_ENTROPY, LATCHED)
        self.rate_pub = pub(Float64MultiArray, "~/" + names.FAILURE_RATE, LATCHED)
        self.rate_one = {n: pub(Float64, "~/" + names.FAILURE_RATE_ONE.format(name=n), LATCHED) for n in names_}
        self.marker_pub = self.create_publisher(MarkerArray, "~/" + names.MARKERS, LATCHED)
        labels = self.create_publisher(String, "~/" + names.LABELS, LATCHED)
        labels.publish(String(data="\n".join(names_)))

    def _discover_outcomes(self) -> None:
        """Subscribe to the episode outcomes of every simulator under /robofail, the default one included."""
        topics = {names.node_topic(names.SIMULATOR, names.EPISODE_OUTCOME)}
        suffix = f"/{names.SIMULATOR}/{names.EPISODE_OUTCOME}"
        topics |= {t for t, _ in self.get_topic_names_and_types()
                   if t.startswith(names.NAMESPACE + "/") and t.endswith(suffix)}
        for topic in sorted(topics - self._outcome_topics):
            self.create_subscription(DiagnosticStatus, topic, self._on_outcome, RELIABLE)
            self._outcome_topics.add(topic)

    def _on_outcome(self, msg: DiagnosticStatus) -> None:
        try:
            record = EpisodeRecord.from_json(record_from_strings({kv.key: kv.value for kv in msg.values}))
        except (ValueError, TypeError) as exc:
            self.get_logger().error(f"malformed episode outcome ignored: {exc}")
            return
        if record.episode_id not in self.records:
            self.records[record.episode_id] = record
            self._dirty = True

    def _on_pi(self, msg: Float64MultiArray) -> None:
        if len(msg.data) != len(self.catalogue):
            self.get_logger().error(f"π with {len(msg.data)} entries ignored; the catalogue has {len(self.catalogue)}")
            return
        self.pi = list(msg.data)
        self._dirty = True

    def _on_state(self, msg: String) -> None:
        if msg.data != "finished":
            return
        self._reload_log()
        if self.scenes is not None:  # the final fit, on the fitting thread
            self.scenes.maybe_fit(self.records.values(), _policy_id(self.records), self.budget, self.seed,
                                  final=True)
            return
        self.publish()

    def _reload_log(self) -> None:
        """At the end the log is the record of truth: the statistics become exactly the logged episodes.

        Live outcomes may include an episode whose adversary was killed before logging it (it is run
        again under the same id, or not at all); a restarted analysis node reads only the log, so
        ending on the log is what makes statistics before and after a restart equal.
        """
        loaded = load_log(self.out_dir / LOG_NAME)
        self.records = {r.episode_id: r for r in loaded.episodes}
        self.budget, self.seed = logged_budget(loaded.header) or self.budget, logged_seed(loaded.header)
        snapshots = [snap for snap in loaded.snapshots if "pi" in snap]
        if snapshots:
            self.pi = list(snapshots[-1]["pi"])
        self._dirty = True

    def publish(self) -> None:
        """Timer: recompute if something changed; /diagnostics goes out every tick, as monitors expect."""
        self._publish_stages()
        if self.scenes is not None:
            self._publish_scenes()
            return
        if self._dirty:
            self._dirty = False
            if self.budget is None:  # the adversary writes the header when its audit starts, maybe after us
                self.budget = logged_budget(load_log(self.out_dir / LOG_NAME).header)
            self.analysis = analyse(self.records.values(), self.catalogue, _policy_id(self.records),
                                    self.get_parameter("searcher").value, pi=self.pi, budget=self.budget)
            self.headline = headline(self.analysis)
            self._publish_statistics(self.analysis, self.headline)
        if self.analysis is not None:
            a, h = self.analysis, self.headline
            diag = DiagnosticArray(status=[headline_diagnostic(h, a)] + [
                diagnostic_for(e, a.control, h.p_failure[i], h.posterior[i],
                               describe(self.failures_by_stage.get(e.name, Counter()), self.stage_order))
                for i, e in enumerate(a.perturbations)])
            diag.header.stamp = self.get_clock().now().to_msg()
            self.diag_pub.publish(diag)

    def _publish_stages(self) -> None:
        """`failure_stages`: the audit's failures by the furthest task stage reached, again whenever episodes arrive."""
        if len(self.records) == self._stages_of:
            return
        self._stages_of = len(self.records)
        counts = count_stages(list(self.records.values()))
        self.failures_by_stage = {c.label: c.failures for c in counts}
        self.stage_order = stage_order(self.catalogue.task, counts)
        total = total_failures(counts)
        msg = Float64MultiArray(data=[float(total[s]) for s in self.stage_order])
        msg.layout.dim = [MultiArrayDimension(label="furthest stage: " + "|".join(self.stage_order),
                                              size=len(msg.data), stride=len(msg.data))]
        self.stages_pub.publish(msg)

    def _publish_scenes(self) -> None:
        """Start a refit when enough new episodes arrived (it publishes when done); the status goes out every tick."""
        if self._dirty:
            if self.budget is None:
                header = load_log(self.out_dir / LOG_NAME).header
                self.budget, self.seed = logged_budget(header), logged_seed(header)
            if self.scenes.maybe_fit(self.records.values(), _policy_id(self.records), self.budget, self.seed):
                self._dirty = False
        self.scenes.publish_headline(self.records.values())
        diag = DiagnosticArray(status=self.scenes.diagnostics(len(SceneStatistics.searched(self.records.values()))))
        diag.header.stamp = self.get_clock().now().to_msg()
        self.diag_pub.publish(diag)

    def _publish_statistics(self, a: AuditAnalysis, h: Headline) -> None:
        self.source_pub.publish(String(data=h.text))
        self.p_failure_pub.publish(sourced_vector(h.p_failure, h.source))
        self.entropy_pub.publish(Float64(data=float(h.entropy)))
        self.posterior_pub.publish(sourced_vector(h.posterior, SOURCE_POSTERIOR))
        self.posterior_entropy_pub.publish(Float64(data=float(h.posterior_entropy)))
        for e, value, posterior in zip(a.perturbations, h.p_failure, h.posterior):
            self.p_failure_one[e.name].publish(Float64(data=float(value)))
            self.posterior_one[e.name].publish(Float64(data=float(posterior)))
        self.rate_pub.publish(labelled_vector([e.rate if e.rate is not None else float("nan") for e in a.perturbations]))
        for e in a.perturbations:
            if e.rate is not None:
                self.rate_one[e.name].publish(Float64(data=float(e.rate)))
        self.marker_pub.publish(bar_markers(a))

    def close(self) -> None:
        if self.scenes is not None:
            self.scenes.close()


def _policy_id(records: dict[str, EpisodeRecord]) -> str:
    return next((r.policy_id for r in records.values() if r.policy_id), "policy")


def main(args: list[str] | None = None) -> None:
    run_node(AnalysisNode, args)


if __name__ == "__main__":
    main()
