"""Searchers over the perturbation catalogue: PPO (the paper's), a Thompson bandit, a uniform sweep, adaptive allocation."""
from robofail_ros.searchers.adaptive import AdaptiveAllocation
from robofail_ros.searchers.bandit import ThompsonBandit
from robofail_ros.searchers.base import SearchContext, Searcher
from robofail_ros.searchers.uniform import UniformSweep


def make_searcher(name: str) -> Searcher:
    """The searcher called `name` (validated by AuditConfig); PPO's torch import happens only if chosen."""
    if name == "ppo":
        from robofail_ros.searchers.ppo import PPOAdversary

        return PPOAdversary()
    return {"bandit": ThompsonBandit, "uniform": UniformSweep, "adaptive": AdaptiveAllocation}[name]()


__all__ = ["SearchContext", "Searcher", "make_searcher"]
