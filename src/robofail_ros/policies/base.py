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

    def bind(self, scene: SceneInfo) -> None:
        """Receive facts about the nominal scene (camera calibration, action size) once, before any episode."""
        self.scene = scene

    def start_episode(self) -> None:
        """Reset any internal state; called before every rollout."""

    @abstractmethod
    def __call__(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        """Return the action for this control step."""
