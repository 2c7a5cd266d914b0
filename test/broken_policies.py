"""Policies under test that misbehave on purpose, importable by a policy node as `broken_policies:<Class>`."""
import numpy as np

from robofail_ros.policies import PolicyUnderTest
from robofail_ros.sim import ObservationNeeds


class NaNPolicy(PolicyUnderTest):
    policy_id = "nan_policy"

    def __call__(self, obs):
        return np.full(self.scene.action_dim, np.nan)


class RaisingInit(PolicyUnderTest):
    """Its constructor fails (a checkpoint that cannot be found, a bad argument): refused before any worker."""

    def __init__(self):
        raise RuntimeError("weights.pt not found")

    def __call__(self, obs):
        raise AssertionError("never called")


class MissingCamera(PolicyUnderTest):
    """Reads a camera that no robosuite scene has."""

    needs = ObservationNeeds(cameras=("wristcam_typo",))

    def __call__(self, obs):
        return np.zeros(self.scene.action_dim)


class AlwaysRaises(PolicyUnderTest):
    """Cannot run even one unperturbed step: every episode aborts with the same reason."""

    def __call__(self, obs):
        raise KeyError("robot0_joint_typo")


class AbortsEveryOther(PolicyUnderTest):
    """Runs one episode, crashes in the next, and so on: an audit that goes on with some episodes aborted."""

    def __init__(self):
        self.episodes = 0

    def start_episode(self):
        self.episodes += 1

    def __call__(self, obs):
        if self.episodes % 2 == 0:
            raise RuntimeError("every other episode")
        return np.zeros(self.scene.action_dim)
