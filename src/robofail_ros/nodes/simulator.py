"""Simulator node: owns the robosuite scene, publishes its cameras, runs episodes in lockstep with a policy node.

Topic contract for any policy node (see README, "Auditing your own ROS policy node"):
  in  ~/observation/state (sensor_msgs/JointState: every robosuite observation flattened to `key/i`,
      plus `episode_step/0`), ~/observation/<camera>/image_raw (rgb8, same header stamp, RELIABLE),
      ~/episode_start (std_msgs/String: episode id; reset your policy state)
  out /robofail/policy/action (sensor_msgs/JointState: header.stamp = the observation's stamp,
      name = dx dy dz droll dpitch dyaw gripper, position = the action)
The episode itself is the core's `run_episode`; this node only supplies a policy whose actions come over
the graph (`RemotePolicy`).
"""
from __future__ import annotations

import functools
import array
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from diagnostic_msgs.msg import DiagnosticStatus, KeyValue
from geometry_msgs.msg import TransformStamped
from rcl_interfaces.msg import FloatingPointRange, ParameterDescriptor, SetParametersResult
from rclpy.exceptions import ParameterUninitializedException
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.time import Time
from sensor_msgs.msg import CameraInfo, Image, JointState
from std_msgs.msg import String
from std_srvs.srv import Trigger

from robofail_ros import names
from robofail_ros.catalogue import CatalogueError, unknown_name_message
from robofail_ros.episode import ABORTED, SUCCESS, EpisodeRecord, run_episode
from robofail_ros.factors import Factor
from robofail_ros.frames import Transform, optical_frame, scene_transforms
from robofail_ros.nodes.common import (
    LATCHED, RELIABLE, SENSOR, STREAM, camera_info_message, image_message, run_node,
)
from robofail_ros.nodes.lockstep import Inbox
from robofail_ros.obs_codec import ObservationFlattener, record_to_strings
from robofail_ros.policies.base import PolicyUnderTest
from robofail_ros.sim import ADVERSARY_CAMERA, ObservationNeeds, SimConfig, Simulation

READ_ONLY = ("task", "horizon", "image_size", "seed", "cameras")
EPISODE_STEP = f"{names.EPISODE_STEP}/0"

try:  # tf2_msgs comes with every ROS install (and RViz needs one); PyPI has no wheel of it
    from tf2_msgs.msg import TFMessage
except ImportError:  # pragma: no cover - depends on the install
    TFMessage = None


class PolicyTimeout(RuntimeError):
    """No policy node answered an observation in time."""


class RemotePolicyError(RuntimeError):
    """The policy node could not act and said why."""


