"""Adversary node: runs the core audit (any searcher, catalogue or continuous) with episodes run through the graph.

Each episode: apply the chosen perturbations through the perturbation services → set the simulator's
episode seed, id and every factor parameter (the scene; nominal for a catalogue episode) in one atomic call
→ trigger an episode → take its outcome → reward. The searchers, the log, the resume logic and the analysis
are the core's (`run_audit`); this node only supplies an environment whose episodes are remote
(`GraphAdversaryEnv`) and publishes progress.
"""
from __future__ import annotations

import functools
import threading
import time
import traceback
from pathlib import Path
from typing import Mapping

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from rcl_interfaces.msg import ParameterDescriptor
from rclpy.node import Node
from rclpy.parameter import Parameter
from std_msgs.msg import Float64MultiArray, Int64, String
from std_srvs.srv import Trigger

from robofail_ros import names
from robofail_ros.adversary_env import AdversaryEnvBase, EpisodeJob
from robofail_ros.audit import run_audit
from robofail_ros.catalogue import load_catalogue
from robofail_ros.config import (
    CONTINUOUS_SEARCHERS, DEFAULT_CONTINUOUS_SEARCHER, SEARCHERS, STEPPING_SEARCHERS, AuditConfig, PPOConfig,
)
from robofail_ros.episode import FAILURE, EpisodeRecord
from robofail_ros.factors import FactorSpace, load_factor_space, optional_factor_space
from robofail_ros.nodes.common import LATCHED, audit_searcher, labelled_vector, run_node, wait_for
from robofail_ros.nodes.worker_pool import GraphError, RemoteWorker, WorkerPool
from robofail_ros.workers import ThreadedVecEnv
from robofail_ros.sim import SimConfig


