"""Helpers for tests that run real ROS 2 nodes as separate processes (no mocks of ROS)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DISCOVERY_SETTLE_S = 1.0  # a new client's wait before its first request (see GraphClient.call)
RESEND_EVERY_S = 5.0  # an unanswered idempotent request is sent again after this long
IDEMPOTENT_SERVICES = frozenset({"set_parameters", "get_parameters", "list_parameters", "describe_parameters",
                                 "get_parameter_types"})


def ros_env(domain_id: int) -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=f"{ROOT / 'src'}{os.pathsep}{ROOT / 'test'}", ROS_DOMAIN_ID=str(domain_id),
                ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST", PYTHONUNBUFFERED="1", MUJOCO_GL="egl")


class NodeProcess:
    """A node started as `python -m robofail_ros.nodes.<module>`; stop() escalates SIGINT → SIGTERM → SIGKILL."""

    def __init__(self, module: str, params: dict | None = None, domain_id: int = 0, log_dir: Path | None = None,
                 params_file: Path | None = None, namespace: str | None = None, prefix: list[str] | None = None,
                 env: dict[str, str] | None = None):
        args = [*(prefix or []), sys.executable, "-m", f"robofail_ros.nodes.{module}", "--ros-args"]
        if namespace is not None:
            args += ["-r", f"__ns:={namespace}"]
        if params_file is not None:
            args += ["--params-file", str(params_file)]
        for k, v in (params or {}).items():
            args += ["-p", f"{k}:={_param(v)}"]
        self.log_path = (log_dir or Path("/tmp")) / f"{module}-{os.getpid()}-{time.time_ns()}.log"
        self._log = self.log_path.open("w")
        self.proc = subprocess.Popen(args, env={**ros_env(domain_id), **(env or {})}, cwd=ROOT, stdout=self._log,
                                     stderr=subprocess.STDOUT, start_new_session=True)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def output(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text()

    def stop(self, timeout: float = 10.0) -> int:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
            if self.proc.poll() is not None:
                break
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                continue
        self._log.close()
        return self.proc.wait()


def _param(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (list, tuple)):
        return "[" + ",".join(f"'{x}'" if isinstance(x, str) else str(x) for x in v) + "]"
    return str(v)


class GraphClient:
    """An rclpy node spun in a background thread, for subscribing and calling services from tests."""

    def __init__(self, domain_id: int, name: str = "test_client"):
        os.environ["ROS_DOMAIN_ID"] = str(domain_id)
        os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
        import rclpy
        from rclpy.executors import SingleThreadedExecutor

        self.context = rclpy.Context()
        rclpy.init(context=self.context, domain_id=domain_id)
        self.node = rclpy.create_node(name, context=self.context)
        self._clients: dict[str, object] = {}
        # Single-threaded: rclpy's multi-threaded executor adds tens to hundreds of ms of latency here.
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self._thread = threading.Thread(target=self.executor.spin, daemon=True)
        self._thread.start()

    def call(self, srv_type, name: str, request=None, timeout: float = 30.0, wait: float | None = None):
        """Call a service (one client per service name, kept); LookupError if it never appears within `wait`.

        Fast DDS's service drops its response when it has not matched the client's response reader within 100 ms
        of answering (rmw_fastrtps #390, #467), and `wait_for_service` only says the *client* has matched the
        service. On a loaded 2-core CI machine a call made at once on a new client was answered into the void
        (seen in CI: set_parameters silent for 30 s). So a new client first lets the service discover it, and a
        parameter request, which is idempotent, is re-sent while unanswered.
        """
        client = self._clients.get(name)
        new = client is None
        if new:
            client = self._clients[name] = self.node.create_client(srv_type, name)
        if not client.wait_for_service(timeout_sec=timeout if wait is None else wait):
            raise LookupError(f"service {name} not available")
        if new:
            time.sleep(DISCOVERY_SETTLE_S)
        request = request or srv_type.Request()
        resend_every = RESEND_EVERY_S if name.rsplit("/", 1)[-1] in IDEMPOTENT_SERVICES else timeout
        deadline = time.monotonic() + timeout
        while True:
            future = client.call_async(request)
            done = threading.Event()
            future.add_done_callback(lambda _: done.set())
            if done.wait(min(resend_every, max(0.0, deadline - time.monotonic()))):
                return future.result()
            client.remove_pending_request(future)
            if time.monotonic() >= deadline:
                raise TimeoutError(f"service {name} did not answer within {timeout} s")

    def collect(self, msg_type, topic: str, qos) -> list:
        """Subscribe and return the (live) list that received messages are appended to."""
        received: list = []
        self.node.create_subscription(msg_type, topic, received.append, qos)
        return received

    def close(self) -> None:
        import rclpy

        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)


def wait_until(predicate, timeout: float, interval: float = 0.05) -> bool:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()
