"""The interface every policy under test implements, modelled on robomimic's `RolloutPolicy`.

`start_episode()` is called before every rollout (the reference code forgot this, so
stateful policies such as BC-RNN leaked state between episodes), then
`policy(obs) -> action` once per control step.
"""
from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

from robofail_ros.sim import ObservationNeeds, SceneInfo


class PolicySpecError(ValueError):
    """A policy spec names nothing loadable; the message says what is accepted."""


class PolicyUnderTest(ABC):
    """A policy the audit runs; subclasses say what they observe so nothing else is rendered."""

    #: Short identifier recorded with every episode (override per instance for checkpoints).
    policy_id: str = "policy"
    #: What the simulation must render for this policy; the default renders nothing.
    needs: ObservationNeeds = ObservationNeeds()
    #: Tasks the policy knows how to do; empty: any (a user's policy is trusted). Auditing a policy on a task it
    #: was never made for would report every scene as a failure, so that is refused before the audit starts.
    tasks: tuple[str, ...] = ()

    def bind(self, scene: SceneInfo) -> None:
        """Receive facts about the nominal scene (camera calibration, action size) once, before any episode."""
        check_task(self, scene.task)
        self.scene = scene

    def start_episode(self) -> None:
        """Reset any internal state; called before every rollout."""

    @abstractmethod
    def __call__(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        """Return the action for this control step."""


def check_task(policy: PolicyUnderTest, task: str) -> None:
    """Refuse `task` if the policy declares the tasks it can do and `task` is not one of them."""
    if policy.tasks and task not in policy.tasks:
        raise PolicySpecError(
            f"policy {policy.policy_id!r} does {', '.join(policy.tasks)}, not {task}: auditing it there would only "
            f"measure that it was never made for {task}. Audit a {task} policy instead: --policy expert (the "
            f"scripted expert), or a zoo model (robofail zoo build --task {task}; --policy robomimic:<model folder>)")
