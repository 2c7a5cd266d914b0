"""The adversary's view of its workers: simulator + policy + perturbation trios found on the ROS graph.

A worker is the trio in `/robofail` itself or in `/robofail/worker_<k>`, on this machine or any
other in the same ROS domain. The pool discovers them from the graph once a second, hands an idle
one to each episode, and takes a worker out of service when it stops answering; the episode it
was running is run again elsewhere under the same id, so it is never lost or counted twice.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import numpy as np
from diagnostic_msgs.msg import DiagnosticStatus
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.node import Node
from rclpy.parameter_client import AsyncParameterClient
from sensor_msgs.msg import Image
from std_srvs.srv import Trigger

from robofail_ros import names
from robofail_ros.episode import EpisodeRecord
from robofail_ros.nodes.common import RELIABLE, image_array, wait_for
from robofail_ros.obs_codec import record_from_strings

TRIO = (names.SIMULATOR, names.POLICY, names.PERTURBATION)


class GraphError(RuntimeError):
    """A node the adversary depends on did not answer."""


@dataclass
class RemoteWorker:
    """Clients for one worker trio; created on the executor's thread when the worker is discovered."""

    namespace: str
    label: str
    params: AsyncParameterClient
    triggers: dict[str, object]
    alive: bool = True
    busy: bool = False
    resting_until: float = 0.0
    episodes: int = 0
    views: dict[str, np.ndarray] = field(default_factory=dict)

    def topic(self, node: str, relative: str, **fmt: str) -> str:
        return names.node_topic(node, relative, namespace=self.namespace, **fmt)

    def trigger(self, node: str, relative: str, timeout: float = 30.0, **fmt: str) -> str:
        service = self.topic(node, relative, **fmt)
        client = self.triggers[service]
        if not client.service_is_ready():
            raise GraphError(f"service {service} not available")
        future = client.call_async(Trigger.Request())
        if not wait_for(future, timeout):
            raise GraphError(f"service {service} did not answer within {timeout:.0f} s")
        response = future.result()
        if not response.success:
            raise GraphError(f"{service}: {response.message}")
        return response.message

    def run_service_ready(self) -> bool:
        return self.triggers[self.topic(names.SIMULATOR, names.RUN_EPISODE)].service_is_ready()


class _OutcomeWaiter:
    def __init__(self) -> None:
        self.event = threading.Event()
        self.record: EpisodeRecord | None = None

    def wait(self, timeout: float) -> EpisodeRecord | None:
        self.event.wait(timeout)
        return self.record


class WorkerPool:
    """Discovers workers, lends idle ones to episodes, and routes their outcomes and views back."""

    def __init__(self, node: Node, catalogue_names: list[str], rest_seconds: float = 5.0) -> None:
        self.node = node
        self.catalogue_names = catalogue_names
        self.rest_seconds = rest_seconds
        self.workers: dict[str, RemoteWorker] = {}
        self._cond = threading.Condition()
        self._waiters: dict[str, _OutcomeWaiter] = {}
        self._group = ReentrantCallbackGroup()
        node.create_timer(1.0, self.discover)
        self.discover()

    # -- discovery (executor thread) ------------------------------------------------------------
    def discover(self) -> None:
        present: dict[str, set[str]] = {}
        for name, ns in self.node.get_node_names_and_namespaces():
            present.setdefault(ns, set()).add(name)
        with self._cond:
            for ns, nodes in present.items():
                is_worker_ns = ns == names.NAMESPACE or ns.startswith(f"{names.NAMESPACE}/{names.WORKER_PREFIX}")
                if not is_worker_ns or not set(TRIO) <= nodes:
                    continue
                if ns not in self.workers:
                    self.workers[ns] = self._connect(ns)
                    self.node.get_logger().info(f"worker {self.workers[ns].label} joined ({ns})")
                elif not self.workers[ns].alive:
                    self.workers[ns].alive = True
                    self.node.get_logger().info(f"worker {self.workers[ns].label} is back")
            for ns, worker in self.workers.items():
                if worker.alive and not set(TRIO) <= present.get(ns, set()):
                    worker.alive = False
                    self.node.get_logger().warning(f"worker {worker.label} left ({ns})")
            self._cond.notify_all()

    def _connect(self, ns: str) -> RemoteWorker:
        def topic(node, relative, **fmt):
            return names.node_topic(node, relative, namespace=ns, **fmt)

        services = [topic(names.PERTURBATION, names.CLEAR), topic(names.SIMULATOR, names.RUN_EPISODE),
                    topic(names.SIMULATOR, names.RENDER_VIEW)]
        services += [topic(names.PERTURBATION, names.APPLY, name=n) for n in self.catalogue_names]
        worker = RemoteWorker(
            namespace=ns, label=names.worker_label(ns),
            params=AsyncParameterClient(self.node, topic(names.SIMULATOR, ""), callback_group=self._group),
            triggers={s: self.node.create_client(Trigger, s, callback_group=self._group) for s in services})
        self.node.create_subscription(DiagnosticStatus, topic(names.SIMULATOR, names.EPISODE_OUTCOME),
                                      self._on_outcome, RELIABLE, callback_group=self._group)
        self.node.create_subscription(Image, topic(names.SIMULATOR, names.ADVERSARY_VIEW),
                                      lambda msg, w=worker: self._on_view(w, msg), RELIABLE, callback_group=self._group)
        return worker

    # -- lending (audit threads) ------------------------------------------------------------------
    def acquire(self, timeout: float) -> RemoteWorker | None:
        """An idle, live, rested worker; None if none became available within `timeout` seconds."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                now = time.monotonic()
                ready = [w for w in self.workers.values() if w.alive and not w.busy and w.resting_until <= now]
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
            if failed:
                worker.resting_until = time.monotonic() + self.rest_seconds
            self._cond.notify_all()

    def live_workers(self) -> list[str]:
        with self._cond:
            return sorted(w.label for w in self.workers.values() if w.alive)

    # -- results ------------------------------------------------------------------------------
    def expect_outcome(self, episode_id: str) -> _OutcomeWaiter:
        waiter = _OutcomeWaiter()
        self._waiters[episode_id] = waiter
        return waiter

    def _on_outcome(self, msg: DiagnosticStatus) -> None:
        values = {kv.key: kv.value for kv in msg.values}
        waiter = self._waiters.pop(values.get("episode_id", ""), None)
        if waiter is None:
            return  # an episode run by hand, or one already given up on: the audit does not count it
        try:
            waiter.record = EpisodeRecord.from_json(record_from_strings(values))
        except (ValueError, TypeError) as exc:
            self.node.get_logger().error(f"malformed episode outcome ignored: {exc}")
        waiter.event.set()

    def _on_view(self, worker: RemoteWorker, msg: Image) -> None:
        with self._cond:
            worker.views = {f"{msg.header.stamp.sec}.{msg.header.stamp.nanosec:09d}": image_array(msg)}
            self._cond.notify_all()

    def wait_view(self, worker: RemoteWorker, stamp: str, timeout: float) -> np.ndarray | None:
        with self._cond:
            self._cond.wait_for(lambda: stamp in worker.views, timeout)
            return worker.views.get(stamp)
