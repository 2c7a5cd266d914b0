"""Pieces every node uses: QoS profiles, message conversions, waiting on futures, `main()` boilerplate."""
from __future__ import annotations

import array
import sys
import threading
from typing import Callable

import numpy as np
import rclpy
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor, SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Float64MultiArray, MultiArrayDimension

from robofail_ros.names import NAMESPACE
from robofail_ros.sim import CameraModel

#: "Latest value" topics a late RViz/rqt still sees.
LATCHED = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)
#: Lockstep and record topics: nothing may be lost.
RELIABLE = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)
SENSOR = qos_profile_sensor_data


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


def wait_for(future, timeout: float) -> bool:
    """Block this thread until `future` is done (the executor runs on other threads)."""
    done = threading.Event()
    future.add_done_callback(lambda _: done.set())
    return done.wait(timeout) or future.done()


def run_node(make_node: Callable[[], Node], args: list[str] | None = None, threads: int = 1) -> None:
    """`main()` of every node: init, spin, shut down cleanly on Ctrl-C.

    Single-threaded by default: rclpy's MultiThreadedExecutor added up to a second of latency per
    lockstep round trip here (measured), where the single-threaded one answers in ~2 ms. Nodes that must
    wait inside a callback use `async def` callbacks instead of more threads.
    """
    node = None
    try:
        rclpy.init(args=args)
    except Exception as exc:  # e.g. a malformed --params-file: say so in one line and exit non-zero
        sys.exit(f"cannot start: {exc}")
    try:
        try:
            node = make_node()
        except Exception as exc:  # bad parameters, catalogue, policy spec …: one clear line, non-zero exit
            sys.exit(f"cannot start: {type(exc).__name__}: {exc}")
        executor = MultiThreadedExecutor(num_threads=threads) if threads > 1 else SingleThreadedExecutor()
        executor.add_node(node)
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        if node is not None:
            close = getattr(node, "close", None)
            if close:
                close()
            node.destroy_node()
        if rclpy.ok():
            rclpy.try_shutdown()


__all__ = ["LATCHED", "RELIABLE", "SENSOR", "NAMESPACE", "image_message", "image_array", "camera_info_message",
           "labelled_vector", "audit_searcher", "wait_for", "run_node"]
