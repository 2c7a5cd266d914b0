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
from robofail_ros.audit import AuditInterrupted, run_audit
from robofail_ros.catalogue import load_catalogue
from robofail_ros.config import (
    CONTINUOUS_SEARCHERS, DEFAULT_CONTINUOUS_SEARCHER, INITIAL_STATES, SEARCHERS, STEPPING_SEARCHERS, AuditConfig,
    PPOConfig, SceneSearchConfig,
)
from robofail_ros.episode import FAILURE, EpisodeRecord
from robofail_ros.factors import FactorSpace, load_factor_space, optional_factor_space
from robofail_ros.nodes.common import LATCHED, audit_searcher, labelled_vector, request_exit, run_node
from robofail_ros.nodes.simulator import RemotePolicy
from robofail_ros.nodes.worker_pool import GraphError, RemoteWorker, WorkerLeft, WorkerPool
from robofail_ros.record import FolderLock
from robofail_ros.workers import ThreadedVecEnv
from robofail_ros.sim import SimConfig

#: Seconds the adversary may take to stop: the report of an interrupted audit is drawn on the way out (a few
#: seconds here); launch/audit.launch.py waits this long before escalating to SIGTERM.
SHUTDOWN_GRACE_ADVERSARY = 25.0


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
                   scene: Mapping[str, float] | None = None, film_size: int | None = None,
                   view_size: int = 0) -> None:
        """Apply perturbations through the worker's perturbation services, then seed, name and set the scene.

        Seed, id and every factor parameter go in one atomic call: the simulator re-shows its scene once, and an
        episode can never start with half a scene. Factors the scene leaves out (all, for a catalogue episode)
        are set to nominal, so a slider moved by hand cannot leak into the audit.
        """
        self.pool.trigger(w, names.PERTURBATION, names.CLEAR)
        for name in perturbations:
            self.pool.trigger(w, names.PERTURBATION, names.APPLY, name=name)
        space = self.factor_space
        factors = [] if space is None else [Parameter(names.factor_parameter(n), Parameter.Type.DOUBLE, float(v))
                                            for n, v in zip(space.names, space.vector(scene))]
        film = [] if film_size is None else [Parameter("film_size", Parameter.Type.INTEGER, int(film_size))]
        future = w.params.set_parameters_atomically([
            Parameter("episode_seed", Parameter.Type.INTEGER, int(seed)),
            Parameter("episode_id", Parameter.Type.STRING, episode_id),
            Parameter("view_size", Parameter.Type.INTEGER, int(view_size)), *factors, *film])
        result = self.pool.result(w, future, 30.0, f"{w.label}'s simulator to accept the episode parameters").result
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

    def _run_on(self, w: RemoteWorker, service: str, episode_id: str, waiter) -> None:
        """Trigger `service` (run or film an episode) and wait for the outcome `waiter` collects.

        The wait ends early when the worker leaves (discovery, within a second) or its simulator's service
        vanishes (a restart between two looks at the graph): the episode is then run elsewhere, never waited out.
        """
        try:
            self.pool.trigger(w, names.SIMULATOR, service)
            self.pool.wait(w, lambda: waiter.done or not w.run_service_ready(), self.node.episode_timeout,
                           f"the outcome of episode {episode_id} from {w.label}")
        finally:
            self.pool.forget_outcome(episode_id)
        if not waiter.done:
            raise WorkerLeft(f"{w.label}: the simulator went away during episode {episode_id}")
        if waiter.record is None:
            raise GraphError(f"{w.label}: the outcome of episode {episode_id} was malformed")

    def _episode_on(self, w: RemoteWorker, job: EpisodeJob) -> EpisodeRecord:
        if not w.policy_ready:
            raise GraphError(f"no policy node publishes {w.action_topic}")
        self._set_scene(w, job.perturbations, job.seed, job.episode_id, job.scene)
        waiter = self.pool.expect_outcome(job.episode_id)
        self._run_on(w, names.RUN_EPISODE, job.episode_id, waiter)
        outcome = waiter.record
        self._check_scene(w, job, outcome)
        outcome.worker = w.label
        if outcome.policy_id == RemotePolicy.policy_id:  # a policy node that names itself nowhere: the audit's name
            outcome.policy_id = self.policy_id
        # The record carries the scene as the searcher chose it, exactly as a headless run_episode records it.
        outcome.scene = None if job.scene is None else {k: float(v) for k, v in job.scene.items()}
        return outcome

    def _film_on(self, w: RemoteWorker, perturbations, seed: int, size: int,
                 scene: Mapping[str, float] | None) -> EpisodeRecord:
        """Re-run an episode on the worker's simulator with every step filmed (the core's run_episode with
        film_size there); the frames come back over the graph, in order."""
        episode_id = f"film-{time.time_ns()}"
        self._set_scene(w, list(perturbations), seed, episode_id, scene, film_size=size)
        waiter = self.pool.expect_film(w, episode_id)
        try:
            self._run_on(w, names.FILM_EPISODE, episode_id, waiter)
            self.pool.wait(w, lambda: len(waiter.frames) >= waiter.expected, 60.0,
                           f"the {waiter.expected} frames of episode {episode_id}")
        finally:
            self.pool.forget_film(w, episode_id)
        record = waiter.record
        record.frames = list(waiter.frames)
        return record

    def _view_on(self, w: RemoteWorker, stack, scene: Mapping[str, float] | None = None,
                 seed: int | None = None, size: int = 0) -> np.ndarray:
        """The adversary camera's picture of a scene: the observation (image_size), or `size` pixels."""
        self._set_scene(w, list(stack), self.observation_seed if seed is None else seed, scene=scene,
                        view_size=size)
        stamp = self.pool.trigger(w, names.SIMULATOR, names.RENDER_VIEW)
        return self.pool.wait_view(w, stamp, 30.0)

    # -- on any worker, with re-queueing and a bounded back-off --------------------------------------
    def _on_some_worker(self, what: str, attempt):
        """Run `attempt(worker)` on an idle worker; if that worker fails, run it again on another.

        Nothing of a failed try is recorded, so a re-queued episode (same id, same seed) counts once. A worker
        that left costs no try and no wait: the next idle worker takes the job at once. While no worker is
        available the wait backs off exponentially up to `max_retries` times.
        """
        delay, tries, attempt_no = self.node.retry_initial, self.node.max_retries, 0
        while True:
            worker = self.pool.acquire(timeout=delay)
            if worker is None and self.pool.live_workers():
                continue  # every worker is busy with another episode: that is no trouble, just a queue
            if worker is None:
                problem = f"no worker available ({self.pool.missing})"
            else:
                try:
                    result = attempt(worker)
                except WorkerLeft as exc:
                    self.pool.release(worker, failed=True)
                    self.node.report_trouble(f"{what}: {exc}; giving it to another worker")
                    continue
                except GraphError as exc:
                    self.pool.release(worker, failed=True)
                    problem = str(exc)
                else:
                    worker.episodes += 1
                    self.pool.release(worker)
                    if attempt_no > 0:
                        self.node.report_recovered(f"{what} succeeded on {worker.label} after {attempt_no + 1} tries")
                    return result
            attempt_no += 1
            if attempt_no == tries:
                self.node.report_trouble(f"gave up on {what} after {tries} tries: {problem}", fatal=True)
                raise GraphError(problem)
            self.node.report_trouble(f"{what}: {problem}; retry {attempt_no}/{tries - 1} in {delay:.0f} s")
            if worker is not None:  # acquire() has already waited `delay` when no worker was free
                self.pool.sleep(delay)
            delay = min(2 * delay, self.node.retry_max)

    def execute(self, job: EpisodeJob) -> EpisodeRecord:
        return self._on_some_worker(f"episode {job.episode_id}", lambda w: self._episode_on(w, job))

    def observe(self, stack) -> np.ndarray:
        frame = self._on_some_worker("observing the scene", lambda w: self._view_on(w, stack))
        return np.ascontiguousarray(frame.transpose(2, 0, 1))

    def observe_scene(self, scene: Mapping[str, float]) -> np.ndarray:
        frame = self._on_some_worker("observing the scene", lambda w: self._view_on(w, (), scene))
        return np.ascontiguousarray(frame.transpose(2, 0, 1))

    def first_frame(self, perturbations: list[str], seed: int, scene: Mapping[str, float] | None = None,
                    size: int = 256) -> np.ndarray:
        """What the policy first saw in an episode, larger, for the report's gallery (as AdversaryEnv.first_frame)."""
        return self._on_some_worker("rendering a first frame",
                                    lambda w: self._view_on(w, perturbations, scene, seed=seed, size=size))

    def film(self, perturbations: list[str], seed: int, size: int = 256,
             scene: Mapping[str, float] | None = None) -> EpisodeRecord:
        """Re-run an episode rendering every step, for the report's video (as AdversaryEnv.film does locally)."""
        return self._on_some_worker("filming an episode", lambda w: self._film_on(w, perturbations, seed, size, scene))


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
        d("initial_states", defaults.search.initial_states,
          ro(f"continuous audits: initial state of each searched scene, one of {', '.join(INITIAL_STATES)}"))
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
        d("exit_when_done", False, ro("end the node when its audit has ended (the launch file sets it, so that "
                                      "`ros2 launch` ends with the audit; keep_alive:=true keeps the graph up)"))
        p = lambda n: self.get_parameter(n).value  # noqa: E731
        self.config = AuditConfig(
            sim=SimConfig(task=p("task"), horizon=p("horizon"), image_size=p("image_size")),
            policy=p("policy"), searcher=audit_searcher(p("searcher"), p("continuous")), episodes=p("episodes"),
            control_episodes=p("control_episodes"), seed=p("seed"), workers=p("workers"), max_depth=p("max_depth"),
            ppo=PPOConfig(n_steps=p("n_steps")), search=SceneSearchConfig(initial_states=p("initial_states")))
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
        self.exit_when_done = bool(p("exit_when_done"))
        #: Seconds run_node allows for stopping: the audit thread writes the report of the episodes done first.
        self.shutdown_grace = SHUTDOWN_GRACE_ADVERSARY
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
        """Wait (and say what is missing) until at least one worker trio is on the graph."""
        delay = self.retry_initial
        while not self.pool.live_workers():
            self.report_trouble(f"waiting for a worker: {self.pool.missing}")
            self.pool.sleep(delay)
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
            FolderLock(self.out_dir).acquire().release()  # held by another audit: refuse now, not once workers join
            self._wait_for_graph()
            result = run_audit(self.config, self.out_dir, overwrite=self.get_parameter("overwrite").value,
                               on_record=self._on_record, make_env=self._make_env, on_snapshot=self._on_snapshot)
        except AuditInterrupted as exc:  # the node is stopping; run_audit has written the report of what is done
            if exc.total == 0:
                self.get_logger().info("audit stopped before it began (no worker had joined)")
            else:
                where = f"; the report of those is in {self.out_dir}" if exc.files else ""
                self.get_logger().info(f"audit {exc.mark}{where}; every finished episode is in the log: start "
                                       "the same launch (or node) again to resume")
            self._publish_state("interrupted")
            return
        except GraphError as exc:  # said on the log and /diagnostics already; every finished episode is logged
            self._end(f"error: {exc}", exit_code=1)
            return
        except Exception as exc:  # a bug, or a refusal (e.g. a folder that holds another audit): say why
            detail = "" if isinstance(exc, (ValueError, RuntimeError)) else "\n" + traceback.format_exc()
            self.get_logger().error(f"audit stopped: {type(exc).__name__}: {exc}{detail}")
            self._end(f"error: {exc}", exit_code=1)
            return
        pi = getattr(result.analysis, "pi", None)  # a continuous audit's analysis has no π over the catalogue
        if pi is not None:
            self.pi_pub.publish(labelled_vector(pi))
        self.get_logger().info(f"audit finished: {len(result.records)} episodes in {time.time() - started:.0f} s; "
                               f"report in {self.out_dir}: {', '.join(f.name for f in result.files)}")
        self._end("finished")

    def _end(self, state: str, exit_code: int = 0) -> None:
        """Publish the final state, and end the node if asked to (so that a launch file can end with it)."""
        self._publish_state(state)
        if self.exit_when_done:
            request_exit(f"audit {state}", exit_code)

    def close(self) -> None:
        """Stop the audit thread before anything is destroyed: its waits end at once, and run_audit writes the
        report of the finished episodes, marked as interrupted."""
        self.pool.stop()
        if self._thread is not None and self._thread.is_alive():
            self._thread.join(timeout=self.shutdown_grace - 1.0)


def main(args: list[str] | None = None) -> None:
    run_node(AdversaryNode, args)


if __name__ == "__main__":
    main()
