"""The adversary's view of its workers: simulator + policy + perturbation trios found on the ROS graph.

A worker is found by what it serves, not by node names: in `/robofail` or any namespace below it, a
simulator (a node serving `run_episode` and `render_adversary_view`), a perturbation node (serving `clear`
and `apply/<name>` for every perturbation of the audit's catalogue) and at least one publisher on the
namespace's `policy/action` topic, which the simulator listens to. The policy node may have any name and be
written in any language. The pool rediscovers the graph once a second, hands an idle worker to each episode,
and takes a worker out of service the moment it leaves: every wait on a worker ends at once, and the episode
it was running is run again elsewhere under the same id, so it is never lost, counted twice, or waited out.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
from diagnostic_msgs.msg import DiagnosticStatus
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.node import Node
from rclpy.parameter_client import AsyncParameterClient
from sensor_msgs.msg import Image
from std_srvs.srv import Trigger

from robofail_ros import names
from robofail_ros.audit import AuditInterrupted
from robofail_ros.episode import EpisodeRecord
from robofail_ros.nodes.common import RELIABLE, STREAM, TRIGGER_TIMEOUT, image_array
from robofail_ros.obs_codec import record_from_strings

TRIGGER = "std_srvs/srv/Trigger"


class GraphError(RuntimeError):
    """A node the adversary depends on did not answer."""


class WorkerLeft(GraphError):
    """The worker went away while the adversary waited on it: retry elsewhere at once, no back-off."""


@dataclass
class RemoteWorker:
    """Clients for one worker trio; created on the executor's thread when the worker is discovered."""

    namespace: str
    label: str
    simulator: str
    """Fully qualified name of the simulator node (its services and parameters)."""
    perturbation: str
    """Fully qualified name of the perturbation node."""
    params: AsyncParameterClient
    triggers: dict[str, Any]
    alive: bool = True
    """Its simulator and perturbation node are on the graph; when False every wait on this worker ends."""
    policy_ready: bool = True
    """Something publishes its action topic; new episodes go only to workers with a policy."""
    busy: bool = False
    resting_until: float = 0.0
    episodes: int = 0
    views: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def action_topic(self) -> str:
        """Where its simulator expects actions: `policy/action` relative to the simulator's namespace."""
        return names.node_topic(names.POLICY, names.ACTION, namespace=self.namespace)

    def service(self, role: str, relative: str, **fmt: str) -> str:
        """A service of this worker's simulator (`role` SIMULATOR) or perturbation node (PERTURBATION)."""
        base = {names.SIMULATOR: self.simulator, names.PERTURBATION: self.perturbation}[role]
        return f"{base}/{relative.format(**fmt)}"

    def run_service_ready(self) -> bool:
        return self.triggers[self.service(names.SIMULATOR, names.RUN_EPISODE)].service_is_ready()


class _OutcomeWaiter:
    def __init__(self) -> None:
        self.record: EpisodeRecord | None = None
        self.done = False


class _FilmWaiter(_OutcomeWaiter):
    """A filmed episode: its outcome says how many frames it had; the frames arrive, in order, on their topic."""

    def __init__(self) -> None:
        super().__init__()
        self.frames: list[np.ndarray] = []
        self.expected = 0


def _parent(name: str) -> str:
    return name.rsplit("/", 1)[0] or "/"


def _in_tree(namespace: str) -> bool:
    return namespace == names.NAMESPACE or namespace.startswith(names.NAMESPACE + "/")


