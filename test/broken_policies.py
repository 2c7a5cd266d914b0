"""Policies under test that misbehave on purpose, importable by a policy node as `broken_policies:<Class>`."""
import numpy as np

from robofail_ros.policies import PolicyUnderTest


class NaNPolicy(PolicyUnderTest):
    policy_id = "nan_policy"

    def __call__(self, obs):
        return np.full(self.scene.action_dim, np.nan)
