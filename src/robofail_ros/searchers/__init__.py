"""Searchers over the perturbation catalogue (PPO, the paper's; a Thompson bandit; a uniform sweep; adaptive
allocation) and over the continuous factor box (a Sobol sweep; CMA-ES; active learning of the failure boundary;
PPO with a Box action)."""
from robofail_ros.searchers.adaptive import AdaptiveAllocation
from robofail_ros.searchers.bandit import ThompsonBandit
from robofail_ros.searchers.base import SearchContext, Searcher
from robofail_ros.searchers.boundary import BoundarySearch
from robofail_ros.searchers.cmaes_search import CMAESWorstCase
from robofail_ros.searchers.sobol import SobolSweep
from robofail_ros.searchers.uniform import UniformSweep


def make_searcher(name: str) -> Searcher:
    """The searcher called `name` (validated by AuditConfig); PPO's torch import happens only if chosen."""
    if name in ("ppo", "ppo_box"):
        from robofail_ros.searchers.ppo import PPOAdversary, PPOBoxAdversary

        return PPOAdversary() if name == "ppo" else PPOBoxAdversary()
    return {"bandit": ThompsonBandit, "uniform": UniformSweep, "adaptive": AdaptiveAllocation,
            "sobol": SobolSweep, "cmaes": CMAESWorstCase, "boundary": BoundarySearch}[name]()


__all__ = ["SearchContext", "Searcher", "make_searcher"]
