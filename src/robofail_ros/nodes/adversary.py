"""Adversary node: runs the core audit (PPO by default; bandit, uniform) with episodes run through the graph.

Each adversary step: apply the chosen perturbations through the perturbation
services → set the simulator's episode seed and id → trigger an episode → take its
outcome → reward. The searchers, the log, the resume logic and the analysis are the
core's (`run_audit`); this node only supplies an environment whose episodes are
remote (`GraphAdversaryEnv`) and publishes progress.
"""
from __future__ import annotations

import threading
import time
import traceback
from pathlib import Path

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from rcl_interfaces.msg import ParameterDescriptor
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.parameter_client import AsyncParameterClient
from sensor_msgs.msg import Image
from std_msgs.msg import Float64MultiArray, Int64, String
from std_srvs.srv import Trigger
from stable_baselines3.common.vec_env import DummyVecEnv

from robofail_ros import names
from robofail_ros.adversary_env import AdversaryEnvBase, EpisodeJob
from robofail_ros.audit import run_audit
from robofail_ros.catalogue import load_catalogue
from robofail_ros.config import SEARCHERS, AuditConfig, PPOConfig
from robofail_ros.episode import FAILURE, EpisodeRecord
from robofail_ros.nodes.common import LATCHED, RELIABLE, image_array, labelled_vector, run_node, wait_for
from robofail_ros.obs_codec import record_from_strings
from robofail_ros.sim import SimConfig


class GraphError(RuntimeError):
    """A node the adversary depends on did not answer."""


class GraphAdversaryEnv(AdversaryEnvBase):
    """The paper's MDP with its episodes run by simulator + policy nodes instead of a local simulation."""

    def __init__(self, node: "AdversaryNode", config: AuditConfig, names_: list[str],
                 completed: list[EpisodeRecord] | None = None, run_tag: str = "r0") -> None:
        super().__init__(config, names_, 0, 1, completed, run_tag)
        self.node = node
        self.policy_id = config.policy

    # -- graph calls -------------------------------------------------------------------------
    def _trigger(self, service: str, timeout: float = 30.0) -> str:
        client = self.node.trigger_client(service)
        if not client.wait_for_service(timeout_sec=timeout):
            raise GraphError(f"service {service} not available")
        future = client.call_async(Trigger.Request())
        if not wait_for(future, timeout):
            raise GraphError(f"service {service} did not answer within {timeout:.0f} s")
        response = future.result()
        if not response.success:
            raise GraphError(f"{service}: {response.message}")
        return response.message

    def _set_scene(self, perturbations: tuple[str, ...] | list[str], seed: int, episode_id: str = "") -> None:
        self._trigger(names.node_topic(names.PERTURBATION, names.CLEAR))
        for name in perturbations:
            self._trigger(names.node_topic(names.PERTURBATION, names.APPLY, name=name))
        future = self.node.sim_params.set_parameters([
            Parameter("episode_seed", Parameter.Type.INTEGER, int(seed)),
            Parameter("episode_id", Parameter.Type.STRING, episode_id)])
        if not wait_for(future, 30.0):
            raise GraphError("the simulator did not accept episode parameters within 30 s")

    def _retrying(self, what: str, attempt_once):
        """Run `attempt_once`, retrying with a bounded exponential back-off while the graph is broken.

        A simulator that dies and is restarted costs the episode in flight (it was never recorded,
        so it is simply run again under the same id) and nothing else.
        """
        delay, tries = self.node.retry_initial, self.node.max_retries
        for attempt in range(1, tries + 1):
            try:
                result = attempt_once()
            except GraphError as exc:
                if attempt == tries:
                    self.node.report_trouble(f"gave up on {what} after {tries} tries: {exc}", fatal=True)
                    raise
                self.node.report_trouble(f"{what}: {exc}; retry {attempt}/{tries - 1} in {delay:.0f} s")
                time.sleep(delay)
                delay = min(2 * delay, self.node.retry_max)
            else:
                if attempt > 1:
                    self.node.report_recovered(f"{what} succeeded after {attempt} tries")
                return result

    def execute(self, job: EpisodeJob) -> EpisodeRecord:
        return self._retrying(f"episode {job.episode_id}", lambda: self._execute_once(job))

    def _execute_once(self, job: EpisodeJob) -> EpisodeRecord:
        action_topic = names.node_topic(names.POLICY, names.ACTION)
        if self.node.count_publishers(action_topic) == 0:
            raise GraphError(f"no policy node publishes {action_topic}")
        self._set_scene(job.perturbations, job.seed, job.episode_id)
        waiter = self.node.expect_outcome(job.episode_id)
        self._trigger(names.node_topic(names.SIMULATOR, names.RUN_EPISODE))
        deadline = time.monotonic() + self.node.episode_timeout
        run_service = self.node.trigger_client(names.node_topic(names.SIMULATOR, names.RUN_EPISODE))
        while (outcome := waiter.wait(0.5)) is None:
            if not run_service.service_is_ready():
                raise GraphError(f"the simulator went away during episode {job.episode_id}")
            if time.monotonic() > deadline:
                raise GraphError(f"no outcome for episode {job.episode_id} within {self.node.episode_timeout:.0f} s")
        return outcome

    def observe(self, stack) -> np.ndarray:
        return self._retrying("observing the scene", lambda: self._observe_once(stack))

    def _observe_once(self, stack) -> np.ndarray:
        self._set_scene(list(stack), self.observation_seed)
        stamp = self._trigger(names.node_topic(names.SIMULATOR, names.RENDER_VIEW))
        frame = self.node.wait_view(stamp, 30.0)
        if frame is None:
            raise GraphError(f"adversary view {stamp} never arrived")
        return np.ascontiguousarray(frame.transpose(2, 0, 1))


