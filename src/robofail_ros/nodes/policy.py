"""Policy-under-test node: any core policy (vision, expert, module:Class) answering the simulator's observations.

It resets the policy (`start_episode()`) on every observation with `episode_step == 0`,
hands the policy only the camera frames it declared it reads, and answers each
observation once; a repeated observation (the simulator re-sends when an answer is
slow) gets the same action again.
"""
from __future__ import annotations

import array
import threading
from collections import OrderedDict

import numpy as np
from rcl_interfaces.msg import ParameterDescriptor
from rclpy.node import Node
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import String

from robofail_ros import names
from robofail_ros.nodes.common import LATCHED, RELIABLE, image_array, run_node
from robofail_ros.nodes.lockstep import Inbox
from robofail_ros.obs_codec import unflatten_observation
from robofail_ros.policies import load_policy
from robofail_ros.sim import SimConfig, Simulation

_KEEP = 64  # answered observations remembered for re-sends


def nominal_scene(task: str, image_size: int):
    """The calibration a policy binds to: the nominal scene of the task, as a headless audit sees it."""
    sim = Simulation(SimConfig(task=task, image_size=image_size))
    try:
        return sim.scene
    finally:
        sim.close()


class PolicyNode(Node):
    def __init__(self) -> None:
        super().__init__(names.POLICY, namespace=names.NAMESPACE)
        self.declare_parameter("policy", "vision", ParameterDescriptor(
            description="vision, expert, robomimic:PATH, or package.module:ClassName", read_only=True))
        self.declare_parameter("task", "Lift", ParameterDescriptor(description="task whose calibration to use", read_only=True))
        self.declare_parameter("image_size", 84, ParameterDescriptor(description="simulator image size", read_only=True))
        spec = self.get_parameter("policy").value
        self.policy = load_policy(spec)
        self.scene = nominal_scene(self.get_parameter("task").value, self.get_parameter("image_size").value)
        self.policy.bind(self.scene)
        self.labels = names.action_labels(self.scene.action_dim)
        self.action_pub = self.create_publisher(JointState, "~/" + names.ACTION, RELIABLE)
        id_pub = self.create_publisher(String, "~/policy_id", LATCHED)
        id_pub.publish(String(data=self.policy.policy_id))
        self._pending: dict[tuple[int, int], tuple[int, dict]] = {}
        self._images: dict[tuple[int, int], dict[str, np.ndarray]] = {}
        self._answered: OrderedDict[tuple[int, int], JointState] = OrderedDict()
        self._cameras = list(self.policy.needs.cameras)
        self._inbox = Inbox(self, [(JointState, names.sibling(names.SIMULATOR, names.OBSERVATION_STATE), RELIABLE)] + [
            (Image, names.sibling(names.SIMULATOR, names.OBSERVATION_IMAGE, camera=cam), RELIABLE)
            for cam in self._cameras])
        self._stop = threading.Event()
        self._server = threading.Thread(target=self._serve, name="lockstep", daemon=True)
        self._server.start()
        self.get_logger().info(f"policy under test: {self.policy.policy_id} ({spec}); reads cameras "
                               f"{list(self.policy.needs.cameras) or 'none'}")

    def _serve(self) -> None:
        """Every observation is answered on this thread, taken straight from the subscriptions (nodes/lockstep.py):
        the executor's hand-over cost more than the rest of a control step's round trip."""
        while not self._stop.is_set():
            try:
                for index, msg in self._inbox.take(0.5):
                    if index == 0:
                        self._on_state(msg)
                    else:
                        self._on_image(self._cameras[index - 1], msg)
            except Exception as exc:  # noqa: BLE001 - nothing may end the lockstep loop but close()
                self.get_logger().error(f"observation not handled: {type(exc).__name__}: {exc}")
                self._stop.wait(0.1)

    def close(self) -> None:
        """Stop the lockstep thread (before the node is destroyed, while its handles are valid)."""
        self._stop.set()
        self._inbox.wake()
        self._server.join(timeout=2.0)

    @staticmethod
    def _key(stamp) -> tuple[int, int]:
        return stamp.sec, stamp.nanosec

    def _on_state(self, msg: JointState) -> None:
        key = self._key(msg.header.stamp)
        if key in self._answered:
            self.action_pub.publish(self._answered[key])
            return
        if key in self._pending:
            return
        try:
            obs = unflatten_observation(msg.name, msg.position)
            step = int(obs.pop(names.EPISODE_STEP)[0])
        except (ValueError, KeyError) as exc:
            self.get_logger().error(f"malformed observation ignored: {exc}")
            return
        if step == 0:
            self.policy.start_episode()
            self._images = {k: v for k, v in self._images.items() if k == key}
        self._pending[key] = (step, obs)
        self._try_answer(key)

    def _on_image(self, camera: str, msg: Image) -> None:
        key = self._key(msg.header.stamp)
        if key in self._answered:
            return
        try:
            self._images.setdefault(key, {})[camera] = image_array(msg)
        except ValueError as exc:
            self.get_logger().error(f"image from {camera} ignored: {exc}")
            return
        self._try_answer(key)

    def _check_images(self, obs: dict) -> None:
        size = self.policy.needs.image_size
        for cam in self.policy.needs.cameras:
            frame = obs.get(f"{cam}_image")
            if frame is not None and frame.shape != (size, size, 3):
                raise ValueError(f"{cam} image is {frame.shape[1]}x{frame.shape[0]}, the policy reads {size}x{size} "
                                 "(set the simulator's image_size to match)")

    def _try_answer(self, key: tuple[int, int]) -> None:
        if key not in self._pending:
            return
        step, obs = self._pending[key]
        needs = self.policy.needs
        if needs.renders_at(step):
            frames = self._images.get(key, {})
            if any(cam not in frames for cam in needs.cameras):
                return  # wait for the frames of this step
            obs = dict(obs, **{f"{cam}_image": frames[cam] for cam in needs.cameras})
        del self._pending[key]
        self._images.pop(key, None)
        try:
            self._check_images(obs)
            action = np.asarray(self.policy(obs), dtype=float).ravel()
            reply = JointState(name=self.labels if len(action) == len(self.labels) else
                               [f"a{i}" for i in range(len(action))], position=array.array("d", action))
        except Exception as exc:  # the simulator aborts the episode with this reason, never counts a failure
            reason = f"{type(exc).__name__}: {exc}"
            self.get_logger().error(f"policy failed at step {step}: {reason}")
            reply = JointState(name=[names.ACTION_ERROR_PREFIX + reason], position=[float("nan")])
        reply.header.stamp.sec, reply.header.stamp.nanosec = key
        self._answered[key] = reply
        while len(self._answered) > _KEEP:
            self._answered.popitem(last=False)
        self.action_pub.publish(reply)


def main(args: list[str] | None = None) -> None:
    run_node(PolicyNode, args)


if __name__ == "__main__":
    main()