class RemotePolicy(PolicyUnderTest):
    """A policy under test that lives in another node: observations out, actions back, with a timeout."""

    policy_id = "remote"

    def __init__(self, node: "SimulatorNode", needs: ObservationNeeds, timeout: float, retry: float) -> None:
        self.node, self.needs, self.timeout, self.retry = node, needs, timeout, retry
        self.episode_id = ""
        self.step = 0

    def start_episode(self) -> None:
        self.step = 0
        self.node.episode_start_pub.publish(String(data=self.episode_id))

    def _answer_to(self, stamp, deadline: float) -> JointState | None:
        """The action stamped `stamp`, taken on this (the simulation) thread (see nodes/lockstep.py), waiting
        until `deadline` (monotonic); answers to earlier observations (a slow policy answering a re-sent one
        twice) are dropped."""
        while (remaining := deadline - time.monotonic()) > 0 and not self.node.stopping:
            for _, msg in self.node.actions.take(min(remaining, 0.1)):  # 0.1 s: notice a stopping node soon
                if msg.header.stamp.sec == stamp.sec and msg.header.stamp.nanosec == stamp.nanosec:
                    return msg
        return None

    def __call__(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        stamp = self.node.lockstep_stamp()
        images = {cam: obs[f"{cam}_image"] for cam in self.needs.cameras if f"{cam}_image" in obs}
        state = self.node.observation_message.fill(obs, self.step, stamp)
        deadline = time.monotonic() + self.timeout
        while True:
            # Resend until answered: images travel RELIABLE, but a policy node that (re)started late
            # may have missed the first copy. A policy node answers a repeated stamp with the same action.
            for cam, frame in images.items():
                self.node.obs_image_pubs[cam].publish(image_message(frame, stamp, cam))
            self.node.obs_state_pub.publish(state)
            answer = self._answer_to(stamp, min(time.monotonic() + self.retry, deadline))
            if self.node.stopping:  # the node is shutting down: end the episode now, not after action_timeout
                raise RemotePolicyError("the simulator node is stopping")
            if answer is not None:
                break
            if time.monotonic() >= deadline:
                raise PolicyTimeout(f"no action from a policy node within {self.timeout:.1f} s "
                                    f"(is {self.node.get_namespace().rstrip('/')}/{names.sibling(names.POLICY, names.ACTION)} "
                                    "published?)")
        self.step += 1
        error = next((n[len(names.ACTION_ERROR_PREFIX):] for n in answer.name
                      if n.startswith(names.ACTION_ERROR_PREFIX)), None)
        if error is not None:
            raise RemotePolicyError(error)
        return np.asarray(answer.position, dtype=float)


class ObservationMessage:
    """The lockstep's `observation/state` JointState, one object kept from step to step: its labels are set when
    the observation's layout changes, and each step only its values and stamp (publishing serialises the message
    at once, so the next step may overwrite it). Built afresh every step it cost ~4x the time (bench/ros_overhead.py).
    """

    def __init__(self) -> None:
        self.flatten = ObservationFlattener(extra=(EPISODE_STEP,))
        self.msg = JointState()
        self._labels: tuple[str, ...] | None = None
        self._values = np.empty(0)

    def fill(self, obs: dict[str, np.ndarray], step: int, stamp) -> JointState:
        labels, values = self.flatten(obs)
        values[-1] = step
        if labels is not self._labels:
            self._labels = labels
            self.msg.name = list(labels)
            self.msg.position = array.array("d", bytes(8 * len(labels)))
            self._values = np.frombuffer(self.msg.position, dtype=np.float64)  # the message's own storage
        self._values[:] = values
        self.msg.header.stamp = stamp
        return self.msg


class SimulatorNode(Node):
    """Publishes the scene, applies perturbation parameters live, runs episodes on request."""

    def __init__(self) -> None:
        super().__init__(names.SIMULATOR, namespace=names.NAMESPACE)
        d = self.declare_parameter
        d("task", "Lift", ParameterDescriptor(description="robosuite task (read-only)", read_only=True))
        d("horizon", 0, ParameterDescriptor(description="control steps per episode; 0 = the task's default", read_only=True))
        d("image_size", 84, ParameterDescriptor(description="square camera image size in pixels", read_only=True))
        d("seed", 0, ParameterDescriptor(description="seed of the environment's construction", read_only=True))
        d("cameras", ["agentview"], ParameterDescriptor(description="cameras to publish and feed the policy", read_only=True))
        d("camera_every", 1, ParameterDescriptor(description="feed the policy a frame every k steps; 0 = first step only"))
        d("perturbations", Parameter.Type.STRING_ARRAY, ParameterDescriptor(
            description="active perturbations (catalogue names), applied to the live model at once"))
        d("episode_seed", 0, ParameterDescriptor(description="initial-state seed of the next episode"))
        d("episode_id", "", ParameterDescriptor(description="id recorded with the next episode"))
        d("action_timeout", 5.0, ParameterDescriptor(description="seconds to wait for a policy action before aborting"))
        d("action_retry", 0.5, ParameterDescriptor(description="seconds between re-sends of an unanswered observation"))
        d("preview_rate", 2.0, ParameterDescriptor(description="Hz of camera frames published while idle"))
        d("film_size", 256, ParameterDescriptor(description="frame size in pixels of an episode run by ~/film_episode"))
        d("view_size", 0, ParameterDescriptor(description="size in pixels of ~/render_adversary_view's picture; "
                                                          "0 = image_size (the adversary's observation)"))
        p = self.get_parameter
        if not self.active_names():  # an empty string array cannot be a declared default: set it explicitly
            self.set_parameters([Parameter("perturbations", Parameter.Type.STRING_ARRAY, [])])
        config = SimConfig(task=p("task").value, horizon=p("horizon").value, image_size=p("image_size").value)
        self.sim = Simulation(config, seed=p("seed").value)
        self.factor_parameters = self._declare_factors()
        self.cameras = list(p("cameras").value)
        for cam in self.cameras:
            if cam not in self.sim.scene.cameras:
                raise CatalogueError(unknown_name_message("camera", cam, list(self.sim.scene.cameras)))
        # One thread owns the simulation: MuJoCo's EGL context is current in the thread that made it,
        # and episodes, previews and renders must not interleave anyway.
        self._sim_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sim")
        self._start_lock = threading.Lock()  # makes "is an episode running? start one" atomic
        self._last_stamp = 0  # nanoseconds of the latest observation stamp (see lockstep_stamp)
        self._preview_pending = False
        self._show_pending = False  # parameters changed since the scene was last shown (see _apply)
        self._running = False  # cleared before the outcome goes out, so the next request is never refused
        self.policy_id = "remote"
        initial = self.active_names()
        self.sim.catalogue.resolve(initial)
        self.sim.set_perturbations(initial, self.factor_values())
        self.sim.reset(p("episode_seed").value)

        self.camera_pubs = {c: self.create_publisher(Image, "~/" + names.CAMERA_IMAGE.format(camera=c), SENSOR)
                            for c in self.cameras}
        self.info_pubs = {c: self.create_publisher(CameraInfo, "~/" + names.CAMERA_INFO.format(camera=c), SENSOR)
                          for c in self.cameras}
        self.joint_pub = self.create_publisher(JointState, "~/" + names.JOINT_STATES, SENSOR)
        self.obs_image_pubs = {c: self.create_publisher(Image, "~/" + names.OBSERVATION_IMAGE.format(camera=c), RELIABLE)
                               for c in self.cameras}
        self.obs_state_pub = self.create_publisher(JointState, "~/" + names.OBSERVATION_STATE, RELIABLE)
        self.view_pub = self.create_publisher(Image, "~/" + names.ADVERSARY_VIEW, RELIABLE)
        self.episode_start_pub = self.create_publisher(String, "~/" + names.EPISODE_START, RELIABLE)
        self.outcome_pub = self.create_publisher(DiagnosticStatus, "~/" + names.EPISODE_OUTCOME, RELIABLE)
        # A filmed episode (the report's video) goes out apart, so that nothing counts it as an audit episode.
        self.film_pub = self.create_publisher(Image, "~/" + names.FILM_IMAGE, STREAM)
        self.film_outcome_pub = self.create_publisher(DiagnosticStatus, "~/" + names.FILM_OUTCOME, RELIABLE)
        self.stopping = False
        self.tf_pub = self.create_publisher(TFMessage, names.TF_STATIC, LATCHED) if TFMessage is not None else None
        self._tf_sent: list[Transform] | None = None
        if self.tf_pub is None:
            self.get_logger().info("tf2_msgs is not installed: no TF frames (RViz, which needs them, comes with a "
                                   "ROS install that has tf2_msgs)")
        self._sim_thread.submit(self._publish_tf)
        # Sibling names resolve in this node's namespace, so a worker trio (/robofail/worker_k/...) finds its own policy.
        self.actions = Inbox(self, [(JointState, names.sibling(names.POLICY, names.ACTION), RELIABLE)])
        self.create_subscription(String, names.sibling(names.POLICY, "policy_id"), self._on_policy_id, LATCHED)
        self.create_service(Trigger, "~/" + names.RUN_EPISODE, self._run_episode)
        self.create_service(Trigger, "~/" + names.FILM_EPISODE, functools.partial(self._run_episode, film=True))
        self.create_service(Trigger, "~/" + names.RENDER_VIEW, self._render_view)
        self.add_pre_set_parameters_callback(self._coerce_factors)
        self.add_on_set_parameters_callback(self._validate)
        self.add_post_set_parameters_callback(self._apply)
        self.remote: RemotePolicy | None = None
        self.observation_message = ObservationMessage()  # used by the simulation thread only
        rate = float(p("preview_rate").value)
        if rate > 0:
            self.create_timer(1.0 / rate, self.publish_preview)
        self.get_logger().info(f"simulating {config.task} with {len(self.sim.catalogue)} perturbations and "
                               f"{len(self.factor_parameters)} factor parameters available; cameras {self.cameras}")

    # -- parameters ------------------------------------------------------------------------
    def active_names(self) -> list[str]:
        """The `perturbations` parameter; unset means none (an empty string array cannot be a default)."""
        try:
            return list(self.get_parameter("perturbations").value or [])
        except ParameterUninitializedException:
            return []

    def _declare_factors(self) -> dict[str, Factor]:
        """One double parameter per factor of the task's scene space (none if its catalogue declares no factors).

        A value set outside the range is refused by rclpy itself (see `factor_descriptor`), before `_validate`.
        """
        space = self.sim.space
        declared: dict[str, Factor] = {}
        for f in space.factors if space is not None else ():
            name = names.factor_parameter(f.name)
            self.declare_parameter(name, float(f.nominal), factor_descriptor(f))
            declared[name] = f
        return declared

    def factor_values(self) -> dict[str, float]:
        """The full scene the factor parameters describe, factor name -> value (empty when the task has none).

        rclpy accepts a value within 1e-6 (relative) of a bound; clipping makes it exactly the bound, which the
        factor space accepts.
        """
        return {f.name: min(max(float(self.get_parameter(param).value), f.low), f.high)
                for param, f in self.factor_parameters.items()}

    def episode_scene(self) -> dict[str, float] | None:
        """The scene an episode records: the full factor vector when any factor is away from nominal, else None
        (all factors nominal is the unperturbed scene, recorded like a catalogue or control episode)."""
        values = self.factor_values()
        return values if any(v != self.factor_parameters[names.factor_parameter(n)].nominal
                             for n, v in values.items()) else None

    def _coerce_factors(self, params: list[Parameter]) -> list[Parameter]:
        """`ros2 param set … factors.cube_mass 2` sends an integer: accept it as the double it means."""
        return [Parameter(prm.name, Parameter.Type.DOUBLE, float(prm.value))
                if prm.name in self.factor_parameters and prm.type_ == Parameter.Type.INTEGER else prm
                for prm in params]

    def _validate(self, params: list[Parameter]) -> SetParametersResult:
        for prm in params:
            # A factor's type and range were checked by rclpy before this callback, from its descriptor.
            if prm.name in self.factor_parameters and self.busy:
                return SetParametersResult(successful=False,
                                           reason="an episode is running; factors change between episodes")
            if prm.name == "perturbations":
                value = list(prm.value or [])
                unknown = [n for n in value if n not in self.sim.catalogue.names]
                if unknown:
                    return SetParametersResult(successful=False, reason=unknown_name_message(
                        "perturbation", unknown[0], self.sim.catalogue.names))
                if self.busy:
                    return SetParametersResult(successful=False,
                                               reason="an episode is running; perturbations change between episodes")
            if prm.name in ("action_timeout", "action_retry") and not (isinstance(prm.value, float) and prm.value >= 0.01):
                return SetParametersResult(successful=False, reason=f"{prm.name} must be at least 0.01 seconds")
            if prm.name == "film_size" and not 16 <= prm.value <= 1024:
                return SetParametersResult(successful=False, reason="film_size must be 16 to 1024 pixels")
            if prm.name == "view_size" and not (prm.value == 0 or 16 <= prm.value <= 1024):
                return SetParametersResult(successful=False, reason="view_size must be 0 or 16 to 1024 pixels")
            if prm.name == "camera_every" and prm.value < 0:
                return SetParametersResult(successful=False, reason="camera_every must be 0 (first step) or positive")
            if prm.name == "episode_seed" and prm.value < 0:  # numpy seeds must be non-negative
                return SetParametersResult(successful=False, reason="episode_seed must be 0 or positive")
        return SetParametersResult(successful=True)

    def _apply(self, params: list[Parameter]) -> None:
        """A changed scene is re-shown by the next preview tick, not at once: the adversary sets the parameters
        and starts the episode a millisecond later, and the episode applies and shows them itself (a reset and a
        render per episode spent here were most of the graph's cost per control step; bench/ros_overhead.py)."""
        shown = ("perturbations", "episode_seed", *self.factor_parameters)
        if any(prm.name in shown for prm in params):
            self._show_pending = True

    def _show(self, perturbations: list[str], seed: int, scene: dict[str, float]) -> None:
        self.sim.set_perturbations(perturbations, scene)
        self.sim.reset(seed)
        self._preview()

    def _on_policy_id(self, msg: String) -> None:
        self.policy_id = msg.data

    def lockstep_stamp(self):
        """An observation stamp later than every earlier one: the policy node matches actions to observations
        by stamp, and a clock that stands still (use_sim_time without /clock) would repeat one."""
        self._last_stamp = max(self.get_clock().now().nanoseconds, self._last_stamp + 1)
        return Time(nanoseconds=self._last_stamp).to_msg()

    # -- publishing ------------------------------------------------------------------------
    @property
    def busy(self) -> bool:
        return self._running

    def publish_preview(self) -> None:
        """Timer: camera frames and joint states of the idle scene, for people watching in rqt/RViz; the scene
        is first rebuilt from the parameters if they changed since (and no episode started meanwhile)."""
        if not self.busy and not self._preview_pending:  # never queue frames faster than they render
            self._preview_pending = True
            if self._show_pending:
                self._show_pending = False
                self._sim_thread.submit(self._show, self.active_names(), self.get_parameter("episode_seed").value,
                                        self.factor_values())
            else:
                self._sim_thread.submit(self._preview)

    def _preview(self) -> None:
        self._preview_pending = False
        stamp = self.get_clock().now().to_msg()
        for cam in self.cameras:
            frame = self.sim.render(cam, self.sim.config.image_size)
            self.camera_pubs[cam].publish(image_message(frame, stamp, optical_frame(cam)))
            self.info_pubs[cam].publish(camera_info_message(self.sim.scene.cameras[cam], stamp, optical_frame(cam)))
        self.joint_pub.publish(self._joint_state(stamp))
        self._publish_tf()

    def _publish_tf(self) -> None:
        """On the sim thread: /tf_static with the world, the table and every camera of the model, whenever a pose
        changed (a camera perturbation, a robot-mounted camera after an episode); latched, so RViz gets it late."""
        if self.tf_pub is None:
            return
        transforms = scene_transforms(self.sim.model, self.sim.data, self.sim.scene.cameras)
        if transforms == self._tf_sent:
            return
        self._tf_sent = transforms
        stamp = self.get_clock().now().to_msg()
        self.tf_pub.publish(TFMessage(transforms=[transform_message(t, stamp) for t in transforms]))

    def _joint_state(self, stamp) -> JointState:
        robot = self.sim.env.robots[0]
        joints = list(robot.robot_joints)
        idx = robot._ref_joint_pos_indexes
        msg = JointState(name=joints, position=self.sim.data.qpos[idx].tolist(),
                         velocity=self.sim.data.qvel[robot._ref_joint_vel_indexes].tolist())
        msg.header.stamp = stamp
        return msg

    # -- services --------------------------------------------------------------------------
    def _render_view(self, request, response):
        if self.busy:
            response.success, response.message = False, "an episode is running"
            return response
        perturbations, seed = self.active_names(), self.get_parameter("episode_seed").value
        scene = self.factor_values()
        size = self.get_parameter("view_size").value or self.sim.config.image_size

        def render():
            self.sim.set_perturbations(perturbations, scene)
            self.sim.reset(seed)
            return self.sim.render(ADVERSARY_CAMERA, size)

        try:
            frame = self._sim_thread.submit(render).result(timeout=30)
        except Exception as exc:  # a stuck or broken simulation thread is reported, not fatal to the node
            response.success, response.message = False, f"rendering failed: {type(exc).__name__}: {exc}"
            return response
        stamp = self.get_clock().now().to_msg()
        self.view_pub.publish(image_message(frame, stamp, ADVERSARY_CAMERA))
        response.success, response.message = True, f"{stamp.sec}.{stamp.nanosec:09d}"
        return response

    def _run_episode(self, request, response, film: bool = False):
        with self._start_lock:
            if self.busy:
                response.success, response.message = False, "an episode is already running"
                return response
            p = self.get_parameter
            episode_id = p("episode_id").value or f"{names.SIMULATOR}-{int(time.time() * 1000)}"
            needs = ObservationNeeds(cameras=tuple(self.cameras), image_size=self.sim.config.image_size,
                                     camera_every=int(p("camera_every").value))
            remote = RemotePolicy(self, needs, float(p("action_timeout").value), float(p("action_retry").value))
            remote.episode_id = episode_id
            perturbations = self.active_names()
            seed = int(p("episode_seed").value)
            scene = self.episode_scene()
            self.remote = remote
            self._running = True
            self._show_pending = False  # the episode applies and shows its parameters itself
            film_size = int(p("film_size").value) if film else None
            self._sim_thread.submit(self._episode, remote, perturbations, seed, episode_id, scene, film_size)
        response.success, response.message = True, episode_id
        return response

    def _episode(self, remote: RemotePolicy, perturbations: list[str], seed: int, episode_id: str,
                 scene: dict[str, float] | None, film_size: int | None = None) -> None:
        try:
            record = run_episode(self.sim, remote, perturbations, seed, episode_id=episode_id, scene=scene,
                                 film_size=film_size)
        except Exception as exc:  # the simulation itself broke: say so as an aborted episode, never stay silent
            record = EpisodeRecord(episode_id=episode_id, seed=seed, perturbations=perturbations, outcome=ABORTED,
                                   steps=0, reward=0.0, wall_time=0.0, policy_id=self.policy_id,
                                   task=self.sim.config.task, reason=f"simulator error: {type(exc).__name__}: {exc}",
                                   scene=scene)
        finally:
            self.remote, self._running = None, False
        record.policy_id = self.policy_id
        if self.stopping:  # cut short by the shutdown, not by the policy: the adversary runs it again elsewhere
            return
        if film_size is not None:  # the frames in order (frame_id: the episode), then how many there were
            stamp = self.get_clock().now().to_msg()
            for frame in record.frames or []:
                self.film_pub.publish(image_message(frame, stamp, episode_id))
            outcome = outcome_message(record, self.get_fully_qualified_name())
            outcome.values.append(KeyValue(key=names.FILM_FRAMES_KEY, value=str(len(record.frames or []))))
            self.film_outcome_pub.publish(outcome)
        else:
            self.outcome_pub.publish(outcome_message(record, self.get_fully_qualified_name()))
        self.get_logger().info(f"episode {episode_id}: {record.outcome} after {record.steps} steps"
                               + (f" ({record.reason})" if record.reason and record.outcome != SUCCESS else ""))

    def close(self) -> None:
        self.stopping = True  # a running episode ends at its next action wait instead of after action_timeout
        self._sim_thread.submit(self.sim.close).result(timeout=10)
        self._sim_thread.shutdown(wait=False, cancel_futures=True)


def factor_descriptor(f: Factor) -> ParameterDescriptor:
    """What `ros2 param describe` prints and rqt_reconfigure shows for one factor: its meaning, unit, scale,
    nominal value, and a range descriptor: a slider, and rclpy's own check on every set, whose refusal states
    the range ("Parameter factors.light_intensity out of range Min: 0.1, Max: 3.0, value: 5.0")."""
    unit = f" {f.unit}" if f.unit else ""
    return ParameterDescriptor(
        description=(f"{f.description or f.name} [{f.kind}, group {f.group}]; {f.scale} scale; "
                     f"the nominal value {f.nominal:g} leaves the model untouched"),
        additional_constraints=f"{f.low:g} <= value <= {f.high:g}{unit}",
        floating_point_range=[FloatingPointRange(from_value=float(f.low), to_value=float(f.high), step=0.0)])


def transform_message(t: Transform, stamp) -> TransformStamped:
    msg = TransformStamped()
    msg.header.stamp, msg.header.frame_id, msg.child_frame_id = stamp, t.parent, t.child
    msg.transform.translation.x, msg.transform.translation.y, msg.transform.translation.z = t.translation
    r = msg.transform.rotation
    r.x, r.y, r.z, r.w = t.rotation
    return msg


def outcome_message(record: EpisodeRecord, hardware_id: str) -> DiagnosticStatus:
    level = {"success": DiagnosticStatus.OK, "failure": DiagnosticStatus.WARN}.get(record.outcome, DiagnosticStatus.ERROR)
    msg = DiagnosticStatus(level=level, name=f"episode {record.episode_id}", hardware_id=hardware_id,
                           message=f"{record.outcome} after {record.steps} steps" + (f": {record.reason}" if record.reason else ""))
    msg.values = [KeyValue(key=k, value=v) for k, v in record_to_strings(record.to_json()).items()]
    return msg


def main(args: list[str] | None = None) -> None:
    run_node(SimulatorNode, args)


if __name__ == "__main__":
    main()
