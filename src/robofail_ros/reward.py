"""The adversary's reward, exactly as in the RoboFail paper: one formula, used everywhere."""
from __future__ import annotations

#: Reward when the policy under test fails the task.
FAILURE_REWARD = 1000.0
#: Penalty spread over the steps the policy needed when it succeeds.
SUCCESS_PENALTY = 100.0
#: The adversary's discount factor (paper, Appendix B).
GAMMA = 0.99


def adversary_reward(success: bool, steps: int) -> float:
    """+1000 if the policy failed; -100/T if it succeeded in T steps."""
    if success:
        return -SUCCESS_PENALTY / max(1, steps)
    return FAILURE_REWARD
