"""Lockstep subscriptions read by the thread that waits for them, not by the executor.

An episode on the graph is a round trip per control step: observation out, action back. Through the executor a
message crossed a thread and the GIL (the executor thread takes it and wakes the waiting thread, then rebuilds its
wait set in Python while the woken thread waits for the GIL), and the executor's own loop costs ~0.15 ms per
message here: together most of the graph's cost per control step (bench/ros_overhead.py). An `Inbox` puts its
subscriptions in a callback group the executor never serves and hands their messages to whoever calls `take`,
straight from a wait set of its own. For the graph they are ordinary subscriptions (`ros2 topic info` lists them).
"""
from __future__ import annotations

from contextlib import ExitStack
from typing import Any, Sequence

from rclpy.callback_groups import CallbackGroup
from rclpy.impl.implementation_singleton import rclpy_implementation as _rclpy
from rclpy.node import Node


class TakenByItsThread(CallbackGroup):
    """A callback group the executor never serves: its entities are read by the thread that takes their messages."""

    def can_execute(self, entity) -> bool:
        return False


class Inbox:
    """Subscriptions whose messages one thread takes itself, in arrival order per subscription."""

    def __init__(self, node: Node, subscriptions: Sequence[tuple[type, str, Any]]) -> None:
        """`subscriptions`: (message type, topic, QoS) each; `take` reports a message with its index here."""
        group = TakenByItsThread()
        self.subscriptions = [node.create_subscription(msg_type, topic, _ignore, qos, callback_group=group)
                              for msg_type, topic, qos in subscriptions]
        self._wake = node.create_guard_condition(_ignore, callback_group=group)
        self._wait_set = _rclpy.WaitSet(len(self.subscriptions), 1, 0, 0, 0, 0, node.context.handle)

    def take(self, timeout: float) -> list[tuple[int, Any]]:
        """Every message queued now, as (subscription index, message); if none, wait up to `timeout` seconds
        (or until `wake`) for the first ones. An empty list means none came."""
        taken = self._take_all()
        if taken or timeout <= 0:
            return taken
        ws = self._wait_set
        with ExitStack() as handles:  # every handle stays valid while the wait set holds it
            ws.clear_entities()
            for sub in self.subscriptions:
                handles.enter_context(sub.handle)
                ws.add_subscription(sub.handle)
            handles.enter_context(self._wake.handle)
            ws.add_guard_condition(self._wake.handle)
            ws.wait(int(timeout * 1e9))
        return self._take_all()

    def _take_all(self) -> list[tuple[int, Any]]:
        out = []
        for index, sub in enumerate(self.subscriptions):
            with sub.handle:
                while (taken := sub.handle.take_message(sub.msg_type, sub.raw)) is not None:
                    out.append((index, taken[0]))
        return out

    def wake(self) -> None:
        """End a `take` that is waiting (e.g. when the node stops)."""
        self._wake.trigger()


def _ignore(*_: Any) -> None:
    """The callback of an entity no executor runs."""
