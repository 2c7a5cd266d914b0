#!/usr/bin/env python3
"""A policy node of one's own, written from the README's contract alone: plain rclpy and sensor_msgs, nothing
of robofail_ros. It lifts the cube in robosuite's Lift from the state observation (a privileged script:
above the cube, down, close, up).

    python external_policy_node.py --ros-args -r __node:=my_policy -r __ns:=/robofail

The contract: observations arrive on `simulator/observation/state` (sensor_msgs/JointState, every robosuite
observation flattened to `key/i`, plus `episode_step/0`); an action goes back on `policy/action`
(sensor_msgs/JointState, `header.stamp` = the observation's stamp, `position` = dx dy dz droll dpitch dyaw
gripper), once per observation, and the same action again if the same observation is re-sent. Both names are
relative, so the node works in any worker namespace (`-r __ns:=/robofail/worker_1`) and under any node name.
"""
import rclpy
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import JointState

LABELS = ["dx", "dy", "dz", "droll", "dpitch", "dyaw", "gripper"]
OPEN, CLOSED = -1.0, 1.0


class LiftScript:
    """above → descend → close → lift, with a proportional step towards each target."""

    def __init__(self) -> None:
        self.phase, self.steps, self.grasp_z = "above", 0, 0.0

    def act(self, eef: list[float], cube: list[float]) -> list[float]:
        self.steps += 1
        target, grip = list(cube), OPEN
        if self.phase == "above":
            target[2] += 0.08
            if (abs(target[0] - eef[0]) < 0.01 and abs(target[1] - eef[1]) < 0.01
                    and abs(target[2] - eef[2]) < 0.02) or self.steps > 40:
                self.phase, self.steps = "descend", 0
        elif self.phase == "descend":
            if abs(target[2] - eef[2]) < 0.008 or self.steps > 30:
                self.phase, self.steps = "close", 0
        elif self.phase == "close":
            grip = CLOSED
            if self.steps >= 8:
                self.phase, self.steps, self.grasp_z = "lift", 0, eef[2]
        else:
            target, grip = [eef[0], eef[1], self.grasp_z + 0.15], CLOSED
        move = [max(-1.0, min(1.0, 10.0 * (t - e))) for t, e in zip(target, eef)]
        return move + [0.0, 0.0, 0.0, grip]


class MyPolicy(Node):
    def __init__(self) -> None:
        super().__init__("my_policy")
        reliable = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)
        self.pub = self.create_publisher(JointState, "policy/action", reliable)
        self.create_subscription(JointState, "simulator/observation/state", self.on_state, reliable)
        self.script = LiftScript()
        self.last_stamp, self.last_reply = None, None

    def on_state(self, msg: JointState) -> None:
        stamp = (msg.header.stamp.sec, msg.header.stamp.nanosec)
        if stamp == self.last_stamp:  # a re-sent observation gets the same action again
            self.pub.publish(self.last_reply)
            return
        obs = dict(zip(msg.name, msg.position))
        if obs["episode_step/0"] == 0:
            self.script = LiftScript()
        eef = [obs[f"robot0_eef_pos/{i}"] for i in range(3)]
        cube = [obs[f"cube_pos/{i}"] for i in range(3)]
        reply = JointState(name=LABELS, position=self.script.act(eef, cube))
        reply.header.stamp = msg.header.stamp
        self.last_stamp, self.last_reply = stamp, reply
        self.pub.publish(reply)


def main() -> None:
    rclpy.init()
    node = MyPolicy()
    try:
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        node.destroy_node()
        rclpy.try_shutdown()


if __name__ == "__main__":
    main()