class WorkerPool:
    """Discovers workers, lends idle ones to episodes, and routes their outcomes and views back.

    Every wait of an audit thread on the graph goes through `wait`, which ends as soon as the awaited thing
    happens, the worker leaves (WorkerLeft), or the pool is stopped (AuditInterrupted): a node being shut
    down stops its audit thread before any handle is destroyed.
    """

    def __init__(self, node: Node, catalogue_names: list[str], rest_seconds: float = 5.0) -> None:
        self.node = node
        self.catalogue_names = catalogue_names
        self.rest_seconds = rest_seconds
        self.workers: dict[str, RemoteWorker] = {}
        self.missing = "the graph has not been looked at yet"
        """Why no worker is available, in words: what each namespace under /robofail lacks."""
        self._cond = threading.Condition()
        self._stopping = threading.Event()
        self._waiters: dict[str, _OutcomeWaiter] = {}
        self._films: dict[str, _FilmWaiter] = {}
        self._group = ReentrantCallbackGroup()
        node.create_timer(1.0, self.discover)
        self.discover()

    # -- discovery (executor thread) ------------------------------------------------------------
    def _find(self) -> tuple[dict[str, tuple[str, str]], list[str]]:
        """Namespace -> (simulator, perturbation node) of each complete worker, and what the others lack."""
        # The graph lists a service name as soon as anything has a client for it (this node's own clients
        # included, which outlive the server): a worker's services count only while a server answers them.
        services = {name for name, types in self.node.get_service_names_and_types()
                    if TRIGGER in types and self._worth_counting(name) and self.node.count_services(name) > 0}
        simulators: dict[str, list[str]] = {}
        perturbers: dict[str, list[str]] = {}
        suffix = "/" + names.APPLY.format(name=self.catalogue_names[0]) if self.catalogue_names else None
        for service in services:
            base, leaf = _parent(service), service.rsplit("/", 1)[-1]
            if not _in_tree(_parent(base)):
                continue
            if leaf == names.RUN_EPISODE and f"{base}/{names.RENDER_VIEW}" in services:
                simulators.setdefault(_parent(base), []).append(base)
            elif leaf == names.CLEAR and (suffix is None or base + suffix in services):
                if all(f"{base}/{names.APPLY.format(name=n)}" in services for n in self.catalogue_names):
                    perturbers.setdefault(_parent(base), []).append(base)
        found, lacking = {}, []
        for ns in sorted(set(simulators) | set(perturbers)):
            sims, perts = sorted(simulators.get(ns, [])), sorted(perturbers.get(ns, []))
            # Prefer the conventional names when a namespace holds more than one of a kind.
            sim = next((s for s in sims if s.endswith("/" + names.SIMULATOR)), sims[0] if sims else None)
            pert = next((p for p in perts if p.endswith("/" + names.PERTURBATION)), perts[0] if perts else None)
            if sim is None:
                lacking.append(f"{ns} has a perturbation node ({pert}) but no simulator (nothing serves "
                               f"{ns}/<node>/{names.RUN_EPISODE} and {names.RENDER_VIEW})")
            elif pert is None:
                lacking.append(f"{ns} has a simulator ({sim}) but no perturbation node serving "
                               f"{ns}/<node>/{names.CLEAR} and {names.APPLY.format(name='<name>')} for all "
                               f"{len(self.catalogue_names)} perturbations of this audit's catalogue")
            else:
                found[ns] = (sim, pert)
        if not simulators and not perturbers:
            lacking.append(f"no simulator or perturbation node under {names.NAMESPACE} (start them, e.g. "
                           "`ros2 launch robofail_ros audit.launch.py` or `ros2 run robofail_ros simulator`)")
        return found, lacking

    def _worth_counting(self, service: str) -> bool:
        """A service name discovery looks at (the others need no server count)."""
        leaf = service.rsplit("/", 1)[-1]
        return (leaf in (names.RUN_EPISODE, names.RENDER_VIEW, names.CLEAR)
                or leaf in self.catalogue_names and service.rsplit("/", 2)[-2] == names.APPLY.split("/")[0])

    def discover(self) -> None:
        found, lacking = self._find()
        with self._cond:
            for ns, (sim, pert) in found.items():
                worker = self.workers.get(ns)
                if worker is None or (worker.simulator, worker.perturbation) != (sim, pert):
                    worker = self.workers[ns] = self._connect(ns, sim, pert)
                    self.node.get_logger().info(f"worker {worker.label} joined ({sim}, {pert})")
                elif not worker.alive:
                    worker.alive = True
                    self.node.get_logger().info(f"worker {worker.label} is back")
            for ns, worker in self.workers.items():
                if worker.alive and ns not in found:
                    worker.alive = False
                    self.node.get_logger().warning(f"worker {worker.label} left ({ns})")
                worker.policy_ready = worker.alive and self.node.count_publishers(worker.action_topic) > 0
                if worker.alive and not worker.policy_ready:
                    lacking.append(f"{ns} has a simulator ({worker.simulator}) and a perturbation node "
                                   f"({worker.perturbation}) but nothing publishes {worker.action_topic} (start a "
                                   "policy node there, or remap yours: -r __ns:=... or -r <topic>:=" +
                                   worker.action_topic + ")")
            self.missing = "; ".join(lacking) or "every worker is busy"
            self._cond.notify_all()

    def _connect(self, ns: str, simulator: str, perturbation: str) -> RemoteWorker:
        services = [f"{perturbation}/{names.CLEAR}", f"{simulator}/{names.RUN_EPISODE}",
                    f"{simulator}/{names.RENDER_VIEW}", f"{simulator}/{names.FILM_EPISODE}"]
        services += [f"{perturbation}/{names.APPLY.format(name=n)}" for n in self.catalogue_names]
        worker = RemoteWorker(
            namespace=ns, label=names.worker_label(ns), simulator=simulator, perturbation=perturbation,
            params=AsyncParameterClient(self.node, simulator, callback_group=self._group),
            triggers={s: self.node.create_client(Trigger, s, callback_group=self._group) for s in services})
        self.node.create_subscription(DiagnosticStatus, f"{simulator}/{names.EPISODE_OUTCOME}",
                                      self._on_outcome, RELIABLE, callback_group=self._group)
        self.node.create_subscription(Image, f"{simulator}/{names.ADVERSARY_VIEW}",
                                      lambda msg, w=worker: self._on_view(w, msg), RELIABLE, callback_group=self._group)
        self.node.create_subscription(DiagnosticStatus, f"{simulator}/{names.FILM_OUTCOME}", self._on_film_outcome,
                                      RELIABLE, callback_group=self._group)
        self.node.create_subscription(Image, f"{simulator}/{names.FILM_IMAGE}", self._on_film_frame, STREAM,
                                      callback_group=self._group)
        return worker

    # -- stopping ----------------------------------------------------------------------------------
    def stop(self) -> None:
        """End every wait of the audit threads now (they raise AuditInterrupted): the node is shutting down."""
        self._stopping.set()
        with self._cond:
            self._cond.notify_all()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def _check_stop(self) -> None:
        if self._stopping.is_set():
            raise AuditInterrupted("the adversary node was told to stop")

    def sleep(self, seconds: float) -> None:
        """A back-off that a stop ends at once."""
        if self._stopping.wait(seconds):
            self._check_stop()

    # -- waiting (audit threads) ----------------------------------------------------------------
    def wait(self, worker: RemoteWorker | None, ready: Callable[[], bool], timeout: float, what: str) -> None:
        """Wait until `ready()`; WorkerLeft if `worker` leaves first, GraphError after `timeout` seconds,
        AuditInterrupted when the pool is stopped. `ready` is re-checked whenever anything changes."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not ready():
                self._check_stop()
                if worker is not None and not worker.alive:
                    raise WorkerLeft(f"{worker.label} left while the adversary waited for {what}")
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise GraphError(f"{what} did not come within {timeout:.0f} s")
                self._cond.wait(min(remaining, 1.0))

    def result(self, worker: RemoteWorker, future, timeout: float, what: str):
        """The result of a client future (service call, parameter set), waited for as `wait` does."""
        future.add_done_callback(lambda _: self._notify())
        self.wait(worker, future.done, timeout, what)
        return future.result()

    def _notify(self) -> None:
        with self._cond:
            self._cond.notify_all()

    def trigger(self, worker: RemoteWorker, role: str, relative: str, timeout: float = TRIGGER_TIMEOUT,
                **fmt: str) -> str:
        """Call one of the worker's std_srvs/Trigger services; its message, or GraphError with the reason."""
        service = worker.service(role, relative, **fmt)
        client = worker.triggers[service]
        if not worker.alive:
            raise WorkerLeft(f"{worker.label} left")
        if not client.service_is_ready():
            raise GraphError(f"service {service} not available")
        response = self.result(worker, client.call_async(Trigger.Request()), timeout, f"an answer from {service}")
        if not response.success:
            raise GraphError(f"{service}: {response.message}")
        return response.message

    # -- lending (audit threads) ------------------------------------------------------------------
    def acquire(self, timeout: float) -> RemoteWorker | None:
        """An idle, live, rested worker with a policy; None if none became available within `timeout` seconds."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                self._check_stop()
                now = time.monotonic()
                ready = [w for w in self.workers.values()
                         if w.alive and w.policy_ready and not w.busy and w.resting_until <= now]
                if ready:
                    worker = min(ready, key=lambda w: (w.episodes, w.label))  # spread the load
                    worker.busy = True
                    return worker
                if now >= deadline:
                    return None
                self._cond.wait(min(0.5, deadline - now))

    def release(self, worker: RemoteWorker, failed: bool = False) -> None:
        with self._cond:
            worker.busy = False
            if failed and worker.alive:  # a worker that left rests anyway: it is out until it is back
                worker.resting_until = time.monotonic() + self.rest_seconds
            self._cond.notify_all()

    def live_workers(self) -> list[str]:
        with self._cond:
            return sorted(w.label for w in self.workers.values() if w.alive and w.policy_ready)

    # -- results ------------------------------------------------------------------------------
    def expect_outcome(self, episode_id: str) -> _OutcomeWaiter:
        waiter = _OutcomeWaiter()
        with self._cond:
            self._waiters[episode_id] = waiter
        return waiter

    def forget_outcome(self, episode_id: str) -> None:
        with self._cond:
            self._waiters.pop(episode_id, None)

    def _on_outcome(self, msg: DiagnosticStatus) -> None:
        values = {kv.key: kv.value for kv in msg.values}
        with self._cond:
            waiter = self._waiters.pop(values.get("episode_id", ""), None)
        if waiter is None:
            return  # an episode run by hand, or one already given up on: the audit does not count it
        try:
            waiter.record = EpisodeRecord.from_json(record_from_strings(values))
        except (ValueError, TypeError) as exc:
            self.node.get_logger().error(f"malformed episode outcome ignored: {exc}")
        with self._cond:
            waiter.done = True
            self._cond.notify_all()

    def expect_film(self, worker: RemoteWorker, episode_id: str) -> _FilmWaiter:
        waiter = _FilmWaiter()
        with self._cond:
            self._films[episode_id] = waiter
        return waiter

    def forget_film(self, worker: RemoteWorker, episode_id: str) -> None:
        with self._cond:
            self._films.pop(episode_id, None)

    def _on_film_outcome(self, msg: DiagnosticStatus) -> None:
        values = {kv.key: kv.value for kv in msg.values}
        with self._cond:
            waiter = self._films.get(values.get("episode_id", ""))
        if waiter is None:
            return
        try:
            expected = int(values.pop(names.FILM_FRAMES_KEY, "0"))
            record = EpisodeRecord.from_json(record_from_strings(values))
        except (ValueError, TypeError) as exc:
            self.node.get_logger().error(f"malformed film outcome ignored: {exc}")
            record, expected = None, 0
        with self._cond:
            waiter.record, waiter.expected, waiter.done = record, expected, True
            self._cond.notify_all()

    def _on_film_frame(self, msg: Image) -> None:
        with self._cond:
            waiter = self._films.get(msg.header.frame_id)  # a film frame's frame_id is its episode's id
            if waiter is not None:
                waiter.frames.append(image_array(msg))
                self._cond.notify_all()

    def _on_view(self, worker: RemoteWorker, msg: Image) -> None:
        with self._cond:
            worker.views = {f"{msg.header.stamp.sec}.{msg.header.stamp.nanosec:09d}": image_array(msg)}
            self._cond.notify_all()

    def wait_view(self, worker: RemoteWorker, stamp: str, timeout: float) -> np.ndarray:
        self.wait(worker, lambda: stamp in worker.views, timeout, f"adversary view {stamp}")
        return worker.views[stamp]
