"""Pieces every node uses: QoS profiles, message conversions, and `main()`: start, spin, stop cleanly."""
from __future__ import annotations

import array
import os
import signal
import sys
import threading
import traceback
from typing import Callable

import numpy as np
import rclpy
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor, SingleThreadedExecutor
from rclpy.signals import SignalHandlerOptions
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Float64MultiArray, MultiArrayDimension

from robofail_ros.names import NAMESPACE
from robofail_ros.sim import CameraModel

#: Seconds the adversary waits for a worker's Trigger service (perturbation apply/clear, simulator services) before
#: giving up on that call. A service that itself waits on another node must answer within this.
TRIGGER_TIMEOUT = 30.0
#: "Latest value" topics a late RViz/rqt still sees.
LATCHED = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)
#: Lockstep and record topics: nothing may be lost.
RELIABLE = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)
SENSOR = qos_profile_sensor_data
#: A burst that must arrive whole and in order (a filmed episode's frames): nothing is dropped for depth.
STREAM = QoSProfile(depth=1, history=HistoryPolicy.KEEP_ALL, reliability=ReliabilityPolicy.RELIABLE)


def image_message(frame: np.ndarray, stamp, frame_id: str) -> Image:
    """An rgb8 Image from an HxWx3 uint8 array (array.array avoids rclpy's slow per-byte check)."""
    msg = Image()
    msg.header.stamp = stamp
    msg.header.frame_id = frame_id
    msg.height, msg.width = int(frame.shape[0]), int(frame.shape[1])
    msg.encoding = "rgb8"
    msg.is_bigendian = 0
    msg.step = msg.width * 3
    msg.data = array.array("B", np.ascontiguousarray(frame, dtype=np.uint8).tobytes())
    return msg


def image_array(msg: Image) -> np.ndarray:
    """The HxWx3 uint8 array of an rgb8 Image; other encodings are refused by name."""
    if msg.encoding != "rgb8":
        raise ValueError(f"image encoding {msg.encoding!r} not supported; expected rgb8")
    expected = msg.height * msg.width * 3
    data = np.frombuffer(bytes(msg.data), dtype=np.uint8)
    if data.size != expected:
        raise ValueError(f"image of {msg.width}x{msg.height} carries {data.size} bytes, expected {expected}")
    return data.reshape(msg.height, msg.width, 3)


def camera_info_message(camera: CameraModel, stamp, frame_id: str) -> CameraInfo:
    msg = CameraInfo()
    msg.header.stamp = stamp
    msg.header.frame_id = frame_id
    msg.width, msg.height = camera.width, camera.height
    msg.distortion_model = "plumb_bob"
    msg.d = [0.0] * 5
    k = camera.intrinsics
    msg.k = [float(x) for x in k.ravel()]
    msg.r = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    msg.p = [k[0, 0], 0.0, k[0, 2], 0.0, 0.0, k[1, 1], k[1, 2], 0.0, 0.0, 0.0, 1.0, 0.0]
    return msg


def labelled_vector(values) -> Float64MultiArray:
    """A vector over the catalogue in catalogue order; the analysis node's `labels` topic names the entries."""
    msg = Float64MultiArray(data=[float(v) for v in values])
    msg.layout.dim = [MultiArrayDimension(label="perturbation", size=len(msg.data), stride=len(msg.data))]
    return msg


def audit_searcher(searcher: str, continuous: bool) -> str:
    """The searcher an audit runs: the `continuous` parameter turns a catalogue searcher (the params file's
    default) into the continuous default; a continuous searcher, or a name AuditConfig will refuse, stays."""
    from robofail_ros.config import DEFAULT_CONTINUOUS_SEARCHER, DISCRETE_SEARCHERS  # config loads MuJoCo: only here

    return DEFAULT_CONTINUOUS_SEARCHER if continuous and searcher in DISCRETE_SEARCHERS else searcher