class _OutcomeWaiter:
    def __init__(self) -> None:
        self.event = threading.Event()
        self.record: EpisodeRecord | None = None

    def wait(self, timeout: float) -> EpisodeRecord | None:
        self.event.wait(timeout)
        return self.record


class AdversaryNode(Node):
    def __init__(self) -> None:
        super().__init__(names.ADVERSARY, namespace=names.NAMESPACE)
        defaults = AuditConfig()
        d = self.declare_parameter
        ro = lambda text: ParameterDescriptor(description=text, read_only=True)  # noqa: E731
        d("task", defaults.sim.task, ro("robosuite task; must match the simulator's"))
        d("horizon", 0, ro("episode horizon; must match the simulator's (0 = task default)"))
        d("image_size", defaults.sim.image_size, ro("adversary observation size; must match the simulator's"))
        d("policy", defaults.policy, ro("policy spec the policy node runs (recorded with the audit)"))
        d("searcher", defaults.searcher, ro(f"one of {', '.join(SEARCHERS)}"))
        d("episodes", defaults.episodes, ro("searcher episode budget"))
        d("control_episodes", defaults.control_episodes, ro("unperturbed episodes (= initial-state pool)"))
        d("seed", defaults.seed, ro("audit seed"))
        d("max_depth", 0, ro("perturbations stacked per adversary episode (0 = searcher default)"))
        d("n_steps", defaults.ppo.n_steps, ro("PPO episodes per update"))
        d("out_dir", "audits/ros", ro("audit folder (episodes.jsonl; resumed if it exists)"))
        d("overwrite", False, ro("discard an existing audit in out_dir"))
        d("autostart", True, ro("start the audit at once; else call ~/start"))
        d("episode_timeout", 300.0, ParameterDescriptor(description="seconds to wait for one episode's outcome"))
        d("max_retries", 8, ParameterDescriptor(description="tries per episode while the simulator is unreachable"))
        d("retry_initial", 1.0, ParameterDescriptor(description="first back-off in seconds (doubles per retry)"))
        d("retry_max", 30.0, ParameterDescriptor(description="longest back-off in seconds"))
        p = lambda n: self.get_parameter(n).value  # noqa: E731
        self.config = AuditConfig(
            sim=SimConfig(task=p("task"), horizon=p("horizon"), image_size=p("image_size")),
            policy=p("policy"), searcher=p("searcher"), episodes=p("episodes"),
            control_episodes=p("control_episodes"), seed=p("seed"), workers=1, max_depth=p("max_depth"),
            ppo=PPOConfig(n_steps=p("n_steps")))
        self.out_dir = Path(p("out_dir"))
        self.episode_timeout = float(p("episode_timeout"))
        self.max_retries = max(1, int(p("max_retries")))
        self.retry_initial, self.retry_max = float(p("retry_initial")), float(p("retry_max"))
        self.catalogue = load_catalogue(self.config.sim.task)
        self.sim_params = AsyncParameterClient(self, names.node_topic(names.SIMULATOR, "").rstrip("/"))
        # Clients are made here, on the executor's thread, not lazily from the audit thread.
        services = [names.node_topic(names.PERTURBATION, names.CLEAR),
                    names.node_topic(names.SIMULATOR, names.RUN_EPISODE),
                    names.node_topic(names.SIMULATOR, names.RENDER_VIEW)]
        services += [names.node_topic(names.PERTURBATION, names.APPLY, name=n) for n in self.catalogue.names]
        self._trigger_clients = {s: self.create_client(Trigger, s) for s in services}
        self._waiters: dict[str, _OutcomeWaiter] = {}
        self._views: dict[str, np.ndarray] = {}
        self._view_event = threading.Condition()
        self._failures = 0
        self.done_pub = self.create_publisher(Int64, "~/" + names.EPISODES_DONE, LATCHED)
        self.fail_pub = self.create_publisher(Int64, "~/" + names.FAILURES, LATCHED)
        self.pi_pub = self.create_publisher(Float64MultiArray, "~/" + names.PI, LATCHED)
        self.state_pub = self.create_publisher(String, "~/" + names.AUDIT_STATE, LATCHED)
        self.diag_pub = self.create_publisher(DiagnosticArray, names.DIAGNOSTICS, 10)
        self.create_subscription(DiagnosticStatus, names.node_topic(names.SIMULATOR, names.EPISODE_OUTCOME),
                                 self._on_outcome, RELIABLE)
        self.create_subscription(Image, names.node_topic(names.SIMULATOR, names.ADVERSARY_VIEW), self._on_view, RELIABLE)
        self.create_service(Trigger, "~/start", self._start)
        self._thread: threading.Thread | None = None
        self._publish_state("idle")
        if p("autostart"):
            self.create_timer(0.5, self._autostart)
        self._autostarted = False

    # -- plumbing used by GraphAdversaryEnv ---------------------------------------------------
    def trigger_client(self, service: str):
        return self._trigger_clients[service]

    def expect_outcome(self, episode_id: str) -> _OutcomeWaiter:
        waiter = _OutcomeWaiter()
        self._waiters[episode_id] = waiter
        return waiter

    def _on_outcome(self, msg: DiagnosticStatus) -> None:
        values = {kv.key: kv.value for kv in msg.values}
        waiter = self._waiters.pop(values.get("episode_id", ""), None)
        if waiter is None:
            return  # an episode someone ran by hand: the analysis node counts it, the audit does not
        try:
            waiter.record = EpisodeRecord.from_json(record_from_strings(values))
        except (ValueError, TypeError) as exc:
            self.get_logger().error(f"malformed episode outcome ignored: {exc}")
        waiter.event.set()

    def _on_view(self, msg: Image) -> None:
        with self._view_event:
            self._views = {f"{msg.header.stamp.sec}.{msg.header.stamp.nanosec:09d}": image_array(msg)}
            self._view_event.notify_all()

    def wait_view(self, stamp: str, timeout: float) -> np.ndarray | None:
        with self._view_event:
            self._view_event.wait_for(lambda: stamp in self._views, timeout)
            return self._views.get(stamp)

    def report_trouble(self, message: str, fatal: bool = False) -> None:
        """Say on the log and on /diagnostics (rqt_robot_monitor) that the graph is broken."""
        if fatal:
            self.get_logger().error(message)
        else:
            self.get_logger().warning(message)
        self._diagnose(DiagnosticStatus.ERROR if fatal else DiagnosticStatus.WARN, message)

    def report_recovered(self, message: str) -> None:
        self.get_logger().info(message)
        self._diagnose(DiagnosticStatus.OK, message)

    def _diagnose(self, level, message: str) -> None:
        status = DiagnosticStatus(level=level, name="robofail: adversary", hardware_id="robofail_ros", message=message)
        array = DiagnosticArray(status=[status])
        array.header.stamp = self.get_clock().now().to_msg()
        self.diag_pub.publish(array)

    # -- the audit ------------------------------------------------------------------------------
    def _publish_state(self, state: str) -> None:
        self.state_pub.publish(String(data=state))

    def _autostart(self) -> None:
        if not self._autostarted:
            self._autostarted = True
            self._begin()

    def _start(self, request, response):
        response.success = self._begin()
        response.message = f"audit running into {self.out_dir}" if response.success else "an audit is already running"
        return response

    def _begin(self) -> bool:
        if self._thread is not None and self._thread.is_alive():
            return False
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return True

    def _make_env(self, config: AuditConfig, completed: list[EpisodeRecord], run_tag: str):
        # As with local workers: only PPO steps re-use logged episodes (the others skip finished jobs by id).
        reusable = [r for r in completed if r.searcher == "ppo" and r.worker == "w0"]
        self._failures = sum(r.outcome == FAILURE for r in completed)
        return DummyVecEnv([lambda: GraphAdversaryEnv(self, config, self.catalogue.names, reusable, run_tag)])

    def _on_record(self, record: EpisodeRecord, done: int, total: int) -> None:
        self._failures += record.outcome == FAILURE
        self.done_pub.publish(Int64(data=done))
        self.fail_pub.publish(Int64(data=self._failures))

    def _on_snapshot(self, data: dict) -> None:
        if "pi" in data:
            self.pi_pub.publish(labelled_vector(data["pi"]))

    def _wait_for_graph(self) -> None:
        """Wait (and say so) until the simulator and the perturbation services are discoverable."""
        needed = list(self._trigger_clients.values())
        delay = self.retry_initial
        while not (self.sim_params.services_are_ready() and all(c.service_is_ready() for c in needed)):
            missing = [c.srv_name for c in needed if not c.service_is_ready()]
            if not self.sim_params.services_are_ready():
                missing.insert(0, names.node_topic(names.SIMULATOR, "").rstrip("/") + " parameters")
            self.report_trouble(f"waiting for {', '.join(missing[:3])}{' …' if len(missing) > 3 else ''}")
            time.sleep(delay)
            delay = min(2 * delay, self.retry_max)
        self.report_recovered("simulator and perturbation services available")

    def _run(self) -> None:
        self._publish_state("running")
        started = time.time()
        try:
            self._wait_for_graph()
            result = run_audit(self.config, self.out_dir, overwrite=self.get_parameter("overwrite").value,
                               on_record=self._on_record, film=False, make_env=self._make_env,
                               on_snapshot=self._on_snapshot, write_files=False)
        except Exception as exc:  # reported on the graph; every finished episode is already in the log
            self.get_logger().error(f"audit stopped: {type(exc).__name__}: {exc}\n{traceback.format_exc()}")
            self._publish_state(f"error: {exc}")
            return
        if result.analysis.pi is not None:
            self.pi_pub.publish(labelled_vector(result.analysis.pi))
        self.get_logger().info(f"audit finished: {len(result.records)} episodes in {time.time() - started:.0f} s "
                               f"→ {self.out_dir}")
        self._publish_state("finished")


def main(args: list[str] | None = None) -> None:
    run_node(AdversaryNode, args)


if __name__ == "__main__":
    main()