class GraphAdversaryEnv(AdversaryEnvBase):
    """The paper's MDP with its episodes run by worker trios on the graph instead of a local simulation.

    Each step borrows an idle worker from the pool; several of these environments in a
    ThreadedVecEnv keep several workers busy at once.
    """

    def __init__(self, node: "AdversaryNode", config: AuditConfig, names_: list[str], index: int = 0,
                 n_envs: int = 1, completed: list[EpisodeRecord] | None = None, run_tag: str = "r0") -> None:
        super().__init__(config, names_, index, n_envs, completed, run_tag, node.space)
        self.node = node
        self.pool: WorkerPool = node.pool
        self.policy_id = config.policy
        #: Every factor the simulators have as a parameter (None: the task has none). Not `self.space`, which
        #: the base class sets only when the action is a scene (ppo_box).
        self.factor_space: FactorSpace | None = node.space

    # -- one try on one worker -----------------------------------------------------------------
    def _set_scene(self, w: RemoteWorker, perturbations, seed: int, episode_id: str = "",
                   scene: Mapping[str, float] | None = None) -> None:
        """Apply perturbations through the worker's perturbation services, then seed, name and set the scene.

        Seed, id and every factor parameter go in one atomic call: the simulator re-shows its scene once, and an
        episode can never start with half a scene. Factors the scene leaves out (all, for a catalogue episode)
        are set to nominal, so a slider moved by hand cannot leak into the audit.
        """
        w.trigger(names.PERTURBATION, names.CLEAR)
        for name in perturbations:
            w.trigger(names.PERTURBATION, names.APPLY, name=name)
        space = self.factor_space
        factors = [] if space is None else [Parameter(names.factor_parameter(n), Parameter.Type.DOUBLE, float(v))
                                            for n, v in zip(space.names, space.vector(scene))]
        future = w.params.set_parameters_atomically([
            Parameter("episode_seed", Parameter.Type.INTEGER, int(seed)),
            Parameter("episode_id", Parameter.Type.STRING, episode_id), *factors])
        if not wait_for(future, 30.0):
            raise GraphError(f"{w.label}: the simulator did not accept episode parameters within 30 s")
        result = future.result().result
        if not result.successful:
            raise GraphError(f"{w.label}: the simulator refused the episode parameters: {result.reason}")

    def _check_scene(self, w: RemoteWorker, job: EpisodeJob, record: EpisodeRecord) -> None:
        """The simulator must have run the job's scene (it records the full vector, or None when all nominal)."""
        space = self.factor_space
        if space is None:
            return
        wanted, ran = space.vector(job.scene), space.vector(record.scene)
        if not np.array_equal(wanted, ran):
            moved = [n for n, a, b in zip(space.names, wanted, ran) if a != b]
            raise GraphError(f"{w.label}: episode {job.episode_id} ran another scene than asked "
                             f"(differs in {', '.join(moved)}); were factor parameters set by hand meanwhile?")

    def _episode_on(self, w: RemoteWorker, job: EpisodeJob) -> EpisodeRecord:
        action_topic = w.topic(names.POLICY, names.ACTION)
        if self.node.count_publishers(action_topic) == 0:
            raise GraphError(f"no policy node publishes {action_topic}")
        self._set_scene(w, job.perturbations, job.seed, job.episode_id, job.scene)
        waiter = self.pool.expect_outcome(job.episode_id)
        w.trigger(names.SIMULATOR, names.RUN_EPISODE)
        deadline = time.monotonic() + self.node.episode_timeout
        while (outcome := waiter.wait(0.5)) is None:
            if not w.run_service_ready():
                raise GraphError(f"{w.label}: the simulator went away during episode {job.episode_id}")
            if time.monotonic() > deadline:
                raise GraphError(f"{w.label}: no outcome for episode {job.episode_id} within "
                                 f"{self.node.episode_timeout:.0f} s")
        self._check_scene(w, job, outcome)
        outcome.worker = w.label
        # The record carries the scene as the searcher chose it, exactly as a headless run_episode records it.
        outcome.scene = None if job.scene is None else {k: float(v) for k, v in job.scene.items()}
        return outcome

    def _view_on(self, w: RemoteWorker, stack, scene: Mapping[str, float] | None = None) -> np.ndarray:
        self._set_scene(w, list(stack), self.observation_seed, scene=scene)
        stamp = w.trigger(names.SIMULATOR, names.RENDER_VIEW)
        frame = self.pool.wait_view(w, stamp, 30.0)
        if frame is None:
            raise GraphError(f"{w.label}: adversary view {stamp} never arrived")
        return np.ascontiguousarray(frame.transpose(2, 0, 1))

    # -- on any worker, with re-queueing and a bounded back-off --------------------------------------
    def _on_some_worker(self, what: str, attempt):
        """Run `attempt(worker)` on an idle worker; if that worker fails, run it again on another.

        Nothing of a failed try is recorded, so a re-queued episode (same id, same seed) counts once.
        While no worker is available the wait backs off exponentially up to `max_retries` times.
        """
        delay, tries = self.node.retry_initial, self.node.max_retries
        for attempt_no in range(1, tries + 1):
            worker = self.pool.acquire(timeout=delay)
            if worker is None:
                problem = f"no worker available (live: {', '.join(self.pool.live_workers()) or 'none'})"
            else:
                try:
                    result = attempt(worker)
                except GraphError as exc:
                    self.pool.release(worker, failed=True)
                    problem = str(exc)
                else:
                    worker.episodes += 1
                    self.pool.release(worker)
                    if attempt_no > 1:
                        self.node.report_recovered(f"{what} succeeded on {worker.label} after {attempt_no} tries")
                    return result
            if attempt_no == tries:
                self.node.report_trouble(f"gave up on {what} after {tries} tries: {problem}", fatal=True)
                raise GraphError(problem)
            self.node.report_trouble(f"{what}: {problem}; retry {attempt_no}/{tries - 1} in {delay:.0f} s")
            time.sleep(delay if worker is not None else 0.0)
            delay = min(2 * delay, self.node.retry_max)

    def execute(self, job: EpisodeJob) -> EpisodeRecord:
        return self._on_some_worker(f"episode {job.episode_id}", lambda w: self._episode_on(w, job))

    def observe(self, stack) -> np.ndarray:
        return self._on_some_worker("observing the scene", lambda w: self._view_on(w, stack))

    def observe_scene(self, scene: Mapping[str, float]) -> np.ndarray:
        return self._on_some_worker("observing the scene", lambda w: self._view_on(w, (), scene))


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
        d("continuous", False, ro(f"audit the continuous factor space: a catalogue searcher becomes "
                                  f"{DEFAULT_CONTINUOUS_SEARCHER} (one of {', '.join(CONTINUOUS_SEARCHERS)} is kept)"))
        d("episodes", 0, ro("searcher episode budget; 0 = the mode's default (catalogue or continuous)"))
        d("control_episodes", defaults.control_episodes, ro("unperturbed episodes (= initial-state pool)"))
        d("seed", defaults.seed, ro("audit seed"))
        d("max_depth", 0, ro("perturbations stacked per adversary episode (0 = searcher default)"))
        d("workers", 1, ro("episodes run at once, each on its own worker trio (/robofail or /robofail/worker_<k>)"))
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
            policy=p("policy"), searcher=audit_searcher(p("searcher"), p("continuous")), episodes=p("episodes"),
            control_episodes=p("control_episodes"), seed=p("seed"), workers=p("workers"), max_depth=p("max_depth"),
            ppo=PPOConfig(n_steps=p("n_steps")))
        self.out_dir = Path(p("out_dir"))
        self.episode_timeout = float(p("episode_timeout"))
        self.max_retries = max(1, int(p("max_retries")))
        self.retry_initial, self.retry_max = float(p("retry_initial")), float(p("retry_max"))
        self.catalogue = load_catalogue(self.config.sim.task)
        # A continuous audit needs the factor space (refused here, at start, if the task has none); a catalogue
        # audit of a task that has one still sets every factor to nominal before each episode.
        self.space = (load_factor_space(self.config.sim.task) if self.config.continuous
                      else optional_factor_space(self.config.sim.task))
        self.pool = WorkerPool(self, self.catalogue.names)
        self._failures = 0
        self.done_pub = self.create_publisher(Int64, "~/" + names.EPISODES_DONE, LATCHED)
        self.fail_pub = self.create_publisher(Int64, "~/" + names.FAILURES, LATCHED)
        self.pi_pub = self.create_publisher(Float64MultiArray, "~/" + names.PI, LATCHED)
        self.state_pub = self.create_publisher(String, "~/" + names.AUDIT_STATE, LATCHED)
        self.diag_pub = self.create_publisher(DiagnosticArray, names.DIAGNOSTICS, 10)
        self.create_service(Trigger, "~/start", self._start)
        self._thread: threading.Thread | None = None
        self._publish_state("idle")
        if p("autostart"):
            self.create_timer(0.5, self._autostart)
        self._autostarted = False

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
        # As with local workers: only the stepping searchers (PPO) re-use logged episodes by experiment; the
        # others skip finished jobs by id.
        reusable = [r for r in completed if r.searcher in STEPPING_SEARCHERS]
        self._failures = sum(r.outcome == FAILURE for r in completed)
        n = config.workers
        return ThreadedVecEnv([functools.partial(GraphAdversaryEnv, self, config, self.catalogue.names, k, n,
                                                 reusable, run_tag) for k in range(n)])

    def _on_record(self, record: EpisodeRecord, done: int, total: int) -> None:
        self._failures += record.outcome == FAILURE
        self.done_pub.publish(Int64(data=done))
        self.fail_pub.publish(Int64(data=self._failures))

    def _on_snapshot(self, data: dict) -> None:
        if "pi" in data:
            self.pi_pub.publish(labelled_vector(data["pi"]))

    def _wait_for_graph(self) -> None:
        """Wait (and say so) until at least one worker trio is on the graph."""
        delay = self.retry_initial
        while not self.pool.live_workers():
            self.report_trouble(f"waiting for a simulator, policy and perturbation node in {names.NAMESPACE} "
                                f"or {names.NAMESPACE}/{names.WORKER_PREFIX}<k>")
            time.sleep(delay)
            delay = min(2 * delay, self.retry_max)
        self.report_recovered(f"workers available: {', '.join(self.pool.live_workers())}")

    def _run(self) -> None:
        self._publish_state("running")
        started = time.time()
        c = self.config
        mode = f"the factor space ({self.space.dim} factors)" if c.continuous else "the catalogue"
        self.get_logger().info(f"auditing {c.policy} on {c.sim.task} over {mode} with {c.searcher}: "
                               f"{c.control_episodes} control + {c.episodes} searched episodes → {self.out_dir}")
        try:
            self._wait_for_graph()
            result = run_audit(self.config, self.out_dir, overwrite=self.get_parameter("overwrite").value,
                               on_record=self._on_record, film=False, make_env=self._make_env,
                               on_snapshot=self._on_snapshot, write_files=False)
        except Exception as exc:  # reported on the graph; every finished episode is already in the log
            self.get_logger().error(f"audit stopped: {type(exc).__name__}: {exc}\n{traceback.format_exc()}")
            self._publish_state(f"error: {exc}")
            return
        pi = getattr(result.analysis, "pi", None)  # a continuous audit's analysis has no π over the catalogue
        if pi is not None:
            self.pi_pub.publish(labelled_vector(pi))
        self.get_logger().info(f"audit finished: {len(result.records)} episodes in {time.time() - started:.0f} s "
                               f"→ {self.out_dir}")
        self._publish_state("finished")


def main(args: list[str] | None = None) -> None:
    run_node(AdversaryNode, args)


if __name__ == "__main__":
    main()