#: Seconds a node may take to stop after a signal before it is ended regardless (a node that must write
#: something on the way out, the adversary's report, sets its own `shutdown_grace`).
SHUTDOWN_GRACE = 3.0


class _Stop:
    """Why the node stops: the first SIGINT/SIGTERM, the node's own request (the adversary when its audit ends),
    or a callback that raised. Later signals are ignored: shutdown is already under way and bounded."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.reason = ""
        self.signal: str | None = None
        self.error: BaseException | None = None
        self.exit_code = 0
        #: Set by the signal handler, which must take no lock (it runs on the main thread, which may hold
        #: the event's); the main thread turns it into a request.
        self.pending_signal: str | None = None

    def request(self, reason: str, exit_code: int = 0, signal_name: str | None = None) -> None:
        if not self.event.is_set():
            self.reason, self.exit_code, self.signal = reason, exit_code, signal_name
            self.event.set()


_STOP = _Stop()


def request_exit(reason: str, exit_code: int = 0) -> None:
    """Ask the running node's process to stop and exit with `exit_code` (e.g. the adversary when its audit
    ended, so that `ros2 launch` can end with it). One node per process, so the request is process-wide."""
    _STOP.request(reason, exit_code)


def _raise_interrupt(signum, frame) -> None:
    raise KeyboardInterrupt  # before the node exists: abandon start-up (SIGTERM too, quietly)


def _on_signal(signum, frame) -> None:
    if _STOP.pending_signal is None:
        _STOP.pending_signal = signal.Signals(signum).name


def _spin(executor) -> None:
    """The executor's loop, off the main thread (which waits for a signal); an exception in a callback stops the
    node with exit code 1, as it would have ended a plain `rclpy.spin`."""
    try:
        while not _STOP.event.is_set() and executor.context.ok():
            executor.spin_once(timeout_sec=0.5)
    except ExternalShutdownException:
        _STOP.request("the ROS context was shut down")
    except BaseException as exc:  # noqa: BLE001 - reported by the main thread
        _STOP.error = exc
        _STOP.request(f"{type(exc).__name__} in a callback", exit_code=1)


def _watchdog(name: str, grace: float) -> threading.Timer:
    """End the process if stopping hangs (a middleware call that never returns): a node must never outlive
    its signal by more than `grace` seconds, or launch would escalate to SIGKILL."""
    def hard_exit() -> None:
        sys.stderr.write(f"[{name}] did not stop within {grace:.0f} s; exiting now\n")
        sys.stderr.flush()
        sys.stdout.flush()
        os._exit(_STOP.exit_code)

    timer = threading.Timer(grace, hard_exit)
    timer.daemon = True
    timer.start()
    return timer


#: Set to "1" in a node's environment (the launch files do) to have the node stopped, as by SIGTERM, when the
#: process that started it dies: `ros2 launch` killed by SIGTERM or SIGKILL leaves no node running.
EXIT_WITH_PARENT_ENV = "ROBOFAIL_EXIT_WITH_PARENT"


def _exit_with_parent() -> None:
    """Ask Linux to send this process SIGTERM when its parent dies (prctl PR_SET_PDEATHSIG), if asked to.

    `ros2 launch` ends at once on SIGTERM, without stopping what it started ("can result in orphaned
    processes", says launch): its nodes would run on. Opt-in, so that a node started in the background by a
    short-lived shell keeps running.
    """
    if os.environ.get(EXIT_WITH_PARENT_ENV) != "1" or not sys.platform.startswith("linux"):
        return
    import ctypes

    parent = os.getppid()
    pr_set_pdeathsig = 1
    if ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, int(signal.SIGTERM), 0, 0, 0) != 0:
        return  # not fatal: the node just does not follow its parent
    if os.getppid() != parent:  # the parent died before the request took effect
        os.kill(os.getpid(), signal.SIGTERM)


def run_node(make_node: Callable[[], Node], args: list[str] | None = None, threads: int = 1) -> None:
    """`main()` of every node: init, spin, and stop cleanly however the process is told to.

    rclpy's own signal handlers are off: they shut the ROS context down at once, so a thread still using a
    client or publisher (the adversary's audit thread) died on an InvalidHandle, and a second SIGINT raised
    KeyboardInterrupt inside `destroy_node`. Instead the executor spins on a thread of its own while the main
    thread waits; the first SIGINT or SIGTERM logs one INFO line, stops the executor (no callback can race
    what follows), runs the node's `close()` (which stops the node's own threads, every handle still valid),
    then destroys the node and shuts down. Later signals are ignored, a watchdog bounds the whole stop
    (`shutdown_grace`, default SHUTDOWN_GRACE seconds), and the exit code is 0 (1 when a callback raised; a
    node may ask for another with `request_exit`).

    Single-threaded by default: rclpy's MultiThreadedExecutor added up to a second of latency per
    lockstep round trip here (measured), where the single-threaded one answers in ~2 ms. Nodes that must
    wait inside a callback use `async def` callbacks instead of more threads.
    """
    _exit_with_parent()
    try:
        rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    except Exception as exc:  # e.g. a malformed --params-file: say so in one line and exit non-zero
        sys.exit(f"cannot start: {exc}")
    node = None
    try:
        signal.signal(signal.SIGINT, _raise_interrupt)
        signal.signal(signal.SIGTERM, _raise_interrupt)
        try:
            node = make_node()
        except KeyboardInterrupt:
            return  # stopped while starting: nothing to clean up but the context (finally)
        except Exception as exc:  # bad parameters, catalogue, policy spec …: one clear line, non-zero exit
            sys.exit(f"cannot start: {type(exc).__name__}: {exc}")
        signal.signal(signal.SIGINT, _on_signal)
        signal.signal(signal.SIGTERM, _on_signal)
        executor = MultiThreadedExecutor(num_threads=threads) if threads > 1 else SingleThreadedExecutor()
        executor.add_node(node)
        spinner = threading.Thread(target=_spin, args=(executor,), name="executor", daemon=True)
        spinner.start()
        while not _STOP.event.wait(0.1):  # a signal handler runs in the main thread, between these waits
            if _STOP.pending_signal is not None:
                _STOP.request(f"stopping on {_STOP.pending_signal}", signal_name=_STOP.pending_signal)
        _watchdog(node.get_name(), float(getattr(node, "shutdown_grace", SHUTDOWN_GRACE)))
        if _STOP.signal is not None:
            node.get_logger().info(_STOP.reason)
        if _STOP.error is not None:
            node.get_logger().error(f"{_STOP.reason}: " + "".join(
                traceback.format_exception(type(_STOP.error), _STOP.error, _STOP.error.__traceback__)))
        executor.wake()  # no callback runs from here on: none can race the node's close()
        spinner.join(timeout=2.0)
        close = getattr(node, "close", None)
        if close is not None:  # stops the node's own threads while every handle is still valid
            try:
                close()
            except Exception as exc:  # noqa: BLE001 - stopping goes on; say what failed in one line
                node.get_logger().warning(f"while stopping: {type(exc).__name__}: {exc}")
        executor.shutdown(timeout_sec=0)
        node.destroy_node()
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        rclpy.try_shutdown()
    # Everything the node owns is closed. Skip the interpreter's own teardown: it would join worker threads
    # still busy with work nobody waits for (a model fit) and run GL finalizers after the display is gone.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(_STOP.exit_code)


__all__ = ["LATCHED", "RELIABLE", "SENSOR", "STREAM", "NAMESPACE", "image_message", "image_array", "camera_info_message",
           "labelled_vector", "audit_searcher", "run_node", "request_exit", "SHUTDOWN_GRACE", "EXIT_WITH_PARENT_ENV"]
